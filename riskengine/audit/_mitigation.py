"""Mitigation as a trade-off to discuss, never applied: per-group quotas at the same capacity.

Given one attribute and a measure to equalise, the same number of rows is flagged but
shared between groups so that the measure is as equal as the rows allow. Each row gets
the level its group's measure would reach if the list went down to that row; rows are
taken lowest level first (then highest score), which amounts to one score threshold per
group:

- selection rate: level = rank within group / group size (quotas in proportion to size);
- false positive rate: level = non-cases so far (this row included) / the group's non-cases;
- false negative rate: level = cases so far, counting the next one / the group's cases,
  so that each flag goes where the share of cases found is lowest.

The report states what this costs (precision at k, cases found) and what it removes (the
largest gap between groups). Thresholds that depend on a protected characteristic may be
unlawful direct discrimination under the Equality Act 2010.
"""

from __future__ import annotations

import numpy as np

from riskengine.audit import _format as fmt
from riskengine.audit._groups import Attribute
from riskengine.audit._metrics import count_band, group_counts, rates_from_counts, suppress

CONSTRAINTS = ["selection_rate", "fpr", "fnr"]

LEGAL_NOTE = (
    "Group-specific thresholds or quotas based on a protected characteristic may be unlawful "
    "direct discrimination under the Equality Act 2010 (and positive action is narrowly "
    "defined). These figures are for discussion with legal and governance advisers, not for "
    "deployment by default; nothing here has been applied to the list."
)


def default_constraint(burden: str, has_labels: bool) -> str:
    """The measure to equalise when the user asks for mitigation without naming one."""
    if not has_labels:
        return "selection_rate"
    return "fpr" if burden == "punitive" else "fnr"


def _levels(scores: np.ndarray, labels: np.ndarray, codes: np.ndarray, constraint: str) -> np.ndarray:
    """The level each row's group reaches if the list goes down to that row."""
    order = np.lexsort((np.arange(len(scores)), -scores, codes))  # by group, then score, then row
    sorted_codes = codes[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_codes)) + 1]
    level = np.empty(len(scores))
    for start, stop in zip(starts, np.r_[starts[1:], len(order)]):
        rows = order[start:stop]
        y = labels[rows]
        if constraint == "selection_rate":
            level[rows] = np.arange(1, len(rows) + 1) / len(rows)
        elif constraint == "fpr":
            negatives = (1 - y).sum()
            level[rows] = np.cumsum(1 - y) / negatives if negatives else 0.0
        else:  # fnr: equalise the share of cases found
            positives = y.sum()
            before = np.cumsum(y) - y
            level[rows] = (before + 1) / positives if positives else np.inf
    return level


def mitigate(
    scores: np.ndarray,
    labels: np.ndarray | None,
    flags: np.ndarray,
    attribute: Attribute,
    reference: int | None,
    constraint: str,
    min_group_size: int,
    tolerance: tuple[float, float],
) -> dict:
    """The trade-off of equalising `constraint` across `attribute`'s groups at the same k."""
    has_labels = labels is not None
    y = labels if has_labels else np.zeros(len(scores), dtype=np.int64)
    k = int(flags.sum())
    level = _levels(scores, y, attribute.codes, constraint)
    order = np.lexsort((np.arange(len(scores)), -scores, level))
    after = np.zeros(len(scores), dtype=bool)
    after[order[:k]] = True

    g = len(attribute.groups)
    before_counts = group_counts(y, flags, attribute.codes, g)
    after_counts = group_counts(y, after, attribute.codes, g)
    before_rates = rates_from_counts(before_counts)[constraint]
    after_rates = rates_from_counts(after_counts)[constraint]
    sizes = before_counts.sum(axis=1)
    shown = np.array([not r for r in suppress(sizes, min_group_size)], dtype=bool)

    def ratios(rates: np.ndarray) -> np.ndarray:
        if reference is None or not rates[reference] or np.isnan(rates[reference]):
            return np.full(g, np.nan)
        return rates / rates[reference]

    ratio_before, ratio_after = ratios(before_rates), ratios(after_rates)
    groups = []
    for i, label in enumerate(attribute.groups):
        if not shown[i]:
            groups.append({"group": label, "suppressed": True, "n_band": count_band(int(sizes[i]), min_group_size)})
            continue
        in_group = attribute.codes == i
        flagged_scores = scores[in_group & after]
        groups.append(
            {
                "group": label,
                "suppressed": False,
                "n": int(sizes[i]),
                "flagged_before": int(before_counts[i, 1] + before_counts[i, 3]),
                "flagged_after": int(after_counts[i, 1] + after_counts[i, 3]),
                "threshold_after": fmt.score(flagged_scores.min()) if len(flagged_scores) else None,
                f"{constraint}_before": fmt.round_rate(before_rates[i]),
                f"{constraint}_after": fmt.round_rate(after_rates[i]),
                "ratio_before": fmt.round_ratio(ratio_before[i]),
                "ratio_after": fmt.round_ratio(ratio_after[i]),
            }
        )

    def worst(r: np.ndarray) -> float | None:
        vals = [fmt.round_ratio(x) for x in r[shown]]
        vals = [v for v in vals if v is not None]
        return max(vals, key=lambda v: np.inf if v == 0 else max(v, 1 / v), default=None)

    def outside(r: np.ndarray) -> int:
        vals = [fmt.round_ratio(x) for x in r[shown]]
        return sum(v is not None and not tolerance[0] <= v <= tolerance[1] for v in vals)

    result = {
        "attribute": attribute.name,
        "constraint": constraint,
        "flagged": k,
        "groups": groups,
        "worst_ratio_before": worst(ratio_before),
        "worst_ratio_after": worst(ratio_after),
        "outside_tolerance_before": outside(ratio_before),
        "outside_tolerance_after": outside(ratio_after),
        "changed_rows": int((after & ~flags).sum()),
        "precision_before": None,
        "precision_after": None,
        "precision_given_up": None,
        "cases_found_before": None,
        "cases_found_after": None,
    }
    if has_labels and k:
        tp_before, tp_after = int((flags & (y == 1)).sum()), int((after & (y == 1)).sum())
        p_before, p_after = fmt.round_rate(tp_before / k), fmt.round_rate(tp_after / k)
        result |= {
            "precision_before": p_before,
            "precision_after": p_after,
            "precision_given_up": round(p_before - p_after, fmt.RATE_DECIMALS),
            "cases_found_before": tp_before,
            "cases_found_after": tp_after,
        }
    result["summary"] = _summary(result)
    return result


def _summary(r: dict) -> str:
    name = fmt.METRIC_NAMES[r["constraint"]]
    text = (
        f"Equalising the {name} by {r['attribute']} at the same {r['flagged']} flags would move "
        f"{r['changed_rows']} {'entity' if r['changed_rows'] == 1 else 'entities'} onto the list (and as many "
        "off it); the largest gap between "
        f"groups would go from {fmt.ratio_short(r['worst_ratio_before'])} to "
        f"{fmt.ratio_short(r['worst_ratio_after'])} times the reference group's"
    )
    if r["precision_before"] is not None:
        text += (
            f", and precision at k would go from {fmt.pct_short(r['precision_before'])} to "
            f"{fmt.pct_short(r['precision_after'])} ({r['cases_found_before']} cases found against "
            f"{r['cases_found_after']})"
        )
    return text + "."
