"""Group metrics at the list's operating point: point estimates and bootstrap intervals.

Every figure depends only on how many rows of each group fall in each cell of (label,
flag). Point estimates come from fairlearn's MetricFrame, run on the table collapsed to
one row per (group, label, flag) with the row count as sample weight: the same figures as
on the raw rows, in milliseconds (MetricFrame on 100,000 raw rows takes seconds per metric).

Intervals come from a bootstrap over the whole table, with the flags held as the list set
them: the intervals say how much the rates would move with another sample of the same size,
at the same decisions. Replicate b resamples the rows with the b-th draw of
`rng.integers(0, n, size=n, dtype=np.int32)` from `numpy.random.default_rng(seed)`, and one
`bincount` of the joint (groups, label, flag) cell of the drawn rows gives every attribute's
confusion counts at once. Above `INDEX_BOOTSTRAP_MAX_ROWS` rows, drawing n indices per
replicate is the slow part, so the joint cell counts are drawn directly as multinomial
counts, which is the same distribution. A rate that is undefined in some replicates (say,
no flagged rows drawn) is left out of those replicates' quantiles. A rate of exactly 0 or 1
is the same in every replicate, so its bootstrap interval would be a single point; such a
rate gets the exact (Clopper-Pearson) binomial interval instead, and its ratio the
conservative interval (group low / reference high, group high / reference low).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame
from scipy import sparse
from statsmodels.stats.proportion import proportion_confint

# Every rate the audit reports, in display order, and those defined without labels.
LABEL_METRICS = ["base_rate", "selection_rate", "precision", "fdr", "fpr", "fnr", "for", "recall"]
SELECTION_METRICS = ["selection_rate"]

# Confusion cells: code = 2 * label + flag.
TN, FP, FN, TP = 0, 1, 2, 3


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def rates_from_counts(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Every rate from confusion counts shaped (..., 4) as TN, FP, FN, TP; NaN where undefined."""
    tn, fp, fn, tp = (counts[..., i] for i in (TN, FP, FN, TP))
    n = tn + fp + fn + tp
    return {
        "base_rate": _ratio(fn + tp, n),
        "selection_rate": _ratio(fp + tp, n),
        "precision": _ratio(tp, tp + fp),
        "fdr": _ratio(fp, tp + fp),
        "fpr": _ratio(fp, fp + tn),
        "fnr": _ratio(fn, fn + tp),
        "for": _ratio(fn, fn + tn),
        "recall": _ratio(tp, tp + fn),
    }


def denominators(counts: np.ndarray) -> dict[str, np.ndarray]:
    """The count each rate is a share of, from confusion counts shaped (..., 4)."""
    tn, fp, fn, tp = (counts[..., i] for i in (TN, FP, FN, TP))
    n = tn + fp + fn + tp
    return {
        "base_rate": n,
        "selection_rate": n,
        "precision": tp + fp,
        "fdr": tp + fp,
        "fpr": fp + tn,
        "fnr": fn + tp,
        "for": fn + tn,
        "recall": tp + fn,
    }


def exact_interval(rate: float, denominator: int, confidence: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson interval for a rate of 0 or 1, where a bootstrap cannot vary it."""
    x = int(round(rate * denominator))
    lo, hi = proportion_confint(x, int(denominator), alpha=1 - confidence, method="beta")
    return float(lo), float(hi)


def _rate_metric(name: str):
    """A (y_true, y_pred, sample_weight) -> float metric for MetricFrame, by the same formula."""

    def metric(y_true, y_pred, sample_weight=None) -> float:
        cells = 2 * np.asarray(y_true, dtype=np.int64) + np.asarray(y_pred, dtype=np.int64)
        return float(rates_from_counts(np.bincount(cells, weights=sample_weight, minlength=4))[name])

    metric.__name__ = name
    return metric


def _flagged(y_true, y_pred, sample_weight=None) -> float:
    return float(np.sum(np.asarray(y_pred) * (1 if sample_weight is None else np.asarray(sample_weight))))


def _count(y_true, y_pred, sample_weight=None) -> float:
    return float(len(y_pred) if sample_weight is None else np.sum(sample_weight))


def point_estimates(labels: np.ndarray, flags: np.ndarray, codes: np.ndarray, metrics: list[str]) -> pd.DataFrame:
    """MetricFrame by group: n, flagged and each rate, indexed by group code.

    Runs on one row per (group, label, flag) weighted by its count (see the module notes).
    """
    cells = np.asarray(codes, dtype=np.int64) * 4 + 2 * labels.astype(np.int64) + flags.astype(np.int64)
    weights = np.bincount(cells)
    present = np.flatnonzero(weights)
    funcs = {"n": _count, "flagged": _flagged} | {m: _rate_metric(m) for m in metrics}
    frame = MetricFrame(
        metrics=funcs,
        y_true=(present % 4) // 2,
        y_pred=present % 2,
        sensitive_features=pd.Series(present // 4, name="group"),
        sample_params={name: {"sample_weight": weights[present].astype(float)} for name in funcs},
    )
    out = frame.by_group
    out[["n", "flagged"]] = out[["n", "flagged"]].round().astype(np.int64)
    return out


def group_counts(labels: np.ndarray, flags: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Confusion counts (n_groups, 4) for the table as it is."""
    cells = 2 * labels.astype(np.int64) + flags.astype(np.int64)
    return np.bincount(np.asarray(codes, dtype=np.int64) * 4 + cells, minlength=n_groups * 4).reshape(n_groups, 4)


INDEX_BOOTSTRAP_MAX_ROWS = 100_000


def _joint_cells(cells: np.ndarray, groupings: list[tuple[np.ndarray, int]]) -> tuple[np.ndarray, sparse.csr_matrix]:
    """A joint code per row over every grouping and the cell, and the map from joint codes to
    each grouping's (group, cell) columns laid side by side."""
    joint = cells.astype(np.int64)
    radix = 4
    for codes, g in groupings:
        if radix * g >= 2**62:  # too many combinations for one integer: fall back to row-wise unique
            stacked = np.column_stack([c for c, _ in groupings] + [cells])
            uniq, inverse = np.unique(stacked, axis=0, return_inverse=True)
            return _membership(inverse.ravel(), [uniq[:, i] for i in range(len(groupings))], uniq[:, -1], groupings)
        joint = joint + np.asarray(codes, dtype=np.int64) * radix
        radix *= g
    uniq, inverse = np.unique(joint, return_inverse=True)
    parts, rest = [], uniq // 4
    for _, g in groupings:
        parts.append(rest % g)
        rest = rest // g
    return _membership(inverse, parts, uniq % 4, groupings)


def _membership(inverse, parts, cell, groupings):
    n_joint = len(cell)
    cols, offset = [], 0
    for part, (_, g) in zip(parts, groupings):
        cols.append(offset + part * 4 + cell)
        offset += g * 4
    rows = np.tile(np.arange(n_joint), len(groupings))
    matrix = sparse.csr_matrix((np.ones(len(rows)), (rows, np.concatenate(cols))), shape=(n_joint, offset))
    return inverse.astype(np.int32 if n_joint < 2**31 else np.int64), matrix


def bootstrap_counts(
    labels: np.ndarray,
    flags: np.ndarray,
    groupings: list[tuple[np.ndarray, int]],
    n_boot: int,
    seed: int,
) -> list[np.ndarray]:
    """Confusion counts per replicate, one (n_boot, n_groups, 4) array per grouping.

    `groupings` holds (codes per row, number of groups); all groupings share the same
    resampled rows, so one draw serves every attribute.
    """
    n = len(flags)
    cells = 2 * labels.astype(np.int64) + flags.astype(np.int64)
    joint, membership = _joint_cells(cells, groupings)
    n_joint = membership.shape[0]
    rng = np.random.default_rng(seed)
    if n <= INDEX_BOOTSTRAP_MAX_ROWS:
        counts = np.empty((n_boot, n_joint), dtype=np.int64)
        for b in range(n_boot):
            idx = rng.integers(0, n, size=n, dtype=np.int32)
            counts[b] = np.bincount(joint[idx], minlength=n_joint)
    else:
        counts = rng.multinomial(n, np.bincount(joint, minlength=n_joint) / n, size=n_boot)
    flat = np.asarray(membership.T @ counts.T).T.round().astype(np.int64)  # (n_boot, sum of 4 * groups)
    out, offset = [], 0
    for _, g in groupings:
        out.append(flat[:, offset : offset + 4 * g].reshape(n_boot, g, 4))
        offset += 4 * g
    return out


def interval(values: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over replicates (axis 0), ignoring replicates where undefined."""
    alpha = (1 - confidence) / 2
    with np.errstate(all="ignore"):
        defined = ~np.isnan(values)
        lo = np.full(values.shape[1:], np.nan)
        hi = np.full(values.shape[1:], np.nan)
        ok = defined.any(axis=0)
        if ok.any():
            q = np.nanquantile(values[:, ok], [alpha, 1 - alpha], axis=0)
            lo[ok], hi[ok] = q[0], q[1]
    return lo, hi


def suppress(sizes: np.ndarray, minimum: int) -> list[str]:
    """Why each group is hidden: "" (shown), "small" (fewer than `minimum`) or "secondary".

    Hiding one small group is not enough when the total is published: its count would be
    the total minus the others. So while the hidden groups together hold fewer than
    `minimum` entities, the smallest shown group is hidden too (the largest last).
    """
    reasons = ["small" if s < minimum else "" for s in sizes]
    order = sorted(range(len(sizes)), key=lambda i: (sizes[i], -i))
    hidden = sum(s for s, r in zip(sizes, reasons) if r)
    for i in order:
        if not hidden or hidden >= minimum:
            break
        if not reasons[i]:
            reasons[i] = "secondary"
            hidden += sizes[i]
    return reasons


def suppress_table(sizes: np.ndarray, parts: list[tuple[int, int]], minimum: int) -> list[str]:
    """`suppress` for the cells of a two-way table ("a × b"), whose margins are published as the
    single-attribute tables: within every row and every column too, hidden cells must hold
    none or at least `minimum` entities, or one could be recovered as margin minus the rest."""
    reasons = suppress(sizes, minimum)
    changed = True
    while changed:
        changed = False
        for axis in (0, 1):
            lines: dict[int, list[int]] = {}
            for i, p in enumerate(parts):
                lines.setdefault(p[axis], []).append(i)
            for members in lines.values():
                hidden = sum(sizes[i] for i in members if reasons[i])
                shown = [i for i in members if not reasons[i]]
                if 0 < hidden < minimum and shown:
                    reasons[min(shown, key=lambda i: (sizes[i], -i))] = "secondary"
                    changed = True
    return reasons


def count_band(n: int, minimum: int) -> str:
    """A published band for a suppressed count: "1-4", "5-9", ... below `minimum`, else "10 or more"."""
    if n >= minimum:
        return f"{minimum} or more"
    low = 1 if n < 5 else (n // 5) * 5
    high = min(4 if n < 5 else low + 4, minimum - 1)
    return f"{low}" if low == high else f"{low}-{high}"
