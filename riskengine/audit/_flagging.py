"""Which rows a list flags: at or above a score threshold, or the top k / top P%.

Rule for ties (stated in every report): a threshold flags every row whose score is at or
above it, ties included. Top-k flags exactly k rows: every row scoring above the k-th
highest score, then rows scoring exactly that score in table order (earlier rows first).
Top P% is top-k with k = ceil(P% of the number of rows), so it never flags fewer than P%.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from riskengine.errors import RiskEngineError


@dataclass
class OperatingPoint:
    """How the list was cut, and what happened at the cut-off."""

    rule: str  # "threshold", "top_k" or "top_pct"
    value: float  # the threshold, k or P as given
    flagged: int
    cutoff_score: float | None  # lowest score flagged (None when nothing is flagged)
    tied_at_cutoff: int  # rows whose score equals the cut-off score
    flagged_at_cutoff: int  # of those, how many were flagged
    capped: bool = False  # k was larger than the table and was cut to its length
    label: str | None = None  # the rule in the reader's words, when the flags are a given fact (e.g. on the list)

    def describe(self) -> str:
        """The rule in words, for reports."""
        if self.label:
            return self.label
        if self.rule == "threshold":
            return f"flagged when the score is at or above {self.value:g}"
        if self.rule == "top_k":
            return f"the {int(self.value)} highest scores are flagged"
        return f"the top {self.value:g}% of scores are flagged ({self.flagged} rows)"


def flag(
    scores: np.ndarray,
    *,
    threshold: float | None = None,
    top_k: int | None = None,
    top_pct: float | None = None,
) -> tuple[np.ndarray, OperatingPoint]:
    """Return a boolean flag per row and the operating point, following the module's tie rule."""
    given = [name for name, v in (("threshold", threshold), ("top_k", top_k), ("top_pct", top_pct)) if v is not None]
    if len(given) != 1:
        raise RiskEngineError(
            "give exactly one of threshold, top-k or top-pct to say which rows are flagged"
            + (f" (got {', '.join(given)})" if given else "")
        )
    scores = np.asarray(scores, dtype=float)
    n = len(scores)
    if threshold is not None:
        flagged = scores >= threshold
        rule, value = "threshold", float(threshold)
        k, capped = int(flagged.sum()), False
    else:
        if top_k is not None:
            if isinstance(top_k, bool) or int(top_k) != top_k or top_k < 1:
                raise RiskEngineError(f"top-k must be a whole number of at least 1, got {top_k!r}")
            rule, value, k = "top_k", float(top_k), int(top_k)
        else:
            if not 0 < top_pct <= 100:
                raise RiskEngineError(f"top-pct must be above 0 and at most 100, got {top_pct!r}")
            rule, value = "top_pct", float(top_pct)
            k = math.ceil(Fraction(str(top_pct)) * n / 100)
        capped = k > n
        k = min(k, n)
        flagged = _top_k(scores, k)
    cutoff = float(scores[flagged].min()) if k else None
    tied = int((scores == cutoff).sum()) if k else 0
    tied_flagged = int((flagged & (scores == cutoff)).sum()) if k else 0
    point = OperatingPoint(rule, value, int(flagged.sum()), cutoff, tied, tied_flagged, capped)
    return flagged, point


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Exactly k flags: all above the k-th highest score, then ties at it in row order."""
    flagged = np.zeros(len(scores), dtype=bool)
    if k == 0:
        return flagged
    kth = np.partition(scores, len(scores) - k)[len(scores) - k]  # linear time, no full sort
    above = scores > kth
    flagged[above] = True
    at = np.flatnonzero(scores == kth)
    flagged[at[: k - int(above.sum())]] = True
    return flagged
