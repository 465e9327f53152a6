"""How figures are rounded and written, in one place so that page, JSON and sentences agree.

Rates are published as fractions rounded to 4 decimals and shown as percentages with 2
decimals (0.1234 is "12.34%"); ratios are rounded to 3 decimals ("1.255"). Judgements are
made on the published figures, so a ratio shown as 1.250 is never called outside 0.8-1.25.
"""

from __future__ import annotations

import math

RATE_DECIMALS = 4
RATIO_DECIMALS = 3

METRIC_NAMES = {
    "base_rate": "base rate",
    "selection_rate": "selection rate",
    "precision": "precision",
    "fdr": "false discovery rate",
    "fpr": "false positive rate",
    "fnr": "false negative rate",
    "for": "false omission rate",
    "recall": "recall",
}

# What each rate measures, in words a non-statistician reads.
METRIC_MEANINGS = {
    "base_rate": "share of entities that turned out to be cases",
    "selection_rate": "share of entities flagged",
    "precision": "share of flagged entities that turned out to be cases",
    "fdr": "share of flagged entities that turned out not to be cases",
    "fpr": "share of entities without a case that were flagged",
    "fnr": "share of cases that the list missed",
    "for": "share of entities not flagged that turned out to be cases",
    "recall": "share of cases that the list flagged",
}


def _missing(x: object) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def round_rate(x: float | None) -> float | None:
    """A rate as published: 4 decimals, None when undefined."""
    return None if _missing(x) else round(float(x), RATE_DECIMALS)


def round_ratio(x: float | None) -> float | None:
    """A ratio as published: 3 decimals, None when undefined or infinite."""
    return None if _missing(x) or math.isinf(float(x)) else round(float(x), RATIO_DECIMALS)


def pct(x: float | None) -> str:
    """A published rate as a percentage with 2 decimals ("12.34%"); a dash when undefined."""
    return "–" if x is None else f"{x * 100:.2f}%"


def pct_short(x: float | None) -> str:
    """The same figure without trailing zeros, for sentences ("20%", "12.3%")."""
    return "–" if x is None else f"{x * 100:.2f}".rstrip("0").rstrip(".") + "%"


def ratio(x: float | None) -> str:
    """A published ratio with 3 decimals ("1.250")."""
    return "–" if x is None else f"{x:.3f}"


def ratio_short(x: float | None) -> str:
    """The same ratio without trailing zeros, for sentences ("2", "1.25")."""
    return "–" if x is None else f"{x:.3f}".rstrip("0").rstrip(".")


def score(x: float | None) -> float | None:
    """A score as published: 6 significant digits."""
    return None if _missing(x) else float(f"{float(x):.6g}")
