"""Candidates from the spec (a grid per model family) and baselines that need no learning."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from riskengine.errors import RiskEngineError
from riskengine.model import complexity
from riskengine.spec import BaselineSpec, ModelSpec


@dataclass
class Candidate:
    """One learnable configuration: a family and its parameters."""

    name: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def complexity(self) -> float:
        """Leaves x trees (0 for a linear model): a tie goes to the simpler candidate."""
        return complexity(self.kind, self.params)


def expand_grid(models: list[ModelSpec]) -> list[Candidate]:
    """One candidate per combination of each family's grid values."""
    out = []
    for m in models:
        keys = sorted(m.grid)
        combos = list(itertools.product(*(m.grid[k] for k in keys))) or [()]
        for combo in combos:
            params = {**m.params, **dict(zip(keys, combo))}
            suffix = ",".join(f"{k}={v}" for k, v in zip(keys, combo))
            out.append(Candidate(f"{m.name}[{suffix}]" if suffix else m.name, m.type, params))
    return out


def baseline_scores(spec: BaselineSpec, X: pd.DataFrame, seed: int) -> dict[str, np.ndarray]:
    """Business as usual (the sum of the named features) and random, for the rows of X."""
    out = {}
    if spec.business_as_usual:
        missing = [c for c in spec.business_as_usual if c not in X.columns]
        if missing:
            raise RiskEngineError(
                f"baselines.business_as_usual names feature(s) that were not built: {', '.join(missing)}; "
                f"features look like: {', '.join(list(c for c in X.columns if '__' in c)[:6])} ..."
            )
        out["business_as_usual"] = X[spec.business_as_usual].fillna(0).sum(axis=1).to_numpy(dtype=float)
    if spec.random:
        out["random"] = np.random.default_rng(seed).random(len(X))
    return out
