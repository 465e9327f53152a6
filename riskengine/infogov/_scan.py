"""Which columns of each source hold personal data, found by name and by content.

The scan reports column names, kinds and counts only: a value it reads to decide is never
kept, so its output can go into the DPIA, the console and MLflow. Detection is a screening
aid for the data protection officer, not a guarantee: the spec can flag what it misses
(`governance.personal_columns`, `governance.special_category`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

# Kinds of personal data, by how a column is usually named. Order matters: first match wins.
_NAME_RULES: list[tuple[str, re.Pattern]] = [
    ("special category: health", re.compile(r"health|disab|medical|diagnos|nhs_?condition|mental")),
    ("special category: ethnicity", re.compile(r"ethnic|race|nationality")),
    ("special category: religion", re.compile(r"religio|faith|belief")),
    ("special category: sex life or orientation", re.compile(r"sexual|orientation")),
    ("special category: trade union", re.compile(r"union_member|trade_union")),
    ("criminal offence data", re.compile(r"convict|offen[cs]e|arrest|criminal|caution")),
    ("date of birth", re.compile(r"(^|_)dob($|_)|birth|born")),
    ("national identifier", re.compile(r"ni_?num|nino|national_insurance|nhs_?num|ssn|soc_?sec|passport|licence_no|driving")),
    ("email address", re.compile(r"e_?mail")),
    ("phone number", re.compile(r"phone|mobile|(^|_)tel($|_)|telephone")),
    ("name", re.compile(r"(^|_)(first|last|given|family|full|middle|fore|sur)_?name|^name$|surname|forename"
                        r"|account_holder|holder_name|tenant|occupant|landlord_name|applicant")),
    ("address", re.compile(r"address|street|(^|_)addr|line_?[1-4]($|_)|house_?(no|num)|flat")),
    ("postcode", re.compile(r"post_?code|zip|postal")),
    ("free text", re.compile(r"note|comment|description|narrative|free_?text|detail|remarks|summary")),
    ("age or sex", re.compile(r"(^|_)age($|_)|(^|_)sex($|_)|gender")),
]

_EMAIL = re.compile(r"^[\w.+-]+@[\w-]+(\.[\w-]+)+$")
_PHONE = re.compile(r"^\+?[\d ()-]{9,16}$")
_NINO = re.compile(r"^[A-CEGHJ-PR-TW-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]$", re.IGNORECASE)
_UK_POSTCODE = re.compile(r"^[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$", re.IGNORECASE)
_ADDRESS = re.compile(r"^(flat \w+,? )?\d+[a-z]? [a-z' -]+\b(road|street|st|lane|ln|avenue|ave|close|way|drive|"
                      r"court|place|gardens|crescent|terrace|grove|hill|rise|row|walk|square|park)\b", re.IGNORECASE)
_PERSON_NAME = re.compile(r"^(mr|mrs|ms|miss|dr)\.? [a-z]|^[A-Z][a-z'-]+,? [A-Z][a-z'-]+( [A-Z][a-z'-]+)?$")

_CONTENT_RULES: list[tuple[str, re.Pattern]] = [
    ("email address", _EMAIL),
    ("national identifier", _NINO),
    ("postcode", _UK_POSTCODE),
    ("address", _ADDRESS),
    ("name", _PERSON_NAME),
    ("phone number", _PHONE),
]

SAMPLE_ROWS = 2000  # values read per column to judge its content
CONTENT_SHARE = 0.5  # a content kind is reported when at least this share of non-empty values fit it
FREE_TEXT_WORDS = 6  # mean words per value above which a text column reads as free text

# The engine's own columns: never personal (the contract's keys, dates and codes).
ENGINE_COLUMNS = {"entity_id", "date", "type", "value", "outcome", "as_of", "lat", "lon", "uprn", "_row", "_line"}


@dataclass
class ColumnFinding:
    """One column that holds, or may hold, personal data."""

    source: str
    column: str
    kind: str  # "name", "date of birth", "special category: health" ...
    how: str  # "column name", "content (83% of 2,000 values)", "flagged in the spec"
    filled: int  # non-empty values in the whole table
    special: bool  # special category or criminal offence data (UK GDPR Art 9 and 10)


def _by_name(column: str) -> str | None:
    name = re.sub(r"[^a-z0-9]+", "_", column.lower()).strip("_")
    for kind, rule in _NAME_RULES:
        if rule.search(name):
            return kind
    return None


def _by_content(values: pd.Series) -> tuple[str | None, float]:
    text = values.dropna().astype(str).str.strip()
    text = text[text != ""].head(SAMPLE_ROWS)
    if text.empty or pd.api.types.is_numeric_dtype(values.dtype):
        return None, 0.0
    for kind, rule in _CONTENT_RULES:
        share = float(text.map(lambda v, r=rule: bool(r.search(v))).mean())
        if share >= CONTENT_SHARE:
            return kind, share
    words = text.str.split().str.len().mean()
    if words >= FREE_TEXT_WORDS:
        return "free text", 1.0
    return None, 0.0


def scan_table(source: str, df: pd.DataFrame, flagged: list[str] = (), special: list[str] = ()) -> list[ColumnFinding]:
    """The personal-data columns of one table: by name, then by content, plus what the spec flags."""
    found = []
    for column in df.columns:
        if column in ENGINE_COLUMNS or str(column).startswith("_"):
            continue
        filled = int(df[column].notna().sum())
        if column in special:
            found.append(ColumnFinding(source, column, "special category (flagged in the spec)", "flagged in the spec",
                                       filled, True))
            continue
        kind = _by_name(str(column))
        how = "column name"
        if kind is None:
            kind, share = _by_content(df[column])
            how = f"content ({share:.0%} of up to {SAMPLE_ROWS:,} values)"
        if kind is None and column in flagged:
            kind, how = "personal (flagged in the spec)", "flagged in the spec"
        if kind is not None:
            is_special = kind.startswith(("special category", "criminal"))
            found.append(ColumnFinding(source, str(column), kind, how, filled, is_special))
    missing = [c for c in [*flagged, *special] if c not in df.columns]
    for column in missing:
        found.append(ColumnFinding(source, column, "flagged in the spec, but not in the table", "flagged in the spec",
                                   0, column in special))
    return found


def findings_table(findings: list[ColumnFinding]) -> pd.DataFrame:
    """The findings as a plain table (source, column, kind, how, filled, special)."""
    cols = ["source", "column", "kind", "how", "filled", "special"]
    return pd.DataFrame([f.__dict__ for f in findings], columns=cols)
