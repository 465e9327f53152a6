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

Nearby (area event) features are `riskengine.features.nearby_query` translated the same way
(riskengine.spark._nearby); `build_case_features` gives each case (a work queue's row, a
training outcome) its features as of its own date, by the DuckDB build's method.
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
    `riskengine.features.COUNT_DTYPE` (int32), days since `DAYS_DTYPE` (float32), other statistics float64, categorical columns as
    categories (runs on executors too)."""
    from riskengine.features import COUNT_DTYPE, DAYS_DTYPE

    frame = frame.drop(columns=[POS], errors="ignore").reset_index(drop=True)
    frame["entity_id"] = frame["entity_id"].astype(object)
    frame["as_of"] = pd.to_datetime(frame["as_of"]).astype("datetime64[ns]")
    for r in info.itertuples():
        if r.stat == "count":
            frame[r.name] = frame[r.name].astype(COUNT_DTYPE)
        elif r.stat == "days_since":
            frame[r.name] = frame[r.name].astype(DAYS_DTYPE)
        elif r.stat in ("sum", "last", "nearby_count", "nearby_kde"):
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
                                     event_query, in_dialect, nearby_info_for, static_info, types_query, wants_nearby)
    from riskengine.spark._nearby import area_of, area_pairs, entity_places, nearby_columns
    from riskengine.spark._tables import as_spark_entities, as_spark_events

    log = Steps(quiet=not progress, prefix="features (Spark)")
    dates = as_of_dates(as_of)
    ref = None if reference is None else check_reference(reference)
    nearby = wants_nearby(spec, ref)
    ents, n = as_spark_entities(spark, entities, [*_static_columns(spec, ref), *(["lat", "lon"] if nearby else [])])
    k = len(dates)
    log(f"{n:,} entities as of {k} date(s)")
    events, area = area_of(spark, events)  # area events (lat, lon, no entity) feed the nearby features

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
    if nearby:
        info_nearby = nearby_info_for(area_pairs(area) if ref is None else None, spec, ref)
        if len(info_nearby):
            rows = grid.select(F.col(POS).alias("r"), F.col("row").alias("eid"), "as_of")
            near = nearby_columns(spark, rows, entity_places(ents, info_nearby), area, info_nearby)
            grid = grid.join(near.withColumnRenamed("r", POS), POS, "left")
        infos.append(info_nearby)
        log(f"nearby: {len(info_nearby)} feature(s)")
    if given is not None or spec.table is not None or (ref is not None and (ref["stat"] == "given").any()):
        grid, info_given = _join_ready_table(spark, grid, given, spec, ref)
        infos.append(info_given)
        log("ready feature table joined")
    names = [name for part in infos for name in part["name"]]
    info = assemble([pd.DataFrame(columns=["entity_id", "as_of", *names])], infos, ref).info
    columns = []
    stat_of = dict(zip(events_info["name"], events_info["stat"]))
    nearby_names = set(info.loc[info["stat"].isin(["nearby_count", "nearby_kde"]), "name"])
    for name in info["name"]:
        stat = stat_of.get(name)
        if stat == "count":
            columns.append(F.coalesce(F.col(name), F.lit(0)).cast("bigint").alias(name))
        elif stat is not None or name in nearby_names:
            columns.append(F.col(name).cast("double").alias(name))
        else:
            columns.append(F.col(name))
    table = grid.select(POS, "entity_id", "as_of", *columns)
    log("feature plan made (Spark computes the table when it is read)")
    id_dtype = entities["entity_id"].dtype if isinstance(entities, pd.DataFrame) else object
    return SparkFeatureSet(table=table, info=info, n_entities=n, dates=dates, id_dtype=id_dtype)


def _static_columns(spec: FeaturesSpec, ref: pd.DataFrame | None) -> list[str]:
    return list(spec.static) if ref is None else list(ref.loc[ref["stat"] == "static", "name"])


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


def build_case_features(spark, entities: pd.DataFrame, events, cases: pd.DataFrame, spec: FeaturesSpec,
                        given: pd.DataFrame | None = None, *, reference: pd.DataFrame | None = None,
                        progress: bool = False) -> SparkFeatureSet:
    """Features for each distinct (entity_id, date) of `cases`, as of that date, in Spark: what
    `riskengine.features.build_case_features` gives, by its method.

    Every case becomes a "case entity" carrying its entity's static columns and the entity's
    events dated strictly before the case, moved forward by (last case date - case date) in
    Spark; all case entities are then built as of one date by `build_features` (windows, counts,
    sums, last values and days since are differences of dates, which the shift keeps). Nearby
    features and the ready table are joined as of each case's own date. `pos` numbers the cases
    in `riskengine.features.case_keys` order (date, then entity id); `entities` is pandas (the
    validated entities on the driver), `events` pandas, Spark or a path.
    """
    import copy

    from pyspark.sql import functions as F

    from riskengine.features import (EVENT_STATS, INFO_COLUMNS, NEARBY_STATS, OUTCOME_SOURCE, assemble, case_rows,
                                     check_reference, nearby_info_for, wants_nearby)
    from riskengine.spark._nearby import area_of, area_pairs, entity_places, nearby_columns
    from riskengine.spark._tables import as_spark_entities, as_spark_events

    keys, row = case_rows(cases, entities)
    ref = None if reference is None else check_reference(reference)
    events, area = area_of(spark, events)
    fspec = copy.copy(spec)  # the ready table and the nearby features are joined below, as of each case's date
    fspec.table = None
    fspec.nearby = None
    ev = None if events is None else as_spark_events(spark, events)[0]
    if ref is None and not spec.from_events:
        fspec.from_events = bool(spec.outcomes_as_events and ev is not None
                                 and ev.where(F.col("source") == OUTCOME_SOURCE).limit(1).count())
        if fspec.from_events:
            ev = ev.where(F.col("source") == OUTCOME_SOURCE)
    base_ref = None if ref is None else ref[~ref["stat"].isin(["given", *NEARBY_STATS])].reset_index(drop=True)
    use_events = fspec.from_events if ref is None else bool(base_ref["stat"].isin(EVENT_STATS).any())

    n = len(keys)
    end = keys["as_of"].max() if n else pd.Timestamp("2000-01-01")
    case_entities = entities.iloc[np.maximum(row, 0)].reset_index(drop=True).assign(entity_id=np.arange(n).astype(str))
    spark_keys = spark.createDataFrame(pd.DataFrame({
        POS: np.arange(n, dtype=np.int64), "_eid": row.astype(np.int64),
        "entity_id": keys["entity_id"].to_numpy(dtype=object), "as_of": keys["as_of"].dt.date.to_numpy()}))
    shifted = None
    if use_events and ev is not None:  # each case's entity's past events, moved forward by (end - case date)
        cases_df = spark_keys.select(F.col("entity_id").alias("_entity"), "as_of", F.col(POS).cast("string").alias("_case"))
        shifted = (ev.join(F.broadcast(cases_df) if n < 1_000_000 else cases_df, F.col("entity_id") == F.col("_entity"))
                   .where(F.col("date") < F.col("as_of"))
                   .select("source", F.col("_case").alias("entity_id"),
                           F.date_add(F.col("date"), F.datediff(F.lit(end.date()), F.col("as_of"))).alias("date"),
                           "type", *(["value"] if "value" in ev.columns else [])))
    fs = build_features(spark, case_entities, shifted, [end], fspec, reference=base_ref, progress=progress)
    table = fs.table.drop("entity_id", "as_of").join(spark_keys.select(POS, "entity_id", "as_of"), POS)
    infos = [fs.info]
    if wants_nearby(spec, ref):
        info = nearby_info_for(area_pairs(area) if ref is None else None, spec, ref)
        if len(info):
            ents, _ = as_spark_entities(spark, entities, ["lat", "lon"])
            rows = spark_keys.select(F.col(POS).alias("r"), F.col("_eid").alias("eid"), "as_of")
            near = nearby_columns(spark, rows, entity_places(ents, info), area, info)
            table = table.join(near.withColumnRenamed("r", POS), POS, "left")
        infos.append(info)
    if spec.table is not None or given is not None or (ref is not None and (ref["stat"] == "given").any()):
        table, info_given = _join_ready_table(spark, table, given, spec, ref)
        infos.append(info_given)
    names = [name for part in infos for name in part["name"]]
    info = assemble([pd.DataFrame(columns=["entity_id", "as_of", *names])], [i[INFO_COLUMNS] for i in infos], ref).info
    table = table.select(POS, "entity_id", "as_of", *info["name"])
    return SparkFeatureSet(table=table, info=info, n_entities=n, dates=[end], id_dtype=object)
