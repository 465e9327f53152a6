"""Spec files: TOML in, typed dataclasses out, errors that name the file and the key.

A spec says *what* to run (training/NAME.toml, scoring/NAME.toml, evaluation/NAME.toml).
Every schema lives in this module so that one page documents every key. Loading checks
unknown keys, missing keys and types before any work starts: a typo costs a second, not
an hour of training.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

from riskengine.errors import SpecError

# ---------------------------------------------------------------------------------------
# The generic loader
# ---------------------------------------------------------------------------------------

class Uri(str):
    """A data location written as a URI (`s3a://`, `abfss://`, `gs://`, `hdfs://`, `file://` ...), kept
    exactly as written (a Path would fold its `//`). The Spark backend reads any URI Spark's readers
    take; the DuckDB backend reads `file://` ones (riskengine.ingest)."""

    SCHEME = r"^[A-Za-z][A-Za-z0-9+.-]*://"

    @classmethod
    def match(cls, value: str) -> bool:
        import re

        return bool(re.match(cls.SCHEME, value))

    @property
    def scheme(self) -> str:
        return self.split("://", 1)[0].lower()

    def local_path(self) -> Path | None:
        """The local file a `file://` URI names, else None."""
        if self.scheme != "file":
            return None
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(str(self)).path))


_TYPE_WORDS = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    dt.date: "a date (YYYY-MM-DD)",
    Path: "a file path (string)",
    Uri: "a URI (scheme://...)",
}


def _describe(tp: Any) -> str:
    """Say in words what a type annotation expects."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp in _TYPE_WORDS:
        return _TYPE_WORDS[tp]
    if dataclasses.is_dataclass(tp):
        extra = " or a string" if hasattr(tp, "from_string") else ""
        return f"a table with keys {sorted(f.name for f in dataclasses.fields(tp))}{extra}"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is list:
        return f"a list of {_describe(args[0])}"
    if origin is dict:
        return f"a table whose values are {_describe(args[1])}"
    if origin in (Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return " or ".join(_describe(a) for a in inner)
    return str(tp)


def _convert(value: Any, tp: Any, *, file: str, key: str) -> Any:
    """Check `value` against the annotation `tp`; return it converted (dates, paths, dataclasses)."""

    def fail() -> SpecError:
        return SpecError(
            f"{file}: key '{key}' expected {_describe(tp)}, got {value!r} ({type(value).__name__})"
        )

    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1 and dataclasses.is_dataclass(inner[0]) and isinstance(value, dict):
            return _convert(value, inner[0], file=file, key=key)  # an optional table: its own precise error
        for candidate in inner:
            try:
                return _convert(value, candidate, file=file, key=key)
            except SpecError as exc:
                if getattr(exc, "final", False):
                    raise
                continue
        raise fail()
    if origin is Literal:
        if value in args:
            return value
        raise fail()
    if origin is list:
        if not isinstance(value, list):
            raise fail()
        return [_convert(v, args[0], file=file, key=f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise fail()
        return {k: _convert(v, args[1], file=file, key=f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if isinstance(value, str) and hasattr(tp, "from_string"):
            try:
                return tp.from_string(value)
            except ValueError as exc:
                raise SpecError(f"{file}: key '{key}': {exc}") from None
        if not isinstance(value, dict):
            raise fail()
        return from_mapping(tp, value, file=file, prefix=key)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise fail()
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise fail()
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise fail()
    if tp is str:
        if isinstance(value, str):
            return value
        raise fail()
    if tp is Uri:
        if isinstance(value, str) and Uri.match(value):
            return Uri(value)
        raise fail()
    if tp is Path:
        if isinstance(value, str):
            return Path(value)
        raise fail()
    if tp is dt.date:
        if isinstance(value, dt.datetime):
            value = value.date()
        elif isinstance(value, str):
            try:
                value = dt.date.fromisoformat(value)
            except ValueError:
                raise fail() from None
        if not isinstance(value, dt.date):
            raise fail()
        if not dt.date(1678, 1, 1) <= value <= dt.date(2261, 12, 31):
            err = SpecError(f"{file}: key '{key}' = {value} is outside the dates the engine can hold "
                            "(1678-01-01 to 2261-12-31)")
            err.final = True  # the right type, a wrong value: no other reading of a union can fit
            raise err
        return value
    raise TypeError(f"spec schema uses an unsupported type {tp!r} at {key}")


def from_mapping(cls: type, data: dict, *, file: str, prefix: str = "") -> Any:
    """Build dataclass `cls` from a TOML table, naming `file` and the dotted key on any error."""
    hints = typing.get_type_hints(cls)
    names = {f.name: f for f in dataclasses.fields(cls) if f.init}  # init=False: derived, never a key
    where = f"[{prefix}]" if prefix else "the top level"
    for key in data:
        if key not in names:
            raise SpecError(
                f"{file}: unknown key '{_join(prefix, key)}' in {where}; "
                f"expected one of: {', '.join(sorted(names))}"
            )
    kwargs = {}
    for name, f in names.items():
        full = _join(prefix, name)
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], file=file, key=full)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise SpecError(
                f"{file}: missing required key '{full}' in {where}; "
                f"expected {_describe(hints[name])}"
            )
    try:
        obj = cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise SpecError(f"{file}: {where}: {exc}") from None
    return obj


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def read_toml(path: str | Path) -> dict:
    """Read a TOML file; a missing file or a syntax error is a SpecError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: spec file not found")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from None



# ---------------------------------------------------------------------------------------
# Checks of names, SQL, date formats and model parameters (run on load, before any data work)
# ---------------------------------------------------------------------------------------

NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"


def check_name(value: str, key: str = "name") -> str:
    """A pipeline name: letters, digits, '-' and '_' (it becomes a folder, an experiment and a model name)."""
    import re

    if not isinstance(value, str) or not re.fullmatch(NAME_PATTERN, value):
        raise ValueError(f"'{key}' = {value!r} is not a valid name: use 1 to 64 letters, digits, '-' or '_', "
                         "starting with a letter or digit (it names output folders and the registered model)")
    return value


def check_output_folder(path: Path, key: str) -> None:
    """A folder a spec names for outputs: absolute, or relative and inside out/ (riskengine.outputs)."""
    from riskengine.outputs import resolve_output

    try:
        resolve_output(path, key)
    except SpecError as exc:
        raise ValueError(str(exc).removeprefix("spec: ")) from None


def check_date_format(fmt: str) -> None:
    """A source's `date_format`: a strftime pattern with a year, a month and a day, that Python can read."""
    import re

    if not isinstance(fmt, str) or "\x00" in fmt:
        raise ValueError(f"'date_format' = {fmt!r} is not a strftime pattern")
    sample = dt.datetime(2001, 2, 3, 4, 5, 6, tzinfo=dt.timezone.utc)
    try:
        back = dt.datetime.strptime(sample.strftime(fmt), fmt)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"'date_format' = {fmt!r} cannot be read back ({exc}); use strftime directives "
                         "such as %Y, %m, %d, %b, e.g. \"%d/%m/%Y\"") from None
    if not (re.search(r"%[Yy]", fmt) and re.search(r"%[mbB]", fmt) and re.search(r"%d", fmt)) or back.date() != sample.date():
        raise ValueError(f"'date_format' = {fmt!r} must name a year (%Y), a month (%m or %b) and a day (%d)")


def check_select_only(sql: str) -> None:
    """A source's `sql` must be one SELECT (or WITH ... SELECT) statement: sources are read, never written."""
    what = "a SQL source's 'sql' must be one SELECT or WITH ... SELECT statement"
    if not isinstance(sql, str) or not sql.strip():
        raise ValueError(f"{what}; got an empty query")
    try:
        import sqlglot
        from sqlglot import expressions as exp
    except ImportError:  # a careful tokenizer instead
        _check_select_tokens(sql, what)
        return
    try:
        statements = [st for st in sqlglot.parse(sql) if st is not None]
    except Exception:  # a dialect sqlglot cannot read: fall back to the tokenizer
        _check_select_tokens(sql, what)
        return
    if len(statements) != 1:
        raise ValueError(f"{what}; got {len(statements)} statements")
    st = statements[0]
    readers = tuple(t for t in (getattr(exp, n, None) for n in ("Select", "Union", "Intersect", "Except", "Subquery"))
                    if t is not None)
    if not isinstance(st, readers) or st.find(exp.Into) is not None:
        raise ValueError(f"{what}; got {st.key.upper()}: {sql.strip()[:60]!r}")
    writers = tuple(t for t in (getattr(exp, n, None) for n in ("Insert", "Update", "Delete", "Create", "Drop",
                                                                 "Alter", "Attach", "Pragma", "Command"))
                    if t is not None)
    if any(isinstance(node, writers) for node in st.walk()):
        raise ValueError(f"{what}; this one also writes or changes the database")


def _check_select_tokens(sql: str, what: str) -> None:
    """Without sqlglot: strip comments and strings, allow one statement whose first word is SELECT or WITH."""
    import re

    text = re.sub(r"--[^\n]*|/\*.*?\*/", " ", sql, flags=re.S)
    text = re.sub(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"", "''", text)
    body = text.strip().rstrip(";").strip()
    if ";" in body:
        raise ValueError(f"{what}; got more than one statement")
    words = re.findall(r"[A-Za-z_]+", body.upper())
    if not words or words[0] not in ("SELECT", "WITH"):
        raise ValueError(f"{what}; got {words[0] if words else 'nothing'}")
    banned = {"INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "ATTACH", "DETACH", "PRAGMA", "INTO",
              "REPLACE", "VACUUM", "GRANT", "TRUNCATE", "MERGE", "COPY", "CALL", "EXEC", "EXECUTE"}
    found = sorted(banned & set(words))
    if found:
        raise ValueError(f"{what}; it contains {', '.join(found)}")


def check_model_params(kind: str, params: dict[str, Any], grid: dict[str, list[Any]]) -> None:
    """Parameter names against the library's own lists, and values by fitting a tiny model with them.

    A typo (`learning_rat`), a wrong value (`learning_rate = -1.0`) or a wrong type (`C = "x"`)
    is an error when the spec loads, not after hours of data work.
    """
    import difflib

    import numpy as np

    names = set(params) | set(grid)
    known = _known_params(kind)
    if known:
        unknown = sorted(names - known)
        if unknown:
            hints = []
            for u in unknown:
                close = difflib.get_close_matches(u, sorted(known), n=1)
                hints.append(f"'{u}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
            raise ValueError(f"unknown {kind} parameter{'s' if len(unknown) > 1 else ''} {', '.join(hints)}")
    for key, values in grid.items():
        if not values:
            raise ValueError(f"'grid.{key}' needs at least one value")
    trials = [dict(params)] + [{**params, key: v} for key, values in grid.items() for v in values]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] + rng.normal(size=60) > 0).astype(int)
    import warnings

    for trial in trials:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _tiny_fit(kind, trial, X, y)
        except Exception as exc:  # the library's own message says which value is wrong
            shown = ", ".join(f"{k} = {v!r}" for k, v in trial.items())
            msg = " ".join(str(exc).split())[:300]
            raise ValueError(f"{kind} rejects the parameters ({shown}): {msg}") from None


def _known_params(kind: str) -> set[str]:
    if kind == "lightgbm":
        import lightgbm as lgb

        known = set(lgb.LGBMClassifier().get_params())
        try:  # LightGBM's own table of core parameters and their aliases
            from lightgbm.basic import _ConfigAliases

            for name, aliases in _ConfigAliases._get_all_param_aliases().items():
                known |= {name, *aliases}
        except (ImportError, AttributeError):
            return set()  # cannot list them on this version: leave names to the fit below
        return known
    if kind == "logistic_regression":
        from sklearn.linear_model import LogisticRegression

        return set(LogisticRegression().get_params())
    return set()


def _tiny_fit(kind: str, params: dict[str, Any], X, y) -> None:
    if kind == "lightgbm":
        import lightgbm as lgb

        n = params.get("n_estimators", 1)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n_estimators must be a positive integer, got {n!r}")
        fixed = {**params, "n_estimators": 1, "n_jobs": 1, "verbose": -1}
        lgb.LGBMClassifier(**fixed).fit(X, y)
    elif kind == "logistic_regression":
        from sklearn.linear_model import LogisticRegression

        # built as riskengine.model builds it (its max_iter unless the spec names one), so what passes here fits there
        LogisticRegression(**{**params, "max_iter": 50 if params.get("max_iter") is None else params["max_iter"]}).fit(X, y)

# ---------------------------------------------------------------------------------------
# Pieces shared by every kind of spec
# ---------------------------------------------------------------------------------------


@dataclass
class Purpose:
    """The ODA method's four statements; every report prints them first."""

    problem: str  # "Our problem is ..."
    insight: str  # "If we could see ..."
    datasets: str  # "Using these datasets ..."
    action: str  # "We would ..."
    entity: str = "entity"  # what one ranked thing is called on every page, e.g. "home", "restaurant"
    entities: str = "entities"  # and several of them, e.g. "homes"


@dataclass
class Source:
    """Where a table comes from: a CSV or Parquet file, or a SQL query over a SQLAlchemy URL.

    In TOML a plain string is a file path (or a URI such as `s3a://bucket/x.parquet`, kept as written:
    the Spark backend reads any URI Spark reads, the DuckDB backend `file://` ones); a table
    `{ sql = "...", url = "..." }` is a query;
    `{ path = "...", date_format = "%d/%m/%Y" }` reads dates written another way;
    `{ path = "...", columns = { entity_id = "CAMIS", date = "INSPECTION DATE" } }` names the
    file's own columns for the contract's (a file column already called like a contract column
    the map fills is kept as `<name>_in_source`);
    `{ path = "...", outcome_values = { "Fail" = 1, "Pass" = 0, "Out of Business" = "skip" } }`
    (the outcomes source only) maps the results the file writes as text to the contract's outcome:
    a number (0 or 1 for a binary outcome), or "skip" for a row that is no outcome (nothing was
    inspected), left out and counted, never a reject. Values match trimmed, with runs of spaces
    as one and case ignored; a value the map does not name is read as a number as before, and
    text that is not one is a reject naming the value and the map's keys.
    """

    path: Uri | Path | None = None  # a URI (s3a://, file:// ...) stays text: riskengine.spark reads it
    sql: str | None = None
    url: str | None = None
    date_format: str | None = None  # strftime format of its dates, e.g. "%m/%d/%Y"; default YYYY-MM-DD
    encoding: str | None = None  # text encoding of a CSV, e.g. "cp1252" or "latin-1"; default UTF-8
    columns: dict[str, str] = field(default_factory=dict)  # contract column -> the file's column, e.g. { date = "Inspection Date" }
    outcome_values: dict[str, float | Literal["skip"]] = field(default_factory=dict)  # outcomes only: "Fail" = 1, "No Entry" = "skip"

    def __post_init__(self) -> None:
        check_column_map(self.columns)
        check_outcome_values(self.outcome_values)
        if (self.path is None) == (self.sql is None):
            raise ValueError("a source needs either 'path' or 'sql' (with 'url'), not both")
        if self.sql is not None and not self.url:
            raise ValueError("a SQL source needs 'url' (a SQLAlchemy database URL)")
        if self.path is not None and "\x00" in str(self.path):
            raise ValueError(f"'path' contains a NUL byte: {str(self.path)!r}")
        if self.date_format is not None:
            check_date_format(self.date_format)
        if self.encoding is not None:
            import codecs

            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise ValueError(f"'encoding' = {self.encoding!r} is not a text encoding Python knows "
                                 "(e.g. \"utf-8\", \"cp1252\", \"latin-1\")") from None
        if self.sql is not None:
            check_select_only(self.sql)

    @classmethod
    def from_string(cls, value: str) -> "Source":
        return cls(path=Uri(value) if Uri.match(value) else Path(value))

    def describe(self) -> str:
        """A name for messages and fingerprints: the path, or the URL and the query."""
        if self.path is not None:
            return str(self.path)
        return f"{self.url} :: {self.sql}"


RESERVED_COLUMNS = {"line", "_row", "_line", "_problem"}  # the engine's bookkeeping columns on a read table

SKIP_OUTCOME = "skip"  # in a source's outcome_values: the row is no outcome (nothing inspected); left out, counted


def fold_outcome_value(text: str) -> str:
    """How outcome_values match a file's text: trimmed, runs of white space as one space, lower case
    (ingest and the Spark ingest fold the file's values the same way)."""
    import re

    return re.sub(r"\s+", " ", text).strip(" ").lower()


def check_outcome_values(values: dict[str, float | str]) -> None:
    """A source's `outcome_values`: keys distinct once folded (fold_outcome_value), numbers finite, one outcome at least."""
    import math

    seen: dict[str, str] = {}
    for key, value in values.items():
        folded = fold_outcome_value(key)
        if not folded:
            raise ValueError(f"'outcome_values' has a blank key {key!r}: a blank outcome is missing (a reject); "
                             "name the values the file writes, e.g. \"Fail\" = 1")
        if folded in seen:
            raise ValueError(f"'outcome_values' names {seen[folded]!r} and {key!r}, the same value once case and "
                             "spaces are ignored: keep one")
        seen[folded] = key
        if value != SKIP_OUTCOME and not math.isfinite(value):
            raise ValueError(f"'outcome_values.{key}' = {value!r} is not a finite number")
    if values and all(v == SKIP_OUTCOME for v in values.values()):
        raise ValueError(f"'outcome_values' maps every value to \"{SKIP_OUTCOME}\": map at least one to an outcome")


def check_column_map(columns: dict[str, str]) -> None:
    """A source's `columns`: each contract name maps to one column of the file, no column used twice."""
    for ours, theirs in columns.items():
        if not isinstance(theirs, str) or not theirs.strip():
            raise ValueError(f"'columns.{ours}' must name a column of the file (a non-empty string), got {theirs!r}")
        if ours.strip() in RESERVED_COLUMNS:
            raise ValueError(f"'columns.{ours}': {ours!r} is the engine's own bookkeeping column; "
                             f"map the file's columns to contract names such as entity_id, date, type, value")
    seen: dict[str, str] = {}
    for ours, theirs in columns.items():
        if theirs.strip() in seen:
            raise ValueError(f"'columns': the file's column {theirs!r} is mapped twice "
                             f"(to {seen[theirs.strip()]!r} and {ours!r})")
        seen[theirs.strip()] = ours


EARLIEST_DATE = dt.date(1950, 1, 1)  # the default earliest valid date (data.earliest_date): ingest and linkage


@dataclass
class DataSpec:
    """The three tables of the data contract (DESIGN.md)."""

    entities: Source
    events: dict[str, Source] = field(default_factory=dict)
    outcomes: Source | None = None
    area_events: dict[str, Source] = field(default_factory=dict)  # [data.area_events] NAME = file: lat, lon, date, type; no entity_id
    outcome_kind: Literal["binary", "number"] = "binary"  # 0/1 cases, or a measured amount
    max_reject_share: float = 0.05  # stop when a table loses more than this share of rows
    earliest_date: dt.date = EARLIEST_DATE  # earlier dates are impossible here, or placeholders for "unknown"
    rejects_dir: Path | None = None  # where `validate` and a run stopped by its data write rejects.csv (under out/ unless absolute); default out/<name>/validate, out/<name>/rejects
    outcome_store: Path | None = None  # folder of inspectors' results added with `riskengine outcomes add`; read with the outcomes
    # not a key: the columns that let an event row without an entity_id wait for linkage rather than be
    # rejected; set from the spec's [link] (LinkSpec.link_columns) by the training and data specs
    link_by: tuple[str, ...] = field(default=("address",), init=False)

    def __post_init__(self) -> None:
        if not 0 <= self.max_reject_share <= 1:
            raise ValueError("'max_reject_share' must be between 0 and 1")
        self._check_outcome_values()
        if self.rejects_dir is not None:
            check_output_folder(self.rejects_dir, "rejects_dir")

    def _check_outcome_values(self) -> None:
        """outcome_values only on the outcomes source, and 0/1 (or "skip") for a binary outcome."""
        others = [("entities", self.entities), *((f"events.{k}", v) for k, v in self.events.items()),
                  *((f"area_events.{k}", v) for k, v in self.area_events.items())]
        for where, src in others:
            if src.outcome_values:
                raise ValueError(f"'{where}.outcome_values': only the outcomes source maps outcome values")
        if self.outcomes is None or self.outcome_kind != "binary":
            return
        for key, value in self.outcomes.outcome_values.items():
            if value != SKIP_OUTCOME and value not in (0, 1):
                raise ValueError(f"'outcomes.outcome_values.{key}' = {value:g}: a binary outcome is 0 or 1 "
                                 f"(or \"{SKIP_OUTCOME}\" for a row that is no outcome); a measured amount needs "
                                 "outcome_kind = \"number\"")


@dataclass
class NearbySpec:
    """[features.nearby]: what happens around each entity with coordinates (riskengine.features).

    For every area-event source and type: counts within each radius over each window, and a
    Gaussian kernel density (events per km2, kernel truncated at 4 bandwidths) over each window.
    Only area events dated strictly before the as-of date count.
    """

    radii_m: list[float] = field(default_factory=lambda: [250.0, 500.0])  # metres
    windows: list[int] = field(default_factory=lambda: [90, 365])  # days before the as-of date
    bandwidth_m: list[float] = field(default_factory=list)  # kernel bandwidths in metres; empty = no density

    def __post_init__(self) -> None:
        if not self.radii_m and not self.bandwidth_m:
            raise ValueError("[features.nearby] needs 'radii_m' or 'bandwidth_m' (or leave the table out)")
        if any(r <= 0 or r > 50_000 for r in [*self.radii_m, *self.bandwidth_m]):
            raise ValueError("'radii_m' and 'bandwidth_m' are distances in metres, above 0 and at most 50000")
        if not self.windows or any(w <= 0 for w in self.windows):
            raise ValueError("[features.nearby] 'windows' are positive numbers of days (at least one)")


@dataclass
class FeaturesSpec:
    """How features are built as of a date (riskengine.features).

    For every (source, event type): counts over each window, sums and the last value of
    `value` where the source has values, and days since the last event. Only events dated
    strictly before the as-of date count.
    """

    windows: list[int] = field(default_factory=lambda: [90, 365, 1095])  # days; all history is always added
    static: list[str] = field(default_factory=list)  # entity columns used as features as they are
    categorical: list[str] = field(default_factory=list)  # which static or ready-table columns are categories
    labels: dict[str, str] = field(default_factory=dict)  # "source.type" -> plain-English noun
    levels: list[str] = field(default_factory=list)  # "source.type" whose value is a level at a date (a register count): last value only, no sums
    table: Source | None = None  # a ready feature table keyed by entity_id and as_of
    max_age_days: int | None = None  # a row dated t serves dates t..t+max_age_days; older: missing. None: no limit
    from_events: bool = True  # set false to use only the ready table (and, for cases, past outcomes)
    outcomes_as_events: bool = True  # past outcomes (dated before the as-of date) become source "outcomes"
    nearby: NearbySpec | None = None  # [features.nearby]: counts and densities of [data.area_events] around entities

    def __post_init__(self) -> None:
        if any(w <= 0 for w in self.windows):
            raise ValueError("'windows' are positive numbers of days (all history is always included)")
        unknown = set(self.categorical) - set(self.static)
        if unknown and self.table is None:  # ready-table columns are checked when the table is read
            raise ValueError(f"'categorical' names columns not in 'static': {sorted(unknown)}")
        if self.max_age_days is not None and self.max_age_days < 0:
            raise ValueError("'max_age_days' cannot be negative (0: only a row dated the same day)")
        if not self.from_events and self.table is None:
            raise ValueError("with from_events = false a ready feature 'table' is needed")


@dataclass
class LinkSpec:
    """Record linkage (riskengine.link): source rows without a valid entity id are matched to entities.

    Match probabilities at or above `upper` link; between `lower` and `upper` go to clerical
    review; below `lower` stay unmatched.

    What rows are matched on: `fields` (column -> kind, the syntax of a link spec's fields:
    forename, surname, full_name, date, address, locality, postcode, uk_postcode, identifier,
    exact, number, text; a string is the kind, a table adds a date `format` or a shared `name`),
    in either mode. Every column named must be in the entities table; a source may lack some.
    Without `fields`, `match_on = "address"` reads the address, postcode and town columns and
    `match_on = "person"` the `person_name_columns` and `dob_column` (and a postcode).
    `match_on = "person"` (entities are people) matches on the clear values in memory and
    pseudonymises every field column but postcodes before anything leaves; with `"address"`
    the person-identifying kinds (names, dates, identifiers) are pseudonymised after matching.
    """

    enabled: bool = True
    upper: float = 0.95
    lower: float = 0.5
    person_columns: list[str] = field(
        default_factory=lambda: ["account_holder", "name", "dob", "ni_number", "phone", "email"]
    )  # pseudonymised with a keyed hash before anything leaves the linkage step
    key_env: str = "RISKENGINE_PSEUDONYM_KEY"  # environment variable holding the hashing key
    key_file: Path | None = None  # or a file holding it; never written to outputs
    survivorship: dict[str, str] = field(default_factory=dict)  # field -> most_recent | most_frequent | most_trusted
    trusted_sources: list[str] = field(default_factory=list)  # order of trust for most_trusted
    truth: Path | None = None  # synthetic data only: the true entity of every source row, to measure linkage
    review_decisions: Path | None = None  # the review file with its 'decision' column filled by a clerk
    match_on: Literal["address", "person"] = "address"  # what the entities are: places (addresses) or people
    person_name_columns: list[str] = field(default_factory=lambda: ["first_name", "surname"])  # first, last; or one full name
    dob_column: str = "dob"  # date of birth, for match_on = "person"
    fields: dict[str, "LinkField"] = field(default_factory=dict)  # column -> kind, either mode (default: see above)
    checks: "LinkChecks" = field(default_factory=lambda: LinkChecks())  # when a run warns or stops
    store: Path | None = None  # folder keeping each row's link between runs: later runs link only rows not seen

    def __post_init__(self) -> None:
        if not 0 <= self.lower <= self.upper <= 1:
            raise ValueError("link thresholds need 0 <= lower <= upper <= 1")
        names = [f.name or c for c, f in self.fields.items()]
        if len(set(names)) != len(names):
            raise ValueError(f"'fields': two columns share one field name: {names}; a column named otherwise in "
                             "one table is mapped to the shared name by that source's `columns` in [data], e.g. "
                             "claims = { path = \"claims.csv\", columns = { surname = \"LAST NAME\" } }")
        core = [c for c in self.fields if c in EVENT_COLUMNS]
        if core:
            raise ValueError(f"'fields' names {core}: the events' own columns ({', '.join(EVENT_COLUMNS)}) "
                             "are not matched on; name the columns that describe the entity")
        if self.fields and self.match_on == "person" and not any(
                f.kind in PERSON_NAME_KINDS for f in self.fields.values()):
            raise ValueError("'fields' with match_on = 'person' needs a name: a column of kind "
                             f"{', '.join(repr(k) for k in PERSON_NAME_KINDS)}; got "
                             f"{ {c: f.kind for c, f in self.fields.items()} }")

    def identifying_columns(self) -> list[str]:
        """Every column linkage pseudonymises (and rejects files redact): `person_columns`; with
        match_on = "person" the name and date-of-birth columns and every field column but postcodes;
        otherwise the field columns of person-identifying kinds (names, dates, identifiers)."""
        cols = list(self.person_columns)
        if self.match_on == "person":
            cols += [*self.person_name_columns, self.dob_column]
            cols += [c for c, f in self.fields.items() if f.kind not in ("postcode", "uk_postcode")]
        else:
            cols += [c for c, f in self.fields.items() if f.kind in IDENTIFYING_KINDS]
        return list(dict.fromkeys(cols))

    def link_columns(self) -> tuple[str, ...]:
        """The columns a source row without an entity_id can be linked by (any one not empty keeps it)."""
        if not self.enabled:
            return ("address",)
        if self.fields:
            return tuple(self.fields)
        if self.match_on == "person":
            return tuple(self.person_name_columns)
        return ("address",)


PERSON_NAME_KINDS = ("forename", "surname", "full_name")


def kept_decisions_path(path: str | Path) -> Path:
    """Where the decisions of a review file (`review_decisions`) are kept, as ids only, once the file
    is read and deleted: `<name>.kept.csv` beside it."""
    path = Path(path)
    return path.with_name(path.stem + ".kept.csv")


IDENTIFYING_KINDS = (*PERSON_NAME_KINDS, "date", "identifier")  # pseudonymised once matched, in either mode
EVENT_COLUMNS = ("entity_id", "line", "date", "type", "value")  # the events' own columns: never a link field


# ---------------------------------------------------------------------------------------
# Link specs (kind = "link"): a linkage job on any tables, with or without a register
# ---------------------------------------------------------------------------------------

LINK_FIELD_KINDS = ("forename", "surname", "full_name", "date", "address", "locality", "postcode", "uk_postcode",
                    "identifier", "exact", "number", "text")


@dataclass
class LinkField:
    """What a column holds: `kind` (one of LINK_FIELD_KINDS), for dates an optional strftime
    `format` (default: inferred from the values and reported), and `name`, the name the field
    shares across tables (default: the column's own name). In TOML a plain string is the kind."""

    kind: str
    format: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in LINK_FIELD_KINDS:
            raise ValueError(f"field kind {self.kind!r} is not one of {', '.join(LINK_FIELD_KINDS)}")
        if self.format is not None and self.kind != "date":
            raise ValueError(f"'format' is for date fields only, not {self.kind!r}")

    @classmethod
    def from_string(cls, value: str) -> "LinkField":
        return cls(kind=value)


@dataclass
class LinkChecks:
    """[checks]: when a linkage run warns (console and report) and when it stops with an error.

    Shares are of rows: a field NULL after parsing; rows of a source that no blocking rule
    pairs with any candidate; rows linked (with a register) or in a cluster of two or more.
    """

    null_share_warn: float = 0.5
    null_share_error: float = 0.95
    no_candidate_warn: float = 0.1
    no_candidate_error: float = 0.5
    linked_share_warn: float = 0.05  # fewer rows linked than this: a warning
    linked_share_error: float = 0.005  # fewer than this: an error (0 turns it off)

    def __post_init__(self) -> None:
        for name in ("null_share", "no_candidate", "linked_share"):
            warn, error = getattr(self, f"{name}_warn"), getattr(self, f"{name}_error")
            if not (0 <= warn <= 1 and 0 <= error <= 1):
                raise ValueError(f"'{name}_warn' and '{name}_error' are shares between 0 and 1")


@dataclass
class LinkTable:
    """One table of a link spec: where it is, its row id column, and its `fields` (column -> kind)."""

    id: str
    fields: dict[str, LinkField]
    path: Path | None = None
    sql: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if not self.fields:
            raise ValueError("'fields' needs at least one column -> kind")
        names = [f.name or c for c, f in self.fields.items()]
        if len(set(names)) != len(names):
            raise ValueError(f"two columns share one field name: {names}")

    def source(self) -> Source:
        return Source(path=self.path, sql=self.sql, url=self.url)


@dataclass
class LinkJobSpec:
    """A linkage job (kind = "link"): sources linked to a `register`, or, without one,
    deduplicated into clusters. `riskengine link SPEC --out DIR` runs it."""

    name: str
    sources: dict[str, LinkTable]
    kind: Literal["link"] = "link"
    register: LinkTable | None = None
    upper: float = 0.95  # at or above: linked
    lower: float = 0.5  # from here to `upper`: clerical review
    model: Literal["one_to_one_em", "splink_em", "auto"] = "auto"  # auto: one-to-one EM with a register, splink's EM without
    checks: LinkChecks = field(default_factory=LinkChecks)
    review_decisions: Path | None = None  # the review file with 'decision' filled; read, kept as ids, then deleted
    truth: Path | None = None  # source, row_id, true_id: to measure precision, recall and F1
    max_pairs_per_rule: int = 0  # blocking rules making more candidate pairs are narrowed by another field's key, sharing this limit, or dropped (0: 20 per row, at least 100,000)
    seed: int = 0
    key_env: str = "RISKENGINE_PSEUDONYM_KEY"  # environment variable holding the key review ids are made with
    key_file: Path | None = None  # or a file holding it (as [link] key_file); never written to outputs

    def __post_init__(self) -> None:
        if not 0 <= self.lower <= self.upper <= 1:
            raise ValueError("link thresholds need 0 <= lower <= upper <= 1")
        if not self.sources:
            raise ValueError("'sources' needs at least one table")
        if "register" in self.sources:
            raise ValueError("'register' is a reserved name; call the source something else")


@dataclass
class LabelSpec:
    """Training rows, in one of two framings.

    rows = "grid" (default): (entity, as-of date) pairs every `every_months` from
    `first_as_of`, labelled by outcomes in the `window_days` after the date.
    rows = "cases": every outcome row is one training row at its own date, labelled by its
    own outcome; features use only what was known strictly before that date (or the ready
    table's row as of it). `first_as_of`/`last_as_of` then optionally bound the case dates;
    the window keys do not apply.
    """

    first_as_of: dt.date | None = None  # grid: required; cases: ignore cases dated earlier
    rows: Literal["grid", "cases"] = "grid"
    last_as_of: dt.date | None = None  # default: the last date whose label window has closed
    every_months: int = 3
    window_days: int = 182  # outcomes dated as_of <= date < as_of + window_days label the row
    unlabelled: Literal["exclude", "negative"] = "exclude"  # entities with no outcome in the window
    positive_above: float = 0.0  # an outcome above this is a positive case (0/1 outcomes: 1; amounts: set a level)

    def __post_init__(self) -> None:
        if self.every_months < 1 or self.window_days < 1:
            raise ValueError("'every_months' and 'window_days' must be at least 1")
        if self.rows == "grid" and self.first_as_of is None:
            raise ValueError("'first_as_of' is required with rows = \"grid\" (the first as-of date of the grid)")


@dataclass
class ModelSpec:
    """One candidate family; a grid gives one candidate per combination of values."""

    name: str
    type: Literal["lightgbm", "logistic_regression"]
    params: dict[str, Any] = field(default_factory=dict)  # fixed parameters
    grid: dict[str, list[Any]] = field(default_factory=dict)  # parameter -> values to try

    def __post_init__(self) -> None:
        check_model_params(self.type, self.params, self.grid)


@dataclass
class BaselineSpec:
    """Rankings that need no learning, compared on the same splits."""

    business_as_usual: list[str] = field(default_factory=list)  # features summed to rank by
    random: bool = True


@dataclass
class MetricSpec:
    """Precision at the team's capacity k, and at percentage cut-offs."""

    k: int = 100
    top_pcts: list[float] = field(default_factory=lambda: [1.0, 5.0, 10.0])

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError("'k' (the team's capacity) must be at least 1")
        bad = [p for p in self.top_pcts if not 0 < p <= 100]
        if bad:
            raise ValueError(f"'top_pcts' are percentages of the list in (0, 100], got {bad}")


@dataclass
class SplitSpec:
    """Temporal cross-validation: each split tests a period on a model trained only before it.

    Rolling (default): the last `n_splits` as-of dates (grid), or the case dates cut into
    `n_splits + 1` blocks of about equal size, each block after the first tested in turn
    (cases). Explicit: `test_from` (and optionally `test_to`, exclusive; `train_until`,
    exclusive, default `test_from`) makes one split: train on rows dated before
    `train_until` (grid: whose label window has closed by `test_from`), test on rows dated
    in [test_from, test_to).
    """

    n_splits: int = 4
    train_until: dt.date | None = None  # training rows are dated before this (default: test_from)
    test_from: dt.date | None = None  # first day of the tested window
    test_to: dt.date | None = None  # day after the tested window (default: after the last row)

    def __post_init__(self) -> None:
        if self.n_splits < 1:
            raise ValueError("'n_splits' must be at least 1")
        if self.test_from is None and self.train_until is not None:
            self.test_from = self.train_until
        if self.test_to is not None and self.test_from is None:
            raise ValueError("'test_to' needs 'test_from' (the first day of the tested window)")
        if self.test_from is not None and self.test_to is not None and self.test_to <= self.test_from:
            raise ValueError("'test_to' must come after 'test_from'")
        if self.train_until is not None and self.test_from is not None and self.train_until > self.test_from:
            raise ValueError("'train_until' cannot be after 'test_from': no training row may be dated in the "
                             "window it is tested on")

    @property
    def explicit(self) -> bool:
        return self.test_from is not None


@dataclass
class SelectionSpec:
    """How the champion is chosen."""

    rule: Literal["mean_precision_at_k", "last_precision_at_k", "min_regret"] = "mean_precision_at_k"
    tolerance: float = 0.005  # candidates within this of the best count as tied; ties go to the simpler
    calibration: Literal["sigmoid", "isotonic", "none"] = "sigmoid"


@dataclass
class AuditSpec:
    """Which attributes the bias report groups by, and who bears the intervention."""

    attributes: list[str] = field(default_factory=list)
    burden: Literal["punitive", "assistive"] = "punitive"  # inspections burden the flagged
    min_group_size: int = 10
    reference: dict[str, str] = field(default_factory=dict)  # attribute -> reference group

    def __post_init__(self) -> None:
        bad = [a for a in self.attributes if not a.strip() or "\x00" in a]
        if bad:
            raise ValueError(f"'attributes' must be column names of the entities table, got {bad}")
        if len(set(self.attributes)) != len(self.attributes):
            raise ValueError(f"'attributes' lists a column twice: {self.attributes}")
        extra = sorted(set(self.reference) - set(self.attributes))
        if extra:
            raise ValueError(f"'reference' names {extra}, which are not in 'attributes' {self.attributes}")
        if self.min_group_size < 1:
            raise ValueError("'min_group_size' must be at least 1")


@dataclass
class InformationGovernance:
    """The data-protection facts in a spec's [governance] table (issue: information governance).

    What the engine cannot know is left empty and shown as a question for the data protection
    officer in the draft DPIA and data-sharing agreement (`riskengine governance SPEC`). The
    other keys of [governance] (owner, contact ...) feed the model card and transparency record.
    """

    require_dpia: bool = False  # training stops unless a signed DPIA is recorded below
    dpia_reference: str | None = None  # e.g. "DPIA-2026-014"; with signed_by and signed_on, the signed DPIA
    dpia_signed_by: str | None = None  # the role that signed it (not a personal name is needed)
    dpia_signed_on: dt.date | None = None
    controller: str | None = None  # the organisation that decides why and how the data are used
    operator: str | None = None  # who runs the engine (team or organisation)
    location: str | None = None  # where the files and outputs live, e.g. "council data platform, UK"
    lawful_basis: str | None = None  # e.g. "UK GDPR Art 6(1)(e) public task; Housing Act 2004 s.61"
    necessity: str | None = None  # why the processing is necessary and proportionate
    owners: dict[str, str] = field(default_factory=dict)  # source -> team or organisation that owns it
    data_subjects: dict[str, str] = field(default_factory=dict)  # source -> whose data it is
    personal_columns: dict[str, list[str]] = field(default_factory=dict)  # source -> columns the scan may miss
    special_category: dict[str, list[str]] = field(default_factory=dict)  # source -> special-category or criminal-offence columns
    retention_days: dict[str, int] = field(default_factory=dict)  # lists | training | link | rejects | backtest -> days kept

    def __post_init__(self) -> None:
        unknown = sorted(set(self.retention_days) - set(RETENTION_KINDS))
        if unknown:
            raise ValueError(f"governance.retention_days: unknown output kind(s) {unknown}; expected some of "
                             f"{list(RETENTION_KINDS)}")
        bad = {k: v for k, v in self.retention_days.items() if v < 1}
        if bad:
            raise ValueError(f"governance.retention_days must be at least 1 day, got {bad}")

    @property
    def dpia_signed(self) -> bool:
        return bool(self.dpia_reference and self.dpia_signed_by and self.dpia_signed_on)


# Output kinds a retention period can be set for: the folder under out/<pipeline>/ that holds each.
RETENTION_KINDS = {
    "lists": "the weekly lists (out/<pipeline>/<as-of>/): entity ids, addresses, reasons",
    "training": "training outputs (out/<pipeline>/train/ less its link/ folder): aggregates and plots",
    "link": "linkage outputs (out/<pipeline>/train/link/): links, golden records, the review file",
    "rejects": "rejected rows (out/<pipeline>/validate/ and rejects.csv of a run): raw records",
    "backtest": "backtests (out/<pipeline>/backtest/): aggregates",
}
IG_KEYS = {f.name for f in dataclasses.fields(InformationGovernance)}


def information_governance(governance: dict[str, Any]) -> InformationGovernance:
    """The data-protection keys of a [governance] table, checked; the other keys are left alone."""
    picked = {k: v for k, v in governance.items() if k in IG_KEYS}
    try:
        return from_mapping(InformationGovernance, picked, file="", prefix="governance")
    except SpecError as exc:  # re-raised so the spec loader names the file
        raise ValueError(str(exc).removeprefix(": ")) from None


# ---------------------------------------------------------------------------------------
# Where the heavy stages run (riskengine.spark)
# ---------------------------------------------------------------------------------------

BACKENDS = ("duckdb", "spark")


@dataclass
class EngineSpec:
    """[engine]: where features, scoring and linkage run: DuckDB in this process (default) or Spark.

    With "spark" the features are computed in Spark SQL (the same statement DuckDB runs,
    translated), every entity is scored by `mlflow.pyfunc.spark_udf`, and only the top of
    the list, its reasons and the narrow score columns come back to this process.
    `--backend` and `--spark-master` on the command line win over these keys.
    """

    backend: Literal["duckdb", "spark"] = "duckdb"
    spark_master: str | None = None  # e.g. "local[2]", "spark://host:7077", "yarn"; default: the running session's, else local[*]

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"'engine.backend' must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.spark_master is not None:
            if self.backend != "spark":
                raise ValueError("'engine.spark_master' is read only with engine.backend = \"spark\"")
            if not self.spark_master.strip():
                raise ValueError("'engine.spark_master' is empty; give a Spark master URL such as \"local[2]\" or \"yarn\"")

    def overridden(self, backend: str | None = None, spark_master: str | None = None) -> "EngineSpec":
        """This engine with the command line's --backend / --spark-master applied, checked."""
        from riskengine.errors import RiskEngineError

        name = backend or self.backend
        if name not in BACKENDS:
            raise RiskEngineError(f"--backend expected one of {', '.join(BACKENDS)}, got {name!r}")
        if spark_master and name != "spark":
            raise RiskEngineError("--spark-master is used only with the Spark backend (--backend spark)")
        return EngineSpec(backend=name, spark_master=spark_master or (self.spark_master if name == "spark" else None))


@dataclass
class TrainingSpec:
    """A training pipeline: training/NAME.toml."""

    name: str
    purpose: Purpose
    data: DataSpec
    labels: LabelSpec
    models: list[ModelSpec]
    kind: Literal["training"] = "training"
    link: LinkSpec = field(default_factory=LinkSpec)
    features: FeaturesSpec = field(default_factory=FeaturesSpec)
    baselines: BaselineSpec = field(default_factory=BaselineSpec)
    metric: MetricSpec = field(default_factory=MetricSpec)
    splits: SplitSpec = field(default_factory=SplitSpec)
    selection: SelectionSpec = field(default_factory=SelectionSpec)
    audit: AuditSpec = field(default_factory=AuditSpec)
    truth: Source | None = None  # synthetic data only: true probabilities, for the oracle view (grid: entity_id,
    # date, p_posterior, is_unlicensed_hmo; cases: entity_id, date, p_true = the true probability of a positive at that case)
    exclusions: "ScoringExclusions | None" = None  # what the list leaves out; the oracle view applies it too
    governance: dict[str, Any] = field(default_factory=dict)  # model card / transparency record facts (owner, contact ...)
    seed: int = 0
    engine: EngineSpec = field(default_factory=EngineSpec)  # [engine]: where the features are built (training stays here)

    def __post_init__(self) -> None:
        check_name(self.name)
        information_governance(self.governance)  # checked on load; read with the same function
        self.data.link_by = self.link.link_columns()  # rows [link] can link wait for it, not rejected
        if not self.models:
            raise ValueError("'models' needs at least one candidate")
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise ValueError(f"candidate names must be unique, got {names}")
        if self.features.nearby is not None and not self.data.area_events:
            raise ValueError("[features.nearby] needs [data.area_events] (files of lat, lon, date, type)")
        if self.data.area_events and self.features.nearby is None:
            self.features.nearby = NearbySpec()  # area events named: nearby features with the default radii
        shared = set(self.data.area_events) & (set(self.data.events) | {"outcomes"})
        if shared:
            raise ValueError(f"[data.area_events] and [data.events] share the name(s) {sorted(shared)}; "
                             "each source needs its own name")


# ---------------------------------------------------------------------------------------
# Scoring specs (riskengine.scoring): the weekly list
# ---------------------------------------------------------------------------------------


@dataclass
class ScoringExclusions:
    """[exclusions]: entities left off the list whatever their score (the reason is kept in scores.parquet)."""

    inspected_within_months: int = 0  # an outcome (inspection) dated in the last N months; 0 = off
    already_licensed: bool = False  # has a `licence_event` before the as-of date
    licence_event: str = "planning.licence_application"  # "source.type" meaning the entity is licensed
    events: list[str] = field(default_factory=list)  # any other "source.type" (or "source") that excludes
    events_within_months: int = 0  # how far back `events` count; 0 = all history

    def __post_init__(self) -> None:
        if self.inspected_within_months < 0 or self.events_within_months < 0:
            raise ValueError("'inspected_within_months' and 'events_within_months' cannot be negative")


@dataclass
class ScoringExploration:
    """[exploration]: a share of the list drawn at random from the rest, to estimate prevalence later."""

    share: float = 0.0  # 0.1 = one row in ten of the list is a random draw, marked as such
    seed: int = 0  # with the as-of date, fixes the draw

    def __post_init__(self) -> None:
        if not 0 <= self.share < 1:
            raise ValueError("'exploration.share' must be in [0, 1)")


@dataclass
class ScoringAlerts:
    """[alerts]: what changed since the previous list of the same pipeline."""

    jump: float = 0.10  # alert when the probability rose by more than this (probability points)
    threshold: float | None = None  # alert when the probability crossed this from below
    previous: Path | None = None  # the previous list.csv; default: the latest earlier list beside this one

    def __post_init__(self) -> None:
        if not 0 < self.jump <= 1:
            raise ValueError("'alerts.jump' must be in (0, 1]: a rise in probability")
        if self.threshold is not None and not 0 < self.threshold < 1:
            raise ValueError("'alerts.threshold' must be a probability between 0 and 1")


@dataclass
class DashboardSpec:
    """[dashboard]: when the dashboard's verdict says what (`riskengine dashboard`, `riskengine simulate`)."""

    min_inspections: int = 30  # fewer results from the list than this: too early to judge
    psi_watch: float = 0.1  # a feature's population stability index from here: watch it
    psi_retrain: float = 0.25  # from here: retrain recommended
    fairness_low: float = 0.8  # a group's selection rate against the overall rate, outside this range
    fairness_high: float = 1.25  # ... and clear of chance, is reported
    retrain_every_weeks: int = 13  # the simulation retrains on this schedule

    def __post_init__(self) -> None:
        if not 0 < self.psi_watch <= self.psi_retrain:
            raise ValueError("'dashboard.psi_watch' must be positive and at most 'psi_retrain'")
        if not 0 < self.fairness_low < 1 < self.fairness_high:
            raise ValueError("'dashboard.fairness_low' must be in (0, 1) and 'fairness_high' above 1")
        if self.min_inspections < 1 or self.retrain_every_weeks < 1:
            raise ValueError("'dashboard.min_inspections' and 'retrain_every_weeks' must be at least 1")


@dataclass
class ScoringQueue:
    """[queue]: the work already due (entity_id, date), e.g. this week's routine inspections.

    With a queue the list ranks exactly those rows, each with features as of its own date;
    without one it ranks every eligible entity as of the list's date.
    """

    path: Source  # a file (or { path = ..., date_format = ... }, or { sql = ..., url = ... }) with entity_id, date


@dataclass
class ScoringSpec:
    """A scoring spec (scoring/NAME.toml): which registered model makes the list, how long it is, what it leaves out."""

    pipeline: str  # the training pipeline: training/<pipeline>.toml and models:/<pipeline>@<model_alias>
    kind: Literal["scoring"] = "scoring"
    name: str = ""  # default: the pipeline's name
    training: Path | None = None  # the training spec, if not training/<pipeline>.toml
    model_alias: str = "champion"
    capacity: int = 50  # rows on the list: what the team can act on in one round
    as_of: dt.date | None = None  # default: today, or the day after the data's last date if earlier
    outputs: Path | None = None  # folder holding one folder per as-of date; default out/<pipeline>
    reasons: int = 3  # reasons per listed entity
    purpose: Purpose | None = None  # default: the training spec's
    quotas: dict[str, int] = field(default_factory=dict)  # entity column -> at most this many per value
    exclusions: ScoringExclusions = field(default_factory=ScoringExclusions)
    exploration: ScoringExploration = field(default_factory=ScoringExploration)
    alerts: ScoringAlerts = field(default_factory=ScoringAlerts)
    dashboard: DashboardSpec = field(default_factory=DashboardSpec)
    queue: ScoringQueue | None = None  # rank exactly the work due instead of every entity
    engine: EngineSpec = field(default_factory=EngineSpec)  # [engine]: DuckDB here, or Spark

    def __post_init__(self) -> None:
        check_name(self.pipeline, "pipeline")
        self.name = check_name(self.name or self.pipeline, "name")
        if self.outputs is not None:
            check_output_folder(self.outputs, "outputs")
        if self.capacity < 1:
            raise ValueError("'capacity' (rows on the list) must be at least 1")
        if not 1 <= self.reasons <= 10:
            raise ValueError("'reasons' must be between 1 and 10")
        bad = {c: m for c, m in self.quotas.items() if m < 1}
        if bad:
            raise ValueError(f"'quotas' need at least 1 per group, got {bad}")


# ---------------------------------------------------------------------------------------
# Spec kinds
# ---------------------------------------------------------------------------------------


@dataclass
class DataOnlySpec:
    """A spec that only names data: used by `riskengine validate` and the demo."""

    name: str
    purpose: Purpose
    data: DataSpec
    kind: Literal["data"] = "data"
    governance: dict[str, Any] = field(default_factory=dict)  # data-protection facts (InformationGovernance)
    link: LinkSpec = field(default_factory=LinkSpec)  # how `riskengine link SPEC` links its sources (person mode too)

    def __post_init__(self) -> None:
        check_name(self.name)
        information_governance(self.governance)
        self.data.link_by = self.link.link_columns()  # rows [link] can link wait for it, not rejected


SPEC_KINDS: dict[str, type] = {"data": DataOnlySpec, "training": TrainingSpec, "scoring": ScoringSpec}
SPEC_KINDS["link"] = LinkJobSpec


def load_spec(path: str | Path, kind: str | None = None) -> Any:
    """Load a spec file into its typed object.

    The kind comes from `kind = "..."` in the file, else from the folder it sits in
    (training/, scoring/, evaluation/), else from the `kind` argument.
    """
    path = Path(path)
    raw = read_toml(path)
    chosen = raw.get("kind") or kind or path.parent.name
    if chosen not in SPEC_KINDS:
        raise SpecError(
            f"{path}: cannot tell what kind of spec this is; add kind = one of "
            f"{', '.join(repr(k) for k in SPEC_KINDS)}"
        )
    raw = dict(raw)
    raw["kind"] = chosen
    loaded = from_mapping(SPEC_KINDS[chosen], raw, file=str(path))
    loaded._file = str(path)  # not a spec key: lets later checks name the file
    return loaded


# ---------------------------------------------------------------------------------------
# Evaluation specs (riskengine.evaluation): trial design, analysis and paths
# ---------------------------------------------------------------------------------------

_EVALUATION_UNIT_STRATA = {
    "officer-weeks": {"officer", "week"},
    "weeks": {"block"},
    "wards": {"risk_band"},
    "entities": None,  # risk_band, ward or any column of the scored list
}


@dataclass
class EvaluationDesign:
    """[design]: what the trial compares, the effect it must detect and how units are randomised.

    Without a scored list the units come from the numbers here (officers x weeks, weeks, or
    `n_units` wards); with a list (`--list` or [paths] list) the units are the list's
    entities or wards (`list_unit`), stratified as `list_strata` says.
    """

    effect: float  # change to detect: 0.03 = hit rate 10% -> 13% (binary), or outcome units
    seed: int  # the assignment is reproducible from this number
    outcome: Literal["binary", "continuous"] = "binary"
    baseline_rate: float | None = None  # binary: the control arm's expected rate
    sd: float | None = None  # continuous: the outcome's standard deviation
    alpha: float = 0.05
    power: float = 0.80
    allocation_ratio: float = 1.0  # units in each treatment arm per unit in control
    arms: list[str] = field(default_factory=lambda: ["model", "bau"])
    control: str = "bau"
    unit: Literal["officer-weeks", "weeks", "wards", "entities"] = "officer-weeks"
    cluster_size: float = 1.0  # outcomes per unit, e.g. inspections per officer-week
    icc: float = 0.0  # intra-cluster correlation of the outcome
    strata: list[str] = field(default_factory=list)
    n_units: int | None = None  # units available (wards or weeks) when not officers x weeks
    n_officers: int | None = None
    n_weeks: int | None = None
    list_unit: Literal["entities", "wards"] = "entities"
    list_strata: list[str] = field(default_factory=lambda: ["risk_band", "ward"])
    n_bands: int = 5  # risk bands cut from the list's scores (band 1 = highest)
    top_k: int | None = None  # only the first k of the list enter the trial
    hypothesis: str | None = None
    primary_outcome: str = "hit rate per inspection"

    def __post_init__(self) -> None:
        if self.effect == 0:
            raise ValueError("'effect' must be non-zero: the change the trial must detect")
        if not 0 < self.alpha < 1 or not 0 < self.power < 1:
            raise ValueError("'alpha' and 'power' must be between 0 and 1")
        if self.outcome == "binary":
            if self.baseline_rate is None or not 0 < self.baseline_rate < 1:
                raise ValueError("a binary outcome needs 'baseline_rate' between 0 and 1")
            if not 0 < self.baseline_rate + self.effect < 1:
                raise ValueError("'baseline_rate' + 'effect' must stay between 0 and 1")
        elif self.sd is None or self.sd <= 0:
            raise ValueError("a continuous outcome needs a positive 'sd'")
        if self.allocation_ratio <= 0:
            raise ValueError("'allocation_ratio' must be positive")
        if len(self.arms) < 2 or len(set(self.arms)) != len(self.arms):
            raise ValueError("'arms' needs two or more distinct names")
        if self.control not in self.arms:
            raise ValueError(f"'control' = {self.control!r} is not one of 'arms' {self.arms}")
        if self.cluster_size < 1:
            raise ValueError("'cluster_size' (outcomes per unit) must be at least 1")
        if not 0 <= self.icc < 1:
            raise ValueError("'icc' must be in [0, 1)")
        if self.n_bands < 1:
            raise ValueError("'n_bands' must be at least 1")
        allowed = _EVALUATION_UNIT_STRATA[self.unit]
        if allowed is not None and set(self.strata) - allowed:
            raise ValueError(
                f"'strata' {sorted(set(self.strata) - allowed)} cannot be used with unit "
                f"{self.unit!r}; allowed: {sorted(allowed) or 'none'}"
            )
        if self.list_unit == "wards" and set(self.list_strata) - {"risk_band"}:
            raise ValueError("with list_unit = 'wards' the only 'list_strata' is 'risk_band'")


@dataclass
class EvaluationPaths:
    """[paths]: the scored list to randomise, the assignment file and the outcomes to analyse."""

    list: Path | None = None
    assignment: Path | None = None
    outcomes: Path | None = None


@dataclass
class EvaluationAnalysis:
    """[analysis]: how `riskengine trial analyse SPEC` reads the outcomes."""

    outcome_col: str = "outcome"
    covariates: list[str] = field(default_factory=list)  # e.g. ["score"] or a pre-period outcome
    higher_is_better: bool = True


@dataclass
class EvaluationSpec:
    """An evaluation spec (evaluation/NAME.toml): a trial of the list a pipeline makes."""

    name: str
    pipeline: str
    purpose: Purpose
    design: EvaluationDesign
    model_alias: str = "champion"
    paths: EvaluationPaths = field(default_factory=EvaluationPaths)
    analysis: EvaluationAnalysis = field(default_factory=EvaluationAnalysis)
    kind: Literal["evaluation"] = "evaluation"

    def __post_init__(self) -> None:
        check_name(self.name)
        check_name(self.pipeline, "pipeline")


SPEC_KINDS["evaluation"] = EvaluationSpec


def load_spec_as(spec: Any, cls: type) -> Any:
    """`spec` itself if it is already a `cls`, else the file loaded and checked to be that kind."""
    if isinstance(spec, cls):
        return spec
    kind = next(k for k, c in SPEC_KINDS.items() if c is cls)
    loaded = load_spec(spec, kind=kind)
    if not isinstance(loaded, cls):
        raise SpecError(f"{spec}: this is a '{loaded.kind}' spec, not a {kind} spec")
    return loaded


# ---------------------------------------------------------------------------------------
# Profiling specs (riskengine.profiling): an open area classification, and service users
# profiled against it (`riskengine segment SPEC`, `riskengine profile SPEC`)
# ---------------------------------------------------------------------------------------


@dataclass
class SegmentsData:
    """[data]: the census-style table, one row per small area, counts in columns.

    `denominators` names each denominator (population, households, residents_16_plus ...)
    and its column; `variables` maps a denominator's name to the count columns measured
    against it (names or glob patterns such as "age_*"). Columns published as percentages
    already go in `percentages`; `exclude` drops columns a pattern caught.
    """

    table: Path  # .csv, .xlsx (first sheet) or .parquet; every column read as text
    area_col: str
    denominators: dict[str, str]
    variables: dict[str, list[str]]
    percentages: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    truth: Path | None = None  # synthetic data only: each area's hidden type, to measure agreement (ARI)
    truth_area_col: str = "lsoa"
    truth_col: str = "area_type"

    def __post_init__(self) -> None:
        unknown = set(self.variables) - set(self.denominators)
        if unknown:
            raise ValueError(f"[data.variables] names denominators not in [data.denominators]: {sorted(unknown)}")
        if not self.variables and not self.percentages:
            raise ValueError("no variables: name count columns in [data.variables] or 'percentages'")


@dataclass
class SegmentsClusters:
    """[clusters]: k-means settings for the two levels and the diagnostics."""

    supergroups: int = 8
    groups: int = 3  # groups inside each supergroup (fewer when a supergroup has few areas)
    k_min: int = 2  # diagnostics (within-cluster SS, silhouette, Calinski-Harabasz) for k in k_min..k_max
    k_max: int = 12
    n_init: int = 100  # random starts per k-means; the best (lowest within-cluster SS) is kept
    seed: int = 0
    stability_runs: int = 5  # re-runs with other seeds, compared by adjusted Rand index
    min_group_areas: int = 6  # a supergroup is split into groups only with at least this many areas per group

    def __post_init__(self) -> None:
        if self.supergroups < 2 or self.groups < 1:
            raise ValueError("'supergroups' must be at least 2 and 'groups' at least 1")
        if not 2 <= self.k_min <= self.k_max:
            raise ValueError("need 2 <= k_min <= k_max")
        if self.n_init < 1 or self.stability_runs < 0:
            raise ValueError("'n_init' must be at least 1 and 'stability_runs' at least 0")


@dataclass
class SegmentsSpec:
    """A segments spec (evaluation/segments.toml): build an open area classification."""

    name: str
    data: SegmentsData
    purpose: Purpose | None = None  # the ODA method's four statements, printed first on the page
    clusters: SegmentsClusters = field(default_factory=SegmentsClusters)
    labels: dict[str, str] = field(default_factory=dict)  # column -> plain-English name for pen portraits
    names: dict[str, str] = field(default_factory=dict)  # cluster code ("1", "2b") -> a name chosen by people
    out_dir: Path | None = None  # default out/segments/NAME
    kind: Literal["segments"] = "segments"


SPEC_KINDS["segments"] = SegmentsSpec


@dataclass
class ProfileAreas:
    """[areas]: area -> segment and population (a segments run's areas.csv, or your own table)."""

    path: Path
    area_col: str = "area"
    segment_col: str = "supergroup"
    population_col: str = "total_population"  # the base of shares and take-up rates
    segment_name_col: str | None = "supergroup_name"
    boundaries: Path | None = None  # GeoJSON of the areas (feature property `code_property`)
    code_property: str = "code"


@dataclass
class ProfileRegister:
    """[register]: the property register the addresses are matched to (UPRN, address, area)."""

    path: Path
    area_col: str = "lsoa"
    lat_col: str | None = "lat"
    lon_col: str | None = "lon"


@dataclass
class ProfileService:
    """[services.NAME]: one service's table of users' addresses.

    Only `id_col`, `uprn_col`, `address_col` and `postcode_col` may be present: any other
    column is refused (data minimisation) unless `drop_other_columns`, which drops it and
    says so in the report. `delete_input` removes the file once profiling succeeded.
    `expected` is staff's expected share of users by segment (columns segment, expected_share).
    """

    path: Path
    label: str | None = None
    id_col: str = "service_id"
    uprn_col: str | None = "uprn"
    address_col: str = "address"
    postcode_col: str | None = "postcode"
    drop_other_columns: bool = False
    delete_input: bool = False
    expected: Path | None = None


@dataclass
class ProfileChange:
    """[change]: the same service's users after an action in some areas (stage 8: measure again)."""

    service: str
    after: Path
    targeted: Path  # a table of the targeted areas' codes
    targeted_col: str = "lsoa"
    delete_input: bool = False


@dataclass
class ProfileSpec:
    """A profiling spec (evaluation/profile_services.toml): service users against the population."""

    name: str
    areas: ProfileAreas
    register: ProfileRegister
    services: dict[str, ProfileService]
    purpose: Purpose | None = None  # the ODA method's four statements, printed first on the page
    duplicates: Literal["people", "uses"] = "people"  # count each person once, or every row (each use)
    min_count: int = 10  # smaller counts are suppressed in every published table
    change: ProfileChange | None = None
    link: LinkSpec = field(default_factory=LinkSpec)
    out_dir: Path | None = None  # default out/profile/NAME
    kind: Literal["profile"] = "profile"

    def __post_init__(self) -> None:
        if not self.services:
            raise ValueError("[services] must name at least one service table")
        if self.min_count < 1:
            raise ValueError("'min_count' must be at least 1")
        if self.change is not None and self.change.service not in self.services:
            raise ValueError(f"[change] service {self.change.service!r} is not one of [services]: "
                             f"{sorted(self.services)}")


SPEC_KINDS["profile"] = ProfileSpec


# Checks of a spec against the data it names (after loading, before any work)
# ---------------------------------------------------------------------------------------


def _spec_file(spec: Any) -> str:
    return getattr(spec, "_file", None) or f"the {spec.kind} spec '{spec.name}'"


def event_kinds(data: Any, outcomes_as_events: bool = True) -> dict[str, set[str]]:
    """Per event source of a loaded Dataset, the event types it holds (past outcomes: "outcomes.inspection")."""
    kinds = {name: {str(t) for t in df["type"].dropna().unique()} for name, df in data.sources.items()}
    for name, df in (getattr(data, "area_events", None) or {}).items():  # [data.area_events]: labels of nearby features
        kinds[name] = {str(t) for t in df["type"].dropna().unique()}
    if outcomes_as_events and data.outcomes is not None:
        kinds["outcomes"] = {"inspection"}
    return kinds


def _check_event_name(name: str, kinds: dict[str, set[str]], file: str, key: str, source_alone: bool = False) -> None:
    """'source.type' (or, where allowed, 'source') must name a source of [data.events] and a type it holds."""
    source, _, kind = name.partition(".")
    if not kind and not source_alone:
        raise SpecError(f"{file}: key '{key}' = {name!r}: expected \"source.type\", e.g. \"complaints.noise\"")
    if source not in kinds:
        raise SpecError(f"{file}: key '{key}' names source {source!r}, which is not in [data.events] or [data.area_events]; "
                        f"sources: {', '.join(sorted(kinds)) or 'none'}")
    if kind and kind not in kinds[source]:
        raise SpecError(f"{file}: key '{key}' names event type {kind!r} of source {source!r}, which the data "
                        f"does not hold; its types: {', '.join(sorted(kinds[source])) or 'none'}")


def check_against_data(spec: Any, data: Any, training: "TrainingSpec | None" = None) -> None:
    """Every source, event type, column and file a spec names exists in the loaded data.

    Called after loading and before linkage or training, so a wrong name costs seconds, not a
    training run. `data` is a riskengine.ingest.Dataset; a scoring spec is checked with its
    training spec (`training`). Raises SpecError naming the file and the key.
    """
    file = _spec_file(spec)
    columns = {str(c) for c in data.entities.columns}
    if isinstance(spec, ScoringSpec):
        kinds = event_kinds(data, training.features.outcomes_as_events if training else True)
        _check_exclusions(spec.exclusions, kinds, file, "exclusions")
        for col in spec.quotas:
            if col not in columns:
                raise SpecError(f"{file}: key 'quotas.{col}' names a column the entities table lacks; "
                                f"its columns: {', '.join(sorted(columns))}")
        return
    if not isinstance(spec, TrainingSpec):
        return
    kinds = event_kinds(data, spec.features.outcomes_as_events)
    from_events = spec.features.from_events  # with only a ready table, event names are not used for features
    for i, name in enumerate(spec.features.levels if from_events else []):
        _check_event_name(name, kinds, file, f"features.levels[{i}]")
    for name in spec.features.labels:
        if "." in name:
            if from_events:
                _check_event_name(name, kinds, file, f'features.labels."{name}"')
        elif name not in columns and spec.features.table is None:
            raise SpecError(f"{file}: key 'features.labels.{name}' names neither a \"source.type\" nor an entity "
                            f"column; entity columns: {', '.join(sorted(columns))}")
    for i, col in enumerate(spec.features.static):
        if col not in columns:
            raise SpecError(f"{file}: key 'features.static[{i}]' = {col!r} is not a column of the entities table; "
                            f"its columns: {', '.join(sorted(columns))}")
    for i, col in enumerate(spec.audit.attributes):
        if col not in columns:
            raise SpecError(f"{file}: key 'audit.attributes[{i}]' = {col!r} is not a column of the entities table, "
                            f"so the bias report could not group by it; its columns: {', '.join(sorted(columns))}")
    for col in spec.audit.reference:
        if col not in spec.audit.attributes:
            raise SpecError(f"{file}: key 'audit.reference.{col}' names an attribute not in audit.attributes "
                            f"({', '.join(spec.audit.attributes) or 'none'})")
    if spec.exclusions is not None:
        _check_exclusions(spec.exclusions, kinds, file, "exclusions")
    if spec.link.enabled and data.unlinked:  # every field is matched against the entities: each needs its column
        for col, lf in spec.link.fields.items():
            if col not in columns:
                raise SpecError(f"{file}: key 'link.fields.{col}' ({lf.kind}) names a column the entities table "
                                f"lacks, so no row could be matched on it; its columns: {', '.join(sorted(columns))}")
    decided = spec.link.review_decisions
    if decided is not None and not Path(decided).is_file() and kept_decisions_path(decided).is_file():
        decided = None  # read back by an earlier run: its decisions are kept beside it
    for key, source in (("truth.path", spec.truth), ("link.truth", spec.link.truth),
                        ("link.review_decisions", decided), ("features.table", spec.features.table)):
        path = getattr(source, "path", source)
        if path is not None and not Path(path).is_file():
            where = "" if Path(path).is_absolute() else f" (relative to the current folder, {Path.cwd()})"
            raise SpecError(f"{file}: key '{key}' names {path}, which does not exist{where}")


def _check_exclusions(ex: ScoringExclusions, kinds: dict[str, set[str]], file: str, prefix: str) -> None:
    if ex.already_licensed:
        _check_event_name(ex.licence_event, kinds, file, f"{prefix}.licence_event")
    for i, name in enumerate(ex.events):
        _check_event_name(name, kinds, file, f"{prefix}.events[{i}]", source_alone=True)


def capacity_warning(k: int, labelled_by_split: dict[str, int]) -> str | None:
    """A warning when the capacity k is not below the labelled rows of a test split.

    With k >= the labelled rows every ranking puts all of them in its top k: precision@k is the
    split's prevalence and recall 1 for every candidate and baseline, and the champion is
    picked by the tie rule. Returns None when every split has more labelled rows than k.
    """
    short = {d: n for d, n in labelled_by_split.items() if n <= k}
    if not short:
        return None
    listing = ", ".join(f"{n} on {d}" for d, n in short.items())
    return (f"metric.k = {k} is not below the labelled rows of {len(short)} of {len(labelled_by_split)} test "
            f"split(s) ({listing}): every ranking holds all of them in its top {k}, so precision@{k} and "
            f"recall@{k} are the same for every candidate and baseline and the champion is chosen by the tie "
            f"rule. Set metric.k below {min(short.values())} (about a tenth of it is usual) or label more rows.")


# A scoring spec belongs to a training spec: found here so every stage resolves it the same way.


def load_scoring_spec(spec: ScoringSpec | str | Path) -> ScoringSpec:
    """A ScoringSpec from a path (kind taken from the file or its scoring/ folder)."""
    return load_spec_as(spec, ScoringSpec)


def training_spec_for(spec: ScoringSpec, spec_path: str | Path | None = None) -> TrainingSpec:
    """The training spec a scoring spec belongs to: `training = ...`, else training/<pipeline>.toml."""
    if spec.training is not None:
        candidates = [Path(spec.training)]
    else:
        candidates = [Path("training") / f"{spec.pipeline}.toml"]
        if spec_path is not None:
            candidates.append(Path(spec_path).resolve().parent.parent / "training" / f"{spec.pipeline}.toml")
    for path in candidates:
        if path.is_file():
            loaded = load_spec(path, kind="training")
            if not isinstance(loaded, TrainingSpec):
                raise SpecError(f"{path}: the scoring spec's training spec is a '{loaded.kind}' spec")
            if loaded.name != spec.pipeline:
                raise SpecError(
                    f"{path}: training spec is named '{loaded.name}' but the scoring spec's pipeline is '{spec.pipeline}'"
                )
            return loaded
    raise SpecError(
        f"training spec for pipeline '{spec.pipeline}' not found (looked for {', '.join(str(p) for p in candidates)}); "
        "set `training = \"path/to/spec.toml\"` in the scoring spec"
    )
