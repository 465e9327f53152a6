"""riskengine: ranked, explained and audited lists of where to look first.

The Python API mirrors the command line, stage by stage (the flow in docs/architecture.md).
Each function is a verb, named apart from the subpackage that holds it (`riskengine.audit` is
the audit subpackage; `riskengine.audit_scores` the function), so a name means the same
thing before and after the subpackage is imported:

    import riskengine
    riskengine.synthesize("out/borough", properties=50_000, seed=0)  # the synthetic borough
    spec = riskengine.load_spec("training/hmo.toml")                 # typed, validated spec
    data = riskengine.load_data(spec.data)                           # the data contract, with rejects
    linked = riskengine.link_records(entities, sources)              # golden records, one per entity
    result = riskengine.train(spec)                                  # champion in MLflow
    listing = riskengine.score("scoring/hmo.toml")                   # the inspectors' list
    report = riskengine.audit_scores(df, score_col="score", label_col="label", group_cols=["ward"], top_k=100)

Names load on first use, so `riskengine --help` stays quick.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> (module, attribute there)
_API = {
    "synthesize": ("riskengine.synth", "synth"),
    "load_spec": ("riskengine.spec", "load_spec"),
    "load_data": ("riskengine.ingest", "load_data"),
    "validate": ("riskengine.ingest", "validate"),
    "link_records": ("riskengine.link", "link"),
    "build_features": ("riskengine.features", "build_features"),
    "train": ("riskengine.training", "train"),
    "score": ("riskengine.scoring", "score"),
    "audit_scores": ("riskengine.audit", "audit"),
    "design_trial": ("riskengine.evaluation", "design_trial"),
    "analyse_trial": ("riskengine.evaluation", "analyse_trial"),
    "backtest": ("riskengine.evaluation", "backtest"),
    "profile": ("riskengine.evaluation", "profile"),
    "add_outcomes": ("riskengine.outcomes", "add_outcomes"),
    "make_dashboard": ("riskengine.dashboard", "dashboard"),
    "simulate_use": ("riskengine.simulate", "simulate"),
    "draft_governance": ("riskengine.infogov", "information_governance_pack"),
}

__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        module, attribute = _API[name]
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'riskengine' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
