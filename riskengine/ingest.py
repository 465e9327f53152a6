"""Ingest: read the three tables of the data contract and validate them on load.

Sources are CSV or Parquet files, or a SQL query over a SQLAlchemy URL. Every row that breaks
the contract goes to a rejects table (file, row, line, column, reason, the raw record) and
the run goes on with the good rows, unless a table loses more than `max_reject_share` of its
rows: then it stops with a message that says which rules were broken most.

Event rows without an `entity_id` but with an address are not rejects: they await linkage
(riskengine.link) and are handed over in `Dataset.unlinked`.

Nothing a file holds ends in a traceback: a date is YYYY-MM-DD (however far off the year), a
number is finite, a line that cannot be decoded or has too many fields is one reject with its
line number, and the rest of the file is read (README, "Data contract").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from riskengine._pandera import SchemaErrors, pa

from riskengine.io import kind_of, read_file, read_working_copy, working_copies_on, write_working_copy
from riskengine.errors import DataError
from riskengine.spec import EARLIEST_DATE, RESERVED_COLUMNS, SKIP_OUTCOME, DataSpec, Source, fold_outcome_value

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
    ready_table: pd.DataFrame | None = None  # the spec's ready feature table once read (prepare.given_features)
    max_reject_share: float = 1.0  # the spec's data.max_reject_share, for tables read later
    content_key: str | None = None  # what was validated: the spec, the date and every file's sha256 (load_data)
    outcomes_skipped: dict[str, int] = field(default_factory=dict)  # outcome_values key -> rows left out as "skip"

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
        if self.outcomes_skipped:
            out["outcomes_skipped"] = dict(self.outcomes_skipped)
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


def read_table(source: Source, required: list[str] | None = None,
               keep_malformed: bool = False) -> tuple[pd.DataFrame, dict]:
    """Read one source as it is (CSV as text, nothing coerced) with its fingerprint.

    Adds `_row` (1-based data row) and, for CSV, `_line` (the line a text editor shows).
    A missing file, an unreadable file or a missing required column is a DataError.

    A CSV line that cannot be decoded (a byte that is not UTF-8, or not the source's
    `encoding`) or that has more fields than the header is malformed: with `keep_malformed`
    it stays in the table with its reason in `_problem` (the validators reject it, naming the
    line); without, the first one is a DataError naming its line.
    Columns named like the engine's own bookkeeping (`line`, `_row`, `_line`, `_problem`)
    are kept under `<name>_in_source`.
    """
    name = source.describe()
    problems = None
    if source.path is not None:
        path = local_path(source.path, name)
        if kind_of(path) != "csv" or not path.is_file():
            df = read_file(path, text=True)  # Parquet; or the one reader's message for a missing or unknown file
        else:
            try:
                df, problems = _read_csv(path, source.encoding)
            except DataError:
                raise
            except Exception as exc:  # parser errors name the line; pass them on readably
                raise DataError(f"{path}: cannot be read: {_one_line(exc)}") from None
        digest = _file_sha256(path)
        is_csv = kind_of(path) == "csv"
    else:
        df = _read_sql(source)
        digest = hashlib.sha256(pd.util.hash_pandas_object(df, index=False).values.tobytes()).hexdigest()
        is_csv = False
    df.columns = [str(c).strip() for c in df.columns]
    df = df.rename(columns=contract_names(source, list(df.columns)))
    missing = [c for c in (required or []) if c not in df.columns]
    if missing:
        raise DataError(missing_columns_message(source, missing, list(df.columns)))
    df = df.reset_index(drop=True)
    df["_row"] = range(1, len(df) + 1)
    if problems is not None:
        df["_line"] = problems["line"].to_numpy()
        if problems["problem"].notna().any():
            if not keep_malformed:
                first = problems[problems["problem"].notna()].iloc[0]
                raise DataError(f"{name}: line {first['line']}: {first['problem']}")
            df["_problem"] = problems["problem"].to_numpy()
    else:
        df["_line"] = df["_row"] + 1 if is_csv else pd.NA
    fingerprint = {"name": name, "sha256": digest, "rows": len(df)}
    return df, fingerprint




def contract_names(source: Source, found: list[str]) -> dict[str, str]:
    """The renames that give a source's columns the contract's names: the spec's `columns` map
    (contract name -> the file's column), and `<name>_in_source` for a file column that would
    clash with a mapped name or with the engine's bookkeeping. A mapped column the file lacks is
    a DataError naming both."""
    mapped = {theirs.strip(): ours.strip() for ours, theirs in source.columns.items()}
    absent = [c for c in mapped if c not in found]
    if absent:
        theirs = absent[0]
        raise DataError(f"{source.describe()}: columns.{mapped[theirs]} names the column {theirs!r}, which the "
                        f"file does not have; found {', '.join(repr(c) for c in found)}")
    taken = set(mapped.values()) | RESERVED_COLUMNS
    renames = {c: f"{c}_in_source" for c in found if c in taken and c not in mapped}
    renames.update(mapped)
    return renames


def missing_columns_message(source: Source, missing: list[str], found: list[str]) -> str:
    """What a source lacks, what it has, and (when its columns are named otherwise) how to map them."""
    text = (f"{source.describe()}: missing column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)}; found {', '.join(repr(c) for c in found)}")
    if not source.columns:
        text += (f"; if the file names it otherwise, map it in the spec: "
                 f"{{ path = ..., columns = {{ {missing[0]} = \"<the file's column>\" }} }}")
    return text


def local_path(path, name: str) -> Path:
    """The local file a source names: a path, or a `file://` URI. Other URIs (s3a://, hdfs://, abfss://
    ...) are read by the Spark backend only: a DataError saying so."""
    from riskengine.spec import Uri

    if not isinstance(path, Uri):
        return Path(path)
    local = path.local_path()
    if local is None:
        raise DataError(f"{name}: a {path.scheme}:// URI is read by the Spark backend only "
                        "([engine] backend = \"spark\" or --backend spark); this backend reads local files, "
                        "file:// URIs and SQL sources")
    return local


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:500]


def _read_csv(path: Path, encoding: str | None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """A CSV as text. The fast reader first; on a bad byte or a line with too many fields, line by line.

    Returns the table and, from the line-by-line reader, each row's first line and problem.
    """
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding=encoding or "utf-8",
                         sep="\t" if path.suffix.lower() == ".tsv" else ",")
    except (UnicodeDecodeError, pd.errors.ParserError):
        return _read_csv_by_line(path, encoding)
    lines = _physical_lines(path)
    if lines >= 0 and lines != len(df) + 1:  # blank lines or values spanning lines: count them exactly
        return _read_csv_by_line(path, encoding)
    return df, None


def _physical_lines(path: Path) -> int:
    """Lines in a file (a last line without a newline counts); -1 for compressed files (not counted)."""
    if path.suffix.lower() == ".gz":
        return -1
    n, last = 0, b"\n"
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    return n + (last != b"\n")


def _read_csv_by_line(path: Path, encoding: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Decode each physical line on its own and parse with the csv module, so one bad line costs one row."""
    import csv
    import gzip

    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    enc = encoding or "utf-8"
    if data.startswith(b"\xef\xbb\xbf") and enc.replace("-", "").lower() in ("utf8", "utf8sig"):
        data = data[3:]
    bad_lines: dict[int, str] = {}
    texts = []
    for i, line in enumerate(data.splitlines(keepends=True), start=1):
        try:
            texts.append(line.decode(enc))
        except UnicodeDecodeError as exc:
            byte = line[exc.start:exc.start + 1].hex().upper()
            bad_lines[i] = (f"not {enc} text (byte 0x{byte} at character {exc.start + 1}); if the file is "
                            "Windows or Latin-1 text, set encoding = \"cp1252\" on this source")
            texts.append(line.decode(enc, errors="replace"))
    reader = csv.reader(texts, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
    header = None
    rows, lines, problems = [], [], []
    last = 0
    for fields in reader:
        first, last = last + 1, reader.line_num
        if header is None:
            if first in bad_lines:
                raise DataError(f"{path}: line {first} (the header): {bad_lines[first]}")
            header = _unique_names([f.strip() for f in fields])
            continue
        if not fields or fields == [""]:
            continue  # a blank line is no row
        problem = next((bad_lines[n] for n in range(first, last + 1) if n in bad_lines), None)
        if len(fields) > len(header):
            problem = problem or (f"{len(fields)} fields, {len(header)} expected (an unquoted comma or "
                                  "delimiter inside a value?)")
            fields = fields[:len(header)]
        rows.append([f if f != "" else None for f in fields] + [None] * (len(header) - len(fields)))
        lines.append(first)
        problems.append(problem)
    if header is None:
        raise DataError(f"{path}: empty file (no header line)")
    df = pd.DataFrame(rows, columns=header, dtype=object).astype("string") if rows else pd.DataFrame(
        {c: pd.Series([], dtype="string") for c in header})
    return df, pd.DataFrame({"line": lines, "problem": pd.Series(problems, dtype=object)})


def _unique_names(names: list[str]) -> list[str]:
    """Repeated header names numbered as pandas does (`type`, `type.1`), so every column has one name."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            n = f"{n}.{seen[n]}"
        else:
            seen[n] = 0
        out.append(n)
    return out


def _read_sql(source: Source) -> pd.DataFrame:
    """Run a source's query read-only: SQLite files opened with mode=ro; PostgreSQL and MySQL/MariaDB in a
    read-only session and transaction, rolled back at the end (other databases: a transaction rolled back)."""
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    name = source.describe()
    try:
        url = sqlalchemy.engine.make_url(source.url)
    except Exception as exc:
        raise DataError(f"{name}: not a database URL: {_one_line(exc)}") from None
    try:
        backend = url.get_backend_name()
        if backend == "sqlite":
            engine = _sqlite_read_only(url, name)
        elif backend == "postgresql":
            # the whole session is read-only (a COMMIT smuggled into the query opens another read-only
            # transaction), and so is the transaction the query runs in
            options = " ".join(filter(None, [url.query.get("options"), "-c default_transaction_read_only=on"]))
            engine = sqlalchemy.create_engine(url.difference_update_query(["options"]), poolclass=NullPool,
                                              connect_args={"options": options})
        elif backend in ("mysql", "mariadb"):
            engine = sqlalchemy.create_engine(url, poolclass=NullPool,
                                              connect_args={"init_command": "SET SESSION TRANSACTION READ ONLY"})
        else:
            engine = sqlalchemy.create_engine(url, poolclass=NullPool)
        with engine.connect() as conn:
            if backend == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            elif backend in ("mysql", "mariadb"):
                conn.exec_driver_sql("START TRANSACTION READ ONLY")
            df = pd.read_sql(sqlalchemy.text(source.sql), conn)
            conn.rollback()  # nothing the query did is kept
        engine.dispose()
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{name}: query failed: {_one_line(_database_error(exc))}") from None
    return df


def _database_error(exc: BaseException) -> BaseException:
    """The database's own message under pandas' and SQLAlchemy's wrappers (which repeat the query)."""
    seen = exc
    while seen is not None:
        if getattr(seen, "orig", None) is not None:  # sqlalchemy.exc.DBAPIError: the driver's exception
            return seen.orig
        seen = seen.__cause__ or seen.__context__
    return exc


def _sqlite_read_only(url, name: str):
    """A SQLite engine that can only read an existing file (never creates one)."""
    import sqlite3

    import sqlalchemy

    db = url.database
    if not db or db == ":memory:":
        raise DataError(f"{name}: a SQLite source needs a database file, not an in-memory database")
    path = Path(db)
    if not path.is_file():
        raise DataError(f"{name}: database file {path} not found")
    uri = f"{path.resolve().as_uri()}?mode=ro"
    return sqlalchemy.create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True))


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
    """Entity ids are strings; numbers from Parquet/SQL become the text a CSV would hold.

    Whole numbers lose their ".0" (12.0 -> "12"); other numbers keep their digits (12.5 -> "12.5"),
    so they match nothing rather than a different id; NaN and infinities are missing.
    """
    if pd.api.types.is_float_dtype(col):
        values = col.astype("float64")
        finite = np.isfinite(values)
        whole = finite & (values == np.round(values)) & (values.abs() < 2**63)
        text = pd.Series(pd.NA, index=col.index, dtype="string")
        text[whole] = values[whole].astype("int64").astype("string")
        other = finite & ~whole
        text[other] = values[other].map(repr).astype("string")
        col = text
    out = col.astype("string").str.strip()
    return out.mask(out == "")


ISO_DATE = r"\d{4}-\d{2}-\d{2}"
ISO_DATE_TIME = ISO_DATE + r"[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?"
NS_FIRST, NS_LAST = pd.Timestamp("1677-09-22"), pd.Timestamp("2262-04-10")  # what datetime64[ns] can hold


def parse_dates(col: pd.Series, fmt: str | None = None) -> tuple[pd.Series, pd.Series]:
    """Dates from text, and why a value is not one: (datetime64[us] dates, reason or None).

    The contract's rule: a date is written YYYY-MM-DD (zero-padded, ISO 8601), optionally
    followed by a time and a UTC offset, which are ignored: the day is the day as written.
    `2023/01/05`, `2023-1-5`, `today` or `5 Jan 2023` are not dates unless the source names
    its `date_format` (a strftime pattern, then applied exactly).
    """
    if pd.api.types.is_datetime64_any_dtype(col):  # Parquet/SQL dates are dates already
        values = col.dt.tz_localize(None) if getattr(col.dt, "tz", None) is not None else col
        dates = values.dt.normalize().astype("datetime64[us]")
        reason = pd.Series(np.where(dates.isna(), "missing", None), index=col.index, dtype=object)
        return dates, reason
    text = col.astype("string").str.strip()
    text = text.mask(text == "")
    missing = text.isna()
    if fmt is None:
        shape = text.str.fullmatch(ISO_DATE) | text.str.fullmatch(ISO_DATE_TIME)
        shape = shape.fillna(False).astype(bool)
        day = text.str.slice(0, 10).where(shape)
        dates = pd.to_datetime(day, format="%Y-%m-%d", errors="coerce")
        expected = "YYYY-MM-DD"
    else:
        dates = _parse_with_format(text, fmt)
        shape = ~missing
        expected = fmt
    dates = dates.astype("datetime64[us]").dt.normalize()
    reason = pd.Series(None, index=col.index, dtype=object)
    reason[missing] = "missing"
    reason[~missing & dates.isna()] = f"not a real date (expected {expected})"
    return dates, reason


def _parse_with_format(text: pd.Series, fmt: str) -> pd.Series:
    """Dates in a named strftime format; a value the format does not fit is NaT (mixed offsets too)."""
    try:
        out = pd.to_datetime(text, format=fmt, errors="coerce")
        if getattr(out.dt, "tz", None) is not None:
            out = out.dt.tz_localize(None)
        return out
    except (ValueError, TypeError, OverflowError):  # e.g. mixed UTC offsets: one value at a time
        def one(v):
            if v is None or v is pd.NA:
                return None
            try:
                return dt.datetime.strptime(str(v), fmt).replace(tzinfo=None)
            except (ValueError, TypeError, OverflowError):
                return None
        return pd.Series([one(v) for v in text], index=text.index, dtype="datetime64[us]")


def as_date(col: pd.Series, fmt: str | None = None) -> pd.Series:
    """Dates by the contract's rule (see `parse_dates`); unreadable or out of datetime64[ns] range -> NaT."""
    dates, _ = parse_dates(col, fmt)
    return dates.where((dates >= NS_FIRST) & (dates <= NS_LAST)).astype("datetime64[ns]")


def as_number(col: pd.Series) -> pd.Series:
    """Numbers; text that is not one, and infinities (inf, 1e400), become NaN."""
    out = pd.to_numeric(col, errors="coerce").astype("float64")
    return out.where(np.isfinite(out))


def _number_failures(raw: pd.Series, column: str) -> pd.DataFrame:
    """Why a present value is not a usable number: text, a decimal comma, an infinity."""
    parsed = pd.to_numeric(raw, errors="coerce").astype("float64")
    text = raw.astype("string").str.strip()
    present = text.notna() & (text != "")
    bad = present & ~np.isfinite(parsed.fillna(np.nan))
    if not bad.any():
        return _no_failures()
    reason = pd.Series("not a number", index=raw.index, dtype=object)
    reason[parsed.isin([np.inf, -np.inf])] = "not a finite number (infinite or too large)"
    reason[text.str.fullmatch(r"[+-]?\d+,\d+").fillna(False).astype(bool)] = \
        "not a number (a decimal comma? write 51.5, not 51,5)"
    return pd.DataFrame({"index": raw.index[bad], "column": column, "reason": reason[bad].to_numpy()})


def _no_failures() -> pd.DataFrame:
    return pd.DataFrame(columns=["index", "column", "reason"])


def _date_failures(raw: pd.Series, column: str, today: pd.Timestamp, earliest: pd.Timestamp,
                   fmt: str | None) -> tuple[pd.Series, pd.DataFrame]:
    """Parse a date column; (datetime64[ns] dates, failures): missing, unreadable, future, too early.

    Far-off years (2999, 9999, 1600) are judged on the parsed date before the cast to
    nanoseconds, so they are rejects with the same reasons as any future or early date.
    """
    dates, reason = parse_dates(raw, fmt)
    future = dates.notna() & (dates > today)
    early = dates.notna() & (dates < earliest)
    reason = reason.copy()
    reason[future] = f"date in the future (after {today.date()})"
    reason[early] = (f"date before {earliest.date()} (data.earliest_date): impossible here, "
                     "or a placeholder for unknown")
    bad = reason.notna()
    failures = pd.DataFrame({"index": raw.index[bad], "column": column, "reason": reason[bad].to_numpy()})
    ok = dates.where(~bad)
    return ok.where((ok >= NS_FIRST) & (ok <= NS_LAST)).astype("datetime64[ns]"), failures


def _malformed(raw: pd.DataFrame) -> pd.DataFrame:
    """Rows the reader could not take apart (a bad byte, too many fields): rejected as a whole."""
    if "_problem" not in raw.columns:
        return _no_failures()
    bad = raw["_problem"].notna()
    return pd.DataFrame({"index": raw.index[bad], "column": "*", "reason": raw.loc[bad, "_problem"].to_numpy()})


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
    return _no_failures()


_NOT_NULL = {
    "outcome": "missing or not a number",
}


def _reject_rows(
    raw: pd.DataFrame, failures: pd.DataFrame, file: str, raw_values: pd.DataFrame
) -> pd.DataFrame:
    """One reject row per failing data row, all its reasons joined."""
    failures = failures[failures["index"].notna()] if len(failures) else failures
    if failures.empty:
        return pd.DataFrame(columns=REJECT_COLUMNS)
    # one pass in plain Python over the failures sorted by row (stable: a row's reasons keep their
    # order); a groupby.apply built a DataFrame per failing row and took a quarter of `score`
    failures = failures.assign(index=failures["index"].astype(int)).sort_values("index", kind="stable")
    index = failures["index"].to_numpy()
    column, reason = failures["column"].tolist(), failures["reason"].tolist()
    piece = [r if c == "*" else f"{c}: {r}" for c, r in zip(column, reason)]
    starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
    ends = np.r_[starts[1:], len(index)]
    idx = index[starts].tolist()
    cols = [", ".join(dict.fromkeys(column[a:b])) for a, b in zip(starts, ends)]
    why = ["; ".join(dict.fromkeys(piece[a:b])) for a, b in zip(starts, ends)]
    records = raw_values.loc[idx].drop(columns=["_row", "_line", "_problem"], errors="ignore")
    return pd.DataFrame(
        {
            "file": file,
            "row": raw.loc[idx, "_row"].to_numpy(),
            "line": raw.loc[idx, "_line"].to_numpy(),
            "column": cols,
            "reason": why,
            "record": [json.dumps({k: (None if _isna(v) else str(v)) for k, v in r.items()}) for r in records.to_dict("records")],
        }
    )


def _is_known(ids: pd.Series, known: pd.Index) -> np.ndarray:
    """ids.isin(known) for text ids, in Arrow: pandas' isin on Arrow strings first walks `known`
    in a Python loop (3 s of a 50,000-home `score`)."""
    import pyarrow
    import pyarrow.compute as pc

    values = pyarrow.array(ids.astype("string"), type=pyarrow.large_string(), from_pandas=True)
    value_set = pyarrow.array(pd.Series(known, dtype="string"), type=pyarrow.large_string(), from_pandas=True)
    return pc.is_in(values, value_set=value_set).to_numpy(zero_copy_only=False) & ids.notna().to_numpy()


def _isna(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):  # arrays and lists held in a Parquet cell
        return False


def _duplicates(keys: pd.DataFrame, raw: pd.DataFrame, what: str) -> pd.DataFrame:
    """Failures for repeated rows (by `keys`): the first copy stays, later ones are rejected."""
    dup = keys.duplicated(keep="first")
    if not dup.any():
        return _no_failures()
    first_row = raw.groupby([keys[c] for c in keys.columns], dropna=False, sort=False)["_row"].transform("first")
    idx = keys.index[dup]
    return pd.DataFrame(
        {"index": idx, "column": "*" if what == "row" else keys.columns[0],
         "reason": [f"duplicate {what} of row {r}" for r in first_row.loc[idx]]}
    )


def _comparable(raw: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The row as a duplicate check should see it: text stripped, entity ids normalised."""
    out = {}
    for c in columns:
        col = raw[c]
        if c == "entity_id":
            out[c] = as_id(col)
        elif pd.api.types.is_string_dtype(col) or col.dtype == object:
            try:
                out[c] = col.astype("string").str.strip()
            except (TypeError, ValueError):
                out[c] = col.astype(str)
        else:
            out[c] = col
    return pd.DataFrame(out, index=raw.index)


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
    """Entities: a non-empty, unique entity_id; coordinates, if given, numbers in range."""
    df = raw.copy()
    df["entity_id"] = as_id(df["entity_id"])
    columns = {"entity_id": pa.Column("string", nullable=False)}
    failures = [_malformed(raw)]
    for c, lim in (("lat", 90), ("lon", 180)):
        if c in df.columns:
            failures.append(_number_failures(raw[c], c))
            df[c] = as_number(df[c])
            columns[c] = pa.Column(
                "float64", nullable=True,
                checks=pa.Check(lambda s, lim=lim: s.abs() <= lim, error=f"outside -{lim}..{lim}"),
            )
    failures.append(_validate(df, pa.DataFrameSchema(columns, strict=False)))
    present = df[df["entity_id"].notna()]
    failures.append(_duplicates(present[["entity_id"]], raw, "entity_id"))
    failures = pd.concat(failures)
    rejects = _reject_rows(raw, failures, file, raw)
    good = df.drop(index=failures["index"].unique()).drop(columns=["_row", "_line", "_problem"], errors="ignore")
    return good.reset_index(drop=True), rejects


def validate_events(
    raw: pd.DataFrame, file: str, source: str, known: pd.Index, today: pd.Timestamp,
    earliest: pd.Timestamp = pd.Timestamp(EARLIEST_DATE), date_format: str | None = None,
    link_by: tuple[str, ...] = ("address",),
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Events: parseable past dates, a type, a numeric value if any, a known entity or something to link by.

    `link_by` names the columns linkage can match a row without an entity_id on (the spec's
    [link]: an address by default; names, a date of birth ... with `link.fields`); a row with
    none of them is rejected. Returns (the good rows with every column and their data row as `line`, rejects).
    """
    df = raw.copy()
    df["entity_id"] = as_id(df["entity_id"])
    df["date"], date_failures = _date_failures(raw["date"], "date", today, earliest, date_format)
    df["type"] = df["type"].astype("string").str.strip().replace("", pd.NA)
    df["value"] = as_number(raw["value"]) if "value" in raw.columns else float("nan")
    linkable = pd.Series(False, index=df.index)
    for col in (c for c in link_by if c in df.columns):
        linkable |= (df[col].astype("string").str.strip().fillna("") != "").to_numpy()
    schema = pa.DataFrameSchema({"type": pa.Column("string", nullable=False)}, strict=False)
    failures = [_malformed(raw), date_failures, _validate(df, schema)]
    if "value" in raw.columns:
        failures.append(_number_failures(raw["value"], "value"))
    unknown = df["entity_id"].notna() & ~_is_known(df["entity_id"], known)
    failures.append(pd.DataFrame({"index": df.index[unknown], "column": "entity_id", "reason": "not in the entities table"}))
    orphan = df["entity_id"].isna() & ~linkable
    failures.append(pd.DataFrame({"index": df.index[orphan], "column": "entity_id", "reason": "missing, and no address to link by" if tuple(link_by) == ("address",)
                                  else f"missing, and none of {', '.join(link_by)} to link by"}))
    data_cols = [c for c in raw.columns if c not in ("_row", "_line", "_problem")]
    failures.append(_duplicates(_comparable(raw, data_cols), raw, "row"))
    failures = pd.concat(failures)
    rejects = _reject_rows(raw, failures, file, raw)
    good = df.drop(index=failures["index"].unique())
    good = good.rename(columns={"_row": "line"}).drop(columns=["_line", "_problem"], errors="ignore")
    return good.reset_index(drop=True), rejects


def validate_area_events(
    raw: pd.DataFrame, file: str, today: pd.Timestamp,
    earliest: pd.Timestamp = pd.Timestamp(EARLIEST_DATE), date_format: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Area events (no entity): coordinates in range, a parseable past date, a type; repeats rejected.

    Returns (lat, lon, date, type of the good rows, rejects).
    """
    df = raw.copy()
    df["lat"], df["lon"] = as_number(raw["lat"]), as_number(raw["lon"])
    df["date"], date_failures = _date_failures(raw["date"], "date", today, earliest, date_format)
    df["type"] = df["type"].astype("string").str.strip().replace("", pd.NA)
    schema = pa.DataFrameSchema(
        {
            "lat": pa.Column("float64", nullable=False, checks=pa.Check(lambda s: s.abs() <= 90, error="outside -90..90")),
            "lon": pa.Column("float64", nullable=False, checks=pa.Check(lambda s: s.abs() <= 180, error="outside -180..180")),
            "type": pa.Column("string", nullable=False),
        },
        strict=False,
    )
    failures = _validate(df, schema, date_format or "YYYY-MM-DD")
    failures["reason"] = [("missing or not a number" if r == "missing" and c in ("lat", "lon") else r)
                          for c, r in zip(failures["column"], failures["reason"])]
    data_cols = [c for c in raw.columns if c not in ("_row", "_line", "_problem")]
    failures = pd.concat([_malformed(raw), date_failures, failures, _duplicates(_comparable(raw, data_cols), raw, "row")])
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


def outcome_value_lookup(values: dict[str, float | str]) -> tuple[dict[str, float], dict[str, str]]:
    """A source's outcome_values as (folded text -> outcome, folded text -> the spec's key for "skip")."""
    numbers = {fold_outcome_value(k): float(v) for k, v in values.items() if v != SKIP_OUTCOME}
    skips = {fold_outcome_value(k): k for k, v in values.items() if v == SKIP_OUTCOME}
    return numbers, skips


def outcome_values_keys(values: dict[str, float | str], most: int = 12) -> str:
    """The map's keys for a reject's reason, in the spec's order (the first `most`)."""
    keys = list(values)
    return ", ".join(keys[:most]) + (f", ... ({len(keys) - most} more)" if len(keys) > most else "")


SHOWN_OUTCOME_CHARS = 40  # an unmapped value is named up to this long: a result code, not a note someone typed


def unmapped_outcome_reason(value: str, values: dict[str, float | str]) -> str:
    """Why a text outcome the map does not name is a reject (both backends say it alike)."""
    if len(value) > SHOWN_OUTCOME_CHARS:
        value = value[:SHOWN_OUTCOME_CHARS] + "..."
    return f"'{value}' is not in outcome_values ({outcome_values_keys(values)})"


def skipped_line(skipped: dict[str, int]) -> str:
    """One line for what outcome_values left out: counts per value, no row's content."""
    if not skipped:
        return ""
    n = sum(skipped.values())
    each = ", ".join(f"'{k}': {v:,}" for k, v in sorted(skipped.items(), key=lambda kv: -kv[1]))
    return f"outcomes: {n:,} row{'s' if n != 1 else ''} skipped by outcome_values ({each})"


def _map_outcomes(raw: pd.DataFrame, values: dict[str, float | str]) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(outcome as a number or NaN, the skip key or NA, True where text is not in the map) per row."""
    numbers, skips = outcome_value_lookup(values)
    codes, uniques = pd.factorize(raw["outcome"].astype("string"))  # a file holds few distinct results: fold those
    folded = [fold_outcome_value(str(u)) for u in uniques]
    number_u = as_number(pd.Series(uniques, dtype=object)).to_numpy()
    value_u = np.array([numbers.get(f, np.nan) for f in folded] + [np.nan], dtype="float64")
    value_u[:-1] = np.where(np.isnan(value_u[:-1]), number_u, value_u[:-1])  # the map first, else the number
    skip_u = np.array([skips.get(f) for f in folded] + [None], dtype=object)
    unnamed_u = np.array([f != "" and f not in numbers and f not in skips for f in folded] + [False])
    unnamed_u[:-1] &= np.isnan(number_u)
    # codes are -1 for a missing value: the last slot of each lookup
    outcome = pd.Series(value_u[codes], index=raw.index)
    skip = pd.Series(skip_u[codes], index=raw.index, dtype=object)
    if "_problem" in raw.columns:  # a line that could not be taken apart is a reject, whatever it says
        skip = skip.where(raw["_problem"].isna().to_numpy())
    return outcome, skip, pd.Series(unnamed_u[codes], index=raw.index)


def validate_outcomes(
    raw: pd.DataFrame, file: str, known: pd.Index, today: pd.Timestamp, kind: str,
    earliest: pd.Timestamp = pd.Timestamp(EARLIEST_DATE), date_format: str | None = None,
    values: dict[str, float | str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Outcomes: a known entity, a parseable past date, an outcome that is 0/1 (or a finite number).

    With `values` (the source's outcome_values) the file's text is mapped first: rows whose value
    maps to "skip" are left out (no other check: they are no outcome), text the map does not name
    is a reject saying so. Returns (good rows, rejects, the skipped rows' outcome_values key by the
    raw table's index).
    """
    skipped = pd.Series([], dtype=object, name="outcome_values")
    unnamed = None
    if values:
        outcome, skip, unnamed = _map_outcomes(raw, values)
        skipped = skip[skip.notna()].astype(object).rename("outcome_values")
        keep = skip.isna().to_numpy()
        raw, outcome, unnamed = raw[keep], outcome[keep], unnamed[keep]
    df = raw.copy()
    df["entity_id"] = as_id(df["entity_id"])
    df["date"], date_failures = _date_failures(raw["date"], "date", today, earliest, date_format)
    df["outcome"] = as_number(raw["outcome"]) if unnamed is None else outcome
    mapped_failures = _no_failures()
    if unnamed is not None and unnamed.any():
        shown = raw.loc[unnamed, "outcome"].astype("string").str.strip()
        mapped_failures = pd.DataFrame({"index": raw.index[unnamed.to_numpy()], "column": "outcome",
                                        "reason": [unmapped_outcome_reason(v, values) for v in shown]})
        df.loc[unnamed, "outcome"] = 0.0  # rejected for its text above: not again as "not a number"
    outcome_checks = [pa.Check.isin([0.0, 1.0], error="outcome must be 0 or 1")] if kind == "binary" else []
    schema = pa.DataFrameSchema(
        {
            "entity_id": pa.Column("string", nullable=False,
                                   checks=pa.Check.isin(list(known), error="not in the entities table")),
            "outcome": pa.Column("float64", nullable=False, checks=outcome_checks),
        },
        strict=False,
    )
    failures = pd.concat([_malformed(raw), date_failures, _validate(df, schema), mapped_failures])
    rejects = _reject_rows(raw, failures, file, raw)
    good = df.drop(index=failures["index"].unique())
    return good[["entity_id", "date", "outcome"]].reset_index(drop=True), rejects, skipped


# ---------------------------------------------------------------------------------------
# The whole contract
# ---------------------------------------------------------------------------------------


_VALIDATED: dict[str, Dataset] = {}  # this process's validated data, by content_key (load_data)


def load_data(spec: DataSpec, today: dt.date | None = None, keep: Path | None = None) -> Dataset:
    """Read and validate entities, every event source and the outcomes named in `spec`.

    When a table loses more than `max_reject_share` of its rows the DataError carries every
    reject found so far as `.rejects`, so a caller can write them before it stops.

    Within one process the same files (by sha256), spec and date are validated once: `riskengine
    demo` validates, trains, backtests and scores the same borough, and validation took a sixth
    of each. Every call gets its own copy of the tables. With `keep` (a folder: the commands pass
    `validated_copy_folder()`) the last data set validated is also kept there, so the next
    command on unchanged files reads it instead of validating again.
    """
    today_ts = pd.Timestamp(today or dt.date.today())
    key = _content_key(spec, today_ts)
    if key is not None and key in _VALIDATED:
        return _copy_dataset(_VALIDATED[key])
    data = _read_kept(Path(keep), key) if keep is not None and key is not None else None
    if data is None:
        data = _load_data(spec, today_ts)
        if key is not None:
            data.content_key = key
            if keep is not None:
                _write_kept(Path(keep), key, data)
    if key is not None:
        _VALIDATED.clear()  # one data set kept: the tables are large
        _VALIDATED[key] = _copy_dataset(data)
    return data


KEPT_FILE = "validated.pkl"


def validated_copy_folder() -> Path | None:
    """Where the commands keep the last validated data: .riskengine/cache under the folder they run
    in (git-ignored, beside the demo's key), or nowhere when RISKENGINE_CACHE=0.

    It is a copy of the inputs as validated, personal identifiers included (linkage hashes them
    later), readable by its owner only; one data set is kept, and deleting it is always safe.
    """
    return Path(".riskengine") / "cache" if working_copies_on() else None


def _read_kept(folder: Path, key: str) -> Dataset | None:
    data = read_working_copy(folder / KEPT_FILE, key)
    return data if isinstance(data, Dataset) and data.content_key == key else None


def _write_kept(folder: Path, key: str, data: Dataset) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
        write_working_copy(folder / KEPT_FILE, key, data)
    except OSError:
        pass  # a read-only folder: the next run validates again


def _content_key(spec: DataSpec, today: pd.Timestamp) -> str | None:
    """A digest of what load_data reads and the code that validates it, or None when a source is
    not a file (a SQL query: not kept)."""
    sources = [spec.entities, *spec.events.values(), *spec.area_events.values()]
    sources += [spec.outcomes] if spec.outcomes is not None else []
    files = []
    for src in sources:
        if src.path is None or not Path(src.path).is_file():
            return None
        files.append(_file_sha256(Path(src.path)))
    here = Path(__file__).parent
    code = hashlib.sha256(b"".join((here / f).read_bytes() for f in ("ingest.py", "_pandera.py", "io.py", "spec.py")))
    text = json.dumps([repr(spec), str(today), files, code.hexdigest(), pd.__version__, np.__version__])
    return hashlib.sha256(text.encode()).hexdigest()


def _copy_dataset(data: Dataset) -> Dataset:
    """A Dataset whose tables can be changed without touching `data` (Arrow-backed columns share their buffers)."""
    from dataclasses import replace

    def copy(df):
        return None if df is None else df.copy(deep=True)

    return replace(data, entities=copy(data.entities), sources={k: copy(v) for k, v in data.sources.items()},
                   outcomes=copy(data.outcomes), rejects=copy(data.rejects),
                   fingerprints=[dict(f) for f in data.fingerprints],
                   area_events={k: copy(v) for k, v in data.area_events.items()},
                   ready_table=copy(data.ready_table))


def _load_data(spec: DataSpec, today_ts: pd.Timestamp) -> Dataset:
    earliest = pd.Timestamp(spec.earliest_date)
    fingerprints, all_rejects = [], []

    def check(name: str, n: int, rej: pd.DataFrame) -> None:
        try:
            _check_share(name, n, rej, spec.max_reject_share)
        except DataError as exc:  # the caller writes what was set aside before stopping
            exc.rejects = pd.concat([r for r in [*all_rejects, rej] if len(r)], ignore_index=True)
            raise

    raw, fp = read_table(spec.entities, ENTITY_REQUIRED, keep_malformed=True)
    entities, rej = validate_entities(raw, fp["name"])
    check(fp["name"], len(raw), rej)
    fingerprints.append({**fp, "table": "entities"})
    all_rejects.append(rej)
    known = pd.Index(entities["entity_id"])

    sources = {}
    for source, src in spec.events.items():
        raw, fp = read_table(src, [c for c in EVENT_REQUIRED if c != "entity_id"], keep_malformed=True)
        if "entity_id" not in raw.columns and any(c in raw.columns for c in spec.link_by):
            raw.insert(0, "entity_id", pd.NA)  # a source that never names the entity: every row awaits linkage
        elif "entity_id" not in raw.columns:
            read_table(src, EVENT_REQUIRED)  # the missing column, named with how to map it
        good, rej = validate_events(raw, fp["name"], source, known, today_ts, earliest, src.date_format,
                                    spec.link_by)
        check(fp["name"], len(raw), rej)
        fingerprints.append({**fp, "table": f"events.{source}", **_date_range(good)})
        all_rejects.append(rej)
        sources[source] = good

    area_events = {}
    for source, src in spec.area_events.items():
        raw, fp = read_table(src, AREA_EVENT_REQUIRED, keep_malformed=True)
        good, rej = validate_area_events(raw, fp["name"], today_ts, earliest, src.date_format)
        check(fp["name"], len(raw), rej)
        fingerprints.append({**fp, "table": f"area_events.{source}", **_date_range(good)})
        all_rejects.append(rej)
        area_events[source] = good

    outcomes, skipped = None, {}
    if spec.outcomes is not None:
        raw, fp = read_table(spec.outcomes, OUTCOME_REQUIRED, keep_malformed=True)
        outcomes, rej, skip = validate_outcomes(raw, fp["name"], known, today_ts, spec.outcome_kind, earliest,
                                                spec.outcomes.date_format, spec.outcomes.outcome_values)
        check(fp["name"], len(raw) - len(skip), rej)  # skipped rows are no outcome: neither rejects nor counted
        fingerprints.append({**fp, "table": "outcomes", **_date_range(outcomes)})
        all_rejects.append(rej)
        skipped = skipped_counts(skip, spec.outcomes.outcome_values)

    rejects = pd.concat([r for r in all_rejects if len(r)] or [pd.DataFrame(columns=REJECT_COLUMNS)], ignore_index=True)
    return Dataset(entities, sources, outcomes, rejects, fingerprints, area_events=area_events,
                   max_reject_share=spec.max_reject_share, outcomes_skipped=skipped)


def skipped_counts(skipped: pd.Series, values: dict[str, float | str]) -> dict[str, int]:
    """Rows left out per outcome_values key, in the spec's order (keys that left none out are not shown)."""
    counts = skipped.value_counts()
    return {k: int(counts[k]) for k in values if k in counts.index}


def _date_range(df: pd.DataFrame) -> dict:
    if df is None or not len(df):
        return {"first_date": None, "last_date": None}
    return {"first_date": str(df["date"].min().date()), "last_date": str(df["date"].max().date())}


def load_data_or_write_rejects(spec: DataSpec, name: str, today: dt.date | None = None,
                               redact: list[str] | tuple = ()) -> Dataset:
    """`load_data`; when it stops on too many rejects, write them first and name the file in the error.

    They go to `data.rejects_dir`, else to out/<name>/rejects/, replaced whole by each stopped run.
    """
    try:
        return load_data(spec, today=today, keep=validated_copy_folder())
    except DataError as exc:
        stopped_with_rejects(exc, spec, name, lambda rejects, work: write_rejects(rejects, work, redact=redact),
                             "rejects.csv")
        raise


def stopped_with_rejects(exc: DataError, spec: DataSpec, name: str, write: Callable[[pd.DataFrame, Path], object],
                         file: str) -> None:
    """After a load stopped on too many rejects: write them with `write(rejects, folder)` to
    `data.rejects_dir` (else out/<name>/rejects/, replaced whole) and raise the error naming `file` there."""
    rejects = getattr(exc, "rejects", None)
    if rejects is None:
        return
    from riskengine.outputs import default_output, resolve_output, run_folder

    target = (resolve_output(spec.rejects_dir, "data.rejects_dir") if spec.rejects_dir is not None
              else default_output(name, "rejects"))
    with run_folder(target) as work:
        write(rejects, work)
    raise DataError(f"{exc} Rejected rows so far: {target / file}") from None


def validate_into(spec: DataSpec, name: str, out: str | Path | None = None, today: dt.date | None = None,
                  redact: list[str] | tuple = ()) -> tuple[Dataset, Path]:
    """What `riskengine validate` does: load, and write rejects.csv whether or not the data passes.

    The folder is `out`, else `data.rejects_dir`, else out/<name>/validate; it is replaced whole
    (see riskengine.outputs). Too many rejects: the file is written, then the DataError raised.
    """
    from riskengine.outputs import default_output, resolve_output, run_folder

    if out is not None:
        target = Path(out)
    elif spec.rejects_dir is not None:
        target = resolve_output(spec.rejects_dir, "data.rejects_dir")
    else:
        target = default_output(name, "validate")
    stopped = None
    with run_folder(target) as work:
        try:
            data = load_data(spec, today=today, keep=validated_copy_folder())
            rejects = data.rejects
        except DataError as exc:
            if getattr(exc, "rejects", None) is None:
                raise
            stopped, rejects = exc, exc.rejects
        write_rejects(rejects, work, redact=redact)
    path = target / "rejects.csv"
    if stopped is not None:
        raise DataError(f"{stopped} Rejected rows so far: {path}") from None
    return data, path


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


def validate(spec: "str | Path | object", out: str | Path | None = None, today: dt.date | None = None) -> tuple[Dataset, Path]:
    """`riskengine validate` as a function: load the data a spec names, write rejects.csv, check the
    spec's names against the data; returns the data and the rejects file (a training, data or link spec)."""
    from riskengine.errors import RiskEngineError
    from riskengine.spec import check_against_data, load_spec

    loaded = load_spec(spec) if isinstance(spec, (str, Path)) else spec
    if not hasattr(loaded, "data"):
        raise RiskEngineError(f"{spec}: a {loaded.kind} spec has no [data] section to validate")
    redact = loaded.link.identifying_columns() if getattr(loaded, "link", None) is not None else ()
    data, path = validate_into(loaded.data, loaded.name, out, today=today, redact=redact)  # rejects even when it stops
    check_against_data(loaded, data)
    return data, path
