"""Reading tables from files: the one reader every stage uses.

CSV (also gzipped) and Parquet, chosen by the file's suffix. A missing file, an unknown kind
of file or a file the parser cannot read is a `DataError` naming the file and what it was
meant to hold, never a bare traceback. `text=True` reads a CSV as it is written (every cell
as text, only empty cells missing: "NA" stays "NA" and "007" stays "007"), which is how the
data contract's sources are read before validation; otherwise pandas infers types, with the
columns in `dtype` forced.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from riskengine.errors import DataError

PARQUET = (".parquet", ".pq")
CSV = (".csv", ".txt", ".csv.gz", ".txt.gz")


def kind_of(path: str | Path) -> str | None:
    """"csv", "parquet" or None, from the file name."""
    name = Path(path).name.lower()
    if name.endswith(PARQUET):
        return "parquet"
    if name.endswith(CSV) or name.endswith(".gz"):
        return "csv"
    return None


def _check(path: Path, what: str) -> str:
    if not path.is_file():
        where = "" if path.is_absolute() else f" (relative paths are read from the current folder, {Path.cwd()})"
        raise DataError(f"{path}: {what + ' ' if what else ''}file not found{where}")
    kind = kind_of(path)
    if kind is None:
        raise DataError(f"{path}: unknown file type '{path.suffix}'; expected a .csv (or .csv.gz) or .parquet file")
    return kind


def read_file(path: str | Path, what: str = "", *, text: bool = False, dtype: Any = None,
              columns: list[str] | None = None) -> pd.DataFrame:
    """The table in a CSV or Parquet file (only `columns`, if given; see the module for `text`)."""
    path = Path(path)
    kind = _check(path, what)
    try:
        if kind == "parquet":
            return pd.read_parquet(path, columns=columns)
        options: dict[str, Any] = {"dtype": dtype, "usecols": columns}
        if text:
            options.update(keep_default_na=False, na_values=[""])
            options["dtype"] = str if dtype is None else dtype
        return pd.read_csv(path, **options)
    except Exception as exc:  # the parser's message names the line; pass it on readably
        raise DataError(f"{path}: cannot read the {what or 'file'}: {exc}") from None


def file_columns(path: str | Path, what: str = "") -> list[str]:
    """The column names of a CSV or Parquet file, reading only its header or schema."""
    path = Path(path)
    kind = _check(path, what)
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        return [str(c) for c in pd.read_csv(path, nrows=0).columns]
    except Exception as exc:
        raise DataError(f"{path}: cannot read the {what or 'file'}: {exc}") from None


def jsonable(value: Any) -> Any:
    """Plain Python for json.dumps: numpy scalars unwrapped, NaN and infinities as null."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, pd.DataFrame):
        return jsonable(value.to_dict(orient="records"))
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


# Working copies: validated data and linked sources kept between commands (they hold identifiers)


def working_copies_on() -> bool:
    """Whether commands keep working copies of records on disk; RISKENGINE_CACHE=0 turns them off."""
    import os

    return os.environ.get("RISKENGINE_CACHE", "1").strip() != "0"


def read_working_copy(path: Path, key: str) -> Any:
    """The object kept at `path` under `key`, or None when the file is absent, unreadable or another
    key's (the key is stored first, so another data set's records are never unpickled)."""
    import pickle

    if not path.is_file():
        return None
    try:
        with path.open("rb") as fh:
            if pickle.load(fh) != key:
                return None
            return pickle.load(fh)
    except Exception:  # unreadable or from another version: as if it were not there
        return None


def write_working_copy(path: Path, key: str, obj: Any) -> None:
    """Keep `obj` at `path` under `key`, readable by its owner only, replaced whole."""
    import os
    import pickle

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
        pickle.dump(key, fh, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
