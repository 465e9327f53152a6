"""A simulation of months of use on the synthetic borough (issue: closing the loop).

Each week: score, visit the list (results from the hidden truth), add the results, retrain on
the spec's schedule, watch with the dashboard; the same weeks under business as usual and
without an exploration slice, for comparison. Reports the true cases each policy found, the bias
of the prevalence estimates with and without exploration, and the coverage of the dashboard's
intervals.


Names are imported on first use (PEP 562), so `riskengine --help` loads none of the heavy libraries.
"""

from __future__ import annotations

from riskengine._lazy import lazy_names

_WHERE = {"coverage_study": "_report", "hit_rate_coverage": "_report", "recorded_scale": "_report", "ARMS": "_simulate", "simulate": "_simulate", "World": "_world"}
__all__ = sorted(_WHERE)

__getattr__, __dir__ = lazy_names(__name__, _WHERE)
