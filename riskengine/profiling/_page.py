"""Writing the profiling pages: tables in, HTML (the project's one jinja2 environment) and a JSON twin out.

Charts are matplotlib figures inlined as SVG, so every page opens offline.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from riskengine.charts import svg_text
from riskengine.errors import DataError, RiskEngineError
from riskengine.io import jsonable  # noqa: F401 - re-exported for this stage


def read_table(path: str | Path, what: str, text_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """A CSV (every cell as text, nothing coerced), Parquet (through riskengine.io, the one reader) or
    Excel file (its first sheet, as text, as census extracts often come); errors name the file."""
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        if not path.is_file():
            raise RiskEngineError(f"{path}: {what} file not found")
        try:
            return pd.read_excel(path, dtype=str).astype("string")
        except (ValueError, OSError) as exc:
            raise DataError(f"{path}: cannot read the {what}: {exc}") from None
    from riskengine.io import read_file

    df = read_file(path, what, text=True)
    for c in text_columns:
        if c in df.columns:
            df[c] = df[c].astype("string")
    return df



def environment():
    """The project's one jinja2 environment (autoescaped, strict), with the profiling pages' filters."""
    from riskengine.templating import environment as shared, number, percent

    return shared(filters={"fmt": lambda value, digits=1: number(value, digits), "pct": percent})


def write_page(data: dict, out_dir: Path, stem: str, template: str, **extra: Any) -> dict[str, Path]:
    """out_dir/stem.json (the figures) and out_dir/stem.html (the same, readable, offline)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plain = jsonable(data)
    json_path = out_dir / f"{stem}.json"
    json_path.write_text(json.dumps(plain, indent=2) + "\n", encoding="utf-8")
    html = environment().get_template(template).render(r=plain, **extra)
    html_path = out_dir / f"{stem}.html"
    html_path.write_text(html, encoding="utf-8")
    return {"html": html_path, "json": json_path}


def interval_chart(labels: list[str], est: list[float], lo: list[float], hi: list[float], *,
                   reference: float, xlabel: str, marks: list[bool] | None = None) -> str:
    """Point-and-interval chart (forest plot); filled points where `marks` (unlikely to be chance)."""
    fig = Figure(figsize=(6.8, 0.42 * max(len(labels), 1) + 1.1))
    ax = fig.add_subplot()
    ys = list(range(len(labels)))[::-1]
    for i, (y, e, a, b) in enumerate(zip(ys, est, lo, hi)):
        if e is None or not math.isfinite(e):
            continue
        if a is not None and b is not None and math.isfinite(a) and math.isfinite(b):
            ax.plot([a, b], [y, y], color="#1f5f8b", lw=2)
        filled = marks is None or marks[i]
        ax.plot([e], [y], "o", color="#1f5f8b", markerfacecolor="#1f5f8b" if filled else "white")
    ax.axvline(reference, color="#888", ls="--", lw=1)
    ax.set_yticks(ys, labels)
    ax.set_xlabel(xlabel)
    ax.set_ylim(-0.7, max(len(labels), 1) - 0.3)
    ax.grid(axis="x", color="#eee")
    return svg_text(fig, tight=True)


def bars_chart(labels: list[str], values: list[float], *, reference: float, xlabel: str) -> str:
    """Horizontal bars around a reference (an index around 100): above in blue, below in orange."""
    fig = Figure(figsize=(6.2, 0.36 * max(len(labels), 1) + 1.0))
    ax = fig.add_subplot()
    ys = list(range(len(labels)))[::-1]
    colours = ["#1f5f8b" if v >= reference else "#c4622d" for v in values]
    ax.barh(ys, [v - reference for v in values], left=reference, color=colours)
    ax.axvline(reference, color="#444", lw=1)
    ax.set_yticks(ys, labels)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", color="#eee")
    return svg_text(fig, tight=True)


def line_chart(xs: list[int], series: dict[str, list[float]], *, xlabel: str, ylabel: str, mark: int | None = None) -> str:
    fig = Figure(figsize=(6.2, 3.2))
    for i, (name, ys) in enumerate(series.items()):
        ax = fig.add_subplot(1, len(series), i + 1)
        ax.plot(xs, ys, "o-", color="#1f5f8b")
        if mark is not None:
            ax.axvline(mark, color="#c4622d", ls="--", lw=1)
        ax.set_xlabel(xlabel)
        ax.set_title(name, fontsize=9)
        ax.grid(color="#eee")
        if i == 0:
            ax.set_ylabel(ylabel)
    fig.tight_layout()
    return svg_text(fig, tight=True)
