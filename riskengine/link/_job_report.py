"""What a linkage job writes: links.csv, the review file and page, the report (HTML + JSON).

The report carries counts, shares, formats and model weights only. The review file and
page carry clear values, for the clerk: they are written only when rows are under review,
and deleted when the clerk's decisions are read back (see _job._read_decisions).
"""

from __future__ import annotations

import json
from pathlib import Path

import jinja2

from riskengine.link._report import _jsonable, mu_chart, probability_histogram, weights_chart
from riskengine.link._review_page import write_review_page
from riskengine.spec import LinkJobSpec

REVIEW_FILES = ("review.csv", "review.html")  # the files with clear values, for the clerk only


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("riskengine", "templates"),
                              autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined)


def write_job_outputs(result, spec: LinkJobSpec, out_dir: Path) -> dict[str, Path]:
    """Write the job's files under `out_dir`; return their paths by name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    if len(result.links):
        paths["links"] = out_dir / "links.csv"
        result.links.to_csv(paths["links"], index=False)
    for name in REVIEW_FILES:  # an old review is stale once a new run has decided
        (out_dir / name).unlink(missing_ok=True)
    env = _env()
    if len(result.review):
        paths["review"] = out_dir / "review.csv"
        result.review.to_csv(paths["review"], index=False)
        paths["review_page"] = write_review_page(
            out_dir / "review.html", result.review, [f.name for f in result.fields], name=spec.name,
            review_file=paths["review"].name, decisions_key="<code>review_decisions</code> in the link spec",
            heading=lambda r: f"{r['source']} row {r['row_id']} \u2194 {r['candidate_table']} "
                              f"{r.get('candidate_row_id') or r['candidate_id']}")
    figures = _jsonable(report_json(result, spec))
    charts = {}
    m = result.matched
    if m is not None and len(m.model.levels):
        charts["weights"] = weights_chart(m.model.levels)
        charts["mu"] = mu_chart(m.model.levels)
        best = m.best.loc[m.best["rank"] == 1, "match_probability"].to_numpy()
        if len(best):
            charts["probability"], _ = probability_histogram(best, spec)
    paths["timings"] = out_dir / "timings.json"  # apart, so the report is the same bytes on a rerun
    paths["timings"].write_text(json.dumps({"seconds": result.metrics.get("seconds")}, indent=1))
    paths["report_json"] = out_dir / "link_report.json"
    paths["report_json"].write_text(json.dumps(figures, indent=1))
    paths["report"] = out_dir / "link_report.html"
    paths["report"].write_text(env.get_template("link_job.html").render(f=figures, charts=charts))
    return paths


def report_json(result: JobResult, spec: LinkJobSpec) -> dict:
    """The report's figures (aggregates only: no names, no values)."""
    m = result.matched
    model = {}
    if m is not None:
        lv = m.model.levels
        model = {"method": m.method, "match_rate": m.model.match_rate, "em_iterations": m.model.em_iterations,
                 "levels": json.loads(lv.round(6).to_json(orient="records")), "blocking": m.blocking,
                 "notes": m.notes}
    return {"name": spec.name, "thresholds": {"upper": spec.upper, "lower": spec.lower}, "metrics": {k: v for k, v in result.metrics.items() if k != "seconds"},  # the run's time: timings.json
            "model": model, "fields": [{"name": f.name, "kind": f.kind, "columns": f.columns} for f in result.fields]}
