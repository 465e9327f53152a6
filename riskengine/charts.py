"""Figures for files and pages, drawn without touching matplotlib's global state.

Every chart is a `matplotlib.figure.Figure` of its own (no pyplot, no backend chosen at
import, no rcParams changed), so a library call never alters the caller's plotting set-up
and charts can be drawn from threads or tests in any order. Shared by every stage that
draws (training's plots, scoring's SHAP summary, the audit's SVG charts, the backtest).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def figure(width: float, height: float) -> Figure:
    """A new figure that belongs to no backend and no pyplot state."""
    return Figure(figsize=(width, height))


def save_png(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Write the figure as a PNG file, without matplotlib's version stamp: same figure, same bytes."""
    fig.savefig(str(path), dpi=dpi, metadata={"Software": None})
    return Path(path)


def svg_text(fig: Figure, rc: dict[str, object] | None = None, tight: bool = False) -> str:
    """The figure as an inline <svg> element; `rc` are matplotlib settings for this drawing only
    (e.g. svg.fonttype, svg.hashsalt), restored afterwards by `matplotlib.rc_context`; `tight`
    crops the page to what is drawn."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "riskengine", **(rc or {})}):  # ids from the content, not random
        fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight" if tight else None)
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]


def plot_shap_summary(values: np.ndarray, X: pd.DataFrame, path: str | Path, title: str, max_display: int = 15) -> Path:
    """shap's beeswarm summary of contributions (one dot per entity, per feature) as a PNG.

    `X` holds the feature values as numbers (categories as codes), e.g. `RiskModel.frame`.
    """
    import shap

    numeric = X.copy()
    seen: dict[str, int] = {}  # two features may read the same in plain English: number the repeats
    names = []
    for c in map(str, numeric.columns):
        seen[c] = seen.get(c, 0) + 1
        names.append(c if seen[c] == 1 else f"{c} ({seen[c]})")
    numeric.columns = names
    for c in numeric.columns:
        if isinstance(numeric[c].dtype, pd.CategoricalDtype):
            numeric[c] = numeric[c].cat.codes.replace(-1, np.nan)
    explanation = shap.Explanation(values=np.asarray(values, dtype=float), data=numeric.to_numpy(dtype=float),
                                   feature_names=[str(c) for c in numeric.columns])
    fig = figure(9, 6)
    ax = fig.add_subplot()
    state = np.random.get_state()  # the beeswarm jitters with NumPy's global generator: seed it for
    np.random.seed(0)  # this drawing only, so a rerun draws the same picture (list.html embeds it)
    try:
        shap.plots.beeswarm(explanation, max_display=max_display, ax=ax, show=False, plot_size=None)
    finally:
        np.random.set_state(state)
    ax.set_title(title)
    fig.tight_layout()
    return save_png(fig, path)
