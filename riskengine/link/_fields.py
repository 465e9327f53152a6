"""Field kinds: what a column holds decides how it is cleaned, compared and blocked on.

A link spec maps each column to a kind (`forename`, `surname`, `full_name`, `date`,
`address`, `locality`, `postcode`, `uk_postcode`, `identifier`, `exact`, `number`, `text`).
From the kinds alone this module builds

- the cleaned columns splink compares (`prepare`): names in capitals without accents or
  punctuation, with a phonetic key (jellyfish's Soundex) and the name's canonical forms
  (the `nicknames` package: BILL -> WILLIAM); dates in any format, declared per column
  or inferred from the values (the formats found are reported); postcodes of any country
  as letters and digits, UK postcodes as "OUT IN" only for the `uk_postcode` kind;
  addresses as flat, house number and street (types spelt out) with the postcode and place at
  their end read apart (`_address`), filling a table's empty postcode or locality (`from_address`);
- the splink comparisons (`comparisons`), with term-frequency adjustment on names,
  localities, postcodes and exact fields, swapped forename and surname, nicknames, date
  typos and swapped day and month;
- the blocking rules (`blocking_rules`): identifiers alone, then pairs of keys of two
  different families (a name key with a date, a place or the other name key; a house
  number with a place), so that a row missing one field still meets its match through another.

Nothing here assumes a country: the UK rules (UPRN, postcode parts) are chosen by kind.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from riskengine.errors import RiskEngineError
from riskengine.link._address import address_parts, clean_place
from riskengine.link._normalise import normalise_postcode
from riskengine.spec import LINK_FIELD_KINDS as KINDS
# Formats tried when a date column declares none, in order of preference when two read
# the same share (day-first before month-first: say `format` where it is month-first).
DATE_FORMATS = ["%Y-%m-%d", "%Y%m%d", "%d/%m/%Y", "%m/%d/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y/%m/%d", "%d %b %Y",
                "%d %B %Y", "%b %d %Y", "%d/%m/%y", "%m/%d/%y", "%d%m%Y"]
MIN_FORMAT_SHARE = 0.01  # a format must read this share of a column's values to be used for it
_NAME_DROP = re.compile(r"['`’-]")
_NOT_LETTER = re.compile(r"[^A-Z]+")
_NOT_ALNUM = re.compile(r"[^A-Z0-9]+")
_NOT_WORD = re.compile(r"[^A-Z0-9 ]+")
_SPACES = re.compile(r"\s+")


@dataclass
class Field:
    """One compared field: its shared name, kind, and the source column in each table."""

    name: str
    kind: str
    columns: dict[str, str]  # table -> column
    declared: dict[str, str] = field(default_factory=dict)  # table -> date format declared in the spec
    formats_used: dict[str, dict[str, float]] = field(default_factory=dict)  # table -> format -> share read
    places: frozenset[str] = frozenset()  # address fields: known place names (the tables' locality values)


# --------------------------------------------------------------------------------------
# Cleaning, value by value (each distinct value once)
# --------------------------------------------------------------------------------------


def _missing(v: object) -> bool:
    return v is None or (not isinstance(v, str) and pd.isna(v))


def _ascii_upper(text: str) -> str:
    return unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode().upper()


def clean_name(v: object) -> str | None:
    """'O'Brien-Smith' -> 'OBRIENSMITH'; 'José  María' -> 'JOSE MARIA'; empty -> None."""
    if _missing(v):
        return None
    out = _NOT_LETTER.sub(" ", _NAME_DROP.sub("", _ascii_upper(v))).strip()
    return _SPACES.sub(" ", out) or None


def clean_words(v: object) -> str | None:
    """Capitals, letters and digits, single spaces."""
    if _missing(v):
        return None
    out = _SPACES.sub(" ", _NOT_WORD.sub(" ", _ascii_upper(v).replace("'", ""))).strip()
    return out or None


def clean_code(v: object) -> str | None:
    """Letters and digits only: 'ab-12 3' -> 'AB123' (identifiers, postcodes of any country)."""
    if _missing(v):
        return None
    return _NOT_ALNUM.sub("", _ascii_upper(v)) or None


@functools.lru_cache(maxsize=1)
def _nicknamer():
    from nicknames import NickNamer

    return NickNamer()


@functools.lru_cache(maxsize=1 << 16)
def name_forms(name: str) -> tuple[str, ...]:
    """The name and every formal name it is a nickname of ('BILL' -> BILL, WILLIAM, ...), sorted."""
    forms = {name}
    for word in name.split():
        forms |= {c.upper() for c in _nicknamer().canonicals_of(word.lower())}
    return tuple(sorted(forms))


@functools.lru_cache(maxsize=1 << 16)
def phonetic(name: str) -> str | None:
    """Soundex of a cleaned name's first word (jellyfish)."""
    import jellyfish

    word = name.split()[0] if name else ""
    return jellyfish.soundex(word) if word else None


def _per_distinct(values: pd.Series, fn, dtype="string") -> pd.Series:
    codes, distinct = pd.factorize(values.astype("string"))
    mapped = np.array([fn(v) for v in distinct] + [None], dtype=object)
    return pd.Series(mapped[codes], index=values.index, dtype=dtype)


# --------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------


def infer_date_formats(values: pd.Series) -> dict[str, float]:
    """The formats that read a column's values, best first, with the share each reads.

    Each value is read by the first listed format that reads it, so a column mixing
    "2001-02-03" and "03/02/2001" gets both; ambiguous month-first columns are read
    day-first unless a format is declared.
    """
    text = values.dropna().astype("string").str.strip()
    text = pd.Series(pd.unique(text[text != ""].to_numpy()), dtype="string")
    if not len(text):
        return {}
    sample = text.sample(min(len(text), 20_000), random_state=0) if len(text) > 20_000 else text
    shares = {f: float(pd.to_datetime(sample, format=f, errors="coerce").notna().mean()) for f in DATE_FORMATS}
    chosen: dict[str, float] = {}
    left = sample
    for f in sorted(DATE_FORMATS, key=lambda f: -shares[f]):  # stable: ties keep the listed order
        if not len(left) or shares[f] < MIN_FORMAT_SHARE:
            break
        read = pd.to_datetime(left, format=f, errors="coerce").notna()
        if read.mean() * len(left) / len(sample) >= MIN_FORMAT_SHARE:
            chosen[f] = round(float(read.sum()) / len(sample), 4)
            left = left[~read.to_numpy()]
    return chosen


def parse_dates(values: pd.Series, formats: list[str]) -> pd.Series:
    """Each value as 'YYYY-MM-DD' by the first of `formats` that reads it; unreadable -> NA."""
    codes, distinct = pd.factorize(values.astype("string").str.strip())
    distinct = pd.Series(distinct, dtype="string")
    iso = pd.Series(pd.NA, index=distinct.index, dtype="string")
    for f in formats:
        todo = iso.isna()
        if not todo.any():
            break
        read = pd.to_datetime(distinct[todo], format=f, errors="coerce")
        iso[todo] = read.dt.strftime("%Y-%m-%d").astype("string")
    mapped = np.append(iso.to_numpy(dtype=object, na_value=None), None)[codes]
    return pd.Series(mapped, index=values.index, dtype="string")


# --------------------------------------------------------------------------------------
# prepare(): the columns splink reads, per field
# --------------------------------------------------------------------------------------


def _tokens_sorted(v: str) -> str:
    return " ".join(sorted(v.split()))


def prepare(values: pd.Series, f: Field, table: str, surname_of: pd.Series | None = None) -> pd.DataFrame:
    """The cleaned columns of one field of one table (named `<field>` and `<field>__<part>`)."""
    n = f.name
    out = pd.DataFrame(index=values.index)
    k = f.kind
    if k in ("forename", "surname"):
        clean = _per_distinct(values, clean_name)
        out[n] = clean
        out[f"{n}__ph"] = _per_distinct(clean, phonetic)
        if k == "forename":
            forms = clean.map(lambda v: list(name_forms(v)) if isinstance(v, str) else None, na_action="ignore")
            out[f"{n}__forms"] = forms.astype(object)
    elif k == "full_name":
        clean = _per_distinct(values, clean_name)
        out[n] = clean
        out[f"{n}__sorted"] = _per_distinct(clean, _tokens_sorted)
        words = clean.str.split(" ")
        out[f"{n}__ph"] = _per_distinct(words.str[0], phonetic)
        out[f"{n}__ph2"] = _per_distinct(words.str[-1], phonetic)
    elif k == "date":
        declared = f.declared.get(table)
        if declared:
            read = pd.to_datetime(values.dropna().astype("string"), format=declared, errors="coerce")
            f.formats_used[table] = {declared: round(float(read.notna().mean()), 4) if len(read) else 0.0}
        else:
            f.formats_used[table] = infer_date_formats(values)
        formats = list(f.formats_used[table])
        iso = parse_dates(values, formats) if formats else pd.Series(pd.NA, index=values.index, dtype="string")
        out[n] = iso
        y, m, d = iso.str.slice(0, 4), iso.str.slice(5, 7), iso.str.slice(8, 10)
        lo = m.where(m <= d, d)
        hi = d.where(m <= d, m)
        out[f"{n}__y"] = y
        out[f"{n}__key"] = y + lo + hi  # the same for a date and its day/month swap
    elif k == "address":
        parts = address_parts(values, f.places)
        has = parts["number"].notna() | parts["street"].notna()
        whole = parts["number"].fillna("").str.cat(parts["street"].fillna(""), sep=" ").str.strip()
        whole = whole.str.cat(("FLAT " + parts["flat"]).fillna(""), sep=" ").str.strip()
        out[n] = whole.where(has).astype("string")  # "12 SMITH STREET FLAT A": flat, number and street
        out[f"{n}__num"] = parts["number"]
        out[f"{n}__flat"] = parts["flat"]
        out[f"{n}__street"] = parts["street"]
        out[f"{n}__stname"] = parts["street_name"]
        out[f"{n}__sttype"] = parts["street_type"]
        # two blocking keys of the street's name, its first three letters and the rest: one slip of the
        # hand spoils one of them, not both
        out[f"{n}__sthead"] = parts["street_name"].str.slice(0, 3)
        out[f"{n}__sttail"] = parts["street_name"].str.slice(3).replace("", pd.NA)
        out[f"{n}__place"] = parts["place"]
        out[f"{n}__postcode"] = parts["postcode"]
    elif k in ("locality", "text"):
        out[n] = _per_distinct(values, clean_words)
    elif k == "postcode":
        clean = _per_distinct(values, clean_code)
        out[n] = clean
        out[f"{n}__head"] = clean.str.slice(0, max(2, 3))
    elif k == "uk_postcode":
        out[n] = _per_distinct(values, normalise_postcode)
    elif k in ("identifier", "exact"):
        out[n] = _per_distinct(values, clean_code if k == "identifier" else clean_words)
    elif k == "number":
        out[n] = pd.to_numeric(values, errors="coerce").astype("Float64")
    else:  # pragma: no cover - spec validation names the kinds
        raise RiskEngineError(f"field {n!r}: unknown kind {k!r}; expected one of {', '.join(KINDS)}")
    return out


def learn_places(fields: list[Field], tables: dict[str, pd.DataFrame]) -> None:
    """Give each address field the place names its tables' locality fields hold, so a place written at
    the end of an address ("12 Smith St, Rivermouth") is read as the place, not as part of the street."""
    places: set[str] = set()
    for f in fields:
        if f.kind == "locality":
            for t, col in f.columns.items():
                if t in tables and col in tables[t].columns:
                    places |= {p for p in (clean_place(v) for v in pd.unique(tables[t][col].dropna())) if p}
    for f in fields:
        if f.kind == "address":
            f.places = frozenset(places)


def from_address(table: str, df: pd.DataFrame, fields: list[Field]) -> dict[str, pd.Series]:
    """Raw values of postcode and locality fields, with their gaps filled from the table's address text
    (a postcode or place written at its end), field name -> values; only fields that gain something."""
    addresses = [f for f in fields if f.kind == "address" and f.columns.get(table) in df.columns]
    if not addresses:
        return {}
    parts = address_parts(df[addresses[0].columns[table]], addresses[0].places)
    out = {}
    for f in fields:
        found = {"postcode": "postcode", "uk_postcode": "postcode", "locality": "place"}.get(f.kind)
        if found is None:
            continue
        col = f.columns.get(table)
        given = df[col].astype("string") if col in df.columns else pd.Series(pd.NA, index=df.index, dtype="string")
        blank = given.isna() | (given.str.strip() == "")
        if (blank & parts[found].notna()).any():
            out[f.name] = given.where(~blank, parts[found])
    return out


def empty_columns(f: Field, index: pd.Index) -> pd.DataFrame:
    """The columns of a field a table does not have: all missing."""
    probe = prepare(pd.Series(["x"], dtype="string"), Field(f.name, f.kind, {}), "probe")
    out = pd.DataFrame(index=index)
    for c in probe.columns:
        out[c] = pd.Series(pd.NA, index=index, dtype=probe[c].dtype if probe[c].dtype != object else object)
    return out


# --------------------------------------------------------------------------------------
# Comparisons
# --------------------------------------------------------------------------------------


# Jaro-Winkler by engine: DuckDB's own function, and on Spark the UDF of splink's jar
_JW = {"duckdb": "jaro_winkler_similarity", "spark": "jaro_winkler"}


def _jw(col: str, at: float, dialect: str = "duckdb") -> str:
    return f"{_JW[dialect]}({col}_l, {col}_r) >= {at}"


def comparison(f: Field, fields: list[Field], dialect: str = "duckdb"):
    """The splink comparison of one field, levels from most to least alike, each with a start m.
    `dialect`: the engine its custom SQL is written for ("duckdb", or "spark" with splink's jar)."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    def jw(col: str, at: float) -> str:
        return _jw(col, at, dialect)

    n, k = f.name, f.kind
    other = {"forename": "surname", "surname": "forename"}.get(k)
    swap_with = next((g.name for g in fields if g.kind == other), None)
    levels, m = [cll.NullLevel(n)], []
    else_m = None  # the start m of "different": by default what the other levels leave, at least 0.01

    def add(level, label: str, m_start: float) -> None:
        levels.append(level.configure(label_for_charts=label))
        m.append(m_start)

    if k in ("forename", "surname"):
        add(cll.ExactMatchLevel(n, term_frequency_adjustments=True), f"same {k}", 0.8)
        if swap_with:
            add(cll.CustomLevel(f"{n}_l = {swap_with}_r AND {n}_r = {swap_with}_l"), "forename and surname swapped",
                0.02)
        if k == "forename":
            add(cll.ArrayIntersectLevel(f"{n}__forms", 1), "same name, one a nickname", 0.05)
        add(cll.CustomLevel(jw(n, 0.92)), "Jaro-Winkler >= 0.92", 0.06)
        add(cll.CustomLevel(jw(n, 0.8)), "Jaro-Winkler >= 0.8", 0.03)
        if k == "forename":
            add(cll.CustomLevel(f"substr({n}_l, 1, 1) = substr({n}_r, 1, 1)"), "same initial", 0.02)
    elif k == "full_name":
        add(cll.ExactMatchLevel(n, term_frequency_adjustments=True), "same name", 0.8)
        add(cll.ExactMatchLevel(f"{n}__sorted"), "same words in another order", 0.05)
        add(cll.CustomLevel(jw(f"{n}__sorted", 0.92)), "Jaro-Winkler >= 0.92", 0.08)
        add(cll.CustomLevel(jw(f"{n}__sorted", 0.8)), "Jaro-Winkler >= 0.8", 0.04)
    elif k == "date":
        swapped = (f"substr({n}_l, 1, 4) = substr({n}_r, 1, 4) AND substr({n}_l, 6, 2) = substr({n}_r, 9, 2) "
                   f"AND substr({n}_l, 9, 2) = substr({n}_r, 6, 2)")
        add(cll.ExactMatchLevel(n), "same date", 0.85)
        add(cll.CustomLevel(swapped), "day and month swapped", 0.03)
        add(cll.DamerauLevenshteinLevel(n, 1), "one digit differs or two swapped", 0.06)
        add(cll.AbsoluteDateDifferenceLevel(n, input_is_string=True, threshold=1, metric="month",
                                            datetime_format="%Y-%m-%d"), "within a month", 0.02)
        add(cll.AbsoluteDateDifferenceLevel(n, input_is_string=True, threshold=1, metric="year",
                                            datetime_format="%Y-%m-%d"), "within a year", 0.02)
    elif k == "address":
        # street and number together: on one street a number names one property, so agreeing on both is
        # worth far more than the two agreements counted apart; the flat decides between a building's homes
        # a similar street: the same type (or one left out) and a name alike (Victoria Parade is not
        # Victoria Street, but "12 Ashfield" may be 12 Ashfield Road)
        street = (f"(coalesce({n}__sttype_l = {n}__sttype_r, true) AND ({n}__stname_l = {n}__stname_r "
                  f"OR {jw(f'{n}__stname', 0.9)} OR damerau_levenshtein({n}__stname_l, {n}__stname_r) <= 1))")
        same_num = f"{n}__num_l = {n}__num_r"
        one_num = f"({n}__num_l IS NULL OR {n}__num_r IS NULL)"
        same_flat = f"coalesce({n}__flat_l, '') = coalesce({n}__flat_r, '')"
        one_flat = f"({n}__flat_l IS NULL OR {n}__flat_r IS NULL)"
        # "other flat" starts rare: a record of Flat 8 meets every other flat of its building, and an EM
        # started high on this level learns the building's flats as matches (a second, wrong fixed point)
        add(cll.ExactMatchLevel(n, term_frequency_adjustments=True), "same address", 0.85)
        add(cll.CustomLevel(f"{same_num} AND {same_flat} AND {street}"), "same number and flat, similar street",
            0.1)
        add(cll.CustomLevel(f"{same_num} AND {one_flat} AND {street}"),
            "same number and street, a flat on one side only", 0.02)
        add(cll.CustomLevel(f"{same_num} AND {street}"), "same number and street, other flat", 0.0005)
        add(cll.CustomLevel(f"{one_num} AND {street}"), "similar street, a number on one side only", 0.02)
        add(cll.CustomLevel(street), "similar street, other number", 0.002)
        add(cll.CustomLevel(same_num), "same number, other street", 0.002)
        else_m = 0.001  # an address typed again is rarely all different (people who move: EM learns it)
    elif k in ("locality", "text"):
        add(cll.ExactMatchLevel(n, term_frequency_adjustments=k == "locality"), f"same {k}", 0.85)
        add(cll.CustomLevel(jw(n, 0.9)), "Jaro-Winkler >= 0.9", 0.07)
        add(cll.CustomLevel(jw(n, 0.7)), "Jaro-Winkler >= 0.7", 0.03)
    elif k == "postcode":
        add(cll.ExactMatchLevel(n, term_frequency_adjustments=True), "same postcode", 0.8)
        add(cll.DamerauLevenshteinLevel(n, 1), "one character differs", 0.07)
        add(cll.ExactMatchLevel(f"{n}__head"), "same first three characters", 0.05)
    elif k == "uk_postcode":
        comp = cl.PostcodeComparison(n).configure(m_probabilities=[0.85, 0.05, 0.04, 0.03, 0.03])
        return comp
    elif k == "identifier":
        add(cll.ExactMatchLevel(n), "same identifier", 0.85)
        add(cll.DamerauLevenshteinLevel(n, 1), "one character differs or two swapped", 0.08)
    elif k == "exact":
        add(cll.ExactMatchLevel(n, term_frequency_adjustments=True), "same value", 0.9)
    elif k == "number":
        add(cll.ExactMatchLevel(n), "same number", 0.85)
        add(cll.PercentageDifferenceLevel(n, 0.05), "within 5%", 0.08)
    add(cll.ElseLevel(), "different", 0.0)
    total = sum(m[:-1])
    m[-1] = else_m if else_m is not None else max(0.01, 1 - total)
    m = [x / sum(m) for x in m]
    return cl.CustomComparison(output_column_name=n, comparison_description=f"{n} ({k})",
                               comparison_levels=levels).configure(m_probabilities=m)


IDENTIFYING = {"forename", "surname", "full_name", "date", "identifier"}


def held_comparisons(fields: list[Field]) -> set[str]:
    """Comparisons whose m the one-to-one EM keeps at its start: an address's, when nothing else says who
    or what a record is (an address-only job). A record without a match in the register still meets its
    neighbours (same street, another number; same number, another street, same place), and with only
    places to go on EM takes them for matches; that another number on the street is another property is
    known, not learnt. With names, dates or identifiers beside it, EM learns the address (people move)."""
    if any(f.kind in IDENTIFYING for f in fields):
        return set()
    return {f.name for f in fields if f.kind == "address"}


# --------------------------------------------------------------------------------------
# Blocking
# --------------------------------------------------------------------------------------

# key column suffix and family per kind: rules pair keys of two different families
_KEYS = {
    "forename": [("__ph", "name")],
    "surname": [("__ph", "name")],
    "full_name": [("__ph", "name"), ("__ph2", "name")],
    "date": [("__key", "date"), ("__y", "year")],
    "postcode": [("", "place")],
    "uk_postcode": [("", "place")],
    "locality": [("", "place")],
    "address": [("__num", "number"), ("__sthead", "street"), ("__sttail", "street")],
}
_PAIRS = {frozenset(p) for p in [("name", "date"), ("name", "place"), ("name", "year"), ("number", "place"),
                                 ("date", "place"), ("number", "name"), ("name", "number"), ("number", "street")]}


# keys a blocking rule that makes too many candidate pairs is narrowed by (`_match.narrow`): one per
# field, cheap to compare, each cutting a rule's pairs by its number of values; the street's key too
_NARROWING = {"forename": ["__ph"], "surname": ["__ph"], "full_name": ["__ph", "__ph2"], "date": ["__y", "__key"],
              "postcode": ["", "__head"], "uk_postcode": [""], "locality": [""], "exact": [""],
              "address": ["__num", "__sthead"]}


def narrowing_keys(fields: list[Field]) -> list[str]:
    """The columns a blocking rule over the limit may be narrowed by (`_NARROWING`), in field order."""
    return [f"{f.name}{suffix}" for f in fields for suffix in _NARROWING.get(f.kind, [])]


@dataclass
class BlockingRule:
    """Pairs agreeing on `left[i]` (one side) = `right[i]` (the other): SQL for splink, words for reports."""

    left: list[str]
    right: list[str]
    words: str

    @property
    def sql(self) -> str:
        return " AND ".join(f"l.{a} = r.{b}" for a, b in zip(self.left, self.right))


def blocking_rules(fields: list[Field]) -> list[BlockingRule]:
    """Identifiers alone; a date alone (day and month either way round); every pair of keys of two
    families that go together; forename with surname, both ways round (swapped names)."""
    rules: list[BlockingRule] = []
    for f in fields:
        if f.kind == "identifier":
            rules.append(BlockingRule([f.name], [f.name], f"same {f.name}"))
    for f in fields:
        if f.kind == "date":
            rules.append(BlockingRule([f"{f.name}__key"], [f"{f.name}__key"],
                                      f"same {f.name} (day and month either way round)"))
    # the street's keys block only where the address is what identifies a record: beside names, dates or
    # identifiers their rules add candidate pairs (40% more on two files of people) and no links
    address_only = not any(f.kind in IDENTIFYING for f in fields)
    keys = [(f"{f.name}{suffix}", family) for f in fields for suffix, family in _KEYS.get(f.kind, [])
            if family != "street" or address_only]
    for i, (a, fa) in enumerate(keys):
        for b, fb in keys[i + 1:]:
            if fa != fb and frozenset((fa, fb)) in _PAIRS:
                rules.append(BlockingRule([a, b], [a, b], f"same {a} and {b}"))
    for a in (f for f in fields if f.kind == "address" and address_only):  # a house number mistyped
        for p in (f for f in fields if f.kind in ("postcode", "uk_postcode")):
            rules.append(BlockingRule([f"{a.name}__sthead", p.name], [f"{a.name}__sthead", p.name],
                                      f"same {p.name} and {a.name}__sthead"))
    fore = [f for f in fields if f.kind == "forename"]
    sur = [f for f in fields if f.kind == "surname"]
    for a in fore:
        for b in sur:
            pa, pb = f"{a.name}__ph", f"{b.name}__ph"
            rules.append(BlockingRule([pa, pb], [pa, pb], f"{a.name} and {b.name} sound alike"))
            rules.append(BlockingRule([pa, pb], [pb, pa], f"{a.name} and {b.name} sound alike, swapped"))
    seen, out = set(), []
    for r in rules:
        if r.sql not in seen:
            seen.add(r.sql)
            out.append(r)
    return out
