"""Information governance before the first run (DESIGN.md: data protection).

From a spec and a scan of the data it names: a draft Data Protection Impact Assessment in the
structure of the ICO's template, a draft data-sharing agreement when several owners pool data,
a check that stops training when a signed DPIA is required but not recorded, and retention
made real (`expired_outputs`, `clean_expired`). The documents hold column names and counts,
never a value from the data.


Names are imported on first use (PEP 562), so `riskengine --help` loads none of the heavy libraries.
"""

from __future__ import annotations

from riskengine._lazy import lazy_names

_WHERE = {"Measured": "_documents", "SourceFacts": "_documents", "draft_dpia": "_documents", "draft_sharing_agreement": "_documents", "spec_hash": "_documents", "check_dpia": "_infogov", "information_governance_pack": "_infogov", "measured_from_summary": "_infogov", "scan_sources": "_infogov", "Expired": "_retention", "clean_expired": "_retention", "expired_outputs": "_retention", "ColumnFinding": "_scan", "findings_table": "_scan", "scan_table": "_scan"}
__all__ = sorted(_WHERE)

__getattr__, __dir__ = lazy_names(__name__, _WHERE)
