"""`audit`: group metrics, intervals, judgement and findings for one list of scores."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from riskengine.audit import _format as fmt
from riskengine.audit._flagging import OperatingPoint, flag
from riskengine.audit._groups import Attribute, build_attributes
from riskengine.audit._judgement import compare as compare_disparities
from riskengine.audit._judgement import findings as write_findings
from riskengine.audit._judgement import judge, key_metrics
from riskengine.audit._metrics import (
    LABEL_METRICS,
    SELECTION_METRICS,
    bootstrap_counts,
    count_band,
    suppress,
    suppress_table,
    denominators,
    exact_interval,
    group_counts,
    interval,
    point_estimates,
    rates_from_counts,
)
from riskengine.audit._mitigation import CONSTRAINTS, LEGAL_NOTE, default_constraint, mitigate
from riskengine.errors import DataError, RiskEngineError

CONFIDENCE = 0.95  # the intervals' level; the sentences say "95%"


class ReferenceGroupError(RiskEngineError):
    """The reference group asked for cannot be used: too small to publish, or not in the data.

    A typed signal, so `audit_with_fallback` can stand the largest group in for it (and say
    so) without reading error messages."""


@dataclass
class AuditResult:
    """Everything an audit found. `groups` holds full-precision figures; suppressed rows are blank.

    `to_dict()` gives the published version (rounded, NaN as None) that the report and its
    JSON twin both show.
    """

    name: str
    settings: dict
    operating_point: OperatingPoint
    metrics: list[str]
    key_metrics: list[str]
    overall: dict
    groups: pd.DataFrame
    reference: dict[str, str | None]
    disparities: pd.DataFrame
    findings: list[str]
    mitigation: list[dict] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def has_labels(self) -> bool:
        return self.settings["label_col"] is not None

    def to_dict(self) -> dict:
        """The published figures (rounded as on the page), ready for JSON."""
        return audit_to_dict(self)

    def compare(self, other: "AuditResult") -> tuple[list[dict], list[str]]:
        """This audit against another of the same rows (e.g. the model against business as usual)."""
        if set(self.reference) != set(other.reference) or self.overall["n"] != other.overall["n"]:
            raise RiskEngineError(
                f"cannot compare audit '{self.name}' with '{other.name}': they must cover the same rows "
                f"and attributes (got {self.overall['n']} rows by {sorted(self.reference)} against "
                f"{other.overall['n']} rows by {sorted(other.reference)})"
            )
        metrics = list(dict.fromkeys(["selection_rate", *self.key_metrics]))
        metrics = [m for m in metrics if m in other.metrics]
        return compare_disparities(
            self.name, self.disparities, other.name, other.disparities, metrics, self.settings["tolerance"]
        )


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


def _row_list(mask: np.ndarray, limit: int = 5) -> str:
    rows = np.flatnonzero(mask) + 1
    shown = ", ".join(str(r) for r in rows[:limit])
    return shown + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


def _validate(
    df: pd.DataFrame, score_col: str, label_col: str | None, group_cols: list[str]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Check the columns and return scores and labels as arrays; user mistakes raise DataError."""
    if not isinstance(df, pd.DataFrame):
        raise RiskEngineError(f"audit expects a pandas DataFrame, got {type(df).__name__}")
    if len(df) == 0:
        raise DataError("the table to audit has no rows")
    if not group_cols:
        raise RiskEngineError("name at least one group column to audit by")
    for role, col in [("score", score_col), ("label", label_col), *[("group", c) for c in group_cols]]:
        if col is not None and col not in df.columns:
            raise DataError(f"{role} column '{col}' not found; the table has: {', '.join(map(str, df.columns))}")
    if len(set(group_cols)) != len(group_cols):
        raise RiskEngineError(f"a group column is named twice: {group_cols}")
    scores = pd.to_numeric(df[score_col], errors="coerce").to_numpy(dtype=float)
    bad = np.isnan(scores) | np.isinf(scores)
    if bad.any():
        raise DataError(
            f"score column '{score_col}' needs a number on every row; rows {_row_list(bad)} "
            "(counting data rows from 1) are missing or not numbers"
        )
    labels = None
    if label_col is not None:
        raw = df[label_col]
        values = pd.to_numeric(raw.astype(object), errors="coerce").to_numpy(dtype=float)
        bad = ~np.isin(values, [0.0, 1.0])
        if bad.any():
            raise DataError(
                f"label column '{label_col}' must be 0 or 1 on every row; rows {_row_list(bad)} "
                "(counting data rows from 1) are missing or something else. Audit only rows with a known "
                "outcome, or leave the label out to audit selection rates alone"
            )
        labels = values.astype(np.int64)
    return scores, labels


def _reference_for(
    attr: Attribute, sizes: np.ndarray, reasons: list[str], reference: str | dict | None
) -> int | None:
    """The reference group's index: the one asked for, else the largest published group."""
    shown = np.array([not r for r in reasons], dtype=bool)
    wanted = reference.get(attr.name) if isinstance(reference, dict) else reference
    if wanted is not None and str(wanted) in attr.groups:
        i = attr.groups.index(str(wanted))
        if reasons[i] == "small":
            raise ReferenceGroupError(
                f"reference group '{wanted}' of {attr.name} has fewer entities than the minimum group "
                "size, so its rates are suppressed; choose a larger reference group"
            )
        if shown[i]:
            return i
    elif isinstance(reference, dict) and wanted is not None:
        raise ReferenceGroupError(
            f"reference group '{wanted}' not found in {attr.name}; its groups are: {', '.join(attr.groups)}"
        )
    if not shown.any():
        return None
    return int(np.argmax(np.where(shown, sizes, -1)))  # first of the largest on ties


def audit(
    df: pd.DataFrame,
    score_col: str,
    label_col: str | None = None,
    group_cols: list[str] | tuple[str, ...] = (),
    *,
    threshold: float | None = None,
    top_k: int | None = None,
    top_pct: float | None = None,
    reference: str | dict[str, str] | None = None,
    intersections: bool = False,
    min_group_size: int = 10,
    tolerance: tuple[float, float] = (0.8, 1.25),
    burden: Literal["punitive", "assistive"] = "punitive",
    n_boot: int = 1000,
    seed: int = 0,
    mitigation: bool | str = False,
    name: str = "this list",
    flagged_means: str | None = None,
) -> AuditResult:
    """Audit a list of scores by group at its operating point.

    Rows are flagged by exactly one of `threshold` (score at or above), `top_k` or
    `top_pct` (ties at the cut-off broken by row order). For each group column (and, with
    `intersections`, each pair "a × b") every group gets n, flagged, the rates (only the
    selection rate without labels), each rate's ratio to the reference group (by default
    the largest), and seeded 95% bootstrap intervals for rates and ratios. Groups smaller
    than `min_group_size` are suppressed. `mitigation` (True, or the measure to equalise:
    "selection_rate", "fpr" or "fnr") adds the per-group quota trade-off, never applied.
    """
    group_cols = list(group_cols)
    scores, labels = _validate(df, score_col, label_col, group_cols)
    low, high = (float(t) for t in tolerance)
    if not 0 < low < 1 < high:
        raise RiskEngineError(f"tolerance must be (low, high) with 0 < low < 1 < high, got {tuple(tolerance)}")
    if burden not in ("punitive", "assistive"):
        raise RiskEngineError(f"burden must be 'punitive' or 'assistive', got {burden!r}")
    if isinstance(min_group_size, bool) or int(min_group_size) != min_group_size or min_group_size < 1:
        raise RiskEngineError(f"min_group_size must be a whole number of at least 1, got {min_group_size!r}")
    if isinstance(n_boot, bool) or int(n_boot) != n_boot or n_boot < 1:
        raise RiskEngineError(f"n_boot must be a whole number of at least 1, got {n_boot!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise RiskEngineError(f"seed must be a whole number (the same seed gives the same intervals), got {seed!r}")
    has_labels = labels is not None
    constraint = None
    if mitigation:
        constraint = default_constraint(burden, has_labels) if mitigation is True else mitigation
        if constraint not in CONSTRAINTS:
            raise RiskEngineError(f"mitigation must be true or one of {', '.join(CONSTRAINTS)}, got {mitigation!r}")
        if constraint != "selection_rate" and not has_labels:
            raise RiskEngineError(f"mitigating the {fmt.METRIC_NAMES[constraint]} needs a label column")
    if isinstance(reference, dict):
        unknown_attrs = set(reference) - set(group_cols)
        if unknown_attrs:
            raise RiskEngineError(f"reference names attributes that are not group columns: {sorted(unknown_attrs)}")

    flags, point = flag(scores, threshold=threshold, top_k=top_k, top_pct=top_pct)
    point.label = flagged_means  # e.g. "on the list": how the flags were made, in the reader's words
    confidence = CONFIDENCE
    y = labels if has_labels else np.zeros(len(scores), dtype=np.int64)
    metrics = LABEL_METRICS if has_labels else SELECTION_METRICS
    attrs = build_attributes(df, group_cols, intersections)
    if isinstance(reference, str) and not any(reference in a.groups for a in attrs[: len(group_cols)]):
        listed = "; ".join(f"{a.name}: {', '.join(a.groups)}" for a in attrs[: len(group_cols)])
        raise ReferenceGroupError(f"reference group '{reference}' is not a group of any group column ({listed})")

    # Bootstrap once for the whole table and every attribute (the population is one group).
    everyone = np.zeros(len(scores), dtype=np.int64)
    boots = bootstrap_counts(y, flags, [(everyone, 1)] + [(a.codes, len(a.groups)) for a in attrs], int(n_boot), seed)
    overall = _overall(y, flags, everyone, boots[0], metrics, confidence)

    rows, refs = [], {}
    for attr, boot in zip(attrs, boots[1:]):
        attr_rows, refs[attr.name] = _attribute_rows(
            attr, y, flags, boot, metrics, int(min_group_size), reference, confidence
        )
        rows += attr_rows
    groups = pd.DataFrame(rows)
    groups["n"] = groups["n"].astype("Int64")
    groups["flagged"] = groups["flagged"].astype("Int64")

    keys = key_metrics(burden, has_labels)
    tol = (low, high)
    disparities = judge(groups, metrics, tol, keys)
    ties_text = None
    if point.rule != "threshold" and point.tied_at_cutoff > point.flagged_at_cutoff:
        ties_text = (
            f"{point.tied_at_cutoff} entities share the cut-off score {fmt.score(point.cutoff_score):g}; "
            f"the first {point.flagged_at_cutoff} of them in table order were flagged, to flag exactly "
            f"{point.flagged}."
        )
    notes = []
    if point.capped:
        notes.append(f"The list asked for more entities than the table holds; all {len(scores)} are flagged.")
    unknown = {a.name: a.unknown for a in attrs if a.unknown}
    found = write_findings(
        overall=overall,
        point_text=point.describe(),
        ties_text=ties_text,
        burden=burden,
        has_labels=has_labels,
        tolerance=tol,
        disparities=disparities,
        groups=groups,
        reference=refs,
        min_group_size=int(min_group_size),
        unknown=unknown,
    )

    mitigations = None
    if constraint is not None:
        mitigations = []
        for attr in attrs[: len(group_cols)]:
            ref = refs[attr.name]
            ref_index = attr.groups.index(ref) if ref is not None else None
            mitigations.append(
                mitigate(scores, labels, flags, attr, ref_index, constraint, int(min_group_size), tol)
            )
        notes.append(LEGAL_NOTE)

    settings = {
        "score_col": score_col,
        "label_col": label_col,
        "group_cols": group_cols,
        "intersections": bool(intersections),
        "min_group_size": int(min_group_size),
        "tolerance": tol,
        "burden": burden,
        "n_boot": int(n_boot),
        "seed": int(seed),
        "confidence": confidence,
    }
    return AuditResult(
        name=name,
        settings=settings,
        operating_point=point,
        metrics=list(metrics),
        key_metrics=keys,
        overall=overall,
        groups=groups,
        reference=refs,
        disparities=disparities,
        findings=found,
        mitigation=mitigations,
        notes=notes,
    )


def _overall(y, flags, codes, boot, metrics, confidence) -> dict:
    point = point_estimates(y, flags, codes, metrics).iloc[0]
    boot_rates = rates_from_counts(boot)
    dens = denominators(group_counts(y, flags, codes, 1))
    out = {"n": int(point["n"]), "flagged": int(point["flagged"])}
    for m in metrics:
        value = float(point[m])
        if value in (0.0, 1.0):
            lo, hi = exact_interval(value, int(dens[m][0]), confidence)
        else:
            (lo,), (hi,) = interval(boot_rates[m], confidence)
        out |= {m: value, f"{m}_ci_low": float(lo), f"{m}_ci_high": float(hi)}
    return out


def _attribute_rows(
    attr: Attribute,
    y: np.ndarray,
    flags: np.ndarray,
    boot: np.ndarray,
    metrics: list[str],
    min_group_size: int,
    reference: str | dict | None,
    confidence: float,
) -> tuple[list[dict], str | None]:
    """One row per group of `attr`: point estimates, ratios and intervals, or a suppressed row."""
    point = point_estimates(y, flags, attr.codes, metrics).reindex(range(len(attr.groups)))
    counts = group_counts(y, flags, attr.codes, len(attr.groups))
    sizes = counts.sum(axis=1)
    dens = denominators(counts)
    reasons = suppress_table(sizes, attr.parts, min_group_size) if attr.parts else suppress(sizes, min_group_size)
    shown = np.array([not r for r in reasons], dtype=bool)
    ref = _reference_for(attr, sizes, reasons, reference)
    boot_rates = rates_from_counts(boot)

    def rate_interval(i: int, m: str) -> tuple[float, float]:
        value = float(point.loc[i, m])
        if value in (0.0, 1.0):
            return exact_interval(value, int(dens[m][i]), confidence)
        lo, hi = interval(boot_rates[m][:, [i]], confidence)
        return float(lo[0]), float(hi[0])

    rows = []
    for i, label in enumerate(attr.groups):
        row = {
            "attribute": attr.name,
            "group": label,
            "suppressed": not shown[i],
            "suppressed_reason": reasons[i] or None,
            "n_band": None if shown[i] else count_band(int(sizes[i]), min_group_size),
            "reference": i == ref,
            "n": int(sizes[i]) if shown[i] else None,
            "flagged": int(point.loc[i, "flagged"]) if shown[i] else None,
        }
        for m in metrics:
            value = lo = hi = r = r_lo = r_hi = np.nan
            if shown[i]:
                value = float(point.loc[i, m])
                lo, hi = rate_interval(i, m)
            if shown[i] and ref is not None and not np.isnan(value):
                ref_value = float(point.loc[ref, m])
                r = value / ref_value if ref_value else np.nan
                if i != ref and ref_value and not np.isnan(ref_value):
                    if value in (0.0, 1.0) or ref_value in (0.0, 1.0):
                        ref_lo, ref_hi = rate_interval(ref, m)
                        r_lo = lo / ref_hi
                        r_hi = hi / ref_lo if ref_lo else np.nan  # unbounded above
                    else:
                        with np.errstate(all="ignore"):
                            ref_boot = np.where(boot_rates[m][:, ref] == 0, np.nan, boot_rates[m][:, ref])
                            rl, rh = interval((boot_rates[m][:, i] / ref_boot)[:, None], confidence)
                        r_lo, r_hi = float(rl[0]), float(rh[0])
            row |= {
                m: value,
                f"{m}_ci_low": lo,
                f"{m}_ci_high": hi,
                f"{m}_ratio": r,
                f"{m}_ratio_ci_low": r_lo,
                f"{m}_ratio_ci_high": r_hi,
            }
        rows.append(row)
    return rows, (attr.groups[ref] if ref is not None else None)


def audit_with_fallback(df: pd.DataFrame, score_col: str, label_col: str | None = None, **kwargs) -> AuditResult:
    """`audit`, but where the named reference group cannot be used (too small to publish, or
    absent from these rows: a `ReferenceGroupError`), the largest group stands in and the report
    says so (pipelines run unattended; the standalone command errs)."""
    try:
        return audit(df, score_col, label_col, **kwargs)
    except ReferenceGroupError as exc:
        if not kwargs.get("reference"):
            raise
        result = audit(df, score_col, label_col, **{**kwargs, "reference": None})
        result.notes.append(f"The spec's reference group could not be used ({exc}); the largest group is the reference instead.")
        return result
