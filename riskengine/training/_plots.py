"""Pictures a data scientist looks at: precision@k over time, calibration, SHAP summary."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def plot_precision_over_time(metrics: pd.DataFrame, k: int, champion: str, path: str) -> None:
    """precision@k per split for every candidate and baseline; the champion drawn thick."""
    fig, ax = plt.subplots(figsize=(9, 5))
    for name, grp in metrics.groupby("candidate", sort=False):
        grp = grp.sort_values("test_as_of")
        style = {"linewidth": 3, "color": "#c44e52", "zorder": 5} if name == champion else {"linewidth": 1, "alpha": 0.7}
        if grp["family"].iloc[0] == "baseline":
            style.update(linestyle="--")
        ax.plot(grp["test_as_of"], grp["precision_at_k"], marker="o", label=name, **style)
    ax.set_ylabel(f"precision at k = {k}")
    ax.set_xlabel("test as-of date")
    ax.set_ylim(0, 1)
    ax.set_title("Precision at the team's capacity, period by period")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_calibration(table: pd.DataFrame, path: str, title: str) -> None:
    """Observed rate against predicted probability; the diagonal is perfect calibration."""
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    ax.plot(table["mean_predicted"], table["observed_rate"], marker="o", label="model")
    top = float(max(table["mean_predicted"].max(), table["observed_rate"].max(), 0.05)) * 1.1
    ax.set_xlim(0, min(1, top))
    ax.set_ylim(0, min(1, top))
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed rate of positive findings")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_shap_summary(values: np.ndarray, X: pd.DataFrame, path: str, title: str, max_display: int = 15) -> None:
    """shap's beeswarm summary of contributions (one dot per entity, per feature)."""
    import shap

    numeric = X.copy()
    for c in numeric.columns:
        if isinstance(numeric[c].dtype, pd.CategoricalDtype):
            numeric[c] = numeric[c].cat.codes.replace(-1, np.nan)
    plt.figure()
    shap.summary_plot(values, numeric, show=False, max_display=max_display, plot_size=(9, 6))
    plt.title(title)
    plt.tight_layout()
    plt.savefig(path, dpi=110)
    plt.close("all")
