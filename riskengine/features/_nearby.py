"""What happens nearby: counts and densities of area events around each entity, as of a date.

Area events have coordinates (lat, lon) and no entity ("a sanitation complaint at this
corner"). For an entity with coordinates and a row dated t, with window w days:

    count within r metres   events with  t - w <= date < t  and  distance <= r
    density, bandwidth b    sum of exp(-d^2 / 2b^2) / (2 pi b^2) over the same events, per km2,
                            the kernel cut at 4 b (the tail beyond holds 0.03% of its mass)

Distances are great-circle (haversine, mean Earth radius). A point at the radius counts: the
comparison allows a micrometre for rounding. Entities without coordinates get missing values
(the models handle them), never zeros.

How: one DuckDB query. Entities and events are projected to metres (equirectangular, scaled at
the most poleward latitude so the projection never shrinks a distance) and bucketed into square
cells as wide as the longest reach; each entity meets the events in its own and the eight
neighbouring cells, the exact distance then filters, and the (entity, event) pairs meet each
row's as-of date in the same query, so many dates cost one pass over the pairs.
"""

from __future__ import annotations

import math
import re

import duckdb
import numpy as np
import pandas as pd

from riskengine.errors import DataError
from riskengine.features._phrases import default_label
from riskengine.spec import NearbySpec

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)
KERNEL_CUTOFF = 4.0  # bandwidths: the Gaussian kernel is cut beyond this distance
TOLERANCE_M = 1e-6  # a point at the radius counts, whatever the rounding of its distance
NEARBY_STATS = ("nearby_count", "nearby_kde")
_NAME = re.compile(r"__(count|kde)_([0-9p]+)m_(\d+)d$")


def split_area_events(events: pd.DataFrame | None) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """(entity events, area events): area events are the rows with coordinates and no entity_id."""
    if events is None or "lat" not in events.columns or "lon" not in events.columns:
        return events, None
    is_area = events["entity_id"].isna() & events["lat"].notna()
    area = events.loc[is_area, ["source", "date", "type", "lat", "lon"]].reset_index(drop=True)
    rest = events.loc[~is_area].drop(columns=["lat", "lon"]).reset_index(drop=True)
    return rest, area


def metres(value: float) -> str:
    """A distance as it appears in a feature name: 500.0 -> '500', 2.5 -> '2p5'."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}".replace(".", "p")


def _from_name(name: str) -> tuple[str, float, int]:
    m = _NAME.search(name)
    if m is None:
        raise DataError(f"nearby feature {name!r} is not named <...>__count_<r>m_<w>d or <...>__kde_<b>m_<w>d")
    return m.group(1), float(m.group(2).replace("p", ".")), int(m.group(3))


def distance_of(name: str) -> float:
    """The radius or bandwidth (metres) a nearby feature's name carries."""
    return _from_name(name)[1]


def nearby_info(area: pd.DataFrame | None, spec: NearbySpec, labels: dict[str, str],
                slug) -> pd.DataFrame:
    """One info row per nearby feature: per (source, type) of area event, counts then densities."""
    if area is None or area.empty:
        pairs = pd.DataFrame(columns=["source", "type"])
    else:
        pairs = (area[["source", "type"]].astype(str).drop_duplicates()
                 .sort_values(["source", "type"]).reset_index(drop=True))
    rows = []
    windows = sorted(set(spec.windows))
    for p in pairs.itertuples():
        base = f"nearby__{slug(p.source)}__{slug(p.type)}"
        label = labels.get(f"{p.source}.{p.type}") or default_label(p.source, p.type)
        for stat, distances, unit in (("count", spec.radii_m, "events"), ("kde", spec.bandwidth_m, "events per km2")):
            for d in sorted(set(distances)):
                for w in windows:
                    rows.append({"name": f"{base}__{stat}_{metres(d)}m_{w}d", "source": p.source, "type": p.type,
                                 "stat": f"nearby_{stat}", "window_days": w, "unit": unit, "label": label,
                                 "categorical": False, "categories": None})
    return pd.DataFrame(rows, columns=["name", "source", "type", "stat", "window_days", "unit", "label",
                                       "categorical", "categories"])


def wants_nearby(spec, ref: pd.DataFrame | None) -> bool:
    """Whether features built with this FeaturesSpec (or reference info) include nearby ones."""
    return spec.nearby is not None if ref is None else bool(ref["stat"].isin(NEARBY_STATS).any())


def nearby_part(entities: pd.DataFrame, keys: pd.DataFrame, area: pd.DataFrame | None, spec,
                ref: pd.DataFrame | None, slug) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(values, info) of the nearby features for the rows `keys` (entity_id, as_of): from the spec's
    [features.nearby], or exactly the reference's nearby columns (scoring with a trained model)."""
    if ref is None and (area is None or area.empty):
        # say so rather than train without them: [data.area_events] empty, or a caller that
        # dropped the area events (rows without an entity_id) before they reached the features
        raise DataError("[features.nearby] asks for features from area events, but no area events reached the "
                        "features: check that the [data.area_events] files have rows")
    info = (ref[ref["stat"].isin(NEARBY_STATS)].reset_index(drop=True) if ref is not None
            else nearby_info(area, spec.nearby, spec.labels, slug))
    return nearby_values(entities, keys, area, info), info


def nearby_values(entities: pd.DataFrame, keys: pd.DataFrame, area: pd.DataFrame | None,
                  info: pd.DataFrame) -> pd.DataFrame:
    """The nearby features (the `info` rows, in order) for every row of `keys` (entity_id, as_of).

    `entities` holds entity_id, lat, lon; a row whose entity lacks either gets missing values.
    """
    n_rows = len(keys)
    if info.empty:
        return pd.DataFrame(index=pd.RangeIndex(n_rows))
    if "lat" not in entities.columns or "lon" not in entities.columns:
        raise DataError("nearby features need the entities' coordinates: the entities table has no 'lat' and 'lon' "
                        "columns")
    parsed = [_from_name(n) for n in info["name"]]
    plan = info[["name", "source", "type"]].assign(
        kind=[p[0] for p in parsed], dist=[p[1] for p in parsed], window=[p[2] for p in parsed])
    pairs = plan[["source", "type"]].astype(str).drop_duplicates().reset_index(drop=True)
    plan = plan.merge(pairs.reset_index(names="pid"), on=["source", "type"], how="left")
    plan["slot"] = plan["kind"].str[0] + "_" + plan["dist"].map(metres) + "_" + plan["window"].astype(str)
    n_pairs = len(pairs)

    lat = pd.to_numeric(entities["lat"], errors="coerce").to_numpy(dtype="float64")
    lon = pd.to_numeric(entities["lon"], errors="coerce").to_numpy(dtype="float64")
    located = np.isfinite(lat) & np.isfinite(lon)
    row_of = pd.Index(entities["entity_id"].astype(str)).get_indexer(keys["entity_id"].astype(str))
    row_located = (row_of >= 0) & located[np.maximum(row_of, 0)]

    out = {name: np.full(n_rows, np.nan) for name in plan["name"]}
    for name in plan["name"]:
        out[name][row_located] = 0.0
    if row_located.any() and area is not None and len(area):
        result = _pair_query(lat, lon, located, row_of, row_located, keys["as_of"], area, pairs, plan)
        key = result["key"].to_numpy()
        row, pid = np.divmod(key, n_pairs)
        for slot, group in plan.groupby("slot", sort=False):
            values = result[slot].to_numpy(dtype="float64", na_value=0.0)
            for f in group.itertuples():
                hit = pid == f.pid
                out[f.name][row[hit]] = values[hit]
    return pd.DataFrame(out, copy=False)


def _pair_query(lat, lon, located, row_of, row_located, as_of: pd.Series, area: pd.DataFrame,
                pairs: pd.DataFrame, plan: pd.DataFrame) -> pd.DataFrame:
    """One DuckDB query: key = row * n_pairs + pair, then one column per (kind, distance, window)."""
    n_pairs = len(pairs)
    counts, kdes = plan.loc[plan["kind"] == "count", "dist"], plan.loc[plan["kind"] == "kde", "dist"]
    reach = float(max(counts.max() if len(counts) else 0.0, KERNEL_CUTOFF * kdes.max() if len(kdes) else 0.0))
    max_window = int(plan["window"].max())
    dates = pd.to_datetime(as_of).to_numpy(dtype="datetime64[ns]")
    rows = pd.DataFrame({"r": np.flatnonzero(row_located), "eid": row_of[row_located],
                         "as_of": dates[row_located]})
    ents = pd.DataFrame({"eid": np.flatnonzero(located), "lat": lat[located], "lon": lon[located]})
    ents = ents[ents["eid"].isin(np.unique(rows["eid"]))]

    # project at the most poleward latitude in reach: east-west distances never come out longer than they are
    pole = min(89.0, float(np.abs(ents["lat"]).max()) + math.degrees(reach / EARTH_RADIUS_M))
    cos0 = math.cos(math.radians(pole))
    cell = reach * 1.01 + 1.0
    first = rows["as_of"].min() - pd.Timedelta(days=max_window)
    last = rows["as_of"].max()
    margin = math.degrees(cell / EARTH_RADIUS_M)
    lat_lo, lat_hi = ents["lat"].min() - margin, ents["lat"].max() + margin
    lon_margin = margin / max(cos0, 1e-6)
    lon_lo, lon_hi = ents["lon"].min() - lon_margin, ents["lon"].max() + lon_margin

    ev = area[["source", "type"]].astype(str).merge(pairs.reset_index(names="pid"), on=["source", "type"],
                                                   how="left")["pid"].to_numpy()
    events = pd.DataFrame({"pid": ev, "d": area["date"].to_numpy(dtype="datetime64[ns]"),
                           "lat": area["lat"].to_numpy(dtype="float64"), "lon": area["lon"].to_numpy(dtype="float64")})
    keep = (~np.isnan(ev)) & (events["d"] >= first).to_numpy() & (events["d"] < last).to_numpy() \
        & events["lat"].between(lat_lo, lat_hi).to_numpy() & events["lon"].between(lon_lo, lon_hi).to_numpy()
    events = events[keep].astype({"pid": "int64"})

    # distances compared as squared chords between unit vectors: no trigonometry per pair, and the
    # same order as great-circle distances (d <= r  <=>  chord^2 <= (2 sin(r / 2R))^2)
    def chord2(metres_: float) -> float:
        return (2.0 * math.sin(min(metres_, math.pi * EARTH_RADIUS_M) / (2.0 * EARTH_RADIUS_M))) ** 2

    aggs = []
    for slot, group in plan.groupby("slot", sort=False):
        f = group.iloc[0]
        in_window = f"p.d >= r.as_of - {int(f.window)}"
        if f.kind == "count":
            aggs.append(f"count(*) FILTER (WHERE p.c2 <= {chord2(float(f.dist) + TOLERANCE_M)!r} AND {in_window}) AS {slot}")
        else:
            b = float(f.dist)
            norm = 1e6 / (2.0 * math.pi * b * b)  # per km2
            dist = f"(2 * {EARTH_RADIUS_M!r} * asin(sqrt(p.c2) / 2))"
            aggs.append(f"sum(exp(-{dist} * {dist} / {2.0 * b * b!r})) FILTER (WHERE p.c2 <= {chord2(KERNEL_CUTOFF * b)!r} "
                        f"AND {in_window}) * {norm!r} AS {slot}")
    unit = "cos(radians(lat)) * cos(radians(lon)) AS ux, cos(radians(lat)) * sin(radians(lon)) AS uy, sin(radians(lat)) AS uz"
    cells = (f"CAST(floor({EARTH_RADIUS_M!r} * radians(lon) * {cos0!r} / {cell!r}) AS BIGINT) AS cx, "
             f"CAST(floor({EARTH_RADIUS_M!r} * radians(lat) / {cell!r}) AS BIGINT) AS cy")
    con = duckdb.connect()
    try:
        con.register("ents_raw", ents)
        con.register("events_raw", events)
        con.register("rows_raw", rows)
        return con.sql(f"""
            WITH e AS (SELECT eid, {unit}, {cells} FROM ents_raw),
            v AS (SELECT pid, CAST(d AS DATE) AS d, {unit}, {cells} FROM events_raw),
            around AS (
                SELECT e.eid, e.ux, e.uy, e.uz, e.cx + dx AS kx, e.cy + dy AS ky
                FROM e, range(-1, 2) a(dx), range(-1, 2) b(dy)),
            p AS (
                SELECT around.eid, v.pid, v.d,
                       (v.ux - around.ux) * (v.ux - around.ux) + (v.uy - around.uy) * (v.uy - around.uy)
                       + (v.uz - around.uz) * (v.uz - around.uz) AS c2
                FROM around JOIN v ON v.cx = around.kx AND v.cy = around.ky
                WHERE c2 <= {chord2(reach + TOLERANCE_M)!r})
            SELECT r.r * {n_pairs}::BIGINT + p.pid AS key, {", ".join(aggs)}
            FROM (SELECT r, eid, CAST(as_of AS DATE) AS as_of FROM rows_raw) r JOIN p ON p.eid = r.eid
            WHERE p.d < r.as_of AND p.d >= r.as_of - {max_window}
            GROUP BY ALL""").df()
    finally:
        con.close()
