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

_TYPE_WORDS = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    dt.date: "a date (YYYY-MM-DD)",
    Path: "a file path (string)",
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
        for candidate in inner:
            try:
                return _convert(value, candidate, file=file, key=key)
            except SpecError:
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
            return tp.from_string(value)
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
    if tp is Path:
        if isinstance(value, str):
            return Path(value)
        raise fail()
    if tp is dt.date:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                raise fail() from None
        raise fail()
    raise TypeError(f"spec schema uses an unsupported type {tp!r} at {key}")


def from_mapping(cls: type, data: dict, *, file: str, prefix: str = "") -> Any:
    """Build dataclass `cls` from a TOML table, naming `file` and the dotted key on any error."""
    hints = typing.get_type_hints(cls)
    names = {f.name: f for f in dataclasses.fields(cls)}
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
# Pieces shared by every kind of spec
# ---------------------------------------------------------------------------------------


@dataclass
class Purpose:
    """The ODA method's four statements; every report prints them first."""

    problem: str  # "Our problem is ..."
    insight: str  # "If we could see ..."
    datasets: str  # "Using these datasets ..."
    action: str  # "We would ..."


@dataclass
class Source:
    """Where a table comes from: a CSV or Parquet file, or a SQL query over a SQLAlchemy URL.

    In TOML a plain string is a file path; a table `{ sql = "...", url = "..." }` is a query.
    """

    path: Path | None = None
    sql: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if (self.path is None) == (self.sql is None):
            raise ValueError("a source needs either 'path' or 'sql' (with 'url'), not both")
        if self.sql is not None and not self.url:
            raise ValueError("a SQL source needs 'url' (a SQLAlchemy database URL)")

    @classmethod
    def from_string(cls, value: str) -> "Source":
        return cls(path=Path(value))

    def describe(self) -> str:
        """A name for messages and fingerprints: the path, or the URL and the query."""
        if self.path is not None:
            return str(self.path)
        return f"{self.url} :: {self.sql}"


@dataclass
class DataSpec:
    """The three tables of the data contract (DESIGN.md)."""

    entities: Source
    events: dict[str, Source] = field(default_factory=dict)
    outcomes: Source | None = None
    max_reject_share: float = 0.05  # stop when a table loses more than this share of rows
    rejects_dir: Path | None = None  # where rejects go; default: beside the run's outputs

    def __post_init__(self) -> None:
        if not 0 <= self.max_reject_share <= 1:
            raise ValueError("'max_reject_share' must be between 0 and 1")


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


SPEC_KINDS: dict[str, type] = {"data": DataOnlySpec}


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
    return from_mapping(SPEC_KINDS[chosen], raw, file=str(path))
