"""Reading tables and writing JSON for the evaluation reports."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from riskengine.errors import DataError
from riskengine.io import jsonable, read_file

ID_COLUMNS = ("entity_id", "unit_id", "ward", "officer", "lsoa")  # read as text: codes keep leading zeros


def read_table(path: str | Path, what: str = "table") -> pd.DataFrame:
    """Read a CSV or Parquet file; a missing or unreadable file is a user error naming it."""
    return read_file(path, what, dtype={c: "string" for c in ID_COLUMNS})


def require_columns(df: pd.DataFrame, columns: Iterable[str | None], where: str) -> None:
    """Raise a DataError naming `where` and every missing column."""
    missing = [c for c in columns if c is not None and c not in df.columns]
    if missing:
        raise DataError(
            f"{where}: no column {', '.join(repr(c) for c in missing)}; "
            f"columns present: {', '.join(map(str, df.columns))}"
        )


def numeric_column(df: pd.DataFrame, column: str, where: str) -> pd.Series:
    """The column as floats; text that is not a number is a DataError naming the first bad row."""
    values = df[column]
    if pd.api.types.is_bool_dtype(values):
        return values.astype(float)
    converted = pd.to_numeric(values, errors="coerce")
    bad = converted.isna() & values.notna()
    if bad.any():
        row = bad.to_numpy().nonzero()[0][0]
        raise DataError(
            f"{where}: column {column!r} must be numeric; row {row + 1} holds {values.iloc[row]!r}"
        )
    return converted.astype(float)



def write_json(data: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(jsonable(data), indent=2) + "\n", encoding="utf-8")
    return path


def as_labels(series: pd.Series) -> pd.Series:
    """Values as text labels, whole-number floats written as integers (1.0 -> '1')."""
    if pd.api.types.is_float_dtype(series):
        series = series.map(lambda v: str(int(v)) if pd.notna(v) and float(v).is_integer() else v)
    return series.astype("string")
