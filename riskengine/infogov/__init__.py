"""Information governance before the first run (DESIGN.md: data protection).

From a spec and a scan of the data it names: a draft Data Protection Impact Assessment in the
structure of the ICO's template, a draft data-sharing agreement when several owners pool data,
a check that stops training when a signed DPIA is required but not recorded, and retention
made real (`expired_outputs`, `clean_expired`). The documents hold column names and counts,
never a value from the data.
"""

from riskengine.infogov._documents import Measured, SourceFacts, draft_dpia, draft_sharing_agreement, spec_hash
from riskengine.infogov._infogov import (
    check_dpia,
    information_governance_pack,
    measured_from_summary,
    scan_sources,
)
from riskengine.infogov._retention import Expired, clean_expired, expired_outputs
from riskengine.infogov._scan import ColumnFinding, findings_table, scan_table

__all__ = [
    "ColumnFinding",
    "Expired",
    "Measured",
    "SourceFacts",
    "check_dpia",
    "clean_expired",
    "draft_dpia",
    "draft_sharing_agreement",
    "expired_outputs",
    "findings_table",
    "information_governance_pack",
    "measured_from_summary",
    "scan_sources",
    "scan_table",
    "spec_hash",
]
