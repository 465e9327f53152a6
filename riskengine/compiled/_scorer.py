"""The fast scorer a registered model carries: compiled trees, or the logistic model as arrays."""

from __future__ import annotations

import numpy as np

from riskengine.compiled._linear import LinearScorer
from riskengine.compiled._trees import CompiledTrees, compile_or_none, warn_once


class TreeScorer:
    """A LightGBM model's compiled library with the model's feature order and category codes."""

    def __init__(self, compiled: CompiledTrees, features: list[str], categories: dict[str, list]):
        self.compiled = compiled
        self.features = list(features)
        self.categories = dict(categories)

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def serves(self, booster) -> bool:
        """True when compiled from this very booster (checked once per process)."""
        ok = getattr(self, "_serves", None)
        if ok is None:
            ok = self.compiled.check(booster)
            if not ok:
                warn_once("the compiled trees do not match the model (it was changed after compiling); "
                          "scoring uses LightGBM's Booster.predict")
            else:
                try:
                    self.compiled._lib()
                except OSError as exc:  # compiled for another kind of machine
                    ok = False
                    warn_once(f"the model's compiled trees do not load here ({exc}); "
                              "scoring uses LightGBM's Booster.predict")
            self._serves = ok
        return ok

    def raw_score(self, M: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Raw scores for the model's float matrix (`RiskModel.matrix`)."""
        return self.compiled.raw_score(M, threads)  # row- or column-major as built

    def contributions(self, M: np.ndarray, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Exact TreeSHAP for the model's float matrix: (contributions, base value per row)."""
        c = self.compiled.contributions(np.ascontiguousarray(M), threads)
        return c[:, :-1], c[:, -1]


def compile_model(model) -> TreeScorer | LinearScorer | None:
    """The fast scorer for a fitted RiskModel; None (said once) when trees cannot be compiled here."""
    if model.kind == "lightgbm":
        compiled = compile_or_none(model.estimator_.booster_)
        return None if compiled is None else TreeScorer(compiled, model.features_, model.categories_)
    if model.kind == "logistic_regression":
        return LinearScorer(model)
    return None
