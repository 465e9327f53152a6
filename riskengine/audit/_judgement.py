"""Judgement: which ratios are disparities, and the plain-English findings.

A ratio is a disparity when it falls outside the tolerance (default 0.8 to 1.25) and its
95% interval excludes 1 (equal rates). Outside the tolerance with an interval that
includes 1 is "uncertain": too few entities to tell. Which measures matter depends on the
intervention: one that burdens the flagged (an inspection) is judged first on false
positive and false discovery rates; one that helps them on false negative and false
omission rates. Without labels only the selection rate can be judged.
"""

from __future__ import annotations

import math

import pandas as pd

from riskengine.audit import _format as fmt

JUDGED = ["selection_rate", "precision", "fdr", "fpr", "fnr", "for", "recall"]
KEY_METRICS = {"punitive": ["fpr", "fdr"], "assistive": ["fnr", "for"]}


def key_metrics(burden: str, has_labels: bool) -> list[str]:
    """The measures that matter most for this decision."""
    return KEY_METRICS[burden] if has_labels else ["selection_rate"]


def judge(groups: pd.DataFrame, metrics: list[str], tolerance: tuple[float, float], key: list[str]) -> pd.DataFrame:
    """One row per (attribute, group, metric) compared with its reference, with a status.

    Status: "disparity", "uncertain" (outside tolerance, interval includes 1) or "within".
    When the reference rate is 0 and the group's is not, there is no ratio; the group is a
    disparity when its own interval excludes 0, uncertain otherwise.
    """
    low, high = tolerance
    rows = []
    refs = groups[groups["reference"]].set_index("attribute")
    for _, g in groups[~groups["reference"] & ~groups["suppressed"]].iterrows():
        if g["attribute"] not in refs.index:
            continue
        ref = refs.loc[g["attribute"]]
        for m in (m for m in JUDGED if m in metrics):
            value, ref_value = fmt.round_rate(g[m]), fmt.round_rate(ref[m])
            value_ci = [fmt.round_rate(g[f"{m}_ci_low"]), fmt.round_rate(g[f"{m}_ci_high"])]
            r = fmt.round_ratio(g[f"{m}_ratio"])
            lo, hi = fmt.round_ratio(g[f"{m}_ratio_ci_low"]), fmt.round_ratio(g[f"{m}_ratio_ci_high"])
            if value is None or ref_value is None:
                continue
            if r is None:
                if not (ref_value == 0 and value > 0):
                    continue
                # The reference rate is 0: no ratio, so ask whether the group's own interval excludes 0.
                status = "disparity" if value_ci[0] is not None and value_ci[0] > 0 else "uncertain"
            elif low <= r <= high:
                status = "within"
            elif lo is not None and hi is not None and (lo > 1 or hi < 1):
                status = "disparity"
            else:
                status = "uncertain"
            rows.append(
                {
                    "attribute": g["attribute"],
                    "group": g["group"],
                    "reference": ref["group"],
                    "metric": m,
                    "key": m in key,
                    "value": value,
                    "value_ci": value_ci,
                    "reference_value": ref_value,
                    "ratio": r,
                    "ratio_ci": [lo, hi],
                    "status": status,
                }
            )
    cols = ["attribute", "group", "reference", "metric", "key", "value", "value_ci", "reference_value",
            "ratio", "ratio_ci", "status"]
    return pd.DataFrame(rows, columns=cols, dtype=object)  # object keeps None as None


def _judgement_sentence(d: dict, tolerance: tuple[float, float]) -> str:
    m = d["metric"]
    what = f"the {fmt.METRIC_MEANINGS[m]} ({fmt.METRIC_NAMES[m]})"
    head = f"By {d['attribute']}, group '{d['group']}': "
    versus = (
        f"{fmt.pct_short(d['value'])} against {fmt.pct_short(d['reference_value'])} "
        f"in the reference group '{d['reference']}'"
    )
    if d["ratio"] is None:
        lo, hi = d["value_ci"]
        tail = (
            "excludes 0, so chance alone is an unlikely explanation."
            if d["status"] == "disparity"
            else "includes 0: there are too few entities to tell whether this is more than chance."
        )
        return (
            head + f"{what} is {versus}, so no ratio can be given; the group's 95% interval "
            f"({fmt.pct_short(lo)} to {fmt.pct_short(hi)}) {tail}"
        )
    lo, hi = d["ratio_ci"]
    interval = f"95% interval {fmt.ratio_short(lo)} to {fmt.ratio_short(hi)}"
    times = f"{fmt.ratio_short(d['ratio'])} times the reference group's"
    if d["status"] == "disparity":
        return (
            head + f"{what} is {versus}: {times} ({interval}). This is outside the tolerance of "
            f"{tolerance[0]:g} to {tolerance[1]:g} and the interval excludes equal rates, so chance "
            "alone is an unlikely explanation."
        )
    return (
        head + f"{what} is {times} ({versus}), but the {interval} includes equal rates: "
        "there are too few entities to tell whether this is more than chance."
    )


def _burden_sentence(burden: str, has_labels: bool) -> str:
    if not has_labels:
        return (
            "No outcomes were given, so this audit compares only who is flagged (selection rates "
            "by group against the population), not who is flagged wrongly."
        )
    if burden == "punitive":
        return (
            "This intervention burdens those it flags (for example an inspection), so the measures "
            "that matter most are the false positive rate (the share of entities without a case that "
            "were flagged) and the false discovery rate (the share of flagged entities without a case)."
        )
    return (
        "This intervention helps those it flags (for example an offer of support), so the measures "
        "that matter most are the false negative rate (the share of cases the list missed) and the "
        "false omission rate (the share of entities not flagged that turned out to be cases)."
    )


def findings(
    *,
    overall: dict,
    point_text: str,
    ties_text: str | None,
    burden: str,
    has_labels: bool,
    tolerance: tuple[float, float],
    disparities: pd.DataFrame,
    groups: pd.DataFrame,
    reference: dict[str, str | None],
    min_group_size: int,
    unknown: dict[str, str],
) -> list[str]:
    """The plain-English findings, most important first."""
    n, flagged = overall["n"], overall["flagged"]
    out = [
        f"The list flags {flagged} of {n} entities "
        f"({fmt.pct_short(fmt.round_rate(overall['selection_rate']))}): {point_text}.",
        _burden_sentence(burden, has_labels),
    ]
    records = disparities.to_dict("records")
    for attr, ref in reference.items():
        if ref is None:
            mine = groups[groups["attribute"] == attr]
            if (mine["suppressed_reason"] == "small").all():
                out.append(
                    f"By {attr}, every group has fewer than {min_group_size} entities, so no rates can be published."
                )
            else:
                out.append(
                    f"By {attr}, no group can be published without revealing a group of fewer than "
                    f"{min_group_size} entities by subtraction, so no rates are shown."
                )
            continue
        others = groups[(groups["attribute"] == attr) & ~groups["reference"] & ~groups["suppressed"]]
        if others.empty:
            out.append(
                f"By {attr}, only the reference group '{ref}' has {min_group_size} or more entities, "
                "so there is no group to compare it with."
            )
            continue
        mine = [d for d in records if d["attribute"] == attr and d["status"] == "disparity"]
        key = sorted({fmt.METRIC_NAMES[d["metric"]] for d in mine if d["key"]})
        other = sorted({fmt.METRIC_NAMES[d["metric"]] for d in mine if not d["key"]})
        if not mine:
            out.append(
                f"By {attr} (reference group '{ref}'): no disparity found; no ratio is both outside "
                f"the tolerance of {tolerance[0]:g} to {tolerance[1]:g} and clear of chance."
            )
        else:
            parts = []
            if key:
                parts.append(f"on the measures that matter most here ({', '.join(key)})")
            if other:
                parts.append(f"on other measures ({', '.join(other)}; marked in red in the tables)")
            out.append(f"By {attr} (reference group '{ref}'): disparities found " + " and ".join(parts) + ".")
    # Full sentences: key measures first, then the selection rate, then the rest.
    # Full sentences for the measures that matter here and the selection rate; the rest are
    # counted above and marked in the tables.
    shown = [d for d in records if d["key"] or d["metric"] == "selection_rate"]
    for d in sorted((d for d in shown if d["status"] == "disparity"), key=lambda d: not d["key"]):
        out.append(_judgement_sentence(d, tolerance))
    # Ratios outside the tolerance that could be chance: said for the key measures only.
    for d in records:
        if d["status"] == "uncertain" and d["key"]:
            out.append(_judgement_sentence(d, tolerance))
    for attr in reference:
        small = groups[(groups["attribute"] == attr) & (groups["suppressed_reason"] == "small")]
        second = groups[(groups["attribute"] == attr) & (groups["suppressed_reason"] == "secondary")]
        if len(small):
            listed = ", ".join(f"'{g}' ({b})" for g, b in zip(small["group"], small["n_band"]))
            out.append(
                f"By {attr}, {len(small)} group{'s' if len(small) > 1 else ''} with fewer than "
                f"{min_group_size} entities {'are' if len(small) > 1 else 'is'} shown only as a count "
                f"band, never as rates: {listed}."
            )
        if len(second):
            listed = ", ".join(f"'{g}'" for g in second["group"])
            out.append(
                f"By {attr}, {listed} {'is' if len(second) == 1 else 'are'} hidden as well, so that the smaller "
                "group's figures cannot be worked out by subtracting from the total."
            )
    for attr, label in unknown.items():
        row = groups[(groups["attribute"] == attr) & (groups["group"] == label)].iloc[0]
        count = row["n_band"] if row["suppressed"] else str(int(row["n"]))
        out.append(f"{count} entities have no recorded {attr}; they are audited as the group '{label}'.")
    if ties_text:
        out.append(ties_text)
    return out


def _distance(d: dict) -> float:
    """How far a comparison is from parity, either way; no ratio (reference rate 0) is infinitely far."""
    r = d["ratio"]
    return math.inf if r is None or r == 0 else max(r, 1 / r)


def _gap(d: dict) -> str:
    if d["ratio"] is None:
        return (
            f"unbounded ('{d['group']}' at {fmt.pct_short(d['value'])} against "
            f"{fmt.pct_short(d['reference_value'])} for '{d['reference']}')"
        )
    return f"{_times(d['ratio'])} times as high for '{d['group']}' as for the reference group '{d['reference']}'"


def _times(ratio: float) -> str:
    """A ratio rounded as a reader would say it: 10, 2.1, 1.25."""
    if ratio >= 10:
        return f"{ratio:.0f}"
    if ratio >= 2:
        return f"{ratio:.1f}".rstrip("0").rstrip(".")
    return f"{ratio:.2f}".rstrip("0").rstrip(".")


def compare(
    a_name: str,
    a: pd.DataFrame,
    b_name: str,
    b: pd.DataFrame,
    metrics: list[str],
    tolerance: tuple[float, float],
) -> tuple[list[dict], list[str]]:
    """Compare two audits of the same rows: the largest gap per attribute and measure."""
    rows, sentences = [], []
    low, high = tolerance
    for attr in a["attribute"].drop_duplicates():
        for m in metrics:
            ra = a[(a["attribute"] == attr) & (a["metric"] == m)].to_dict("records")
            rb = b[(b["attribute"] == attr) & (b["metric"] == m)].to_dict("records")
            if not ra or not rb:
                continue
            da, db = max(ra, key=_distance), max(rb, key=_distance)
            clear_a = [d for d in ra if d["status"] == "disparity"]
            clear_b = [d for d in rb if d["status"] == "disparity"]
            # The verdict rests on disparities clear of chance; gaps that may be chance do not count.
            dist_a = max(map(_distance, clear_a), default=1.0)
            dist_b = max(map(_distance, clear_b), default=1.0)
            if all(d["ratio"] is not None and low <= d["ratio"] <= high for d in ra + rb):
                verdict = "both within tolerance"
            elif not clear_a and not clear_b:
                verdict = "no clear disparity in either"
            elif dist_a < dist_b:
                verdict = "fairer"
            elif dist_a > dist_b:
                verdict = "less fair"
            else:
                verdict = "as fair"
            rows.append(
                {
                    "attribute": attr,
                    "metric": m,
                    "worst_group": da["group"],
                    "worst_ratio": da["ratio"],
                    "disparities": len(clear_a),
                    "compare_worst_group": db["group"],
                    "compare_worst_ratio": db["ratio"],
                    "compare_disparities": len(clear_b),
                    "verdict": verdict,
                }
            )
            gap = (
                f"On the {fmt.METRIC_NAMES[m]} by {attr}, the largest gap is {_gap(da)} for {a_name} "
                f"and {_gap(db)} for {b_name}"
            )
            counts = (
                f"{len(clear_a)} disparit{'y' if len(clear_a) == 1 else 'ies'} clear of chance "
                f"against {len(clear_b)}"
            )
            if verdict == "both within tolerance":
                sentences.append(gap + f": both are within the tolerance of {low:g} to {high:g}.")
            elif verdict == "no clear disparity in either":
                sentences.append(gap + ", but with these numbers neither gap is clear of chance.")
            elif verdict == "as fair":
                sentences.append(gap + f": neither is fairer on this measure ({counts}).")
            else:
                sentences.append(gap + f": {a_name} is {verdict} than {b_name} on this measure ({counts}).")
    return rows, sentences
