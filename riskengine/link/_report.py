"""Everything link() writes: linked sources, review file, golden table, reports and charts.

Reports are HTML from jinja2 templates (readable offline: inline CSS, charts as base64 PNG)
with a JSON twin that holds the same figures. They carry counts, shares and model weights
only; addresses appear only in the clerical-review file, whose job is to show them.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd

from riskengine.link._review_page import write_review_page
from riskengine.spec import LinkSpec
from riskengine.charts import figure
from riskengine.templating import environment

_RULE_WORDS = {
    "most_trusted": "from the most trusted source that has a value",
    "most_recent": "from the latest dated row",
    "most_frequent": "the value most rows agree on",
}


def _env() -> jinja2.Environment:
    return environment()


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _subplots(figsize: tuple[float, float]):
    """A figure of its own and its axes (no pyplot: no global backend or state)."""
    fig = figure(*figsize)
    return fig, fig.add_subplot()


def weights_chart(levels: pd.DataFrame) -> str:
    """Match weight of every comparison level: how much each kind of agreement counts."""
    lv = levels.dropna(subset=["match_weight"]).iloc[::-1]
    fig, ax = _subplots((8, 0.32 * len(lv) + 1))
    w = lv["match_weight"].clip(-20, 20)
    ax.barh([f"{c}: {lvl}" for c, lvl in zip(lv["comparison"], lv["level"])], w,
            color=np.where(w >= 0, "#2b8a3e", "#c92a2a"))
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("match weight (log2 m/u; shown within ±20)")
    ax.tick_params(axis="y", labelsize=8)
    return _png(fig)


def mu_chart(levels: pd.DataFrame) -> str:
    """m (share among true matches) and u (share among non-matches) per level."""
    lv = levels.iloc[::-1]
    y = np.arange(len(lv))
    fig, ax = _subplots((8, 0.32 * len(lv) + 1))
    ax.barh(y + 0.2, lv["m"].fillna(0), height=0.4, label="m (true matches)", color="#1971c2")
    ax.barh(y - 0.2, lv["u"].fillna(0), height=0.4, label="u (non-matches)", color="#f08c00")
    ax.set_yticks(y, [f"{c}: {lvl}" for c, lvl in zip(lv["comparison"], lv["level"])], fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability")
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def probability_histogram(probabilities: np.ndarray, spec: LinkSpec) -> tuple[str, dict]:
    """Best-candidate probability of each distinct address, with the two thresholds."""
    edges = np.linspace(0, 1, 21)
    counts, _ = np.histogram(np.clip(probabilities, 0, 1), bins=edges)
    fig, ax = _subplots((8, 2.8))
    ax.bar(edges[:-1], counts, width=0.05, align="edge", color="#495057")
    ax.set_yscale("symlog")
    for t, name in ((spec.lower, "lower"), (spec.upper, "upper")):
        ax.axvline(t, color="#c92a2a", ls="--", lw=1)
        ax.text(t, ax.get_ylim()[1], f" {name} {t:g}", color="#c92a2a", va="top", fontsize=8)
    ax.set_xlabel("probability of the best candidate")
    ax.set_ylabel("distinct addresses")
    return _png(fig), {"bin_edges": [round(e, 2) for e in edges.tolist()], "counts": counts.tolist()}


def coverage_chart(quality: dict) -> str | None:
    """Rows per year for each source."""
    series = {s["source"]: s["date_coverage"]["rows_per_year"] for s in quality["sources"] if s["date_coverage"]["rows_per_year"]}
    if not series:
        return None
    fig, ax = _subplots((8, 3))
    for name, per_year in series.items():
        ax.plot([int(y) for y in per_year], list(per_year.values()), marker="o", ms=3, label=name)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("rows")
    ax.legend(fontsize=8, ncol=3)
    return _png(fig)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def link_figures(result, spec: LinkSpec) -> tuple[dict, dict]:
    """The link report's figures (the JSON twin) and its charts."""
    charts: dict[str, str] = {}
    levels = []
    hist = None
    if result.model is not None:
        lv = result.model.levels
        levels = lv.round(6).to_dict("records")
        charts["weights"] = weights_chart(lv)
        charts["mu"] = mu_chart(lv)
        best = result.model.best_probabilities
        if len(best):
            charts["probability"], hist = probability_histogram(np.asarray(best), spec)
    figures = {
        "thresholds": {"upper": spec.upper, "lower": spec.lower},
        "metrics": {k: v for k, v in result.metrics.items() if k != "seconds"},  # the run's time: timings.json
        "model": {
            "estimated_match_rate": result.model.match_rate if result.model else None,
            "em_iterations": result.model.em_iterations if result.model else None,
            "candidate_pairs": result.model.n_pairs if result.model else 0,
            "levels": levels,
            "blocking_rules": result.model.blocking_rules if result.model else [],
        },
        "best_candidate_probability_histogram": hist,
        "survivorship": {f: {**d, "meaning": _RULE_WORDS[d["rule"]]} for f, d in result.rules.items()},
        "pseudonymisation": {"key": result.key_origin, "columns": result.metrics.get("pseudonymised_columns", []),
                             "watched": spec.person_columns},
    }
    return _jsonable(figures), charts


def _stable_uid(settings: dict) -> dict:
    """splink's settings with its random `linker_uid` replaced by one made from the settings themselves."""
    if not isinstance(settings, dict) or "linker_uid" not in settings:
        return settings
    rest = {k: v for k, v in settings.items() if k != "linker_uid"}
    digest = hashlib.sha256(json.dumps(rest, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return {**settings, "linker_uid": f"r{digest}"}


def review_page(review: pd.DataFrame, path: Path, review_file: str) -> Path:
    """The link job's clerk page for a training or data spec's review: each record's clear values
    beside its candidate entity's, field by field (the `record_<field>` / `entity_<field>` columns)."""
    fields = [c[len("record_"):] for c in review.columns
              if c.startswith("record_") and f"entity_{c[len('record_'):]}" in review.columns]

    def heading(r: dict) -> str:
        rows = int(r.get("rows") or 1)
        return f"{rows} row{'s' if rows != 1 else ''} of {r.get('sources')} \u2194 entity {r.get('entity_id')}"

    return write_review_page(path, review, fields, name="linkage", review_file=review_file, other="entity",
                             decisions_key="<code>[link] review_decisions</code> of the spec", heading=heading)


def write_outputs(result, out_dir: Path, spec: LinkSpec) -> dict[str, Path]:
    """Write the run's files under `out_dir`; return their paths by name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    linked_dir = out_dir / "linked"
    linked_dir.mkdir(exist_ok=True)
    for name, df in result.sources.items():
        p = linked_dir / f"{name}.parquet"
        df.to_parquet(p, index=False)
        paths[f"linked.{name}"] = p
    paths["review"] = out_dir / "review.csv"
    result.review.to_csv(paths["review"], index=False)
    page = out_dir / "review.html"
    page.unlink(missing_ok=True)  # an old page is stale once this run has decided
    if len(result.review):
        paths["review_page"] = review_page(result.review, page, paths["review"].name)
    paths["golden"] = out_dir / "golden.parquet"
    result.golden.to_parquet(paths["golden"], index=False)
    if result.model is not None:
        paths["model"] = out_dir / "splink_model.json"
        paths["model"].write_text(json.dumps(_stable_uid(result.model.settings), indent=1, default=str))
        for p in result.model.chart_paths:
            paths[f"chart.{p.stem}"] = p

    figures, charts = link_figures(result, spec)
    env = _env()
    paths["link_json"] = out_dir / "link_report.json"
    paths["link_json"].write_text(json.dumps(figures, indent=1))
    paths["link_report"] = out_dir / "link_report.html"
    paths["link_report"].write_text(env.get_template("link_report.html").render(f=figures, charts=charts,
                                                                                  rule_words=_RULE_WORDS))
    paths["timings"] = out_dir / "timings.json"  # apart, so the reports are the same bytes on a rerun
    paths["timings"].write_text(json.dumps({"seconds": result.metrics.get("seconds")}, indent=1))
    quality = _jsonable(result.quality)
    paths["quality_json"] = out_dir / "quality_report.json"
    paths["quality_json"].write_text(json.dumps(quality, indent=1))
    paths["quality_report"] = out_dir / "quality_report.html"
    paths["quality_report"].write_text(env.get_template("link_quality.html").render(q=quality,
                                                                                      coverage=coverage_chart(quality)))
    return paths
