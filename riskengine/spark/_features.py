"""Features as of dates, computed in Spark with exactly the DuckDB build's semantics.

The event statistics are the statement `riskengine.features.event_query` (the one DuckDB
runs) translated to Spark SQL by sqlglot; the feature plan (which column holds which
statistic of which event type) is `riskengine.features.event_plan`, the DuckDB build's own.
What differs is only where it runs: the groups are spread into feature columns by a
conditional aggregation over the row number instead of a numpy scatter, and entities
without events are filled in by an outer join of the (as-of date x entity) grid, so nothing
but the plan and a few distinct values comes back to the driver.

The table keeps the DuckDB build's row order in a column `pos` = k * n_entities + row
(k the as-of date's number, row the entity's place in the entities table).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskengine.errors import DataError, RiskEngineError
from riskengine.progress import Steps
from riskengine.spec import FeaturesSpec

POS = "pos"  # the row's place in the DuckDB build's table (as-of date, then entity order)


@dataclass
class SparkFeatureSet:
    """Features as a Spark DataFrame: `pos`, entity_id, as_of (DATE), then the feature columns
    in the order `riskengine.features.build_features` gives them; `info` is the same info table."""

    table: object  # pyspark.sql.DataFrame
    info: pd.DataFrame
    n_entities: int
    dates: list[pd.Timestamp]
    id_dtype: object = object  # the entities' entity_id dtype, given back to rows on the driver

    @property
    def columns(self) -> list[str]:
        """The feature columns, in table order."""
        return list(self.info["name"])

    def rows(self, positions: Sequence[int] | np.ndarray) -> pd.DataFrame:
        """The rows at these positions (as `table.iloc[positions]` of the DuckDB build), as pandas."""
        positions = np.asarray(positions, dtype=np.int64)
        if len(positions) == 0:
            return self._typed(self.table.limit(0).toPandas())
        spark = self.table.sparkSession
        wanted = spark.createDataFrame(pd.DataFrame({POS: positions, "_order": np.arange(len(positions))}))
        from pyspark.sql import functions as F

        got = self.table.join(F.broadcast(wanted), POS).toPandas().sort_values("_order")
        if len(got) != len(positions):
            raise RiskEngineError(f"{len(positions) - len(got)} requested feature row(s) are not in the table")
        return self._typed(got.drop(columns="_order"))

    def to_pandas(self):
        """The whole table on the driver, as `riskengine.features.FeatureSet` (equal to the DuckDB build's)."""
        from riskengine.features import FeatureSet

        table = self._typed(self.table.orderBy(POS).toPandas())
        return FeatureSet(table=table, info=self.info)

    def _typed(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame = typed_frame(frame, self.info)
        frame["entity_id"] = frame["entity_id"].astype(self.id_dtype)
        return frame


def typed_frame(frame: pd.DataFrame, info: pd.DataFrame) -> pd.DataFrame:
    """Spark's pandas frame in the DuckDB build's types: as_of a timestamp, counts
    `riskengine.features.COUNT_DTYPE` (int32), other statistics float64, categorical columns as
    categories (runs on executors too)."""
    from riskengine.features import COUNT_DTYPE

    frame = frame.drop(columns=[POS], errors="ignore").reset_index(drop=True)
    frame["entity_id"] = frame["entity_id"].astype(object)
    frame["as_of"] = pd.to_datetime(frame["as_of"]).astype("datetime64[ns]")
    for r in info.itertuples():
        if r.stat == "count":
            frame[r.name] = frame[r.name].astype(COUNT_DTYPE)
        elif r.stat in ("sum", "last", "days_since"):
            frame[r.name] = frame[r.name].astype(np.float64)
        if r.categorical:
            frame[r.name] = pd.Categorical(frame[r.name].astype(object), categories=r.categories)
    return frame[["entity_id", "as_of", *info["name"]]]


def build_features(spark, entities, events, as_of: Sequence[dt.date | str] | dt.date | str, spec: FeaturesSpec,
                   reference: pd.DataFrame | None = None, progress: bool = False,
                   given: pd.DataFrame | None = None) -> SparkFeatureSet:
    """Features for every entity as of every date, from events strictly before it, in Spark.

    entities / events: pandas or Spark DataFrames (or paths any Spark reader takes, see
    `read_table`), with the columns `riskengine.features.build_features` reads. A Spark
    entities table without a `row` column is numbered in its own order. `reference` is a
    model's feature info: the columns are then exactly its own. `given` is the spec's ready
    feature table (validated, as `riskengine.prepare.given_features` reads it): joined in Spark
    as of each date, by the DuckDB build's rule (the row of that day, else the latest earlier
    one up to `max_age_days` old).
    """
    from pyspark.sql import functions as F

    from riskengine.features import (EVENT_STATS, as_of_dates, check_event_types, check_reference, event_plan,
                                     event_query, in_dialect, static_info, types_query)
    from riskengine.spark._tables import as_spark_entities, as_spark_events

    log = Steps(quiet=not progress, prefix="features (Spark)")
    dates = as_of_dates(as_of)
    ref = None if reference is None else check_reference(reference)
    _refuse_unsupported(spec, ref)
    ents, n = as_spark_entities(spark, entities, [*_static_columns(spec, ref)])
    k = len(dates)
    log(f"{n:,} entities as of {k} date(s)")

    info_static = static_info(_category_sample(ents, spec, ref), spec, ref)
    grid = ents.select("entity_id", "row", *info_static["name"]).crossJoin(
        F.broadcast(spark.createDataFrame(pd.DataFrame({"k": np.arange(k, dtype=np.int64),
                                                        "as_of": [d.date() for d in dates]}))))
    grid = grid.withColumn(POS, F.col("k") * F.lit(n) + F.col("row"))

    use_events = spec.from_events if ref is None else bool(ref["stat"].isin(EVENT_STATS).any())
    plan = None
    if use_events:
        if events is None:
            raise RiskEngineError("features need an events table (or from_events = false in the spec)")
        ev, has_value = as_spark_events(spark, events)
        ev.createOrReplaceTempView("events_raw")
        pairs = check_event_types(spark.sql(in_dialect(types_query(has_value), "spark")).toPandas())
        plan = event_plan(pairs, spec, ref)
        log(f"{len(pairs)} event type(s): {len(plan)} event feature(s)")
    if plan is not None and len(plan):
        n_pairs = int(plan["pair"].max()) + 1
        windows = sorted({int(w) for w in plan["window_days"].dropna()})
        ents.select("entity_id", "row").createOrReplaceTempView("entities_raw")
        spark.createDataFrame(pd.DataFrame({"k": np.arange(k, dtype=np.int64), "as_of": [d.date() for d in dates]})
                              ).createOrReplaceTempView("dates_raw")
        spark.createDataFrame(plan[["pair", "source", "type"]].drop_duplicates().astype(
            {"pair": np.int64, "source": object, "type": object})).createOrReplaceTempView("pairs")
        valued = plan.loc[plan["stat"].isin(["sum", "last"]), "pair"].unique()  # as the DuckDB build: the same statement
        sql = event_query(n_rows=n, n_pairs=n_pairs, windows=windows, with_sums=len(valued) > 0,
                          has_value_column=has_value, valued_pairs=valued)
        groups = spark.sql(in_dialect(sql, "spark"))
        # one row per table row: each feature is its (pair, slot) cell of that row's groups
        pair = F.col("key") % F.lit(n_pairs)
        wide = groups.groupBy(F.expr(f"key div {n_pairs}").alias(POS)).agg(
            *[F.max(F.when(pair == F.lit(int(r.pair)), F.col(r.slot))).alias(r.name) for r in plan.itertuples()])
        grid = grid.join(wide, POS, "left")
        events_info = plan
    else:
        events_info = pd.DataFrame(columns=["name", "stat"])
    from riskengine.features import INFO_COLUMNS, assemble

    infos = [info_static, *([events_info[INFO_COLUMNS]] if len(events_info) else [])]
    if given is not None or spec.table is not None or (ref is not None and (ref["stat"] == "given").any()):
        grid, info_given = _join_ready_table(spark, grid, given, spec, ref)
        infos.append(info_given)
        log("ready feature table joined")
    names = [name for part in infos for name in part["name"]]
    info = assemble([pd.DataFrame(columns=["entity_id", "as_of", *names])], infos, ref).info
    columns = []
    stat_of = dict(zip(events_info["name"], events_info["stat"]))
    for name in info["name"]:
        stat = stat_of.get(name)
        if stat == "count":
            columns.append(F.coalesce(F.col(name), F.lit(0)).cast("bigint").alias(name))
        elif stat is not None:
            columns.append(F.col(name).cast("double").alias(name))
        else:
            columns.append(F.col(name))
    table = grid.select(POS, "entity_id", "as_of", *columns)
    log("feature plan made (Spark computes the table when it is read)")
    id_dtype = entities["entity_id"].dtype if isinstance(entities, pd.DataFrame) else object
    return SparkFeatureSet(table=table, info=info, n_entities=n, dates=dates, id_dtype=id_dtype)


def _static_columns(spec: FeaturesSpec, ref: pd.DataFrame | None) -> list[str]:
    return list(spec.static) if ref is None else list(ref.loc[ref["stat"] == "static", "name"])


def _refuse_unsupported(spec: FeaturesSpec, ref: pd.DataFrame | None) -> None:
    """Nearby (area) features are built by the DuckDB backend only."""
    stats = set() if ref is None else set(ref["stat"])
    if (spec.nearby is not None and ref is None) or any(str(s).startswith("nearby") for s in stats):
        raise RiskEngineError("the Spark backend does not build [features.nearby] (area event) features yet; "
                              "use engine.backend = \"duckdb\" for this pipeline")


def _join_ready_table(spark, grid, given: pd.DataFrame | None, spec: FeaturesSpec, ref: pd.DataFrame | None):
    """(the grid with the ready table's columns joined as of each row's date, their info rows).

    The info (and the checks: key columns, one row per entity and date, the model's columns)
    is the DuckDB build's own, `riskengine.features.ready_values` on a key no row matches; the as-of join
    runs in Spark: per grid row, the table's latest row dated on or before it, at most
    `max_age_days` before."""
    import pyarrow as pa
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from riskengine.features import ready_values
    from riskengine.spark._tables import from_arrow

    one_key = pd.DataFrame({"entity_id": ["\x00none"], "as_of": pd.to_datetime(["1970-01-01"])})  # no row matches it
    _, info = ready_values(one_key, spec, given, ref)
    columns = list(info["name"])
    table = pd.DataFrame({"_gid": given["entity_id"].astype(str).to_numpy(dtype=object),
                          "_gdate": pd.to_datetime(given["as_of"]).dt.normalize().dt.date.to_numpy()})
    for col in columns:
        values = given[col]
        if isinstance(values.dtype, pd.CategoricalDtype):  # categories travel as their values
            values = values.astype(object).where(values.notna(), None)
        table[col] = values.to_numpy()
    table = table[table["_gid"].notna() & pd.notna(table["_gdate"])]
    ready = from_arrow(spark, pa.Table.from_pandas(table, preserve_index=False))
    on = (F.col("entity_id") == F.col("_gid")) & (F.col("_gdate") <= F.col("as_of"))
    if spec.max_age_days is not None:
        on = on & (F.col("_gdate") >= F.date_sub(F.col("as_of"), int(spec.max_age_days)))
    latest = Window.partitionBy(POS).orderBy(F.col("_gdate").desc())
    picked = (grid.select(POS, "entity_id", "as_of").join(ready, on)
              .withColumn("_latest", F.row_number().over(latest)).where("_latest = 1").select(POS, *columns))
    return grid.join(picked, POS, "left"), info


def _category_sample(ents, spec: FeaturesSpec, ref: pd.DataFrame | None) -> pd.DataFrame:
    """A small pandas frame with every static column: for categorical ones their distinct values
    (what `static_info` reads the categories from), for the rest nothing."""
    names = _static_columns(spec, ref)
    missing = [c for c in names if c not in ents.columns]
    if missing:
        raise DataError(f"entities table lacks static feature column(s) {missing}; "
                        f"it has {[c for c in ents.columns if c not in ('entity_id', 'row')]}")
    columns = {}
    for name in names:
        if ref is None and name in spec.categorical:
            values = ents.select(name).where(ents[name].isNotNull()).distinct().toPandas()[name]
            columns[name] = pd.Series(values.to_numpy(dtype=object), dtype=object)
        else:
            columns[name] = pd.Series([], dtype=object)
    return pd.DataFrame(columns) if columns else pd.DataFrame(index=pd.RangeIndex(0))


def features_for_rows(entities, events, dates, spec: FeaturesSpec, keys: pd.DataFrame, master: str | None = None,
                      given: pd.DataFrame | None = None):
    """The training rows' features: the (date x entity) grid built in Spark, only the rows in
    `keys` (entity_id, as_of) brought back, as a `riskengine.features.FeatureSet` in grid order.

    What `train` calls with the Spark backend: the aggregation over all events runs in Spark,
    the labelled rows (small) are fitted on here.
    """
    from pyspark.sql import functions as F

    from riskengine.features import FeatureSet
    from riskengine.spark._session import spark_session

    spark = spark_session(master)
    fs = build_features(spark, entities, events, dates, spec, given=given)
    wanted = keys[["entity_id", "as_of"]].drop_duplicates().astype({"entity_id": str})
    wanted = spark.createDataFrame(pd.DataFrame({"entity_id": wanted["entity_id"].to_numpy(dtype=object),
                                                 "as_of": pd.to_datetime(wanted["as_of"]).dt.date.to_numpy()}))
    got = fs.table.join(F.broadcast(wanted) if len(keys) < 1_000_000 else wanted, ["entity_id", "as_of"]).orderBy(POS)
    return FeatureSet(table=fs._typed(got.toPandas()), info=fs.info)
