"""The data contract's tables read and validated in Spark: what `riskengine.ingest` does, at scale.

With the Spark backend the spec's `[data]` sources are read by Spark (a local path, a folder of
Parquet parts, or any URI Spark reads: s3a://, abfss://, gs://, hdfs://, file://) and checked
there by ingest's rules: required columns (a missing one stops the run, naming the file and
the column), entity ids present and unique, coordinates numbers in range, dates real
(YYYY-MM-DD, or the source's `date_format`), not in the future and not before
`data.earliest_date`, a non-empty event type, a finite `value`, events and outcomes only for
known entities, 0/1 outcomes (text results mapped by the source's `outcome_values`, as ingest
maps them: "skip" rows left out and counted), exact duplicate rows. A rejected row keeps its file, data row,
line, columns, reasons and raw record, as in ingest; the rejects (at most `max_reject_share`
of a table, else the run stops) come to the driver.

What else comes to the driver is only what the driver's steps read: the entities (the list
shows their columns), the outcomes (inspections: few), the rows awaiting linkage, and, when
`driver_rows` is given, only the event rows it selects (the exclusions' event types) plus
each (source, type)'s first and last dated row (so the spec's names and the as-of date are
checked against every type and date there is). Every keyed event row stays in Spark for the
features (`SparkData.events`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from riskengine.errors import DataError, RiskEngineError
from riskengine.ingest import (AREA_EVENT_REQUIRED, ENTITY_REQUIRED, EVENT_REQUIRED, ISO_DATE, ISO_DATE_TIME,
                               OUTCOME_REQUIRED, REJECT_COLUMNS, Dataset, contract_names, missing_columns_message,
                               stopped_with_rejects)
from riskengine.spec import EARLIEST_DATE, DataSpec, Source, Uri

ROW, LINE = "_row", "_line"
_NUMBER_TEXT = r"(?i)^[+-]?((\d+\.?\d*|\.\d+)(e[+-]?\d+)?|inf|infinity|nan)$"
_DECIMAL_COMMA = r"^[+-]?\d+,\d+$"
_STRIP = r"(?U)^\s+|\s+$"


@dataclass
class SparkData:
    """The validated data: `data` on the driver (see the module notes), `events` in Spark."""

    data: Dataset
    events: object  # pyspark DataFrame: source, entity_id, date (DATE), type, value (DOUBLE): every keyed row
    driver_rows: str  # "all" or "selected": what data.sources (and data.area_events) hold
    area: object = None  # pyspark DataFrame of every valid area event: source, type, date (DATE), lat, lon; or None

    def complete_events(self, data: Dataset, awaiting: dict[str, pd.Series], features) -> None:
        """Add to `events` what the features read besides the keyed rows: the rows linkage matched
        (`awaiting`: per source, the `line`s that had no entity_id before linkage) and the past
        outcomes (as riskengine.prepare.feature_events adds them)."""
        from riskengine.prepare import feature_events
        from riskengine.spark._tables import as_spark_events

        if features.nearby is not None and self.area is not None:  # they ride along, as feature_events adds them
            from pyspark.sql import functions as F

            area = self.area.select("source", F.lit(None).cast("string").alias("entity_id"), "date", "type",
                                    F.lit(None).cast("double").alias("value"), "lat", "lon")
            self.events = area if self.events is None else self.events.unionByName(area, allowMissingColumns=True)
        linked = {}
        for name, lines in awaiting.items():
            frame = data.sources[name]
            linked[name] = frame[frame["line"].isin(lines) & frame["entity_id"].notna()]
        extra = feature_events(Dataset(data.entities, linked, data.outcomes), features)
        extra = extra[extra["entity_id"].notna()]
        if not len(extra):
            return
        spark = self.events.sparkSession if self.events is not None else None
        if spark is None:
            from pyspark.sql import SparkSession

            spark = SparkSession.getActiveSession()
        more, _ = as_spark_events(spark, extra[["source", "entity_id", "date", "type", "value"]])
        self.events = more if self.events is None else self.events.unionByName(more, allowMissingColumns=True)


# ---------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------


def location(source: Source) -> str:
    """What Spark reads for a file source: a URI as written, a local path as it is."""
    return str(source.path)


def read_source(spark, source: Source, required: list[str]):
    """(the source as a Spark DataFrame with `_row` and `_line`, its fingerprint, its data columns)."""
    from pyspark.sql import functions as F

    from riskengine.spark._tables import from_arrow, number_rows, read_table

    name = source.describe()
    if source.sql is not None:  # a query runs where the database is: read here, as ingest reads it
        from riskengine.ingest import read_table as read_here

        raw, fingerprint = read_here(source, required)
        raw = raw.drop(columns=[LINE])
        import pyarrow as pa

        df = from_arrow(spark, pa.Table.from_pandas(raw.astype({c: object for c in raw.columns if c != ROW}).where(
            raw.notna(), None), preserve_index=False)).withColumn(LINE, F.lit(None).cast("long"))
        return df, fingerprint, [c for c in raw.columns if c != ROW]
    text = location(source)
    is_csv = text.lower().rstrip("/").endswith((".csv", ".csv.gz"))
    df = read_table(spark, text, name, encoding=source.encoding)
    stripped = {c: str(c).strip() for c in df.columns}
    contract = contract_names(source, list(stripped.values()))  # the spec's `columns` map, as ingest applies it
    df = df.select(*[F.col(f"`{c}`").alias(contract.get(n, n)) for c, n in stripped.items()])
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(missing_columns_message(source, missing, list(df.columns)))
    columns = list(df.columns)
    files = df.inputFiles() if is_csv else []  # the files read (known before the rows are numbered)
    df = number_rows(spark, df, name=ROW).withColumn(ROW, F.col(ROW) + 1)
    df = (_csv_lines(spark, df, columns, files) if is_csv else df.withColumn(LINE, F.lit(None).cast("long"))).persist()
    return df, _fingerprint(df, source, columns), columns


def _csv_lines(spark, df, columns: list[str], files: list[str]):
    """`df` with `_line`, the line a text editor shows for each CSV record, as ingest's reader numbers it.

    Usually the header is line 1 and each record starts one line after the previous one ends (its
    quoted values' line breaks counted). The file's lines, read as text, say whether that holds:
    when blank lines lie between records it does not, and each record's first line is then found
    in the text (a non-blank line that does not start inside a quoted value). A folder of CSV
    parts has no line numbers (null)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from riskengine.spark._tables import number_rows

    breaks = [F.coalesce(F.length(F.col(f"`{c}`")) - F.length(F.regexp_replace(F.col(f"`{c}`"), "\n", "")), F.lit(0))
              for c in columns]
    df = df.withColumn("_breaks", sum(breaks[1:], breaks[0]) if breaks else F.lit(0)).persist()
    got = df.agg(F.count(F.lit(1)).alias("rows"), F.sum("_breaks").alias("breaks")).first()
    if len(files) != 1:  # a folder of CSV parts: a line names a place in one file, and there are several
        return df.withColumn(LINE, F.lit(None).cast("long")).drop("_breaks")
    lines = spark.read.text(files[0])
    text = None
    if lines.agg(F.count(F.when(F.col("value") == "", 1))).first()[0]:  # blank lines: between records, or quoted?
        text = number_rows(spark, lines, name="_pline")  # 0-based physical line
        last = text.where(F.col("value") != "").agg(F.max("_pline")).first()[0]
    if text is None or last is None or last + 1 == 1 + got["rows"] + (got["breaks"] or 0):  # records line by line
        if not got["breaks"]:
            return df.withColumn(LINE, F.col(ROW) + 1).drop("_breaks")
        before = Window.orderBy(ROW).rowsBetween(Window.unboundedPreceding, -1)
        return df.withColumn(LINE, F.col(ROW) + 1 + F.coalesce(F.sum("_breaks").over(before), F.lit(0))).drop("_breaks")
    quotes = F.length(F.col("value")) - F.length(F.regexp_replace(F.col("value"), '"', ""))
    inside = F.coalesce(F.sum(quotes).over(Window.orderBy("_pline").rowsBetween(Window.unboundedPreceding, -1)),
                        F.lit(0)) % 2 == 1
    starts = text.withColumn("_inside", inside).where(~F.col("_inside") & (F.col("value") != ""))
    starts = starts.withColumn("_k", F.row_number().over(Window.orderBy("_pline")) - 1)  # 0: the header
    first_lines = starts.where(F.col("_k") > 0).select(F.col("_k").alias(ROW), (F.col("_pline") + 1).alias(LINE))
    return df.drop("_breaks").join(first_lines, ROW, "left")


def _fingerprint(df, source: Source, columns: list[str]) -> dict:
    """ingest's fingerprint for a local file (its sha256, so both backends agree); for a remote
    URI an order-free digest of the rows computed in Spark (the sum of each row's xxhash64)."""
    from pyspark.sql import functions as F

    path = source.path.local_path() if isinstance(source.path, Uri) else Path(source.path)
    if path is not None and path.is_file():
        from riskengine.ingest import _file_sha256

        return {"name": source.describe(), "sha256": _file_sha256(path), "rows": None}  # rows: set once counted
    got = df.agg(F.count(F.lit(1)).alias("n"),
                 F.sum(F.xxhash64(*[F.col(f"`{c}`").cast("string") for c in columns]).cast("decimal(38,0)")).alias("h")
                 ).first()
    return {"name": source.describe(), "sha256": f"spark-xxhash64-sum:{int(got['h'] or 0) % 2**64:016x}",
            "rows": int(got["n"])}


# ---------------------------------------------------------------------------------------
# The rules as Spark expressions: each a (column, reason) failure or null
# ---------------------------------------------------------------------------------------


def _type(df, column: str) -> str:
    return dict(df.dtypes)[column]


def _text(df, column: str):
    """The value as trimmed text, empty as null."""
    from pyspark.sql import functions as F

    t = F.regexp_replace(F.col(f"`{column}`").cast("string"), _STRIP, "")
    return F.when(t != "", t)


def as_id(df, column: str = "entity_id"):
    """ingest.as_id: text trimmed (empty is missing); whole numbers without their `.0`."""
    from pyspark.sql import functions as F

    kind = _type(df, column)
    c = F.col(f"`{column}`")
    if kind in ("double", "float"):
        finite = ~F.isnan(c) & (F.abs(c) != F.lit(float("inf")))
        whole = finite & (c == F.round(c)) & (F.abs(c) < F.lit(2.0 ** 63))
        return F.when(whole, c.cast("bigint").cast("string")).when(finite, c.cast("string"))
    return _text(df, column)


def as_number(df, column: str):
    """(the value as a finite double or null, its failure or null): ingest's number rules."""
    from pyspark.sql import functions as F

    kind = _type(df, column)
    c = F.col(f"`{column}`")
    inf = F.lit(float("inf"))
    if kind in ("double", "float", "int", "bigint", "smallint", "tinyint") or kind.startswith("decimal"):
        d = c.cast("double")
        value = F.when(~F.isnan(d) & (F.abs(d) != inf), d)
        fail = F.when(F.abs(d) == inf, _failure(column, "not a finite number (infinite or too large)"))
        return value, fail
    t = _text(df, column)
    d = F.when(t.rlike(_NUMBER_TEXT), t.cast("double"))
    value = F.when(~F.isnan(d) & (F.abs(d) != inf), d)
    reason = (F.when(t.rlike(_DECIMAL_COMMA), F.lit("not a number (a decimal comma? write 51.5, not 51,5)"))
              .when(F.abs(d) == inf, F.lit("not a finite number (infinite or too large)"))
              .otherwise(F.lit("not a number")))
    fail = F.when(t.isNotNull() & value.isNull(), F.struct(F.lit(column).alias("column"), reason.alias("reason")))
    return value, fail


def as_date(df, column: str, fmt: str | None, today: pd.Timestamp, earliest: pd.Timestamp, name: str):
    """(the day as a DATE or null, its failure or null): YYYY-MM-DD (a time and offset after it are
    ignored) or the source's strftime `date_format`; not after `today`, not before `earliest`."""
    from pyspark.sql import functions as F

    kind = _type(df, column)
    c = F.col(f"`{column}`")
    if kind == "date" or kind.startswith("timestamp"):
        day = c.cast("date")
        reason = F.when(day.isNull(), F.lit("missing"))
    else:
        t = _text(df, column)
        if fmt is None:
            shape = t.rlike(f"^{ISO_DATE}$") | t.rlike(f"^{ISO_DATE_TIME}$")
            day = F.when(shape, F.try_to_date(F.substring(t, 1, 10), "yyyy-MM-dd"))
            expected = "YYYY-MM-DD"
        else:
            day = F.to_date(F.try_to_timestamp(t, F.lit(spark_pattern(fmt, name))))
            expected = fmt
        reason = F.when(t.isNull(), F.lit("missing")).when(day.isNull(), F.lit(f"not a real date (expected {expected})"))
    future = F.lit(f"date in the future (after {today.date()})")
    early = F.lit(f"date before {earliest.date()} (data.earliest_date): impossible here, or a placeholder for unknown")
    reason = (F.when(day > F.lit(today.date()), future).when(day < F.lit(earliest.date()), early).otherwise(reason))
    fail = F.when(reason.isNotNull(), F.struct(F.lit(column).alias("column"), reason.alias("reason")))
    return F.when(reason.isNull(), day), fail


_STRFTIME = {"Y": "yyyy", "y": "yy", "m": "M", "d": "d", "H": "H", "I": "h", "M": "m", "S": "s", "p": "a",
             "b": "MMM", "B": "MMMM", "a": "EEE", "A": "EEEE", "f": "SSSSSS", "j": "D", "z": "Z", "%": "%"}


def spark_pattern(fmt: str, name: str) -> str:
    """A strftime format as Spark's datetime pattern (one or two digit days and months read alike,
    as strptime reads them); a directive Spark has no match for stops with the source's name."""
    out, literal = [], []

    def flush():
        if literal:
            out.append("'" + "".join(literal).replace("'", "''") + "'")
            literal.clear()

    parts = re.split(r"(%.)", fmt)
    for part in parts:
        if part.startswith("%") and len(part) == 2:
            code = part[1]
            if code == "%":
                literal.append("%")
                continue
            if code not in _STRFTIME:
                raise RiskEngineError(f"{name}: date_format {fmt!r}: the Spark backend cannot read the directive "
                                      f"%{code}; use the DuckDB backend for this source or write its dates as YYYY-MM-DD")
            flush()
            out.append(_STRFTIME[code])
        elif part:
            literal.extend(part)
    flush()
    return "".join(out)


def _failure(column: str, reason: str):
    from pyspark.sql import functions as F

    return F.struct(F.lit(column).alias("column"), F.lit(reason).alias("reason"))


def _when(condition, column: str, reason: str):
    from pyspark.sql import functions as F

    return F.when(condition, _failure(column, reason))


def _duplicates(df, keys: list, column: str, what: str):
    """A failure for each later copy of a row with the same keys (the first, by data row, stays)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    w = Window.partitionBy(*keys).orderBy(ROW)
    first = F.first(ROW).over(w.rowsBetween(Window.unboundedPreceding, Window.currentRow))
    return F.when(F.row_number().over(w) > 1, F.struct(F.lit(column).alias("column"),
                                                       F.concat(F.lit(f"duplicate {what} of row "),
                                                                first.cast("string")).alias("reason")))


def _comparable(df, columns: list[str]) -> list:
    """The row as ingest's duplicate check sees it: text trimmed, entity ids normalised."""
    from pyspark.sql import functions as F

    out = []
    for c in columns:
        if c == "entity_id":
            out.append(as_id(df, c))
        elif _type(df, c) == "string":
            out.append(F.regexp_replace(F.col(f"`{c}`"), _STRIP, ""))
        else:
            out.append(F.col(f"`{c}`"))
    return out


# ---------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------


def _split(df, failures: list, file: str, columns: list[str]):
    """(the good rows, the rejects as pandas in ingest's layout, the number of rows read)."""
    from pyspark.sql import functions as F

    checked = df.withColumn("_fail", F.array_compact(F.array(*failures))).persist()
    n = checked.count()
    bad = checked.where(F.size("_fail") > 0).select(ROW, LINE, "_fail", *[F.col(f"`{c}`") for c in columns])
    rejects = _reject_rows(bad.toPandas(), file, columns)
    good = checked.where(F.size("_fail") == 0).drop("_fail")
    return good, rejects, n


def _reject_rows(bad: pd.DataFrame, file: str, columns: list[str]) -> pd.DataFrame:
    if bad.empty:
        return pd.DataFrame(columns=REJECT_COLUMNS)
    bad = bad.sort_values(ROW, kind="stable")
    cols, why, records = [], [], []
    for fails, raw in zip(bad["_fail"], bad[columns].to_dict("records")):
        pairs = [(f["column"], f["reason"]) for f in fails]
        cols.append(", ".join(dict.fromkeys(c for c, _ in pairs)))
        why.append("; ".join(dict.fromkeys(r if c == "*" else f"{c}: {r}" for c, r in pairs)))
        records.append(json.dumps({k: (None if _isna(v) else str(v)) for k, v in raw.items()}))
    return pd.DataFrame({"file": file, "row": bad[ROW].to_numpy(dtype=np.int64),
                         "line": bad[LINE].astype("Int64").to_numpy(dtype=object, na_value=pd.NA), "column": cols,
                         "reason": why, "record": records})


def _isna(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _cleaned(good, columns: list[str], cleaned: dict[str, str], extra: tuple = ()):
    """The good rows with every data column, those in `cleaned` replaced by their cleaned helper column."""
    from pyspark.sql import functions as F

    keep = [F.col(cleaned[c]).alias(c) if c in cleaned else F.col(f"`{c}`") for c in columns]
    keep += [F.col(cleaned[c]).alias(c) for c in cleaned if c not in columns]
    return good.select(*keep, *extra)


def validate_entities(df, file: str, columns: list[str]):
    """ingest.validate_entities in Spark: (good rows with entity_id text, lat/lon doubles; rejects; rows read)."""
    from pyspark.sql import functions as F

    helpers, number_fails, cleaned = {"_id": as_id(df, "entity_id")}, [], {"entity_id": "_id"}
    for c in ("lat", "lon"):
        if c in columns:
            helpers[f"_c_{c}"], fail = as_number(df, c)
            number_fails.append(fail)
            cleaned[c] = f"_c_{c}"
    df = df.withColumns(helpers)
    failures = [*number_fails, _when(F.col("_id").isNull(), "entity_id", "missing")]
    for c, lim in (("lat", 90), ("lon", 180)):
        if c in columns:
            failures.append(_when(F.abs(F.col(f"_c_{c}")) > lim, c, f"outside -{lim}..{lim}"))
    failures.append(F.when(F.col("_id").isNotNull(), _duplicates(df, [F.col("_id")], "entity_id", "entity_id")))
    good, rejects, n = _split(df, failures, file, columns)
    return _cleaned(good, columns, cleaned, (ROW, LINE)), rejects, n


def validate_events(df, file: str, columns: list[str], known, today, earliest, date_format: str | None,
                    link_by: tuple[str, ...] = ("address",)):
    """ingest.validate_events in Spark; `known` is the entities' ids (a one-column Spark DataFrame `_known`);
    `link_by` the columns a row without an id can be linked by (DataSpec.link_by)."""
    from pyspark.sql import functions as F

    date, date_fail = as_date(df, "date", date_format, today, earliest, file)
    by = [_text(df, c) for c in link_by if c in columns]
    helpers = {"_id": as_id(df, "entity_id"), "_date": date, "_date_fail": date_fail, "_type": _text(df, "type"),
               "_address": F.coalesce(*by) if by else F.lit(None).cast("string")}
    if "value" in columns:
        helpers["_value"], helpers["_value_fail"] = as_number(df, "value")
    else:
        helpers["_value"] = F.lit(None).cast("double")
    dup = _duplicates(df, _comparable(df, columns), "*", "row")
    df = df.withColumns(helpers).withColumn("_dup", dup).join(known, F.col("_known") == F.col("_id"), "left")
    ident = F.col("_id")
    failures = [F.col("_date_fail"), _when(F.col("_type").isNull(), "type", "missing"),
                *([F.col("_value_fail")] if "value" in columns else []),
                _when(ident.isNotNull() & F.col("_known").isNull(), "entity_id", "not in the entities table"),
                _when(ident.isNull() & F.col("_address").isNull(), "entity_id",
                      "missing, and no address to link by" if tuple(link_by) == ("address",)
                      else f"missing, and none of {', '.join(link_by)} to link by"),
                F.col("_dup")]
    good, rejects, n = _split(df, failures, file, columns)
    cleaned = {"entity_id": "_id", "date": "_date", "type": "_type", "value": "_value"}
    return _cleaned(good, columns, cleaned, (F.col(ROW).alias("line"),)), rejects, n


def validate_area_events(df, file: str, columns: list[str], today, earliest, date_format: str | None):
    """ingest.validate_area_events in Spark: (lat, lon, date, type of the good rows; rejects; rows read)."""
    from pyspark.sql import functions as F

    date, date_fail = as_date(df, "date", date_format, today, earliest, file)
    lat, lon = as_number(df, "lat")[0], as_number(df, "lon")[0]
    dup = _duplicates(df, _comparable(df, columns), "*", "row")
    df = df.withColumns({"_lat": lat, "_lon": lon, "_date": date, "_date_fail": date_fail, "_type": _text(df, "type"),
                         "_dup": dup})
    failures = [F.col("_date_fail")]
    for c, lim in (("lat", 90), ("lon", 180)):  # ingest: a missing or unreadable coordinate is one reason
        failures.append(_when(F.col(f"_{c}").isNull(), c, "missing or not a number")
                        .when(F.abs(F.col(f"_{c}")) > lim, _failure(c, f"outside -{lim}..{lim}")))
    failures += [_when(F.col("_type").isNull(), "type", "missing"), F.col("_dup")]
    good, rejects, n = _split(df, failures, file, columns)
    good = good.select(F.col("_lat").alias("lat"), F.col("_lon").alias("lon"), F.col("_date").alias("date"),
                       F.col("_type").alias("type"), ROW)
    return good, rejects, n


def _mapped_outcome(df, values: dict):
    """(the outcome as ingest maps it with outcome_values, the "skip" key or null, the unmapped text's failure)."""
    from pyspark.sql import functions as F

    from riskengine.ingest import SHOWN_OUTCOME_CHARS, outcome_value_lookup, unmapped_outcome_reason

    numbers, skips = outcome_value_lookup(values)
    folded = F.lower(F.trim(F.regexp_replace(F.col("`outcome`").cast("string"), r"(?U)\s+", " ")))
    mapped = F.create_map(*[F.lit(x) for kv in numbers.items() for x in kv])[folded]
    skip = F.lit(None).cast("string")
    for text, key in reversed(list(skips.items())):
        skip = F.when(folded == F.lit(text), F.lit(key)).otherwise(skip)
    number = as_number(df, "outcome")[0]
    unnamed = (folded != "") & mapped.isNull() & skip.isNull() & number.isNull()
    marker = "\x00"  # the value goes where ingest's reason puts it
    head, tail = unmapped_outcome_reason(marker, values).split(marker)
    shown = _text(df, "outcome")
    shown = F.when(F.length(shown) > SHOWN_OUTCOME_CHARS,
                   F.concat(F.substring(shown, 1, SHOWN_OUTCOME_CHARS), F.lit("..."))).otherwise(shown)
    fail = F.when(unnamed, F.struct(F.lit("outcome").alias("column"),
                                    F.concat(F.lit(head), shown, F.lit(tail)).alias("reason")))
    return F.coalesce(mapped, number), skip, fail


def validate_outcomes(df, file: str, columns: list[str], known, today, earliest, kind: str, date_format: str | None,
                      values: dict | None = None):
    """ingest.validate_outcomes in Spark: (entity_id, date, outcome of the good rows; rejects; rows read;
    rows left out by outcome_values as "skip", per key in the spec's order)."""
    from pyspark.sql import functions as F

    skipped: dict[str, int] = {}
    mapped_fail = None
    if values:
        outcome, skip, mapped_fail = _mapped_outcome(df, values)
        df = df.withColumns({"_outcome": outcome, "_skip": skip, "_mapped_fail": mapped_fail}).persist()
        counts = {r["_skip"]: int(r["n"]) for r in df.where(F.col("_skip").isNotNull()).groupBy("_skip")
                  .agg(F.count(F.lit(1)).alias("n")).collect()}
        skipped = {k: counts[k] for k in values if k in counts}
        df = df.where(F.col("_skip").isNull()).drop("_skip")
        mapped_fail = F.col("_mapped_fail")
    else:
        df = df.withColumn("_outcome", as_number(df, "outcome")[0])
    date, date_fail = as_date(df, "date", date_format, today, earliest, file)
    df = df.withColumns({"_id": as_id(df, "entity_id"), "_date": date, "_date_fail": date_fail})
    df = df.join(known, F.col("_known") == F.col("_id"), "left")
    ident, outcome = F.col("_id"), F.col("_outcome")
    failures = [F.col("_date_fail"), _when(ident.isNull(), "entity_id", "missing"),
                _when(ident.isNotNull() & F.col("_known").isNull(), "entity_id", "not in the entities table"),
                _when(outcome.isNull(), "outcome", "missing or not a number")]
    if mapped_fail is not None:  # text the map does not name: that reason, not "not a number" too
        failures[-1] = F.coalesce(mapped_fail, failures[-1])
    if kind == "binary":
        failures.append(_when(outcome.isNotNull() & ~outcome.isin(0.0, 1.0), "outcome", "outcome must be 0 or 1"))
    good, rejects, n = _split(df, failures, file, columns)
    good = good.select(F.col("_id").alias("entity_id"), F.col("_date").alias("date"),
                       F.col("_outcome").alias("outcome"), ROW)
    return good, rejects, n + sum(skipped.values()), skipped


def _check_share(file: str, n: int, rejects: pd.DataFrame, max_share: float, so_far: list) -> None:
    from riskengine.ingest import _check_share as check

    try:
        check(file, n, rejects, max_share)
    except DataError as exc:
        exc.rejects = pd.concat([r for r in [*so_far, rejects] if len(r)], ignore_index=True)
        raise


# ---------------------------------------------------------------------------------------
# The whole contract
# ---------------------------------------------------------------------------------------


def load_data(spark, spec: DataSpec, today: dt.date | None = None,
              driver_rows: Callable[[str], list[str]] | None = None, link_addresses: bool = True) -> SparkData:
    """Read and validate the tables of `spec` in Spark; see the module notes for what comes here.

    `driver_rows(source)` names the event types of that source the driver needs every row of
    ("" for all its types); None brings every validated row here (what training reads). With
    `link_addresses` the keyed rows that carry an address come too: linkage learns from them.
    Too many rejects in a table: a DataError carrying every reject so far as `.rejects`.
    """
    from pyspark.sql import functions as F

    today_ts = pd.Timestamp(today or dt.date.today())
    earliest = pd.Timestamp(spec.earliest_date or EARLIEST_DATE)
    fingerprints, all_rejects = [], []

    raw, fp, columns = read_source(spark, spec.entities, ENTITY_REQUIRED)
    good, rej, n = validate_entities(raw, fp["name"], columns)
    _check_share(fp["name"], n, rej, spec.max_reject_share, all_rejects)
    fingerprints.append({**fp, "rows": n, "table": "entities"})
    all_rejects.append(rej)
    good = good.persist()
    entities = _entities_frame(good.orderBy(ROW).drop(LINE).toPandas(), columns)
    known = good.select(F.col("entity_id").alias("_known"))

    keyed, sources = [], {}
    for source, src in spec.events.items():
        raw, fp, columns = read_source(spark, src, EVENT_REQUIRED)
        rows, rej, n = validate_events(raw, fp["name"], columns, known, today_ts, earliest, src.date_format,
                                       spec.link_by)
        _check_share(fp["name"], n, rej, spec.max_reject_share, all_rejects)
        all_rejects.append(rej)
        rows = rows.persist()
        keyed.append(rows.where(F.col("entity_id").isNotNull()).select(
            F.lit(source).alias("source"), "entity_id", "date", "type", "value"))
        here = rows if driver_rows is None else _selected(
            rows, driver_rows(source), link_addresses and "address" in columns)
        sources[source] = _events_frame(here.orderBy("line").toPandas(), columns)
        from riskengine.ingest import _date_range  # every type's first and last dated row is here

        fingerprints.append({**fp, "rows": n, "table": f"events.{source}", **_date_range(sources[source])})

    area_events, area = {}, None
    for source, src in spec.area_events.items():
        raw, fp, columns = read_source(spark, src, AREA_EVENT_REQUIRED)
        rows, rej, n = validate_area_events(raw, fp["name"], columns, today_ts, earliest, src.date_format)
        _check_share(fp["name"], n, rej, spec.max_reject_share, all_rejects)
        all_rejects.append(rej)
        rows = rows.persist()
        here = rows if driver_rows is None else _selected(rows, [], False)  # scoring: each type's first and last
        frame = here.orderBy(ROW).toPandas()
        area_events[source] = pd.DataFrame({"lat": frame["lat"].astype("float64"), "lon": frame["lon"].astype("float64"),
                                            "date": pd.to_datetime(frame["date"]).astype("datetime64[ns]"),
                                            "type": frame["type"].astype("string")})
        from riskengine.ingest import _date_range

        fingerprints.append({**fp, "rows": n, "table": f"area_events.{source}", **_date_range(area_events[source])})
        mine = rows.select(F.lit(source).alias("source"), "type", "date", "lat", "lon")
        area = mine if area is None else area.unionByName(mine)

    outcomes, skipped = None, {}
    if spec.outcomes is not None:
        raw, fp, columns = read_source(spark, spec.outcomes, OUTCOME_REQUIRED)
        rows, rej, n, skipped = validate_outcomes(raw, fp["name"], columns, known, today_ts, earliest,
                                                  spec.outcome_kind, spec.outcomes.date_format,
                                                  spec.outcomes.outcome_values)
        _check_share(fp["name"], n - sum(skipped.values()), rej, spec.max_reject_share, all_rejects)
        all_rejects.append(rej)
        outcomes = rows.orderBy(ROW).drop(ROW).toPandas()
        outcomes = pd.DataFrame({"entity_id": outcomes["entity_id"].astype("string"),
                                 "date": pd.to_datetime(outcomes["date"]).astype("datetime64[ns]"),
                                 "outcome": outcomes["outcome"].astype("float64")})
        fingerprints.append({**fp, "rows": n, "table": "outcomes",
                             "first_date": str(outcomes["date"].min().date()) if len(outcomes) else None,
                             "last_date": str(outcomes["date"].max().date()) if len(outcomes) else None})

    rejects = pd.concat([r for r in all_rejects if len(r)] or [pd.DataFrame(columns=REJECT_COLUMNS)],
                        ignore_index=True)
    data = Dataset(entities, sources, outcomes, rejects, fingerprints, area_events=area_events,
                   max_reject_share=spec.max_reject_share, outcomes_skipped=skipped)
    events = keyed[0] if keyed else None
    for more in keyed[1:]:
        events = events.unionByName(more)
    return SparkData(data=data, events=events, driver_rows="all" if driver_rows is None else "selected", area=area)


def _selected(rows, types: list[str], with_address: bool):
    """The rows the driver needs: awaiting linkage, of the named types, each type's first and last
    dated row, and (`with_address`) keyed rows with an address, which linkage learns from."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    w = Window.partitionBy("type")
    edge = (F.col("date") == F.min("date").over(w)) | (F.col("date") == F.max("date").over(w))
    pick = (F.col("entity_id").isNull() | edge) if "entity_id" in rows.columns else edge  # area events have none
    if with_address:
        pick = pick | _text(rows, "address").isNotNull()
    if "" in types:
        pick = F.lit(True)
    elif types:
        pick = pick | F.col("type").isin(*types)
    return rows.withColumn("_pick", pick).where("_pick").drop("_pick")


def _entities_frame(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Entities as ingest gives them: entity_id as text, lat/lon float64, other columns as read."""
    frame = frame[[c for c in columns]].reset_index(drop=True)
    frame["entity_id"] = frame["entity_id"].astype("string")
    for c in ("lat", "lon"):
        if c in frame.columns:
            frame[c] = frame[c].astype("float64")
    return frame


def _events_frame(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """A source's rows as ingest gives them: every column, entity_id/type text, date datetime64[ns], value, line."""
    keep = [*columns, *(["value"] if "value" not in columns else []), "line"]
    frame = frame[keep].reset_index(drop=True)
    frame["entity_id"] = frame["entity_id"].astype("string")
    frame["type"] = frame["type"].astype("string")
    frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[ns]")
    frame["value"] = frame["value"].astype("float64")
    frame["line"] = frame["line"].astype(np.int64)
    return frame


def load_data_or_write_rejects(spark, spec: DataSpec, name: str, today: dt.date | None = None,
                               redact: list[str] | tuple = (), driver_rows=None, link_addresses: bool = True
                               ) -> SparkData:
    """`load_data`; when a table has too many rejects, write them (rejects.parquet in data.rejects_dir,
    else out/<name>/rejects/) and name the file in the error, as ingest does with rejects.csv."""
    try:
        return load_data(spark, spec, today=today, driver_rows=driver_rows, link_addresses=link_addresses)
    except DataError as exc:
        stopped_with_rejects(exc, spec, name, lambda rejects, work: write_rejects_parquet(rejects, work, redact),
                             "rejects.parquet")
        raise


def write_rejects_parquet(rejects: pd.DataFrame, out_dir: str | Path, redact: list[str] | tuple = ()) -> Path:
    """The rejects as `rejects.parquet` (ingest's columns; person columns blanked in each record)."""
    from riskengine.ingest import _redact

    path = Path(out_dir) / "rejects.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    if redact and len(rejects):
        rejects = rejects.assign(record=[_redact(r, redact) for r in rejects["record"]])
    table = rejects.astype({"file": str, "column": str, "reason": str, "record": str})
    table["row"] = pd.to_numeric(table["row"]).astype("int64")
    table["line"] = pd.to_numeric(table["line"], errors="coerce").astype("Int64")
    table.to_parquet(path, index=False)
    return path
