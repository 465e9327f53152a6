"""Data quality per source: completeness, validity, duplicates, conflicts and date coverage.

Figures are row counts and shares, never values: a quality report can be published with
the run. Conflicts are read after linkage, when rows of different sources are known to
describe the same entity.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from riskengine.link._normalise import normalise_postcodes
from riskengine.spec import EARLIEST_DATE

BOOKKEEPING = {"line", "match_provenance", "match_probability", "review_id", "key_state"}


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _check(name: str, checked: int, invalid: int, expected: str) -> dict:
    return {"check": name, "expected": expected, "checked": int(checked), "invalid": int(invalid),
            "invalid_share": _share(invalid, checked)}


def source_quality(name: str, df: pd.DataFrame, key_state: pd.Series, today: dt.date | None = None,
                   earliest: dt.date = EARLIEST_DATE) -> dict:
    """The quality figures of one source (after linkage, with each row's key state)."""
    today_ts = pd.Timestamp(today or dt.date.today())
    n = len(df)
    columns = [c for c in df.columns if c not in BOOKKEEPING and c != "entity_id"]
    completeness = {"entity_id (as supplied)": _share(int((key_state != "missing").sum()), n)}
    for c in columns:
        filled = df[c].notna()
        if pd.api.types.is_string_dtype(df[c]) or df[c].dtype == object:
            filled &= df[c].astype("string").str.strip().fillna("") != ""
        completeness[c] = _share(int(filled.sum()), n)

    validity = []
    supplied = key_state != "missing"
    validity.append(_check("entity_id", int(supplied.sum()), int((key_state == "malformed").sum()),
                           "a UPRN (up to 12 digits) or an entity id"))
    validity.append(_check("entity_id in register", int((key_state.isin(["known", "unknown"])).sum()),
                           int((key_state == "unknown").sum()), "an id the entity register holds"))
    dates = pd.to_datetime(df["date"], errors="coerce", format="ISO8601") if "date" in df.columns else None
    if dates is not None:
        given = df["date"].notna()
        validity.append(_check("date", int(given.sum()), int((given & dates.isna()).sum()), "a readable date (YYYY-MM-DD)"))
        validity.append(_check("date not in future", int(dates.notna().sum()), int((dates > today_ts).sum()),
                               f"on or before {today_ts.date()}"))
        validity.append(_check(f"date on or after {earliest}", int(dates.notna().sum()),
                               int((dates < pd.Timestamp(earliest)).sum()), f"on or after {earliest}"))
    if "type" in df.columns:
        validity.append(_check("type", n, int((df["type"].astype("string").str.strip().fillna("") == "").sum()),
                               "an event type"))
    if "value" in df.columns:
        given = df["value"].notna() & (df["value"].astype("string").str.strip() != "")
        numbers = pd.to_numeric(df["value"], errors="coerce")
        validity.append(_check("value", int(given.sum()), int((given & numbers.isna()).sum()), "a number"))
    if "postcode" in df.columns:
        given = df["postcode"].notna() & (df["postcode"].astype("string").str.strip() != "")
        readable = normalise_postcodes(df["postcode"]).notna()
        validity.append(_check("postcode", int(given.sum()), int((given & ~readable).sum()), "a UK postcode"))
    if "address" in df.columns:
        no_key = key_state != "known"
        no_address = df["address"].astype("string").str.strip().fillna("") == ""
        validity.append(_check("address where no key", int(no_key.sum()), int((no_key & no_address).sum()),
                               "an address to link by when there is no usable key"))

    data_cols = [c for c in df.columns if c not in BOOKKEEPING]
    exact_dup = int(df.duplicated(subset=[c for c in data_cols if c != "entity_id"] or None).sum()) if n else 0
    event_cols = [c for c in ("entity_id", "date", "type") if c in df.columns]
    linked = df[df["entity_id"].notna()] if "entity_id" in df.columns else df.iloc[0:0]
    event_dup = int(linked.duplicated(subset=event_cols).sum()) if len(event_cols) == 3 and len(linked) else 0
    duplicates = {
        "identical_rows": exact_dup,
        "identical_rows_share": _share(exact_dup, n),
        "same_entity_date_type": event_dup,
        "same_entity_date_type_share": _share(event_dup, len(linked)),
    }
    coverage: dict = {"first": None, "last": None, "typical_first": None, "typical_last": None,
                      "rows_outside_typical": None, "rows_per_year": {}, "months_without_rows": None}
    if dates is not None:
        d = dates[(dates >= pd.Timestamp(earliest)) & (dates <= today_ts)].dropna()
        if len(d):
            # the span holding all but the outermost 0.5% at each end: a stray 1901 or a
            # typo'd year does not stretch the coverage
            lo, hi = d.quantile(0.005), d.quantile(0.995)
            typical = d[(d >= lo) & (d <= hi)]
            months = typical.dt.to_period("M")
            span = pd.period_range(months.min(), months.max(), freq="M")
            coverage = {
                "first": str(d.min().date()),
                "last": str(d.max().date()),
                "typical_first": str(lo.date()),
                "typical_last": str(hi.date()),
                "rows_outside_typical": int(len(d) - len(typical)),
                "rows_per_year": {str(k): int(v) for k, v in typical.dt.year.value_counts().sort_index().items()},
                "months_spanned": int(len(span)),
                "months_without_rows": int(len(span.difference(pd.PeriodIndex(months.unique())))),
            }
    return {"source": name, "rows": n, "completeness": completeness, "validity": validity,
            "duplicates": duplicates, "date_coverage": coverage}


def conflicts(entities: pd.DataFrame, linked: dict[str, pd.DataFrame], fields: tuple[str, ...] = ("postcode",)) -> list[dict]:
    """How often sources disagree about an entity, field by field.

    For each field: linked rows whose value differs from the register's, and entities whose
    rows from two or more sources carry different values.
    """
    out = []
    candidates = list(dict.fromkeys([*fields, *(c for df in linked.values() for c in df.columns
                                                if c not in BOOKKEEPING and c not in {"entity_id", "date", "type", "value", "address"})]))
    for f in candidates:
        frames = []
        for name, df in linked.items():
            if f in df.columns:
                rows = df[df["entity_id"].notna() & df[f].notna()]
                values = rows[f].astype("string").str.strip()
                if f == "postcode":
                    values = normalise_postcodes(values)
                frames.append(pd.DataFrame({"entity_id": rows["entity_id"].astype("string").to_numpy(),
                                            "source": name, "value": values.to_numpy()}).dropna())
        if not frames:
            continue
        allrows = pd.concat(frames, ignore_index=True)
        item: dict = {"field": f}
        if f in entities.columns:
            reg = entities.set_index(entities["entity_id"].astype("string"))[f].astype("string")
            if f == "postcode":
                reg = normalise_postcodes(reg)
            ref = pd.Series(reg.reindex(allrows["entity_id"].to_numpy()).to_numpy(), index=allrows.index, dtype="string")
            comparable = ref.notna()
            differ = comparable & (ref != allrows["value"]).fillna(False).astype(bool)
            item["rows_compared_with_register"] = int(comparable.sum())
            item["rows_differing_from_register"] = int(differ.sum())
            item["rows_differing_share"] = _share(int(differ.sum()), int(comparable.sum()))
            per_source = allrows.assign(differ=differ.to_numpy(), comparable=comparable.to_numpy())
            item["differing_share_by_source"] = {
                s: _share(int(g["differ"].sum()), int(g["comparable"].sum())) for s, g in per_source.groupby("source")
            }
        multi = allrows.groupby("entity_id").agg(sources=("source", "nunique"), values=("value", "nunique"))
        multi = multi[multi["sources"] >= 2]
        item["entities_in_two_or_more_sources"] = int(len(multi))
        item["entities_with_conflicting_values"] = int((multi["values"] > 1).sum())
        item["conflict_share"] = _share(int((multi["values"] > 1).sum()), len(multi))
        out.append(item)
    return out


def quality_report(entities: pd.DataFrame, linked: dict[str, pd.DataFrame], key_states: dict[str, pd.Series],
                   today: dt.date | None = None, raw_entities: pd.DataFrame | None = None,
                   earliest: dt.date = EARLIEST_DATE) -> dict:
    """Quality figures for every source, and the cross-source conflicts.

    `entities` is the register with one row per id; `raw_entities`, if given, the register
    as it came (its repeated and missing ids are counted).
    """
    raw = entities if raw_entities is None else raw_entities
    ids = raw["entity_id"].astype("string").str.strip()
    register = {
        "rows": int(len(raw)),
        "duplicate_entity_ids": int(ids.dropna().duplicated().sum()),
        "missing_entity_ids": int((ids.isna() | (ids == "")).sum()),
        "completeness": {c: _share(int(raw[c].notna().sum()), len(raw)) for c in raw.columns},
    }
    return {
        "register": register,
        "sources": [source_quality(name, df, key_states[name], today, earliest) for name, df in linked.items()],
        "earliest_date": str(earliest),
        "conflicts": conflicts(entities, linked),
        "generated": str(today or dt.date.today()),  # the day the checks ran against (no time: reruns match)
    }
