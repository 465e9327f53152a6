"""Reasons: the SHAP contributions that raised each listed entity's score, in plain English.

Contributions come from `riskengine.model.contributions`: exact path-dependent TreeSHAP
for LightGBM (the registered model's compiled library, equal to LightGBM's `pred_contrib`
to 1e-6 and several times faster; `pred_contrib` itself for a model not compiled), and the
exact linear decomposition for logistic regression (what `shap.LinearExplainer` gives).
Contributions plus the base value equal the raw score.

The listed entities get phrases; with a compiled model every entity scored gets its top
reasons as feature names and sizes (`reasons_for_all`), for the map and for anyone who
asks why they were not listed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from riskengine.model import RiskModel, contributions

__all__ = ["explain", "top_reasons", "phrase", "reasons_for_all"]


def explain(model: RiskModel, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(n x features) contributions to the raw score (log-odds) and the base value per row."""
    return contributions(model, X)


def reasons_for_all(model: RiskModel, table: pd.DataFrame, n: int = 3,
                    chunk_rows: int = 100_000) -> pd.DataFrame | None:
    """Every row's n largest positive contributions: top_feature_i and top_contribution_i.

    None when the model has no compiled scorer (LightGBM's own TreeSHAP would take minutes
    for a borough); rows with fewer than n positive contributions leave the rest empty.
    """
    if getattr(model, "fast_", None) is None or len(table) == 0:
        return None
    names = np.asarray(model.features_, dtype=object)
    feats = [np.empty(len(table), dtype=object) for _ in range(n)]
    sizes = [np.full(len(table), np.nan) for _ in range(n)]
    for lo in range(0, len(table), chunk_rows):
        contrib, _ = contributions(model, table.iloc[lo:lo + chunk_rows])
        k = min(n, contrib.shape[1])
        top = np.argsort(-contrib, axis=1, kind="stable")[:, :k]
        for i in range(k):
            c = contrib[np.arange(len(contrib)), top[:, i]]
            positive = c > 0
            feats[i][lo:lo + len(c)] = np.where(positive, names[top[:, i]], None)
            sizes[i][lo:lo + len(c)] = np.where(positive, c, np.nan)
    out = {}
    for i in range(n):
        out[f"top_feature_{i + 1}"] = feats[i]
        out[f"top_contribution_{i + 1}"] = sizes[i]
    return pd.DataFrame(out, index=table.index)


def _describe() -> Callable:
    from riskengine.features import describe

    return describe


def strength(contribution: float) -> str:
    """How far a reason raised the risk, in words (contribution in log-odds: +0.69 doubles the odds)."""
    if contribution >= 1.1:  # the odds at least triple
        return "raises the risk a lot"
    if contribution >= 0.4:  # the odds rise by half or more
        return "raises the risk"
    return "raises the risk a little"


def phrase(info_row: dict | None, feature: str, value, contribution: float, describe: Callable | None = None) -> str:
    """'9 noise complaints in the last 12 months (raises the risk a lot)': the fact, then how much it weighs.

    The size in log-odds stays in the reason_N_contribution columns for analysts; inspectors read words.
    """
    if info_row is None:
        text = f"{feature}: {value}"
    else:
        text = (describe or _describe())(info_row, value)
    return f"{text} ({strength(contribution)})"


def top_reasons(contrib: np.ndarray, X: pd.DataFrame, features: list[str], info: pd.DataFrame | None,
                n: int = 3, describe: Callable | None = None) -> pd.DataFrame:
    """The n largest positive contributions per row, as phrases with their feature and size.

    Returns columns reason_1..n, reason_1_feature.., reason_1_contribution..; a row with
    fewer than n positive contributions leaves the rest empty. Ties go to the earlier feature.
    """
    describe = describe or _describe()
    rows = info.set_index("name").to_dict("index") if info is not None and len(info) else {}
    for name, r in rows.items():
        r.setdefault("name", name)
    order = np.argsort(-contrib, axis=1, kind="stable")[:, :n]
    values = X[features]
    out: dict[str, list] = {}
    for i in range(n):
        out[f"reason_{i + 1}"], out[f"reason_{i + 1}_feature"], out[f"reason_{i + 1}_contribution"] = [], [], []
    for r in range(contrib.shape[0]):
        for i in range(n):
            j = order[r, i] if i < order.shape[1] else None
            c = contrib[r, j] if j is not None else 0.0
            if j is None or not c > 0:
                out[f"reason_{i + 1}"].append("")
                out[f"reason_{i + 1}_feature"].append("")
                out[f"reason_{i + 1}_contribution"].append(np.nan)
                continue
            name = features[j]
            value = values.iat[r, j]
            out[f"reason_{i + 1}"].append(phrase(rows.get(name), name, value, float(c), describe))
            out[f"reason_{i + 1}_feature"].append(name)
            out[f"reason_{i + 1}_contribution"].append(float(c))
    return pd.DataFrame(out, index=X.index)
