"""Address normalisation: free text in, comparable parts out (flat, number, street, town, postcode).

Council systems write one place many ways ("Flat A, 12 Smith Street", "12a smith st",
"FLAT A 12 SMITH STR RB47QX"). Matching compares parts, so each spelling is reduced to the
same canonical parts first: upper case, no punctuation, postcodes as "OUT IN", street-type
abbreviations expanded, a letter suffix on the house number read as the flat.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

PARTS = ["flat", "house_number", "street", "town", "postcode"]

# Street types and the abbreviations systems use for them (expanded only as the street's last word).
STREET_TYPES = {
    "STREET": ["ST", "STR", "STRT", "STREE"],
    "ROAD": ["RD"],
    "AVENUE": ["AVE", "AV", "AVENU"],
    "LANE": ["LN", "LA"],
    "CLOSE": ["CL", "CLS"],
    "CRESCENT": ["CRES", "CRESC", "CR"],
    "DRIVE": ["DR", "DRV"],
    "GARDENS": ["GDNS", "GDN", "GARDEN"],
    "PLACE": ["PL"],
    "SQUARE": ["SQ"],
    "TERRACE": ["TER", "TERR", "TCE"],
    "COURT": ["CT", "CRT"],
    "GREEN": ["GRN"],
    "GROVE": ["GR", "GRV", "GRO"],
    "PARK": ["PK"],
    "WAY": ["WY"],
    "HILL": ["HL"],
    "MEWS": ["MWS"],
    "ROW": [],
    "WALK": ["WLK", "WK"],
    "PARADE": ["PDE"],
    "RISE": ["RSE"],
}
_ABBREVIATION = {a: full for full, abbrevs in STREET_TYPES.items() for a in abbrevs}
# Words that introduce a sub-building (flat) identifier.
_FLAT_WORDS = {"FLAT", "FLT", "APARTMENT", "APT", "UNIT", "ROOM", "RM", "MAISONETTE"}

POSTCODE_RE = re.compile(r"\b([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})\b")
_NUMBER_RE = re.compile(r"^([0-9]+)([A-Z]?)$")
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


def normalise_street(text: object) -> str | None:
    """A street name in capitals with its street type spelled out ('Smith St' -> 'SMITH STREET')."""
    words = clean_text(text).split()
    if not words:
        return None
    words[-1] = _ABBREVIATION.get(words[-1], words[-1])
    return " ".join(words)


def parse_address(text: object, towns: Iterable[str] = ()) -> dict[str, str | None]:
    """Split one free-text address into flat, house_number, street, town and postcode.

    `towns` are known town names (already cleaned, upper case): a trailing known town is
    read as the town, the rest as the street. "10a X" and "Flat A 10 X" give the same parts.
    """
    s = clean_text(text)
    postcode = None
    found = POSTCODE_RE.search(s)
    if found:
        postcode = f"{found.group(1)} {found.group(2)}"
        s = (s[: found.start()] + " " + s[found.end():]).strip()
    words = s.split()
    flat = None
    # "FLAT A" / "APARTMENT 3" anywhere before the number
    for i, w in enumerate(words[:-1]):
        if w in _FLAT_WORDS:
            flat = words[i + 1]
            del words[i : i + 2]
            break
    house = None
    for i, w in enumerate(words):
        m = _NUMBER_RE.match(w)
        if not m:
            continue
        house, letter = m.group(1), m.group(2)
        del words[i]
        rest = words[i:]
        if not letter and flat is None and rest and _NUMBER_RE.match(rest[0]):
            # "3/12 Smith Street" (punctuation already gone): flat 3 of number 12
            flat, (house, letter) = house, _NUMBER_RE.match(rest[0]).groups()
            del words[i]
            rest = words[i:]
        if not letter and len(rest) > 1 and len(rest[0]) == 1 and rest[0].isalpha():
            # "10 A The Grange": a lone letter after the number is the flat
            letter = rest[0]
            del words[i]
        if letter:
            flat = flat or letter
        break
    town = None
    for t in sorted(towns, key=len, reverse=True):
        tw = t.split()
        if tw and len(words) > len(tw) and words[-len(tw):] == tw:
            town = t
            del words[-len(tw):]
            break
    street = normalise_street(" ".join(words))
    return {"flat": flat, "house_number": house, "street": street, "town": town, "postcode": postcode}


def parse_addresses(addresses: pd.Series, postcodes: pd.Series | None = None, towns: Iterable[str] = ()) -> pd.DataFrame:
    """Parse a column of free-text addresses (each distinct text once) into PARTS.

    A separate `postcodes` column, where it holds a readable postcode, wins over one found
    in the text.
    """
    towns = [clean_text(t) for t in set(towns) if clean_text(t)]
    codes, distinct = pd.factorize(addresses.astype("string").fillna(""))
    parsed = pd.DataFrame([parse_address(a, towns) for a in distinct], columns=PARTS)
    out = parsed.iloc[codes].set_axis(addresses.index) if len(distinct) else pd.DataFrame(index=addresses.index, columns=PARTS)
    if postcodes is not None:
        given = normalise_postcodes(postcodes)
        out["postcode"] = given.where(given.notna(), out["postcode"])
    return out.astype("string")


def normalise_parts(frame: pd.DataFrame) -> pd.DataFrame:
    """Normalise already-split address columns (an entity register's flat, number, street ...)."""
    fns = {"street": normalise_street, "postcode": normalise_postcode, "flat": _normalise_flat}
    out = pd.DataFrame(index=frame.index)
    for part in PARTS:
        col = frame[part] if part in frame.columns else pd.Series(pd.NA, index=frame.index, dtype="string")
        out[part] = _per_distinct(col, fns.get(part, lambda v: clean_text(v) or None))
    return out


def _normalise_flat(value: object) -> str | None:
    words = [w for w in clean_text(value).split() if w not in _FLAT_WORDS]
    return " ".join(words) or None
