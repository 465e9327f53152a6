"""Addresses of any country as comparable parts: flat or unit, house number, street, place, postcode.

The `address` field kind reads one free-text line the way systems in many countries write it
("Flat A, 12 Smith St, Rivermouth RB4 7QX", "3/12 Banksia Pde, Bondi NSW 2026",
"123 Main St Apt 4, Springfield 62704", "Hauptstr. 5, 10115 Berlin", "Unit 5 #12"):

- a postcode at the end of the text is taken off and kept apart (UK and Canadian shapes, Dutch
  "1234 AB", US ZIP+4, or 4 to 6 digits after a house number), so a row whose postcode column is
  empty can still be compared and blocked on the one in its text;
- a known place at the end (the values of the spec's `locality` fields), or a last comma-separated
  part without digits or street type, is taken off as the place;
- the flat or unit: "Flat A", "Apt 4", "Unit 5", "Suite 2", "#4", "3/12" (unit 3 of number 12),
  "12a" and "12 A The Grange" (a letter beside the number);
- the house number: the first number, before or after the street ("Hauptstrasse 12");
- the street: what is left, with its type written out in full ("St" -> "STREET", "Pde" -> "PARADE",
  "Blvd" -> "BOULEVARD", "Str." -> "STRASSE" glued or apart, "Av." -> "AVENUE", "C/" -> "CALLE"),
  "St" at the start read as "SAINT".

No gazetteer and no trained parser: libpostal would need its 2 GB model (not a package), usaddress
reads US addresses only. UK rules (postcode parts, UPRN) are chosen by field kinds elsewhere
(`uk_postcode`), not assumed here.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable

import numpy as np
import pandas as pd

PARTS = ("flat", "number", "street", "street_name", "street_type", "place", "postcode")

# Street types and how systems abbreviate them: UK and Ireland, Australia and New Zealand, the US
# and Canada, and the continental words that come as separate words.
STREET_TYPES = {
    "STREET": ["ST", "STR", "STRT", "STREE"], "ROAD": ["RD"], "AVENUE": ["AVE", "AV", "AVENU", "AVN"],
    "LANE": ["LN", "LA"], "CLOSE": ["CL", "CLS"], "CRESCENT": ["CRES", "CRESC", "CR", "CRS"],
    "DRIVE": ["DR", "DRV", "DRIV"], "GARDENS": ["GDNS", "GDN", "GARDEN"], "PLACE": ["PL", "PLC"],
    "SQUARE": ["SQ"], "TERRACE": ["TER", "TERR", "TCE"], "COURT": ["CT", "CRT"], "GREEN": ["GRN"],
    "GROVE": ["GR", "GRV", "GRO"], "PARK": ["PK"], "WAY": ["WY"], "HILL": ["HL"], "MEWS": ["MWS"],
    "WALK": ["WLK", "WK"], "PARADE": ["PDE", "PRD"], "RISE": ["RSE"], "BOULEVARD": ["BLVD", "BVD", "BD", "BOUL"],
    "HIGHWAY": ["HWY"], "CIRCUIT": ["CCT", "CIRC"], "CIRCLE": ["CIR"], "ESPLANADE": ["ESP", "ESPL"],
    "PARKWAY": ["PKWY", "PWY"], "EXPRESSWAY": ["EXPY"], "FREEWAY": ["FWY"], "TRAIL": ["TRL"],
    "ALLEY": ["ALY"], "ROW": [], "CAUSEWAY": ["CSWY"], "VIEW": ["VW"], "HEIGHTS": ["HTS"],
    "MOUNT": ["MT"], "POINT": ["PT"], "GATE": ["GT"], "CHASE": [], "BROADWAY": ["BWAY"],
    "STRASSE": [], "CALLE": [], "AVENIDA": ["AVDA"], "RUE": [], "VIA": [], "WEG": [],
}
_TYPE_OF = {a: full for full, abbrevs in STREET_TYPES.items() for a in abbrevs} | {f: f for f in STREET_TYPES}
_ARTICLES = {"LA"}  # an abbreviation that is also a word inside names ("Rue de la Paix")
_LEADING = {"ST": "SAINT", "AV": "AVENUE", "AVE": "AVENUE", "BD": "BOULEVARD", "BLVD": "BOULEVARD", "C": "CALLE",
            "AVDA": "AVENIDA", "PL": "PLACE"}  # first words: "St Johns Road", "Av. Foch", "C/ Mayor"
_GLUED = [("STRASSE", "STRASSE"), ("STR", "STRASSE")]  # "Hauptstr." -> HAUPTSTRASSE (German compounds)
_DIRECTIONS = {"N": "NORTH", "S": "SOUTH", "E": "EAST", "W": "WEST", "NE": "NORTHEAST", "NW": "NORTHWEST",
               "SE": "SOUTHEAST", "SW": "SOUTHWEST"}
UNIT_WORDS = {"FLAT", "FLT", "APARTMENT", "APT", "UNIT", "SUITE", "STE", "ROOM", "RM", "MAISONETTE", "APPT",
              "APPARTEMENT", "WOHNUNG", "PISO", "DEPT", "DEPTO", "LOT", "SHOP"}

# Postcodes at the end of the text, most specific first. The bare digits need a house number before them.
_POSTCODE_END = [
    re.compile(r"\b([A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2})$"),  # UK
    re.compile(r"\b([A-Z][0-9][A-Z] ?[0-9][A-Z][0-9])$"),  # Canada
    re.compile(r"\b([0-9]{4} ?[A-Z]{2})$"),  # Netherlands
    re.compile(r"\b([0-9]{5}-[0-9]{4})$"),  # US ZIP+4
]
_DIGITS_END = re.compile(r"\b([0-9]{4,6})$")
_NUMBER = re.compile(r"^([0-9]+)([A-Z]?)$")
_UNIT_SLASH = re.compile(r"\b([0-9]{1,4}[A-Z]?|[A-Z])\s*/\s*([0-9]+[A-Z]?)\b")
_HASH = re.compile(r"#\s*([A-Z0-9]+)")
_NOT_WORD = re.compile(r"[^A-Z0-9 ]+")
_SPACES = re.compile(r"\s+")


def _upper(text: str) -> str:
    text = str(text).replace("ß", "SS").replace("ẞ", "SS")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().upper()


def _words(text: str) -> list[str]:
    return _SPACES.sub(" ", _NOT_WORD.sub(" ", text.replace("'", ""))).split()


def clean_place(value: object) -> str | None:
    """A place name as the address parser compares it: capitals, letters and digits, single spaces."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return " ".join(_words(_upper(value))) or None


def _street(words: list[str]) -> str | None:
    """Street words with the type spelt out: an abbreviation is read as a type only as the last word (or
    before a direction), or as the first word for the types written first (Av., Bd, C/, Avda)."""
    out = []
    last = len(words) - 1
    if last > 0 and words[-1] in _DIRECTIONS and words[-2] in _TYPE_OF:
        last -= 1
    for i, w in enumerate(words):
        if i == 0 and len(words) > 1 and w in _LEADING:
            out.append(_LEADING[w])
            continue
        full = _TYPE_OF.get(w) if i == last else (w if w in STREET_TYPES else None)
        if full is None and i > 0 and w in _DIRECTIONS and i == len(words) - 1 and words[i - 1] in _TYPE_OF:
            full = _DIRECTIONS[w]
        if full is None:
            for end, repl in _GLUED:
                if len(w) > len(end) + 2 and w.endswith(end):
                    full = w[: -len(end)] + repl
                    break
        out.append(full or w)
    return " ".join(out) or None


def _take_end(text: str, places: frozenset[str], has_number_before) -> tuple[str, str | None, str | None]:
    """Take a trailing postcode and a trailing known place off `text` (either order, each once)."""
    postcode = place = None
    for _ in range(2):
        text = text.strip(" ,")
        if postcode is None:
            for pattern in _POSTCODE_END:
                m = pattern.search(text)
                if m:
                    postcode, text = m.group(1), text[: m.start()]
                    break
            else:
                m = _DIGITS_END.search(text)
                if m and has_number_before(text[: m.start()]):
                    postcode, text = m.group(1), text[: m.start()]
            text = text.strip(" ,")
        if place is None and places:
            words = _words(text)
            # the place may be followed by a short region code ("Bondi NSW", "Springfield IL"), dropped
            for extra in (0, 1):
                if extra and not (len(words) > 2 and len(words[-1]) <= 3 and words[-1].isalpha()):
                    break
                head = words[: len(words) - extra]
                k = next((k for k in (4, 3, 2, 1) if len(head) > k and " ".join(head[-k:]) in places), 0)
                if k:
                    place = " ".join(head[-k:])
                    # cut the place's words off the raw text (its last k + extra word-like runs)
                    cut = [m.start() for m in re.finditer(r"[A-Z0-9']+", text)][-(k + extra)]
                    text = text[:cut]
                    break
    return text.strip(" ,"), postcode, place


def _has_digit_word(text: str) -> bool:
    return any(ch.isdigit() for ch in text)


@functools.lru_cache(maxsize=1 << 18)
def _parse(text: str, places: frozenset[str]) -> tuple[str | None, ...]:
    s = _upper(text).strip()
    s, postcode, place = _take_end(s, places, _has_digit_word)
    if place is None and "," in s:
        head, _, last = s.rpartition(",")
        lw = _words(last)
        if postcode is None and len(lw) > 1 and _DIGITS_END.match(lw[0]) and not _has_digit_word(" ".join(lw[1:])) \
                and _has_digit_word(head):
            postcode, lw, last = lw[0], lw[1:], " ".join(lw[1:])  # "28013 Madrid": postcode before the place
        if lw and not _has_digit_word(last) and not any(w in _TYPE_OF for w in lw[1:]) and _has_digit_word(head) \
                and lw[0] not in UNIT_WORDS:
            place, s = " ".join(lw), head
    flat = None
    m = _HASH.search(s)
    if m:
        flat, s = m.group(1), s[: m.start()] + " " + s[m.end():]
    m = _UNIT_SLASH.search(s)
    if m:
        flat, s = flat or m.group(1), s[: m.start()] + " " + m.group(2) + " " + s[m.end():]
    words = _words(s)
    for i, w in enumerate(words[:-1]):
        if w in UNIT_WORDS:
            flat = flat or words[i + 1]
            del words[i: i + 2]
            break
    number = None
    for i, w in enumerate(words):
        m = _NUMBER.match(w)
        if not m:
            continue
        number, letter = m.group(1), m.group(2)
        del words[i]
        rest = words[i:]
        if not letter and flat is None and rest and _NUMBER.match(rest[0]) and len(rest) > 1:
            flat, (number, letter) = number, _NUMBER.match(rest[0]).groups()  # "3 12 Smith St": flat 3 of 12
            del words[i]
            rest = words[i:]
        if not letter and len(rest) > 1 and len(rest[0]) == 1 and rest[0].isalpha() and rest[0] not in _DIRECTIONS:
            letter = rest[0]  # "10 A The Grange"
            del words[i]
        if letter:
            flat = flat or letter
        break
    words = [w for w in words if w not in UNIT_WORDS]
    if place is None:  # "5 Wesbury Street Northcote": words after the street's type are its place
        at = [i for i, w in enumerate(words) if w in _TYPE_OF and w not in _ARTICLES and 0 < i < len(words) - 1]
        tail = words[at[-1] + 1:] if at else []
        if tail and len(tail) <= 3 and not (len(tail) == 1 and tail[0] in _DIRECTIONS) \
                and not any(w in _TYPE_OF or any(c.isdigit() for c in w) for w in tail):
            place, words = " ".join(tail), words[: at[-1] + 1]
    street = _street(words)
    name, kind = street, None
    if street and " " in street and street.rsplit(" ", 1)[1] in STREET_TYPES:
        name, kind = street.rsplit(" ", 1)
    flat = flat.lstrip("0") or flat if flat else None
    return flat, number, street, name, kind, place, postcode


def parse_address(text: object, places: Iterable[str] = ()) -> dict[str, str | None]:
    """One address as its PARTS (see the module docstring); `places` are known place names (any case)."""
    if text is None or (not isinstance(text, str) and pd.isna(text)) or not str(text).strip():
        return dict.fromkeys(PARTS)
    known = frozenset(p for p in (clean_place(x) for x in places) if p)
    return dict(zip(PARTS, _parse(str(text), known)))


def address_parts(values: pd.Series, places: frozenset[str] = frozenset()) -> pd.DataFrame:
    """PARTS for a column of addresses, each distinct text parsed once; `places` already cleaned."""
    codes, distinct = pd.factorize(values.astype("string"))
    empty = (None,) * len(PARTS)
    rows = [(_parse(v, places) if isinstance(v, str) and v.strip() else empty) for v in distinct] + [empty]
    table = np.array(rows, dtype=object).reshape(len(rows), len(PARTS))[codes]
    return pd.DataFrame({p: pd.array(table[:, i], dtype="string") for i, p in enumerate(PARTS)}, index=values.index)
