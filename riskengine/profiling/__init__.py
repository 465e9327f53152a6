"""Profiling: who uses a service, from which kinds of neighbourhood, and whether an action changed it.

Beside the flow (DESIGN.md), one module per step of a council's profiling loop:
- `segment` (_segment.py, _classify.py): an open area classification from census counts
  (percentages, inverse hyperbolic sine, range standardisation, k-means, supergroups and groups),
  with diagnostics, stability, pen portraits and a saved model (`assign_areas` places new areas);
- `match_users` (_match.py): service users' addresses to properties and areas via riskengine.link,
  with data minimisation and the duplicates policy;
- `analyse` (_analyse.py): users against the population by segment and by area, overlap between
  services, expected against observed;
- `map_page` (_map.py): an offline map of take-up, user density and segments;
- `change` (_change.py): take-up before and after an action, a difference in differences over areas;
- `profile` (_profile.py): the whole run from a profiling spec, one page.
"""

from riskengine.profiling._classify import AreaClassification, ihs, range_standardise
from riskengine.profiling._segment import SegmentsResult, assign_areas, segment

__all__ = ["AreaClassification", "SegmentsResult", "assign_areas", "ihs", "range_standardise", "segment"]
