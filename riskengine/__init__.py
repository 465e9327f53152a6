"""riskengine: ranked, explained and audited lists of where to look first.

The Python API mirrors the command line, stage by stage (DESIGN.md's flow):

    import riskengine
    riskengine.synth("out/borough", properties=50_000, seed=0)   # the synthetic borough
    spec = riskengine.load_spec("training/hmo.toml")             # typed, validated spec
    data = riskengine.load_data(spec.data)                       # the data contract, with rejects
    result = riskengine.train(spec)                              # champion in MLflow
    listing = riskengine.score("scoring/hmo.toml")               # the inspectors' list
    report = riskengine.audit(df, score_col="score", label_col="label", group_cols=["ward"], top_k=100)

Names load on first use, so `riskengine --help` stays quick.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_API = {
    "synth": "riskengine.synth",
    "load_spec": "riskengine.spec",
    "load_data": "riskengine.ingest",
    "build_features": "riskengine.features",
    "link": "riskengine.link",
    "train": "riskengine.training",
    "score": "riskengine.scoring",
    "audit": "riskengine.audit",
    "design_trial": "riskengine.evaluation",
    "analyse_trial": "riskengine.evaluation",
    "backtest": "riskengine.evaluation",
    "profile": "riskengine.evaluation",
}

__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'riskengine' has no attribute {name!r}")
