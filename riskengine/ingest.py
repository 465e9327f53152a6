"""Ingest: read the three tables of the data contract and validate them on load.

Sources are CSV or Parquet files, or a SQL query over a SQLAlchemy URL. Every row that breaks
the contract goes to a rejects table (file, row, line, column, reason, the raw record) and
the run goes on with the good rows, unless a table loses more than `max_reject_share` of its
rows: then it stops with a message that says which rules were broken most.

Event rows without an `entity_id` but with an address are not rejects: they await linkage
(riskengine.link) and are handed over in `Dataset.unlinked`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from riskengine.io import kind_of, read_file
from riskengine.errors import DataError
from riskengine.spec import DataSpec, Source

ENTITY_REQUIRED = ["entity_id"]
EVENT_REQUIRED = ["entity_id", "date", "type"]
AREA_EVENT_REQUIRED = ["lat", "lon", "date", "type"]
OUTCOME_REQUIRED = ["entity_id", "date", "outcome"]
REJECT_COLUMNS = ["file", "row", "line", "column", "reason", "record"]


@dataclass
class Dataset:
    """The validated tables, ready for linkage and features."""

    entities: pd.DataFrame
    sources: dict[str, pd.DataFrame]  # per event source: the good rows, every column, `line`
    outcomes: pd.DataFrame | None
    rejects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REJECT_COLUMNS))
    fingerprints: list[dict] = field(default_factory=list)  # per input: name, sha256, rows, dates
    area_events: dict[str, pd.DataFrame] = field(default_factory=dict)  # per source: lat, lon, date, type

    @property
    def events(self) -> pd.DataFrame:
        """source, entity_id, date, type, value: every source row that carries an entity_id."""
        return events_table(self.sources)

    @property
    def unlinked(self) -> dict[str, pd.DataFrame]:
        """Per source, the rows with no entity_id that await linkage."""
        return {s: df[df["entity_id"].isna()] for s, df in self.sources.items() if df["entity_id"].isna().any()}

    def summary(self) -> dict:
        """Counts a person reads first: what the data holds and what was set aside."""
        out = {
            "entities": len(self.entities),
            "awaiting_linkage": {s: len(df) for s, df in self.unlinked.items()},
            "outcomes": 0 if self.outcomes is None else len(self.outcomes),
            "rejected": {f: int(n) for f, n in self.rejects["file"].value_counts().sort_index().items()},
        }
        if self.outcomes is not None and len(self.outcomes):
            out["positive_outcomes"] = int((self.outcomes["outcome"] > 0).sum())
        events = self.events
        out["events"] = {s: int(n) for s, n in events["source"].value_counts().sort_index().items()}
        if len(events):
            out["event_dates"] = [str(events["date"].min().date()), str(events["date"].max().date())]
        if self.area_events:
            out["area_events"] = {s: len(df) for s, df in sorted(self.area_events.items())}
        return out


# ---------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------


def read_table(source: Source, required: list[str] | None = None) -> tuple[pd.DataFrame, dict]:
    """Read one source as it is (CSV as text, nothing coerced) with its fingerprint.

    Adds `_row` (1-based data row) and, for CSV, `_line` (the line a text editor shows).
    A missing file, an unreadable file or a missing required column is a DataError.
    """
    name = source.describe()
    if source.path is not None:
        path = Path(source.path)
        df = read_file(path, text=True)
        digest = _file_sha256(path)
        is_csv = kind_of(path) == "csv"
    else:
        import sqlalchemy

        try:
            engine = sqlalchemy.create_engine(source.url)
            with engine.connect() as conn:
                df = pd.read_sql(sqlalchemy.text(source.sql), conn)
        except Exception as exc:
            raise DataError(f"{name}: query failed: {exc}") from None
        digest = hashlib.sha256(pd.util.hash_pandas_object(df, index=False).values.tobytes()).hexdigest()
        is_csv = False
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in (required or []) if c not in df.columns]
    if missing:
        raise DataError(
            f"{name}: missing column{'s' if len(missing) > 1 else ''} {', '.join(repr(m) for m in missing)}; "
            f"found {', '.join(repr(c) for c in df.columns)}"
        )
    df = df.reset_index(drop=True)
    df["_row"] = range(1, len(df) + 1)
    df["_line"] = df["_row"] + 1 if is_csv else pd.NA
    fingerprint = {"name": name, "sha256": digest, "rows": len(df)}
    return df, fingerprint


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------
# Coercion and validation
# ---------------------------------------------------------------------------------------


def as_id(col: pd.Series) -> pd.Series:
    """Entity ids are strings; integer-valued numbers from Parquet/SQL become their digits."""
    if pd.api.types.is_float_dtype(col):
        col = col.astype("Int64")
    out = col.astype("string").str.strip()
    return out.mask(out == "")


def as_date(col: pd.Series, fmt: str | None = None) -> pd.Series:
    """Dates from text (ISO 8601 unless the source names a strftime format); unreadable -> NaT."""
    return pd.to_datetime(col, errors="coerce", format=fmt or "ISO8601").dt.normalize().astype("datetime64[ns]")


def as_number(col: pd.Series) -> pd.Series:
    return pd.to_numeric(col, errors="coerce").astype("float64")


def _validate(df: pd.DataFrame, schema: pa.DataFrameSchema, date_format: str = "YYYY-MM-DD") -> pd.DataFrame:
    """Run a pandera schema lazily; return (index, column, reason) for every failure."""
    try:
        schema.validate(df, lazy=True)
    except SchemaErrors as err:
        fc = err.failure_cases
        fc = fc[fc["index"].notna()]
        reasons = [
            (_NOT_NULL.get(col, "missing") if chk == "not_nullable" else chk).replace("YYYY-MM-DD", date_format)
            for col, chk in zip(fc["column"].astype(str), fc["check"].astype(str))
        ]
        return pd.DataFrame(
            {"index": fc["index"].astype(int), "column": fc["column"].astype(str), "reason": reasons}
        )
    return pd.DataFrame(columns=["index", "column", "reason"])


_NOT_NULL = {
    "date": "missing or not a real date (expected YYYY-MM-DD)",
    "outcome": "missing or not a number",
}


def _date_column(today: pd.Timestamp, earliest: pd.Timestamp, nullable: bool = False) -> pa.Column:
    return pa.Column(
        "datetime64[ns]",
        nullable=nullable,
        checks=[
            pa.Check(lambda s: s >= earliest,
                     error=f"date before {earliest.date()} (data.earliest_date): impossible here, or a placeholder for unknown"),
            pa.Check(lambda s: s <= today, error=f"date in the future (after {today.date()})"),
        ],
    )


def _reject_rows(
    raw: pd.DataFrame, failures: pd.DataFrame, file: str, raw_values: pd.DataFrame
) -> pd.DataFrame:
    """One reject row per failing data row, all its reasons joined."""
    if failures.empty:
        return pd.DataFrame(columns=REJECT_COLUMNS)
    grouped = failures.groupby("index", sort=True)
    idx = list(grouped.groups)
    cols = grouped["column"].agg(lambda s: ", ".join(dict.fromkeys(s)))
    why = grouped.apply(
        lambda g: "; ".join(dict.fromkeys(r if c == "*" else f"{c}: {r}" for c, r in zip(g["column"], g["reason"]))),
        include_groups=False,
    )
    records = raw_values.loc[idx].drop(columns=["_row", "_line"], errors="ignore")
    return pd.DataFrame(
        {
            "file": file,
            "row": raw.loc[idx, "_row"].to_numpy(),
            "line": raw.loc[idx, "_line"].to_numpy(),
            "column": cols.loc[idx].to_numpy(),
            "reason": why.loc[idx].to_numpy(),
            "record": [json.dumps({k: (None if pd.isna(v) else str(v)) for k, v in r.items()}) for r in records.to_dict("records")],
        }
    )


def _duplicates(keys: pd.DataFrame, raw: pd.DataFrame, what: str) -> pd.DataFrame:
    """Failures for repeated rows (by `keys`): the first copy stays, later ones are rejected."""
    dup = keys.duplicated(keep="first")
    if not dup.any():
        return pd.DataFrame(columns=["index", "column", "reason"])
    first_row = raw.groupby([keys[c] for c in keys.columns], dropna=False, sort=False)["_row"].transform("first")
    idx = keys.index[dup]
    return pd.DataFrame(
        {"index": idx, "column": "*" if what == "row" else keys.columns[0],
         "reason": [f"duplicate {what} of row {r}" for r in first_row.loc[idx]]}
    )


def _check_share(file: str, n: int, rejects: pd.DataFrame, max_share: float) -> None:
    if n == 0 or len(rejects) / n <= max_share:
        return
    top = rejects["reason"].str.split("; ").explode().value_counts().head(3)
    common = "; ".join(f"{reason} ({count} rows)" for reason, count in top.items())
    raise DataError(
        f"{file}: {len(rejects)} of {n} rows ({len(rejects) / n:.1%}) break the data contract, more than "
        f"the {max_share:.0%} allowed (data.max_reject_share). Most common: {common}"
    )


def validate_entities(raw: pd.DataFrame, file: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Entities: a non-empty, unique entity_id; coordinates, if given, in range."""
    df = raw.copy()
    df["entity_id"] = as_id(df["entity_id"])
    columns = {"entity_id": pa.Column("string", nullable=False)}
    for c, lim in (("lat", 90), ("lon", 180)):
        if c in df.columns:
            df[c] = as_number(df[c])
            columns[c] = pa.Column(
                "float64", nullable=True,
                checks=pa.Check(lambda s, lim=lim: s.abs() <= lim, error=f"outside -{lim}..{lim}"),
            )
    failures = _validate(df, pa.DataFrameSchema(columns, strict=False))
    present = df[df["entity_id"].notna()]
    failures = pd.concat([failures, _duplicates(present[["entity_id"]], raw, "entity_id")])
    rejects = _reject_rows(raw, failures, file, raw)
    good = df.drop(index=failures["index"].unique()).drop(columns=["_row", "_line"])
    return good.reset_index(drop=True), rejects


def validate_events(
    raw: pd.DataFrame, file: str, source: str, known: pd.Index, today: pd.Timestamp,
    earliest: pd.Timestamp = pd.Timestamp("1950-01-01"), date_format: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Events: parseable past dates, a type, a numeric value if any, a known entity or an address.

    Returns (the good rows with every column and their data row as `line`, rejects).
    """
    df = raw.copy()
    df["entity_id"] = as_id(df["entity_id"])
    df["date"] = as_date(raw["date"], date_format)
    df["type"] = df["type"].astype("string").str.strip().replace("", pd.NA)
    df["value"] = as_number(raw["value"]) if "value" in raw.columns else float("nan")
    has_address = df["address"].astype("string").str.strip().fillna("") != "" if "address" in df.columns else pd.Series(False, index=df.index)
    schema = pa.DataFrameSchema(
        {
            "date": _date_column(today, earliest),
            "type": pa.Column("string", nullable=False),
            "value": pa.Column("float64", nullable=True),
        },
        strict=False,
    )
    failures = [_validate(df, schema, date_format or "YYYY-MM-DD")]
    if "value" in raw.columns:
        bad_value = raw["value"].notna() & df["value"].isna()
        failures.append(pd.DataFrame({"index": df.index[bad_value], "column": "value", "reason": "not a number"}))
    unknown = df["entity_id"].notna() & ~df["entity_id"].isin(known)
    failures.append(pd.DataFrame({"index": df.index[unknown], "column": "entity_id", "reason": "not in the entities table"}))
    orphan = df["entity_id"].isna() & ~has_address
    failures.append(pd.DataFrame({"index": df.index[orphan], "column": "entity_id", "reason": "missing, and no address to link by"}))
    data_cols = [c for c in raw.columns if c not in ("_row", "_line")]
    failures.append(_duplicates(raw[data_cols], raw, "row"))
    failures = pd.concat(failures)
    rejects = _reject_rows(raw, failures, file, raw)
    good = df.drop(index=failures["index"].unique())
    good = good.rename(columns={"_row": "line"}).drop(columns=["_line"])
    return good.reset_index(drop=True), rejects


def validate_area_events(
    raw: pd.DataFrame, file: str, today: pd.Timestamp,
    earliest: pd.Timestamp = pd.Timestamp("1950-01-01"), date_format: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Area events (no entity): coordinates in range, a parseable past date, a type; repeats rejected.

    Returns (lat, lon, date, type of the good rows, rejects).
    """
    df = raw.copy()
    df["lat"], df["lon"] = as_number(raw["lat"]), as_number(raw["lon"])
    df["date"] = as_date(raw["date"], date_format)
    df["type"] = df["type"].astype("string").str.strip().replace("", pd.NA)
    schema = pa.DataFrameSchema(
        {
            "lat": pa.Column("float64", nullable=False, checks=pa.Check(lambda s: s.abs() <= 90, error="outside -90..90")),
            "lon": pa.Column("float64", nullable=False, checks=pa.Check(lambda s: s.abs() <= 180, error="outside -180..180")),
            "date": _date_column(today, earliest),
            "type": pa.Column("string", nullable=False),
        },
        strict=False,
    )
    failures = _validate(df, schema, date_format or "YYYY-MM-DD")
    failures["reason"] = [("missing or not a number" if r == "missing" and c in ("lat", "lon") else r)
                          for c, r in zip(failures["column"], failures["reason"])]
    data_cols = [c for c in raw.columns if c not in ("_row", "_line")]
    failures = pd.concat([failures, _duplicates(raw[data_cols], raw, "row")])
    rejects = _reject_rows(raw, failures, file, raw)
    good = df.drop(index=failures["index"].unique())
    return good[["lat", "lon", "date", "type"]].reset_index(drop=True), rejects


def events_table(sources: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Stack the sources' rows that carry an entity_id into the events table."""
    parts = [
        pd.DataFrame({"source": name, "entity_id": df["entity_id"], "date": df["date"],
                      "type": df["type"], "value": df["value"]})[df["entity_id"].notna()]
        for name, df in sources.items()
    ]
    if not parts:
        return pd.DataFrame({"source": pd.Series([], dtype="string"), "entity_id": pd.Series([], dtype="string"),
                             "date": pd.Series([], dtype="datetime64[ns]"), "type": pd.Series([], dtype="string"),
                             "value": pd.Series([], dtype="float64")})
    return pd.concat(parts, ignore_index=True)


def validate_outcomes(
    raw: pd.DataFrame, file: str, known: pd.Index, today: pd.Timestamp, kind: str,
    earliest: pd.Timestamp = pd.Timestamp("1950-01-01"), date_format: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Outcomes: a known entity, a parseable past date, an outcome that is 0/1 (or a number)."""
    df = raw.copy()
    df["entity_id"] = as_id(df["entity_id"])
    df["date"] = as_date(raw["date"], date_format)
    df["outcome"] = as_number(raw["outcome"])
    outcome_checks = [pa.Check.isin([0.0, 1.0], error="outcome must be 0 or 1")] if kind == "binary" else []
    schema = pa.DataFrameSchema(
        {
            "entity_id": pa.Column("string", nullable=False,
                                   checks=pa.Check.isin(list(known), error="not in the entities table")),
            "date": _date_column(today, earliest),
            "outcome": pa.Column("float64", nullable=False, checks=outcome_checks),
        },
        strict=False,
    )
    failures = _validate(df, schema, date_format or "YYYY-MM-DD")
    rejects = _reject_rows(raw, failures, file, raw)
    good = df.drop(index=failures["index"].unique())
    return good[["entity_id", "date", "outcome"]].reset_index(drop=True), rejects


# ---------------------------------------------------------------------------------------
# The whole contract
# ---------------------------------------------------------------------------------------


def load_data(spec: DataSpec, today: dt.date | None = None) -> Dataset:
    """Read and validate entities, every event source and the outcomes named in `spec`."""
    today_ts = pd.Timestamp(today or dt.date.today())
    earliest = pd.Timestamp(spec.earliest_date)
    fingerprints, all_rejects = [], []

    raw, fp = read_table(spec.entities, ENTITY_REQUIRED)
    entities, rej = validate_entities(raw, fp["name"])
    _check_share(fp["name"], len(raw), rej, spec.max_reject_share)
    fingerprints.append({**fp, "table": "entities"})
    all_rejects.append(rej)
    known = pd.Index(entities["entity_id"])

    sources = {}
    for source, src in spec.events.items():
        raw, fp = read_table(src, EVENT_REQUIRED)
        good, rej = validate_events(raw, fp["name"], source, known, today_ts, earliest, src.date_format)
        _check_share(fp["name"], len(raw), rej, spec.max_reject_share)
        fingerprints.append({**fp, "table": f"events.{source}", **_date_range(good)})
        all_rejects.append(rej)
        sources[source] = good

    area_events = {}
    for source, src in spec.area_events.items():
        raw, fp = read_table(src, AREA_EVENT_REQUIRED)
        good, rej = validate_area_events(raw, fp["name"], today_ts, earliest, src.date_format)
        _check_share(fp["name"], len(raw), rej, spec.max_reject_share)
        fingerprints.append({**fp, "table": f"area_events.{source}", **_date_range(good)})
        all_rejects.append(rej)
        area_events[source] = good

    outcomes = None
    if spec.outcomes is not None:
        raw, fp = read_table(spec.outcomes, OUTCOME_REQUIRED)
        outcomes, rej = validate_outcomes(raw, fp["name"], known, today_ts, spec.outcome_kind, earliest,
                                          spec.outcomes.date_format)
        _check_share(fp["name"], len(raw), rej, spec.max_reject_share)
        fingerprints.append({**fp, "table": "outcomes", **_date_range(outcomes)})
        all_rejects.append(rej)

    rejects = pd.concat([r for r in all_rejects if len(r)] or [pd.DataFrame(columns=REJECT_COLUMNS)], ignore_index=True)
    return Dataset(entities, sources, outcomes, rejects, fingerprints, area_events=area_events)


def _date_range(df: pd.DataFrame) -> dict:
    if df is None or not len(df):
        return {"first_date": None, "last_date": None}
    return {"first_date": str(df["date"].min().date()), "last_date": str(df["date"].max().date())}


def write_rejects(rejects: pd.DataFrame, out_dir: str | Path, redact: list[str] | tuple = ()) -> Path:
    """Write the rejects table as `rejects.csv` in `out_dir`; return its path.

    Values of the `redact` columns (person identifiers) are blanked in each record: the file
    and line still lead a data steward to the row, and no name leaves the source system.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "rejects.csv"
    if redact and len(rejects):
        rejects = rejects.assign(record=[_redact(r, redact) for r in rejects["record"]])
    rejects.to_csv(path, index=False)
    return path


def _redact(record: str, columns) -> str:
    values = json.loads(record)
    for c in columns:
        if values.get(c) is not None:
            values[c] = "(redacted)"
    return json.dumps(values)
