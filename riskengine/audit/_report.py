"""The bias report: one published dict, rendered as `bias_report.html` and `bias_report.json`.

Both files come from the same dict (figures rounded once, in `AuditResult.to_dict`), so the page
and its JSON twin cannot disagree. Charts are inline SVG drawn from that dict too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

from riskengine.audit import _format as fmt
from riskengine.audit._mitigation import LEGAL_NOTE
from riskengine.charts import figure, svg_text
from riskengine.templating import environment

if TYPE_CHECKING:
    from riskengine.audit._audit import AuditResult
    from riskengine.spec import Purpose


def _method_notes(doc: dict) -> list[str]:
    s = doc["settings"]
    lo, hi = s["tolerance"]
    return [
        f"Flagging rule: {doc['operating_point']['description']}. A threshold flags every score at or "
        "above it; top-k and top-% flag exactly that many, breaking ties at the cut-off by table order.",
        f"Intervals: {round(s['confidence'] * 100)}% percentile bootstrap over {s['n_boot']} resamples of "
        f"the rows (seed {s['seed']}), with the flags held as the list set them. A rate of exactly 0% or "
        "100% cannot vary under the bootstrap, so it gets the exact binomial (Clopper-Pearson) interval, "
        "and its ratio the wider interval formed from both groups' intervals.",
        f"Ratios compare each group with the reference group of its attribute (by default the largest). "
        f"A disparity is a ratio outside {lo:g} to {hi:g} whose interval excludes 1 (equal rates).",
        f"Groups with fewer than {s['min_group_size']} entities are shown only as a count band; while the "
        f"hidden groups of an attribute hold fewer than {s['min_group_size']} together, the next smallest is "
        "hidden too, so that no hidden count can be worked out from the total. Missing values form their "
        "own group, never dropped.",
        "Rates are shown to 2 decimal places of a percentage and ratios to 3 decimals; the JSON twin "
        "holds the same figures as fractions.",
    ]


def _chart(doc: dict, attribute: str, other: dict | None) -> str:
    """Small multiples, one panel per rate: each group's value with its interval; inline SVG."""
    metrics = doc["metrics"]
    rows = [g for g in doc["groups"] if g["attribute"] == attribute and not g["suppressed"]]
    if not rows:
        return ""
    other_rows = {}
    if other is not None:
        other_rows = {g["group"]: g for g in other["groups"] if g["attribute"] == attribute and not g["suppressed"]}
    ncols = 2 if len(metrics) > 1 else 1
    nrows = math.ceil(len(metrics) / ncols)
    height = max(1.6, 0.32 * len(rows) * (2 if other_rows else 1) + 0.9)
    fig = figure(9, height * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True)  # the groups named once a row of panels
    labels = [g["group"] for g in rows]
    for ax, m in zip(axes.flat, metrics):
        lo, hi = doc["settings"]["tolerance"]
        ref = next((g for g in rows if g["is_reference"]), None)
        if ref is not None and ref[m] is not None:
            ax.axvspan(ref[m] * lo * 100, min(ref[m] * hi, 1) * 100, color="#e8eef7", zorder=0)
            ax.axvline(ref[m] * 100, color="#1f4e99", lw=0.8, ls="--", zorder=1)
        other_ref = next((g for g in other_rows.values() if g["is_reference"]), None)
        if other_ref is not None and other_ref[m] is not None:
            ax.axvline(other_ref[m] * 100, color="#c25a00", lw=0.8, ls=":", zorder=1)
        series = [(doc["name"], {g["group"]: g for g in rows}, "#1f4e99", 0.0)]
        if other_rows:
            series = [(doc["name"], series[0][1], "#1f4e99", -0.17), (other["name"], other_rows, "#c25a00", 0.17)]
        for name, by_group, colour, shift in series:  # one artist for the intervals, one for the dots
            shown = [(y + shift, by_group[label]) for y, label in enumerate(labels)
                     if label in by_group and by_group[label][m] is not None]
            spans = [(y, g[f"{m}_ci"]) for y, g in shown if g[f"{m}_ci"] is not None]
            if spans:
                ax.hlines([y for y, _ in spans], [ci[0] * 100 for _, ci in spans], [ci[1] * 100 for _, ci in spans],
                          color=colour, lw=1.5)
            if shown:
                ax.plot([g[m] * 100 for _, g in shown], [y for y, _ in shown], "o", ls="none", color=colour, ms=4,
                        label=name)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.set_ylim(len(labels) - 0.5, -0.5)
        key = " (matters most here)" if m in doc["key_metrics"] else ""
        ax.set_title(f"{fmt.METRIC_NAMES[m]}{key}", fontsize=9, loc="left")
        ax.tick_params(axis="x", labelsize=8)
        ax.set_xlabel("%", fontsize=8)
        ax.set_xlim(left=0)
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_visible(False)
    if other_rows:
        handles, names = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, names, fontsize=8, loc="upper right", ncols=2, frameon=False)
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / (height * nrows)))
    else:
        fig.tight_layout()
    # text as text (searchable, small) and ids fixed so the same audit gives the same page;
    # the settings hold for this drawing only
    return svg_text(fig, {"svg.fonttype": "none", "svg.hashsalt": "riskengine-audit"})


def _score(x) -> str:
    return "–" if x is None else f"{x:g}"


def _environment() -> jinja2.Environment:
    return environment({"pct": fmt.pct, "ratio": fmt.ratio, "score": _score},
                       {"metric_names": fmt.METRIC_NAMES, "metric_meanings": fmt.METRIC_MEANINGS})


def report_dict(
    result: "AuditResult",
    title: str = "Fairness audit",
    purpose: "Purpose | None" = None,
    compare: "AuditResult | None" = None,
) -> dict:
    """The dict both files are made from (the JSON twin is exactly this)."""
    doc = {
        "title": title,
        "created": dt.date.today().isoformat(),
        "purpose": dataclasses.asdict(purpose) if purpose is not None else None,
        "audit": result.to_dict(),
        "compare": None,
        "comparison": None,
    }
    if compare is not None:
        rows, sentences = result.compare(compare)
        doc["compare"] = compare.to_dict()
        doc["comparison"] = {"rows": rows, "findings": sentences}
    doc["method"] = _method_notes(doc["audit"])
    if result.mitigation:
        doc["legal_note"] = LEGAL_NOTE
    return doc


def write_audit_report(
    result: "AuditResult",
    out_dir: str | Path,
    title: str = "Fairness audit",
    purpose: "Purpose | None" = None,
    compare: "AuditResult | None" = None,
) -> dict[str, Path]:
    """Write bias_report.html and bias_report.json to `out_dir`; return their paths.

    With `purpose` the page opens with its four statements. With `compare` (another audit of
    the same rows, e.g. business as usual beside the model) both are shown side by side and
    the findings say which is fairer on each measure that matters.
    """
    from riskengine.outputs import final_paths, run_folder

    doc = report_dict(result, title=title, purpose=purpose, compare=compare)
    audit_doc, other = doc["audit"], doc["compare"]
    charts = {a: _chart(audit_doc, a, other) for a in audit_doc["reference"]}
    html = _environment().get_template("audit_report.html.j2").render(doc=doc, a=audit_doc, b=other, charts=charts)
    text = json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    # `--out` may be any folder: the page and its figures appear together, nothing else there is touched
    with run_folder(Path(out_dir), shared=True) as out:
        paths = {"html": out / "bias_report.html", "json": out / "bias_report.json"}
        paths["html"].write_text(html, encoding="utf-8")
        paths["json"].write_text(text, encoding="utf-8")
        return final_paths(paths)
