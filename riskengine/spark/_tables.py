"""Tables into Spark: pandas frames (the validated data), Spark DataFrames, or paths Spark reads.

A path is anything a Spark reader takes: a local file or folder, s3a://, abfss://, gs://,
hdfs:// ... ending in .parquet or .csv (or a folder of Parquet parts, as Spark writes them).
CSV is read with a header and every column as text, then cast where the data contract says
(dates as DATE, `value` as DOUBLE), as the DuckDB path's ingest does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from riskengine.errors import DataError, RiskEngineError

EVENT_COLUMNS = ("source", "entity_id", "date", "type", "value")


def read_table(spark, path: str, what: str = "table", encoding: str | None = None):
    """A Spark DataFrame read from a Parquet or CSV path (local or any URI Spark reads).

    CSV: a header, every column as text, `encoding` (default UTF-8), quoted values spanning lines
    (so Spark reads each CSV file in one task: split a very large one into parts, or use Parquet).
    A CSV or Parquet file is read when Spark is asked for its rows, so a missing one stops here
    only for local paths; Spark's own error names a remote one."""
    text = str(path)
    lower = text.lower().rstrip("/")
    try:
        if lower.endswith(".csv") or lower.endswith(".csv.gz"):
            # a quoted value may span lines, and a quote inside one is doubled (RFC 4180), as ingest's reader reads them
            reader = (spark.read.option("header", True).option("inferSchema", False).option("multiLine", True)
                      .option("escape", '"'))
            if encoding:
                reader = reader.option("encoding", encoding)
            return reader.csv(text)
        return spark.read.parquet(text)
    except Exception as exc:  # AnalysisException: no such path, not Parquet ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "NANOS" in first:
            first += "; Spark reads dates as DATE or microsecond timestamps: write them so (pandas: "\
                     "to_parquet(..., coerce_timestamps='us'))"
        raise RiskEngineError(f"{what} {text}: Spark could not read it as {'CSV' if '.csv' in lower else 'Parquet'} "
                              f"({first})") from None


def from_arrow(spark, table: pa.Table):
    """A Spark DataFrame of an Arrow table held here (the validated data).

    On a local master it goes through a Parquet file in a temporary folder (removed when this
    process ends): a large `createDataFrame` would sit in every query plan in the driver's heap.
    On a cluster the executors cannot see this machine's disk, so the rows are sent by
    `createDataFrame`.
    """
    if not spark.sparkContext.master.startswith("local"):
        return spark.createDataFrame(table)
    import atexit
    import shutil
    import tempfile

    import pyarrow.parquet as pq

    folder = tempfile.mkdtemp(prefix="riskengine-spark-")
    atexit.register(shutil.rmtree, folder, True)
    path = f"{folder}/table.parquet"
    pq.write_table(table, path, coerce_timestamps="us", allow_truncated_timestamps=True)
    return spark.read.parquet(path)


def _is_spark_frame(obj) -> bool:
    return type(obj).__module__.startswith("pyspark.")


is_spark_frame = _is_spark_frame


def as_spark_entities(spark, entities, static: list[str]):
    """(entities as a Spark DataFrame with entity_id, row and the static columns, their number).

    `row` is the entity's place in the table: the pandas index order, or for a Spark table
    its own order (numbered by zipWithIndex when it has no `row` column). Ids must be present
    and unique, as in the DuckDB build.
    """
    from pyspark.sql import functions as F

    if isinstance(entities, (str,)) or hasattr(entities, "__fspath__"):
        entities = read_table(spark, str(entities), "entities table")
    if isinstance(entities, pd.DataFrame):
        if "entity_id" not in entities.columns:
            raise DataError(f"entities table has no 'entity_id' column (columns: {list(entities.columns)})")
        keep = [c for c in dict.fromkeys(static) if c in entities.columns and c != "entity_id"]
        frame = entities[["entity_id", *keep]].reset_index(drop=True)
        for col in frame.columns:  # categories travel as their values
            if isinstance(frame[col].dtype, pd.CategoricalDtype):
                frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
        frame.insert(1, "row", np.arange(len(frame), dtype=np.int64))
        df = from_arrow(spark, pa.Table.from_pandas(frame, preserve_index=False))
    elif _is_spark_frame(entities):
        if "entity_id" not in entities.columns:
            raise DataError(f"entities table has no 'entity_id' column (columns: {entities.columns})")
        df = entities
        if "row" not in df.columns:
            df = number_rows(spark, df)
    else:
        raise RiskEngineError(f"entities: expected a pandas or Spark DataFrame or a path, got {type(entities).__name__}")
    df = df.withColumn("entity_id", F.col("entity_id").cast("string"))
    counts = df.agg(F.count(F.lit(1)).alias("n"), F.count("entity_id").alias("ids"),
                    F.countDistinct("entity_id").alias("distinct")).first()
    if counts["ids"] < counts["n"]:
        raise DataError(f"entities table: {counts['n'] - counts['ids']} row(s) without an entity_id")
    if counts["distinct"] < counts["ids"]:
        dup = df.groupBy("entity_id").count().where("count > 1").first()
        raise DataError(f"entities table: entity_id {dup['entity_id']!r} appears more than once "
                        f"({counts['ids'] - counts['distinct']} extra row(s)); entities hold one row per entity")
    return df.persist(), int(counts["n"])


def number_rows(spark, df, name: str = "row"):
    """`df` with `name` (default `row`) = 0, 1, ... in its own order (partition by partition), computed in the JVM:
    each partition's offset is the count of the partitions before it."""
    from pyspark.sql import functions as F

    tagged = df.withColumn("_part", F.spark_partition_id()).withColumn("_id", F.monotonically_increasing_id()).persist()
    counts = tagged.groupBy("_part").count().toPandas().sort_values("_part")
    offsets = pd.DataFrame({"_part": counts["_part"].astype(np.int64),
                            "_offset": (counts["count"].cumsum() - counts["count"]).astype(np.int64)})
    # monotonically_increasing_id is (partition << 33) + place in the partition
    numbered = tagged.join(F.broadcast(spark.createDataFrame(offsets)), "_part").withColumn(
        name, F.col("_offset") + (F.col("_id") - F.shiftleft(F.col("_part").cast("long"), 33)))
    return numbered.drop("_part", "_id", "_offset")


def as_spark_events(spark, events):
    """(events as a Spark DataFrame with source, entity_id, date (DATE), type[, value (DOUBLE)], has a value column)."""
    from pyspark.sql import functions as F

    if isinstance(events, (str,)) or hasattr(events, "__fspath__"):
        events = read_table(spark, str(events), "events table")
    if isinstance(events, pd.DataFrame):
        missing = [c for c in EVENT_COLUMNS[:4] if c not in events.columns]
        if missing:
            raise DataError(f"events table lacks column(s) {missing}; expected source, entity_id, date, type, value")
        if not pd.api.types.is_datetime64_dtype(events["date"]):
            raise DataError(f"events column 'date' must hold dates without a time zone (datetime64), "
                            f"got {events['date'].dtype}")
        columns = {}
        for col in ("source", "entity_id", "type"):
            try:
                columns[col] = pa.array(events[col].astype(object).where(events[col].notna(), None), type=pa.string())
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                columns[col] = pa.array(events[col].astype(str).where(events[col].notna(), None), type=pa.string())
        # midnight-based days: what CAST(date AS DATE) gives in DuckDB, with no time zone in between
        days = events["date"].to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
        columns["date"] = pa.array(days, type=pa.date32(), mask=np.isnat(days))
        if "value" in events.columns:
            columns["value"] = pa.array(pd.to_numeric(events["value"]).to_numpy(dtype=np.float64, na_value=np.nan),
                                        from_pandas=True)
        df = from_arrow(spark, pa.table(columns))
    elif _is_spark_frame(events):
        df = events
        missing = [c for c in EVENT_COLUMNS[:4] if c not in df.columns]
        if missing:
            raise DataError(f"events table lacks column(s) {missing}; expected source, entity_id, date, type, value")
        df = df.withColumn("date", F.to_date(F.col("date")))
        if "value" in df.columns:
            df = df.withColumn("value", F.col("value").cast("double"))
    else:
        raise RiskEngineError(f"events: expected a pandas or Spark DataFrame or a path, got {type(events).__name__}")
    has_value = "value" in df.columns
    return df.select(*[c for c in EVENT_COLUMNS if c in df.columns]), has_value
