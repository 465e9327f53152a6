"""Plain-English names and phrases for features: what inspectors read as reasons.

Labels are plural noun phrases ("noise complaints"); the singular comes from the last
word by ordinary English rules. Windows read as months or years where they divide
exactly (90 days -> "3 months", 365 -> "12 months", 730 -> "2 years"), else as days.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

_IRREGULAR = {"person": "people", "child": "children", "man": "men", "woman": "women"}
_IRREGULAR_SINGULAR = {v: k for k, v in _IRREGULAR.items()}
LONG_LABEL_WORDS = 3  # labels this long lead their count phrase ("council-tax account changes: 3 ...")


def slug(text: str) -> str:
    """A source or type as it appears in a feature name: lower case, runs of other characters as one `_`."""
    return re.sub(r"[^0-9a-z]+", "_", str(text).lower()).strip("_") or "x"


def _words(name: str) -> list[str]:
    return [w for w in re.split(r"[^0-9a-zA-Z]+", str(name).lower()) if w]


def plural_word(word: str) -> str:
    """'claim' -> 'claims', 'inspection' -> 'inspections', 'adults' stays (already plural)."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word in _IRREGULAR_SINGULAR:
        return word
    if word.endswith(("ss", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("s"):
        return word
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def singular_word(word: str) -> str:
    """'complaints' -> 'complaint', 'changes' -> 'change', 'properties' -> 'property'."""
    if word in _IRREGULAR_SINGULAR:
        return _IRREGULAR_SINGULAR[word]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "zes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _last_word(phrase: str, change) -> str:
    head, sep, last = phrase.rpartition(" ")
    return head + sep + change(last)


def singular(label: str) -> str:
    """The singular of a plural noun phrase: 'noise complaints' -> 'noise complaint'."""
    return _last_word(label, singular_word)


def default_label(source: str, type_: str) -> str:
    """A readable plural noun for an event type when the spec gives none.

    A source named by a plural noun is the head ("complaints", "noise" -> "noise complaints");
    any other source qualifies the type ("council_tax", "account_change" ->
    "council-tax account changes").
    """
    s, t = _words(source), _words(type_)
    if not t:
        return " ".join(s) or "events"
    if s and s[-1].endswith("s") and not s[-1].endswith("ss"):
        if [singular_word(w) for w in t] == [singular_word(w) for w in s]:
            return " ".join(s)
        return " ".join(t + s)
    phrase = _last_word(" ".join(t), plural_word)
    return f"{'-'.join(s)} {phrase}" if s else phrase


def column_label(column: str) -> str:
    """A static or given column's readable name: 'property_type' -> 'property type'."""
    return " ".join(_words(column)) or str(column)


def period(days: int) -> str:
    """A window length in words: 90 -> '3 months', 365 -> '12 months', 730 -> '2 years', 45 -> '45 days'."""
    days = int(days)
    if days % 365 == 0:
        years = days // 365
        return "12 months" if years == 1 else f"{years} years"
    if days % 30 == 0:
        months = days // 30
        return "month" if months == 1 else f"{months} months"
    return "day" if days == 1 else f"{days} days"


def when(window_days: Any) -> str:
    """'in the last 12 months', or 'on record' for all history (window <NA>)."""
    if window_days is None or pd.isna(window_days):
        return "on record"
    return f"in the last {period(int(window_days))}"


def number(value: float) -> str:
    """1240.0 -> '1,240'; 1240.5 -> '1,240.5'; at most two decimals."""
    value = float(value)
    if value.is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _missing(value: Any) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return number(value)
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        return _plain(value.item())
    return str(value)


def ago(days: float) -> str:
    """A gap in days as a person says it: "23 days ago", "about 5 months ago", "about 6 years ago"."""
    d = int(round(days))
    if d < 61:
        return f"{d} day{'' if d == 1 else 's'} ago"
    if d < 730:
        return f"about {round(d / 30.44)} months ago"
    return f"about {round(d / 365.25)} years ago"


def describe(info_row: Mapping[str, Any] | pd.Series, value: Any) -> str:
    """One feature's value in plain English, for a non-specialist reading a list of reasons.

    `info_row` is a row of `FeatureSet.info` (a Series or a dict); `value` the feature's value.
    Examples: "9 noise complaints in the last 12 months", "1 noise complaint in the last
    3 months", "council-tax account changes: 3 in the last 3 years", "last pest complaint
    23 days ago", "no housing-benefit claims on record", "total housing-benefit claim
    value in the last 12 months: 1,240", "latest electoral-register adults: 6",
    "property type: terraced".
    """
    stat = info_row["stat"]
    label = str(info_row["label"])
    window = info_row.get("window_days") if hasattr(info_row, "get") else info_row["window_days"]
    if stat == "count":
        n = 0 if _missing(value) else int(round(float(value)))
        if n == 0:
            return f"no {label} {when(window)}"
        if len(label.split()) >= LONG_LABEL_WORDS:
            return f"{label}: {n:,} {when(window)}"
        return f"{n:,} {singular(label) if n == 1 else label} {when(window)}"
    if stat == "sum":
        if _missing(value):
            return f"no {label} {when(window)}"
        return f"total {singular(label)} value {when(window)}: {number(value)}"
    if stat == "last":
        if _missing(value):
            return f"no {label} on record"
        return f"latest {label}: {number(value)}"
    if stat == "days_since":
        if _missing(value):
            return f"no {label} on record"
        return f"last {singular(label)} {ago(float(value))}"
    if stat in ("nearby_count", "nearby_kde"):
        return _nearby(stat, label, window, str(info_row["name"]), value)
    if _missing(value):
        return f"{label}: not recorded"
    return f"{label}: {_plain(value)}"


_DISTANCE = re.compile(r"_([0-9p]+)m_\d+d$")


def _nearby(stat: str, label: str, window: Any, name: str, value: Any) -> str:
    """'42 sanitation complaints within 500 m in the last 3 months'; densities per km2 likewise."""
    m = _DISTANCE.search(name)
    distance = f"{number(float(m.group(1).replace('p', '.')))} m" if m else "a set distance"
    if _missing(value):
        return f"{label} nearby: not known (no coordinates)"
    if stat == "nearby_count":
        n = int(round(float(value)))
        if n == 0:
            return f"no {label} within {distance} {when(window)}"
        return f"{n:,} {singular(label) if n == 1 else label} within {distance} {when(window)}"
    return f"{label} around it {when(window)}: {float(value):,.1f} per km2 (kernel {distance})"
