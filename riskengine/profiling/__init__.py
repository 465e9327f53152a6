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

from __future__ import annotations

import importlib
from typing import Any

# Loaded on first use, so that `riskengine --help` (which imports profiling.cli) stays fast.
_PUBLIC = {
    "AreaClassification": "_classify", "ihs": "_classify", "range_standardise": "_classify",
    "ProfileResult": "_profile", "profile": "_profile",
    "SegmentsResult": "_segment", "assign_areas": "_segment", "segment": "_segment",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(f"riskengine.profiling.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module 'riskengine.profiling' has no attribute {name!r}")
