"""Ready feature tables: a data owner's features keyed by entity_id and as_of, validated and joined as of a date.

By the owner's contract a row dated `t` is what was known at `t`, so it serves rows dated
`t`; a row dated later is never used. For a date with no row of its own, the latest earlier
row serves, up to `max_age_days` old; beyond that the features are missing (the models
handle missing values), rather than stale.

Loading validates the table on the data contract, as ingest does for the other tables:
rows with a missing or unknown entity_id, an unreadable as_of, a repeated (entity_id,
as_of) key or a value that is not a number in a numeric column go to the rejects with
their reason; the run stops only when more than `max_reject_share` of the rows break it.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from riskengine._pandera import SchemaErrors, pa

from riskengine.errors import DataError
from riskengine.ingest import REJECT_COLUMNS, as_date, as_id, read_table
from riskengine.spec import Source

KEYS = ["entity_id", "as_of"]
# text that means "no value" in exported tables; anything else unreadable in a numeric column is a reject
NA_TOKENS = {"", "na", "n/a", "nan", "null", "none", "-", "--", "?", "missing", "#n/a"}
_BOOLEAN = {"true": 1.0, "false": 0.0, "yes": 1.0, "no": 0.0, "y": 1.0, "n": 0.0, "t": 1.0, "f": 0.0}
NUMERIC_SHARE = 0.5  # a column whose non-missing values are mostly numbers is numeric; the rest are rejects


def load_ready_table(source: Source, categorical: list[str] | tuple = (), known: pd.Series | None = None,
                     max_reject_share: float = 1.0, static: list[str] | tuple = ()) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Read and validate a ready feature table; return (good rows, rejects, fingerprint).

    Good rows: entity_id (text), as_of (a date; times of day dropped), then the feature
    columns: `categorical` ones as text, others as float64 (common spellings of "missing"
    become NaN, true/false and yes/no become 1/0). A column that is mostly text and not
    declared categorical is kept as a category too.
    """
    raw, fp = read_table(source, KEYS)
    name = fp["name"]
    df = raw.copy()
    df["entity_id"] = as_id(_as_text(raw["entity_id"]))
    if known is not None:
        df["entity_id"] = match_known_ids(df["entity_id"], known)
    df["as_of"] = _dates(raw["as_of"], source.date_format)
    columns = [c for c in raw.columns if c not in (*KEYS, "_row", "_line")]
    declared = [c for c in categorical if c not in static]
    absent = [c for c in declared if c not in columns]
    if absent:
        raise DataError(f"{name}: features.categorical names column(s) {absent} that are neither static "
                        f"entity columns nor in the ready table (its columns: {columns})")

    schema = {"entity_id": pa.Column("string", nullable=False),
              "as_of": pa.Column("datetime64[ns]", nullable=False)}
    if known is not None:
        schema["entity_id"] = pa.Column("string", nullable=False,
                                        checks=pa.Check.isin(list(pd.Series(known).astype(str)),
                                                             error="not in the entities table"))
    failures = [_validate(df, pa.DataFrameSchema(schema, strict=False))]
    for col in columns:
        text = _as_text(raw[col])
        missing = text.isna() | text.str.strip().str.lower().isin(NA_TOKENS)
        if col in declared:
            df[col] = text.str.strip().mask(missing).astype(object)
            continue
        lowered = text.str.strip().str.lower()
        number = pd.to_numeric(text.str.strip().mask(missing), errors="coerce")
        number = number.fillna(lowered.map(_BOOLEAN).where(~missing))
        present = int((~missing).sum())
        bad = ~missing & number.isna()
        if not present or (present - int(bad.sum())) / present >= NUMERIC_SHARE:  # all missing: numeric
            df[col] = number.astype("float64")
            failures.append(pd.DataFrame({"index": df.index[bad], "column": col,
                                          "reason": [f"not a number ({v!r})" for v in raw.loc[bad, col]]}))
        else:  # mostly text: a category (declare it in features.categorical to say so)
            df[col] = text.str.strip().mask(missing).astype(object)
    good_keys = df["entity_id"].notna() & df["as_of"].notna()
    dup = df[good_keys].duplicated(KEYS, keep="first")
    if dup.any():
        first = df[good_keys].groupby(KEYS, sort=False)["_row"].transform("first")
        idx = dup.index[dup]
        failures.append(pd.DataFrame({"index": idx, "column": "entity_id, as_of",
                                      "reason": [f"duplicate (entity_id, as_of) key of row {r}" for r in first.loc[idx]]}))
    failures = pd.concat([f for f in failures if len(f)] or [pd.DataFrame(columns=["index", "column", "reason"])])
    rejects = _reject_rows(raw, failures, name)
    if len(raw) and len(rejects) / len(raw) > max_reject_share:
        top = rejects["reason"].str.split("; ").explode().str.replace(r" \(.*\)$| of row \d+$", "", regex=True)
        common = "; ".join(f"{r} ({n} rows)" for r, n in top.value_counts().head(3).items())
        raise DataError(f"{name}: {len(rejects)} of {len(raw)} rows ({len(rejects) / len(raw):.1%}) break the data "
                        f"contract, more than the {max_reject_share:.0%} allowed (data.max_reject_share). "
                        f"Most common: {common}")
    good = df.drop(index=failures["index"].unique()).drop(columns=["_row", "_line"]).reset_index(drop=True)
    if len(good):
        fp.update(first_date=str(good["as_of"].min().date()), last_date=str(good["as_of"].max().date()))
    return good, rejects, {**fp, "table": "features.table"}


def match_known_ids(ids: pd.Series, known: pd.Series) -> pd.Series:
    """Ids written as numbers by another tool ('10234.0') become the entity's id ('10234') when only that is known."""
    known_set = set(pd.Series(known).astype(str))
    odd = ids.notna() & ~ids.isin(known_set) & ids.str.fullmatch(r"-?\d+\.0+", na=False)
    if odd.any():
        fixed = ids[odd].str.replace(r"\.0+$", "", regex=True)
        ids = ids.mask(odd & fixed.reindex(ids.index).isin(known_set).fillna(False), fixed.reindex(ids.index))
    return ids


def _as_text(col: pd.Series) -> pd.Series:
    """Values as text (Parquet and SQL give numbers; CSV gives text already); integer-valued floats lose '.0'."""
    if pd.api.types.is_float_dtype(col) and col.dropna().mod(1).eq(0).all():
        col = col.astype("Int64")
    return col.astype("string")


def _dates(col: pd.Series, fmt: str | None) -> pd.Series:
    """Dates, also with a time of day ('2013-01-08T00:00:00', '2013-01-08 14:30'); the time is dropped."""
    if pd.api.types.is_datetime64_any_dtype(col):
        col = col.dt.tz_localize(None) if getattr(col.dt, "tz", None) is not None else col
        return col.dt.normalize().astype("datetime64[ns]")
    out = as_date(col, fmt)
    if fmt is None and out.isna().any():  # e.g. '01/08/2013 12:00:00 AM' from a portal export
        retry = pd.to_datetime(col.where(out.isna()), errors="coerce", format="mixed")
        out = out.fillna(retry.dt.normalize().astype("datetime64[ns]"))
    return out


def _validate(df: pd.DataFrame, schema: pa.DataFrameSchema) -> pd.DataFrame:
    try:
        schema.validate(df, lazy=True)
    except SchemaErrors as err:
        fc = err.failure_cases
        fc = fc[fc["index"].notna()]
        reason = np.where(fc["check"].astype(str) == "not_nullable",
                          np.where(fc["column"].astype(str) == "as_of", "missing or not a date", "missing"),
                          fc["check"].astype(str))
        return pd.DataFrame({"index": fc["index"].astype(int), "column": fc["column"].astype(str), "reason": reason})
    return pd.DataFrame(columns=["index", "column", "reason"])


def _reject_rows(raw: pd.DataFrame, failures: pd.DataFrame, file: str) -> pd.DataFrame:
    """One reject per failing row, its reasons joined, with the raw record."""
    if failures.empty:
        return pd.DataFrame(columns=REJECT_COLUMNS)
    failures = failures.assign(text=[r if c in ("*", "entity_id, as_of") else f"{c}: {r}"
                                     for c, r in zip(failures["column"], failures["reason"])])
    grouped = failures.groupby("index", sort=True)
    idx = list(grouped.groups)
    records = raw.loc[idx].drop(columns=["_row", "_line"])
    return pd.DataFrame({
        "file": file, "row": raw.loc[idx, "_row"].to_numpy(), "line": raw.loc[idx, "_line"].to_numpy(),
        "column": grouped["column"].agg(lambda s: ", ".join(dict.fromkeys(s))).loc[idx].to_numpy(),
        "reason": grouped["text"].agg(lambda s: "; ".join(dict.fromkeys(s))).loc[idx].to_numpy(),
        "record": [json.dumps({k: (None if pd.isna(v) else str(v)) for k, v in r.items()})
                   for r in records.to_dict("records")],
    })


def join_as_of(keys: pd.DataFrame, table: pd.DataFrame, columns: list[str],
               max_age_days: int | None = None) -> pd.DataFrame:
    """The ready table's `columns` for each (entity_id, as_of) of `keys`, in `keys`' order.

    The row dated on the key's date if there is one, else the latest earlier row at most
    `max_age_days` older (None: any earlier row); no row: missing values. Never a later row.
    """
    left = pd.DataFrame({"entity_id": keys["entity_id"].astype(str).to_numpy(dtype=object),
                         "as_of": pd.to_datetime(keys["as_of"]).to_numpy(dtype="datetime64[ns]"),
                         "_pos": np.arange(len(keys))})
    right = table[[*KEYS, *columns]].copy()
    right["entity_id"] = right["entity_id"].astype(str).to_numpy(dtype=object)
    right["as_of"] = pd.to_datetime(right["as_of"]).to_numpy(dtype="datetime64[ns]")
    right = right.dropna(subset=KEYS)
    if right.duplicated(KEYS).any():
        first = right[right.duplicated(KEYS)].iloc[0]
        raise DataError(f"ready feature table: entity {first['entity_id']!r} has more than one row as of "
                        f"{first['as_of'].date()}; the table holds one row per entity and date")
    tolerance = None if max_age_days is None else pd.Timedelta(days=max_age_days)
    joined = pd.merge_asof(left.sort_values("as_of", kind="stable"), right.sort_values("as_of", kind="stable"),
                           on="as_of", by="entity_id", direction="backward", allow_exact_matches=True,
                           tolerance=tolerance)
    return joined.sort_values("_pos").reset_index(drop=True)[columns]
