"""A simulation of months of use on the synthetic borough (issue: closing the loop).

Each week: score, visit the list (results from the hidden truth), add the results, retrain on
the spec's schedule, watch with the dashboard; the same weeks under business as usual and
without an exploration slice, for comparison. Reports the true cases each policy found, the bias
of the prevalence estimates with and without exploration, and the coverage of the dashboard's
intervals.


Names are imported on first use (PEP 562), so `riskengine --help` loads none of the heavy libraries.
"""

from __future__ import annotations

import importlib

_WHERE = {"coverage_study": "_report", "hit_rate_coverage": "_report", "recorded_scale": "_report", "ARMS": "_simulate", "simulate": "_simulate", "World": "_world"}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"riskengine.simulate.{_WHERE[name]}"), name)
    if not name.startswith("__"):
        full = f"riskengine.simulate.{name}"
        try:
            return importlib.import_module(full)
        except ModuleNotFoundError as exc:
            if exc.name != full:
                raise
    raise AttributeError(f"module 'riskengine.simulate' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
