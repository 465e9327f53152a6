"""UK postcodes: the `uk_postcode` field kind's reading ("rb47qx" -> "RB4 7QX"), used also by the
quality report and survivorship. Addresses of any country are read by `_address` (the `address`
field kind); the UK-only address parser that was here is retired (its recall is matched).
"""

from __future__ import annotations

import functools
import re

import numpy as np
import pandas as pd

POSTCODE_RE = re.compile(r"\b([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})\b")
_PUNCT_RE = re.compile(r"[^A-Z0-9 ]+")
_SPACE_RE = re.compile(r"\s+")


def clean_text(text: object) -> str:
    """Upper case, punctuation to spaces, single spaces; missing values become ''."""
    if text is None or (not isinstance(text, str) and pd.isna(text)):
        return ""
    out = _PUNCT_RE.sub(" ", str(text).upper().replace("'", ""))
    return _SPACE_RE.sub(" ", out).strip()


@functools.lru_cache(maxsize=1 << 20)
def _postcode(text: str) -> str | None:
    found = POSTCODE_RE.search(clean_text(text))
    return f"{found.group(1)} {found.group(2)}" if found else None


def normalise_postcode(text: object) -> str | None:
    """A UK postcode as 'OUT IN' (e.g. 'RB4 7QX'), or None when none can be read."""
    if text is None or (not isinstance(text, str) and pd.isna(text)):
        return None
    return _postcode(str(text))  # cached: the same few spellings recur in every source


def _per_distinct(values: pd.Series, fn) -> pd.Series:
    """Apply `fn` to each distinct non-missing value once (columns repeat a few values many times)."""
    codes, distinct = pd.factorize(values.astype("string"))
    mapped = np.array([fn(v) for v in distinct] + [None], dtype=object)  # code -1 (missing) -> None
    return pd.Series(mapped[codes], index=values.index, dtype="string")


def normalise_postcodes(values: pd.Series) -> pd.Series:
    """normalise_postcode over a column."""
    return _per_distinct(values, normalise_postcode)
