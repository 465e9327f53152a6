"""Nearby (area event) features in Spark: the DuckDB build's statement, translated.

The statistics are `riskengine.features.nearby_query` (the statement DuckDB runs) translated
to Spark SQL by sqlglot, with the same grid of cells (`NearbyGrid`, from the same located
entities) and the same events kept (the dates and box the DuckDB build keeps); the (row,
pair) groups are then spread into one column per feature by a conditional aggregation, and
rows of entities without coordinates get missing values, the others zero where no event is near.
"""

from __future__ import annotations

import pandas as pd

from riskengine.errors import DataError


def area_of(spark, events):
    """(the entity events, the area events or None): area events are the rows with coordinates and
    no entity_id (as `riskengine.features.split_area_events` splits a pandas table); a Spark area
    table has source, type, date (DATE), lat and lon (DOUBLE)."""
    from pyspark.sql import functions as F

    from riskengine.spark._tables import from_arrow, is_spark_frame, read_table

    if isinstance(events, str) or hasattr(events, "__fspath__"):
        events = read_table(spark, str(events), "events table")
    if isinstance(events, pd.DataFrame):
        import pyarrow as pa

        from riskengine.features import split_area_events

        events, area = split_area_events(events)
        if area is None:
            return events, None
        days = area["date"].to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
        table = pa.table({"source": pa.array(area["source"].astype(str).to_numpy(dtype=object), type=pa.string()),
                          "type": pa.array(area["type"].astype(str).to_numpy(dtype=object), type=pa.string()),
                          "date": pa.array(days, type=pa.date32()),
                          "lat": pa.array(pd.to_numeric(area["lat"]).to_numpy(dtype="float64")),
                          "lon": pa.array(pd.to_numeric(area["lon"]).to_numpy(dtype="float64"))})
        return events, from_arrow(spark, table)
    if events is None or not is_spark_frame(events) or "lat" not in events.columns or "lon" not in events.columns:
        return events, None
    is_area = F.col("entity_id").isNull() & F.col("lat").isNotNull()
    area = events.where(is_area).select(F.col("source").cast("string").alias("source"),
                                        F.col("type").cast("string").alias("type"),
                                        F.to_date(F.col("date")).alias("date"),
                                        F.col("lat").cast("double").alias("lat"), F.col("lon").cast("double").alias("lon"))
    return events.where(~is_area).drop("lat", "lon"), area


def area_pairs(area) -> pd.DataFrame | None:
    """The distinct (source, type) of the area events, on the driver (what names the features)."""
    if area is None:
        return None
    return area.select("source", "type").distinct().toPandas()


def nearby_columns(spark, rows, ents, area, info: pd.DataFrame):
    """A Spark DataFrame with `r` and one column per nearby feature of `info` (DOUBLE), for every
    row of `rows` (r, eid, as_of DATE): ents (eid, lat, lon) places each row's entity, `area`
    (source, type, date, lat, lon) holds the area events (or None: none)."""
    from pyspark.sql import functions as F

    from riskengine.features import NearbyGrid, in_dialect, nearby_plan, nearby_query

    plan, pairs = nearby_plan(info)
    n_pairs = len(pairs)
    lat, lon = F.col("lat").cast("double"), F.col("lon").cast("double")
    finite = lambda c: c.isNotNull() & ~F.isnan(c) & (F.abs(c) != F.lit(float("inf")))  # noqa: E731
    located = (ents.select(F.col("eid").cast("long").alias("eid"), lat.alias("lat"), lon.alias("lon"))
               .where(finite(F.col("lat")) & finite(F.col("lon"))))
    rows = rows.select(F.col("r").cast("long").alias("r"), F.col("eid").cast("long").alias("eid"),
                       F.to_date(F.col("as_of")).alias("as_of"))
    placed = rows.join(located.select("eid", F.lit(True).alias("_located")), "eid", "left")
    wide = None
    if area is not None:
        here = rows.join(located.select("eid"), "eid", "left_semi").persist()
        used = located.join(here.select("eid").distinct(), "eid", "left_semi").persist()
        stats = used.agg(F.max(F.abs("lat")).alias("pole"), F.min("lat").alias("lat_min"), F.max("lat").alias("lat_max"),
                         F.min("lon").alias("lon_min"), F.max("lon").alias("lon_max")).first()
        if stats["pole"] is not None:
            grid = NearbyGrid.of(plan, float(stats["pole"]))
            dates = here.agg(F.min("as_of").alias("first"), F.max("as_of").alias("last")).first()
            first = pd.Timestamp(dates["first"]) - pd.Timedelta(days=grid.max_window)
            lat_lo, lat_hi, lon_lo, lon_hi = grid.bounds(stats["lat_min"], stats["lat_max"], stats["lon_min"],
                                                         stats["lon_max"])
            numbered = spark.createDataFrame(pairs.reset_index(names="pid").astype(
                {"pid": "int64", "source": object, "type": object}))
            events = (area.join(F.broadcast(numbered), ["source", "type"])
                      .where((F.col("date") >= F.lit(first.date())) & (F.col("date") < F.lit(dates["last"]))
                             & F.col("lat").between(lat_lo, lat_hi) & F.col("lon").between(lon_lo, lon_hi))
                      .select("pid", F.col("date").alias("d"), "lat", "lon"))
            used.createOrReplaceTempView("ents_raw")
            events.createOrReplaceTempView("events_raw")
            here.createOrReplaceTempView("rows_raw")
            groups = spark.sql(in_dialect(nearby_query(plan, n_pairs, grid), "spark"))
            pid = F.col("key") % F.lit(n_pairs)
            wide = groups.groupBy(F.expr(f"key div {n_pairs}").alias("r")).agg(
                *[F.max(F.when(pid == F.lit(int(f.pid)), F.col(f.slot))).alias(f.name) for f in plan.itertuples()])
    out = placed if wide is None else placed.join(wide, "r", "left")
    values = [F.when(F.col("_located").isNotNull(),
                     F.coalesce(F.col(name).cast("double") if wide is not None else F.lit(None).cast("double"),
                                F.lit(0.0))).alias(name) for name in info["name"]]
    return out.select("r", *values)


def entity_places(ents, info: pd.DataFrame):
    """(eid, lat, lon) of a Spark entities table with `row` (checked: the columns nearby features need)."""
    from riskengine.features import NO_COORDINATES

    if len(info) and ("lat" not in ents.columns or "lon" not in ents.columns):
        raise DataError(NO_COORDINATES)
    return ents.selectExpr("row AS eid", "lat", "lon")
