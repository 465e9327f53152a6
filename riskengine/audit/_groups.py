"""Group labels for an audit: one string per row, missing values as their own group.

Groups are never dropped: a missing value becomes the group "unknown". Values are shown
as the user wrote them ("007" stays "007"); whole-number floats (an integer column that
pandas widened because of a gap) are shown without ".0". Groups are ordered numerically
when every value is a number, alphabetically otherwise, with "unknown" last.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

UNKNOWN = "unknown"
CROSS = " × "


@dataclass
class Attribute:
    """One audited attribute: a label per row as an integer code into `groups`."""

    name: str
    groups: list[str]  # group labels in display order
    codes: np.ndarray  # int code per row, index into `groups`
    unknown: str | None = None  # the label given to missing values, if any were missing
    parts: list[tuple[int, int]] | None = None  # for "a × b": each group's (a, b) group indices


def _format_value(value: object) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _sort_key(label: str) -> tuple:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def attribute_from_column(name: str, column: pd.Series) -> Attribute:
    """Turn one group column into an Attribute; missing values form the group "unknown"."""
    missing = column.isna().to_numpy()
    raw_codes, uniques = pd.factorize(column[~missing])
    raw_labels = [_format_value(v) for v in uniques]
    present = sorted(set(raw_labels), key=_sort_key)
    unknown = None
    if missing.any():
        # a real value spelled "unknown" keeps its name; the missing ones get a distinct label
        unknown = UNKNOWN if UNKNOWN not in present else f"{UNKNOWN} (missing)"
    groups = present + ([unknown] if unknown else [])
    lookup = {g: i for i, g in enumerate(groups)}
    codes = np.empty(len(column), dtype=np.int64)
    codes[~missing] = np.array([lookup[v] for v in raw_labels], dtype=np.int64)[raw_codes]
    if unknown:
        codes[missing] = lookup[unknown]
    return Attribute(name=name, groups=groups, codes=codes, unknown=unknown)


def intersect(a: Attribute, b: Attribute) -> Attribute:
    """The combined attribute "a × b": one group per pair of values present in the data."""
    pair = a.codes * len(b.groups) + b.codes
    present = np.unique(pair)  # sorted: a's order first, then b's
    groups = [f"{a.groups[p // len(b.groups)]}{CROSS}{b.groups[p % len(b.groups)]}" for p in present]
    codes = np.searchsorted(present, pair)
    parts = [(int(p // len(b.groups)), int(p % len(b.groups))) for p in present]
    return Attribute(name=f"{a.name}{CROSS}{b.name}", groups=groups, codes=codes, parts=parts)


def build_attributes(df: pd.DataFrame, group_cols: list[str], intersections: bool) -> list[Attribute]:
    """Attributes for each group column, then (on request) each pair of them."""
    attrs = [attribute_from_column(c, df[c]) for c in group_cols]
    if intersections:
        attrs += [intersect(a, b) for a, b in combinations(attrs[: len(group_cols)], 2)]
    return attrs
