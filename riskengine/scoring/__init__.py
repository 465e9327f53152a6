"""Scoring: the inspectors' ranked list, with plain-English reasons, alerts and a map.

`score(spec)` scores every entity with the registered model, leaves out what the spec
excludes, ranks, cuts at capacity (with optional quotas and a random exploration slice),
explains each listed entity with exact SHAP contributions, compares with the previous
list, and writes list.csv / list.xlsx / list.html / alerts.csv / scores.parquet.

Names are imported on first use, so `riskengine --help` does not load MLflow.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "score": "_score", "ScoringResult": "_score", "LoadedModel": "_model", "load_model": "_model", "load_model_uri": "_model",
    "load_scoring_spec": "_score", "training_spec_for": "_score", "check_features": "_model", "check_sources": "_model",
    "default_as_of": "_score", "score_frames": "_score", "fingerprint_of": "_score",
    "exclusions": "_list", "make_list": "_list", "rank_order": "_list",
    "explain": "_reasons", "top_reasons": "_reasons", "phrase": "_reasons", "reasons_for_all": "_reasons", "strength": "_reasons",
    "find_alerts": "_alerts", "find_previous": "_alerts", "read_previous": "_alerts",
}
__all__ = list(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"riskengine.scoring.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'riskengine.scoring' has no attribute {name!r}")
