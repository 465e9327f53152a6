"""Fairness audit: group metrics at a list's operating point, judged and reported.

`audit` measures a list by group (fairlearn MetricFrame point estimates, seeded bootstrap
intervals, small groups suppressed); `write_audit_report` writes bias_report.html and its
JSON twin. `write_model_card` and `write_transparency_record` (from `governance`) write the
governance pack from a run's facts.
"""

from riskengine.audit._audit import AuditResult, ReferenceGroupError, audit, audit_with_fallback
from riskengine.audit._flagging import OperatingPoint, flag
from riskengine.audit._report import report_dict, write_audit_report
from riskengine.audit.governance import (
    DatasetFacts,
    RunFacts,
    write_governance_pack,
    write_model_card,
    write_transparency_record,
)

__all__ = [
    "audit_with_fallback",
    "AuditResult",
    "DatasetFacts",
    "OperatingPoint",
    "ReferenceGroupError",
    "RunFacts",
    "audit",
    "flag",
    "report_dict",
    "write_audit_report",
    "write_governance_pack",
    "write_model_card",
    "write_transparency_record",
]
