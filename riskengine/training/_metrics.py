"""Metrics of a ranking at the team's capacity, with ties at the cut-off made explicit."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score


def positives_at_k(y: np.ndarray, score: np.ndarray, k: int) -> tuple[float, int, int]:
    """Positives among the top k by score: (expected under random tie order, worst, best).

    Rows tied with the k-th score straddle the cut-off; only some of them fit in the list.
    """
    y = np.asarray(y, dtype=float)
    score = np.asarray(score, dtype=float)
    n = len(y)
    k = min(k, n)
    if k == 0:
        return 0.0, 0, 0
    kth = np.sort(score)[::-1][k - 1]
    above = score > kth
    tied = score == kth
    pos_above = int(y[above].sum())
    slots = k - int(above.sum())
    n_tied = int(tied.sum())
    pos_tied = int(y[tied].sum())
    expected = pos_above + pos_tied * slots / n_tied
    worst = pos_above + max(0, slots - (n_tied - pos_tied))
    best = pos_above + min(slots, pos_tied)
    return float(expected), int(worst), int(best)


def precision_recall_at_k(y: np.ndarray, score: np.ndarray, k: int) -> dict[str, float]:
    """precision@k and recall@k, expected over tie orders, with worst and best cases."""
    y = np.asarray(y, dtype=float)
    k_eff = min(k, len(y))
    expected, worst, best = positives_at_k(y, score, k_eff)
    total = y.sum()
    out = {
        "k": k_eff,
        "precision_at_k": expected / k_eff if k_eff else float("nan"),
        "precision_at_k_worst": worst / k_eff if k_eff else float("nan"),
        "precision_at_k_best": best / k_eff if k_eff else float("nan"),
        "recall_at_k": expected / total if total else float("nan"),
        "recall_at_k_worst": worst / total if total else float("nan"),
        "recall_at_k_best": best / total if total else float("nan"),
    }
    return out


def ranking_metrics(y: np.ndarray, score: np.ndarray, k: int, top_pcts: list[float],
                    probability: np.ndarray | None = None) -> dict[str, float]:
    """Everything reported per split and candidate; probability-based metrics where given."""
    y = np.asarray(y, dtype=float)
    out = precision_recall_at_k(y, score, k)
    out["n"] = len(y)
    out["positives"] = int(y.sum())
    out["base_rate"] = float(y.mean()) if len(y) else float("nan")
    for pct in top_pcts:
        kp = max(1, math.ceil(len(y) * pct / 100))
        pr = precision_recall_at_k(y, score, kp)
        tag = f"{pct:g}pct"
        out[f"precision_at_{tag}"] = pr["precision_at_k"]
        out[f"recall_at_{tag}"] = pr["recall_at_k"]
    both = 0 < y.sum() < len(y)
    out["roc_auc"] = float(roc_auc_score(y, score)) if both else float("nan")
    out["average_precision"] = float(average_precision_score(y, score)) if both else float("nan")
    if probability is not None:
        out["brier"] = float(brier_score_loss(y, probability))
    return out


def calibration_table(y: np.ndarray, probability: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Observed rate against mean predicted probability, by quantile bin."""
    frac, mean_pred = calibration_curve(y, probability, n_bins=n_bins, strategy="quantile")
    return pd.DataFrame({"mean_predicted": mean_pred, "observed_rate": frac})
