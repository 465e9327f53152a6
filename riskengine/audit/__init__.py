"""Fairness audit: group metrics at a list's operating point, judged and reported.

`audit` measures a list by group (fairlearn MetricFrame point estimates, seeded bootstrap
intervals, small groups suppressed); `write_audit_report` writes bias_report.html and its
JSON twin. `write_model_card` and `write_transparency_record` (from `governance`) write the
governance pack from a run's facts.


Names are imported on first use (PEP 562), so `riskengine --help` loads none of the heavy libraries.
"""

from __future__ import annotations

import importlib

_WHERE = {"AuditResult": "_audit", "ReferenceGroupError": "_audit", "audit": "_audit", "audit_with_fallback": "_audit", "OperatingPoint": "_flagging", "flag": "_flagging", "report_dict": "_report", "write_audit_report": "_report", "DatasetFacts": "governance", "RunFacts": "governance", "write_governance_pack": "governance", "write_model_card": "governance", "write_transparency_record": "governance"}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"riskengine.audit.{_WHERE[name]}"), name)
    if not name.startswith("__"):
        full = f"riskengine.audit.{name}"
        try:
            return importlib.import_module(full)
        except ModuleNotFoundError as exc:
            if exc.name != full:
                raise
    raise AttributeError(f"module 'riskengine.audit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
