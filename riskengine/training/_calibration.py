"""Calibrating the champion: cross-fitted, so its probabilities are on its own scale.

The scheme, and why. The champion is refitted on every labelled row, and its calibrator
must map *its* raw scores to probabilities. Its scores on the rows it was fitted on are
over-confident, and the temporal splits' models, trained on fewer rows, score on another
scale; neither may be used. So the labelled rows are cut into K folds by entity (all of an
entity's rows stay in one fold, so no fold model has seen the entity it scores), stratified
by label; a copy of the champion (`sklearn.base.clone`: same family, parameters and seed) is
fitted on the other folds and scores the held-out fold. The calibrator is fitted on these
out-of-fold scores of models trained exactly like the champion and applied to the champion,
as scikit-learn's `CalibratedClassifierCV(ensemble=False)` does.

Shown honestly. The calibration figure and summary.json's `calibration` come from rows the
calibrator did not see: each fold's out-of-fold scores are turned into probabilities by a
calibrator fitted on the other folds' out-of-fold scores only (cross-fitting the calibrator
too). An isotonic curve fitted and drawn on the same rows would look perfect by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone

from riskengine.model import RiskModel, apply_calibrator, fit_calibrator

N_FOLDS = 5

SCHEME = ("cross-fitted: the calibrator is fitted on out-of-fold scores of {folds} copies of the champion, "
          "each trained on the other folds (folds by entity); the calibration shown is on rows the "
          "calibrator was not fitted on")


@dataclass
class Calibration:
    """What calibrating the champion used and how well it holds out of sample."""

    method: str  # "sigmoid", "isotonic" or "none" (the spec's selection.calibration)
    folds: int  # 0 when there were too few positives or negatives to cross-fit
    rows: pd.DataFrame  # fold, label, raw_score (out of fold), probability (calibrator not fitted on the row)
    scheme: str  # one sentence for summaries and the model card


def fold_of(y: np.ndarray, groups: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Each row's fold (0..k-1), by group and stratified by label; k may be below `n_folds` when a
    class has fewer groups than that. All -1 when fewer than two folds are possible."""
    y = np.asarray(y, dtype=int)
    groups = pd.factorize(pd.Series(groups).astype(str))[0]
    positive_groups = len(np.unique(groups[y == 1]))
    negative_groups = len(np.unique(groups[y == 0]))
    k = min(n_folds, positive_groups, negative_groups)
    folds = np.full(len(y), -1, dtype=int)
    if k < 2:
        return folds
    return stratified_group_folds(y, groups, k, seed)


def stratified_group_folds(y: np.ndarray, groups: np.ndarray, k: int, seed: int) -> np.ndarray:
    """The folds of scikit-learn's `StratifiedGroupKFold(k, shuffle=True, random_state=seed)`, fold for fold.

    Its greedy search costs about 30 NumPy calls per group and candidate fold (seconds for the
    demo's tens of thousands of entities, twice a training run); here the same search runs on
    Python floats in the same order of operations (sums from the first fold up, then divided;
    the same tie rule with `numpy.isclose`'s tolerances), so every comparison, and so every
    fold, is the same. tests/test_training_units.py checks it against scikit-learn.
    """
    import math

    rng = np.random.RandomState(seed)
    _, y_inv, y_cnt = np.unique(np.asarray(y), return_inverse=True, return_counts=True)
    n_classes = len(y_cnt)
    _, groups_inv, groups_cnt = np.unique(groups, return_inverse=True, return_counts=True)
    per_group = np.zeros((len(groups_cnt), n_classes))
    np.add.at(per_group, (groups_inv, y_inv), 1)
    perm = np.arange(len(groups_cnt))
    rng.shuffle(perm)
    per_group = per_group[perm]
    inv_perm = np.empty_like(perm)
    inv_perm[perm] = np.arange(perm.size)
    groups_inv = inv_perm[groups_inv]
    order = np.argsort(-np.std(per_group, axis=1), kind="stable")

    totals = [float(c) for c in y_cnt]
    counts = [[0.0] * n_classes for _ in range(k)]  # per fold, per class
    fold_of_group = np.empty(len(groups_cnt), dtype=int)
    rows = per_group.tolist()
    for g in order.tolist():
        add = rows[g]
        best, min_eval, min_samples = None, math.inf, math.inf
        for i in range(k):
            total = 0.0
            for c in range(n_classes):  # std over folds of (count / class total), fold i with the group added
                col = [(counts[f][c] + add[c] if f == i else counts[f][c]) / totals[c] for f in range(k)]
                s = 0.0
                for v in col:
                    s += v
                mean = s / k
                ss = 0.0
                for v in col:
                    ss += (v - mean) * (v - mean)
                total += math.sqrt(ss / k)
            fold_eval = total / n_classes
            samples = 0.0
            for v in counts[i]:
                samples += v
            close = fold_eval == min_eval or (math.isfinite(min_eval)
                                              and abs(fold_eval - min_eval) <= 1e-8 + 1e-5 * abs(min_eval))
            if fold_eval < min_eval or (close and samples < min_samples):
                best, min_eval, min_samples = i, fold_eval, samples
        for c in range(n_classes):
            counts[best][c] += add[c]
        fold_of_group[g] = best
    return fold_of_group[groups_inv]


def cross_fitted_probabilities(method: str, raw_score: np.ndarray, y: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Each row's probability from a calibrator fitted on the other folds' (score, label) pairs only."""
    raw_score, y = np.asarray(raw_score, dtype=float), np.asarray(y, dtype=int)
    out = np.empty(len(y), dtype=float)
    for f in np.unique(folds):
        held = folds == f
        out[held] = apply_calibrator(fit_calibrator(method, raw_score[~held], y[~held]), raw_score[held])
    return out


def calibrate_champion(champion: RiskModel, X: pd.DataFrame, y: np.ndarray, groups: np.ndarray,
                       n_folds: int = N_FOLDS, seed: int = 0) -> Calibration:
    """Fit the champion's calibrator on cross-fitted scores (see the module's docstring).

    `champion` is already fitted on all of X; `groups` (entity ids) keeps an entity's rows in
    one fold. With too few positives or negatives to cross-fit, the champion is left
    uncalibrated (the logistic link of its raw score) and `folds` is 0.
    """
    y = np.asarray(y, dtype=int)
    folds = fold_of(y, np.asarray(groups), n_folds, seed)
    if (folds < 0).all():
        champion.calibrator_ = None
        rows = pd.DataFrame({"fold": pd.Series(dtype=int), "label": pd.Series(dtype=int),
                             "raw_score": pd.Series(dtype=float), "probability": pd.Series(dtype=float)})
        return Calibration(champion.calibration, 0, rows, "none: too few positive or negative entities to cross-fit")
    raw = np.empty(len(y), dtype=float)
    for f in np.unique(folds):
        held = folds == f
        copy = clone(champion).set_params(calibration="none")
        copy.fit(X[~held], y[~held])
        raw[held] = copy.raw_score(X[held])
    champion.calibrate(raw, y)
    probability = cross_fitted_probabilities(champion.calibration, raw, y, folds)
    rows = pd.DataFrame({"fold": folds, "label": y, "raw_score": raw, "probability": probability})
    k = int(folds.max()) + 1
    return Calibration(champion.calibration, k, rows, SCHEME.format(folds=k))
