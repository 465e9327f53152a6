"""HTML reports from jinja2 templates with inline SVG charts, each beside its JSON twin."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from riskengine.charts import svg_text
from riskengine.evaluation._io import jsonable, write_json
from riskengine.templating import environment, number, percent


@dataclass
class EvaluationReport:
    """What an evaluation step returns: its main table, the JSON twin and the files written."""

    table: pd.DataFrame
    data: dict
    files: dict[str, Path] = field(default_factory=dict)


def _pvalue(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return "< 0.0001" if value < 0.0001 else f"{value:.4f}"


FILTERS = {"fmt": number, "pct": percent, "pvalue": _pvalue}


def write_report(data: dict, out_dir: str | Path, stem: str, template: str,
                 charts: dict[str, str] | None = None) -> dict[str, Path]:
    """Write `out_dir/stem.json` (the figures) and `out_dir/stem.html` (the same figures, readable).

    Both appear together when both are written (riskengine.outputs, shared folder): a trial's
    folder also holds its design and the outcomes recorded since, which stay as they are.
    """
    from riskengine.outputs import final_paths, run_folder

    html = environment(FILTERS).get_template(template).render(r=jsonable(data), charts=charts or {})
    with run_folder(Path(out_dir), shared=True) as work:
        json_path = write_json(data, work / f"{stem}.json")
        html_path = work / f"{stem}.html"
        html_path.write_text(html, encoding="utf-8")
        return final_paths({"html": html_path, "json": json_path})


def interval_chart(labels: list[str], estimates: list[float], lows: list[float],
                   highs: list[float], *, reference: float, xlabel: str) -> str:
    """Horizontal point-and-interval chart (a forest plot) as inline SVG."""
    fig = Figure(figsize=(6.5, 0.45 * len(labels) + 1.1))
    ax = fig.add_subplot()
    ys = list(range(len(labels)))[::-1]
    for y, est, lo, hi in zip(ys, estimates, lows, highs):
        if est is None or not math.isfinite(est):
            continue
        if lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi):
            ax.plot([lo, hi], [y, y], color="#1f5f8b", lw=2)
        ax.plot([est], [y], "o", color="#1f5f8b")
    ax.axvline(reference, color="#888", ls="--", lw=1)
    ax.set_yticks(ys, labels)
    ax.set_xlabel(xlabel)
    ax.set_ylim(-0.7, len(labels) - 0.3)
    ax.grid(axis="x", color="#eee")
    return svg_text(fig, tight=True)


def before_after_chart(means: dict, treated_label: str, comparison_label: str, ylabel: str) -> str:
    """Means before and after for the treated and comparison groups, with the parallel-trend line."""
    fig = Figure(figsize=(5.5, 3.4))
    ax = fig.add_subplot()
    t, c = means["treated"], means["comparison"]
    ax.plot([0, 1], [c["before"], c["after"]], "o-", color="#777", label=comparison_label)
    ax.plot([0, 1], [t["before"], t["after"]], "o-", color="#1f5f8b", label=treated_label)
    counterfactual = t["before"] + (c["after"] - c["before"])
    ax.plot([0, 1], [t["before"], counterfactual], ":", color="#1f5f8b",
            label="treated if it had moved like the comparison")
    ax.set_xticks([0, 1], ["before", "after"])
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False, fontsize=8)
    ax.grid(axis="y", color="#eee")
    return svg_text(fig, tight=True)
