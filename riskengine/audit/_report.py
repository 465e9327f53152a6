"""The bias report: one published dict, rendered as `bias_report.html` and `bias_report.json`.

Both files come from the same dict (figures rounded once, in `audit_to_dict`), so the page
and its JSON twin cannot disagree. Charts are inline SVG drawn from that dict too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from riskengine.audit import _format as fmt  # noqa: E402
from riskengine.audit._mitigation import LEGAL_NOTE  # noqa: E402
from riskengine.errors import RiskEngineError  # noqa: E402

if TYPE_CHECKING:
    from riskengine.audit._audit import AuditResult
    from riskengine.spec import Purpose

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def _pair(lo: float, hi: float, rounder) -> list | None:
    lo, hi = rounder(lo), rounder(hi)
    return None if lo is None or hi is None else [lo, hi]


def audit_to_dict(result: "AuditResult") -> dict:
    """The published figures: rates to 4 decimals, ratios to 3, NaN as None."""
    point = result.operating_point
    overall = {"n": result.overall["n"], "flagged": result.overall["flagged"]}
    for m in result.metrics:
        overall[m] = fmt.round_rate(result.overall[m])
        overall[f"{m}_ci"] = _pair(result.overall[f"{m}_ci_low"], result.overall[f"{m}_ci_high"], fmt.round_rate)
    groups = []
    for g in result.groups.to_dict("records"):
        row = {
            "attribute": g["attribute"],
            "group": g["group"],
            "n": None if g["suppressed"] else int(g["n"]),
            "n_band": g["n_band"] if g["suppressed"] else None,
            "suppressed": bool(g["suppressed"]),
            "suppressed_reason": g["suppressed_reason"] if g["suppressed"] else None,
            "is_reference": bool(g["reference"]),
            "flagged": None if g["suppressed"] else int(g["flagged"]),
        }
        for m in result.metrics:
            row[m] = fmt.round_rate(g[m])
            row[f"{m}_ci"] = _pair(g[f"{m}_ci_low"], g[f"{m}_ci_high"], fmt.round_rate)
            row[f"{m}_ratio"] = fmt.round_ratio(g[f"{m}_ratio"])
            row[f"{m}_ratio_ci"] = _pair(g[f"{m}_ratio_ci_low"], g[f"{m}_ratio_ci_high"], fmt.round_ratio)
        groups.append(row)
    settings = dict(result.settings)
    settings["tolerance"] = list(settings["tolerance"])
    return {
        "name": result.name,
        "settings": settings,
        "operating_point": dataclasses.asdict(point)
        | {"cutoff_score": fmt.score(point.cutoff_score), "description": point.describe()},
        "metrics": list(result.metrics),
        "key_metrics": list(result.key_metrics),
        "overall": overall,
        "reference": dict(result.reference),
        "groups": groups,
        "disparities": result.disparities.to_dict("records"),
        "findings": list(result.findings),
        "mitigation": result.mitigation,
        "notes": list(result.notes),
    }


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
    plt.rcParams["svg.fonttype"] = "none"
    plt.rcParams["svg.hashsalt"] = "riskengine-audit"
    fig, axes = plt.subplots(nrows, ncols, figsize=(9, height * nrows), squeeze=False)
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
        for name, by_group, colour, shift in series:
            for y, label in enumerate(labels):
                g = by_group.get(label)
                if g is None or g[m] is None:
                    continue
                ci = g[f"{m}_ci"]
                if ci is not None:
                    ax.plot([ci[0] * 100, ci[1] * 100], [y + shift] * 2, color=colour, lw=1.5)
                ax.plot([g[m] * 100], [y + shift], "o", color=colour, ms=4, label=name if y == 0 else None)
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
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters |= {"pct": fmt.pct, "ratio": fmt.ratio, "score": lambda x: "–" if x is None else f"{x:g}"}
    env.globals |= {"metric_names": fmt.METRIC_NAMES, "metric_meanings": fmt.METRIC_MEANINGS}
    return env


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
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RiskEngineError(f"cannot create output folder {out}: {exc.strerror}") from None
    doc = report_dict(result, title=title, purpose=purpose, compare=compare)
    audit_doc, other = doc["audit"], doc["compare"]
    charts = {a: _chart(audit_doc, a, other) for a in audit_doc["reference"]}
    html = _environment().get_template("audit_report.html.j2").render(doc=doc, a=audit_doc, b=other, charts=charts)
    paths = {"html": out / "bias_report.html", "json": out / "bias_report.json"}
    paths["html"].write_text(html, encoding="utf-8")
    paths["json"].write_text(json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    return paths
