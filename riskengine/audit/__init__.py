"""Fairness audit: group metrics at a list's operating point, judged and reported.

`audit` measures a list by group (fairlearn MetricFrame point estimates, seeded bootstrap
intervals, small groups suppressed); `write_audit_report` writes bias_report.html and its
JSON twin. `write_model_card` and `write_transparency_record` (from `governance`) write the
governance pack from a run's facts.


Names are imported on first use (PEP 562), so `riskengine --help` loads none of the heavy libraries.
"""

from __future__ import annotations

from riskengine._lazy import lazy_names

_WHERE = {"AuditResult": "_audit", "ReferenceGroupError": "_audit", "audit": "_audit", "audit_with_fallback": "_audit", "OperatingPoint": "_flagging", "flag": "_flagging", "report_dict": "_report", "write_audit_report": "_report", "DatasetFacts": "governance", "RunFacts": "governance", "write_governance_pack": "governance", "write_model_card": "governance", "write_transparency_record": "governance"}
__all__ = sorted(_WHERE)

__getattr__, __dir__ = lazy_names(__name__, _WHERE)
