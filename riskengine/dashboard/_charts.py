"""The dashboard's charts: matplotlib figures (no global state) as PNG data URIs, so the page opens offline."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

COLOURS = {"list": "#1f5fa6", "exploration": "#d17a00", "business as usual": "#6b6b6b"}


def _uri(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def hit_rate_chart(rates: pd.DataFrame) -> str | None:
    """Cumulative hit rate with its interval, week by week, per slice."""
    if rates.empty:
        return None
    fig = Figure(figsize=(7.5, 3.4))
    ax = fig.subplots()
    for sl, part in rates.groupby("slice", sort=False):
        x = pd.to_datetime(part["week"])
        ax.plot(x, part["cum_rate"], marker="o", ms=3, color=COLOURS.get(sl), label=sl)
        ax.fill_between(x, part["cum_low"], part["cum_high"], color=COLOURS.get(sl), alpha=0.15)
    ax.set_ylabel("hit rate to date")
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return _uri(fig)


def found_chart(rates: pd.DataFrame, bau_rate: float | None, word: str) -> str | None:
    """Positives found to date by the list, against what business as usual's hit rate would have found."""
    lst = rates[rates["slice"] == "list"]
    if lst.empty:
        return None
    fig = Figure(figsize=(7.5, 3.0))
    ax = fig.subplots()
    x = pd.to_datetime(lst["week"])
    ax.step(x, lst["cum_positives"], where="post", color=COLOURS["list"], label="found by the list")
    if bau_rate is not None:
        ax.step(x, lst["cum_inspected"] * bau_rate, where="post", color=COLOURS["business as usual"], ls="--",
                label="business as usual, same number of inspections")
    ax.set_ylabel(f"{word} found to date")
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return _uri(fig)


def calibration_chart(cal: pd.DataFrame) -> str | None:
    """Observed hit rate (with interval) against the predicted probability, by risk band."""
    if cal.empty:
        return None
    fig = Figure(figsize=(4.6, 4.2))
    ax = fig.subplots()
    for sl, part in cal.groupby("slice", sort=False):
        err = np.clip(np.vstack([part["observed"] - part["low"], part["high"] - part["observed"]]).astype(float), 0, None)
        ax.errorbar(part["predicted"], part["observed"], yerr=err, fmt="o", capsize=3, color=COLOURS.get(sl), label=sl)
    top = float(max(cal["high"].max(), cal["predicted"].max(), 0.1))
    ax.plot([0, top], [0, top], color="#999", lw=1, ls=":")
    ax.set_xlabel("predicted at listing")
    ax.set_ylabel("observed")
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    return _uri(fig)


def prevalence_chart(weekly: pd.DataFrame) -> str | None:
    """Prevalence among the unpicked: each week's exploration estimate with its interval, and the model's own guess."""
    w = weekly.dropna(subset=["estimate"]) if len(weekly) else weekly
    if w.empty:
        return None
    fig = Figure(figsize=(7.5, 3.0))
    ax = fig.subplots()
    x = pd.to_datetime(w["week"])
    ax.errorbar(x, w["estimate"], yerr=np.clip(np.vstack([w["estimate"] - w["low"], w["high"] - w["estimate"]]).astype(float), 0, None), fmt="o",
                capsize=2, color=COLOURS["exploration"], label="from the exploration slice")
    ax.plot(pd.to_datetime(weekly["week"]), weekly["model_estimate"], color=COLOURS["list"], label="the model's own estimate")
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return _uri(fig)


def drift_chart(dr: pd.DataFrame, labels: dict[str, str], watch: float, retrain: float) -> str | None:
    """The ten features that moved most (PSI), with the watch and retrain lines."""
    if dr.empty:
        return None
    top = dr.head(10).iloc[::-1]
    fig = Figure(figsize=(7.5, 0.35 * len(top) + 1.0))
    ax = fig.subplots()
    ax.barh([labels.get(f, f) for f in top["feature"]], top["psi"], color="#7a9cc6")
    ax.axvline(watch, color="#d17a00", ls="--", lw=1)
    ax.axvline(retrain, color="#b22222", ls="--", lw=1)
    ax.set_xlabel("population stability index against the training data")
    ax.tick_params(axis="y", labelsize=8)
    return _uri(fig)
