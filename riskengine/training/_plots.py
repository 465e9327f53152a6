"""Pictures a data scientist looks at: precision@k over time and calibration (the SHAP summary
is `riskengine.charts.plot_shap_summary`, which scoring draws too)."""

from __future__ import annotations

import pandas as pd

from riskengine.charts import figure, save_png


def plot_precision_over_time(metrics: pd.DataFrame, k: int, champion: str, path: str) -> None:
    """precision@k per split for every candidate and baseline; the champion drawn thick."""
    fig = figure(9, 5)
    ax = fig.add_subplot()
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
    save_png(fig, path)


def plot_calibration(table: pd.DataFrame, path: str, title: str) -> None:
    """Observed rate against predicted probability; the diagonal is perfect calibration."""
    fig = figure(5, 5)
    ax = fig.add_subplot()
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
    save_png(fig, path)
