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
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from riskengine.errors import DataError
from riskengine.features._phrases import default_label, slug
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


def nearby_info_for(area_pairs: pd.DataFrame | None, spec, ref: pd.DataFrame | None) -> pd.DataFrame:
    """The nearby features' info: the reference's nearby rows (scoring with a trained model), else one per
    (source, type) of `area_pairs` (the area events, or only their distinct source and type) and the
    spec's [features.nearby] distances and windows. No area events for a new feature set is an error."""
    if ref is None and (area_pairs is None or area_pairs.empty):
        # say so rather than train without them: [data.area_events] empty, or a caller that
        # dropped the area events (rows without an entity_id) before they reached the features
        raise DataError("[features.nearby] asks for features from area events, but no area events reached the "
                        "features: check that the [data.area_events] files have rows")
    if ref is not None:
        return ref[ref["stat"].isin(NEARBY_STATS)].reset_index(drop=True)
    return nearby_info(area_pairs, spec.nearby, spec.labels, slug)


def nearby_part(entities: pd.DataFrame, keys: pd.DataFrame, area: pd.DataFrame | None, spec,
                ref: pd.DataFrame | None, slug) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(values, info) of the nearby features for the rows `keys` (entity_id, as_of): from the spec's
    [features.nearby], or exactly the reference's nearby columns (scoring with a trained model)."""
    info = nearby_info_for(area, spec, ref)
    return nearby_values(entities, keys, area, info), info


def nearby_plan(info: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(plan, pairs) for the nearby features `info`: per feature its kind (count, kde), distance,
    window, pair number `pid` and SQL slot (`c_<r>_<w>`, `k_<b>_<w>`: features of several types
    share a slot); the distinct (source, type) pairs, numbered by `pid`."""
    parsed = [_from_name(n) for n in info["name"]]
    plan = info[["name", "source", "type"]].assign(
        kind=[p[0] for p in parsed], dist=[p[1] for p in parsed], window=[p[2] for p in parsed])
    pairs = plan[["source", "type"]].astype(str).drop_duplicates().reset_index(drop=True)
    plan = plan.merge(pairs.reset_index(names="pid"), on=["source", "type"], how="left")
    plan["slot"] = plan["kind"].str[0] + "_" + plan["dist"].map(metres) + "_" + plan["window"].astype(str)
    return plan, pairs


def nearby_values(entities: pd.DataFrame, keys: pd.DataFrame, area: pd.DataFrame | None,
                  info: pd.DataFrame) -> pd.DataFrame:
    """The nearby features (the `info` rows, in order) for every row of `keys` (entity_id, as_of).

    `entities` holds entity_id, lat, lon; a row whose entity lacks either gets missing values.
    """
    n_rows = len(keys)
    if info.empty:
        return pd.DataFrame(index=pd.RangeIndex(n_rows))
    if "lat" not in entities.columns or "lon" not in entities.columns:
        raise DataError(NO_COORDINATES)
    plan, pairs = nearby_plan(info)
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


NO_COORDINATES = ("nearby features need the entities' coordinates: the entities table has no 'lat' and 'lon' "
                  "columns")


@dataclass
class NearbyGrid:
    """How the pair search cuts the map: `reach` (metres: the largest radius, or the kernel cut-off),
    `cos0` (the projection's scale, at the most poleward latitude in reach), `cell` (the square cells'
    side, metres) and the longest window (days)."""

    reach: float
    cos0: float
    cell: float
    max_window: int

    @classmethod
    def of(cls, plan: pd.DataFrame, max_abs_lat: float) -> "NearbyGrid":
        """The grid for `plan` around entities no further from the equator than `max_abs_lat` degrees."""
        counts, kdes = plan.loc[plan["kind"] == "count", "dist"], plan.loc[plan["kind"] == "kde", "dist"]
        reach = float(max(counts.max() if len(counts) else 0.0, KERNEL_CUTOFF * kdes.max() if len(kdes) else 0.0))
        # project at the most poleward latitude in reach: east-west distances never come out longer than they are
        pole = min(89.0, float(max_abs_lat) + math.degrees(reach / EARTH_RADIUS_M))
        return cls(reach=reach, cos0=math.cos(math.radians(pole)), cell=reach * 1.01 + 1.0,
                   max_window=int(plan["window"].max()))

    def bounds(self, lat_min: float, lat_max: float, lon_min: float, lon_max: float) -> tuple[float, ...]:
        """(lat_lo, lat_hi, lon_lo, lon_hi): the box beyond which no area event is within reach of
        entities spanning these coordinates (events outside it are dropped before the search)."""
        margin = math.degrees(self.cell / EARTH_RADIUS_M)
        lon_margin = margin / max(self.cos0, 1e-6)
        return lat_min - margin, lat_max + margin, lon_min - lon_margin, lon_max + lon_margin


def _chord2(metres_: float) -> float:
    """The squared chord between unit vectors at this great-circle distance: distances compare as
    chords with no trigonometry per pair (d <= r  <=>  chord^2 <= (2 sin(r / 2R))^2)."""
    return (2.0 * math.sin(min(metres_, math.pi * EARTH_RADIUS_M) / (2.0 * EARTH_RADIUS_M))) ** 2


def nearby_query(plan: pd.DataFrame, n_pairs: int, grid: NearbyGrid) -> str:
    """The DuckDB-dialect SELECT of the nearby statistics: the one description of the nearby features.

    DuckDB runs it as written; the Spark backend runs it translated (`in_dialect`). It reads
    `ents_raw(eid, lat, lon)` (located entities), `events_raw(pid, d, lat, lon)` (area events by
    pair number) and `rows_raw(r, eid, as_of)` (the table's rows to fill), and returns, per (row,
    pair) with an event in reach and window, `key = r * n_pairs + pid` and one column per slot.
    Each entity meets the events of its own and the eight neighbouring cells; the exact distance
    then filters, and the pairs meet each row's as-of date in the same statement.
    """
    aggs = []
    for slot, group in plan.groupby("slot", sort=False):
        f = group.iloc[0]
        in_window = f"age <= {int(f.window)}"
        if f.kind == "count":
            aggs.append(f"count(*) FILTER (WHERE c2 <= {_chord2(float(f.dist) + TOLERANCE_M)!r} AND {in_window}) AS {slot}")
        else:
            b = float(f.dist)
            norm = 1e6 / (2.0 * math.pi * b * b)  # per km2
            dist = f"(2 * {EARTH_RADIUS_M!r} * asin(sqrt(c2) / 2))"
            aggs.append(f"sum(exp(-{dist} * {dist} / {2.0 * b * b!r})) FILTER (WHERE c2 <= {_chord2(KERNEL_CUTOFF * b)!r} "
                        f"AND {in_window}) * {norm!r} AS {slot}")
    unit = "cos(radians(lat)) * cos(radians(lon)) AS ux, cos(radians(lat)) * sin(radians(lon)) AS uy, sin(radians(lat)) AS uz"
    cells = (f"CAST(floor({EARTH_RADIUS_M!r} * radians(lon) * {grid.cos0!r} / {grid.cell!r}) AS BIGINT) AS cx, "
             f"CAST(floor({EARTH_RADIUS_M!r} * radians(lat) / {grid.cell!r}) AS BIGINT) AS cy")
    return f"""
        WITH e AS (SELECT eid, {unit}, {cells} FROM ents_raw),
        v AS (SELECT pid, CAST(d AS DATE) AS d, {unit}, {cells} FROM events_raw),
        around AS (
            SELECT e.eid, e.ux, e.uy, e.uz, e.cx + a.dx AS kx, e.cy + b.dy AS ky
            FROM e CROSS JOIN (VALUES (-1), (0), (1)) a(dx) CROSS JOIN (VALUES (-1), (0), (1)) b(dy)),
        near AS (
            SELECT around.eid, v.pid, v.d,
                   (v.ux - around.ux) * (v.ux - around.ux) + (v.uy - around.uy) * (v.uy - around.uy)
                   + (v.uz - around.uz) * (v.uz - around.uz) AS c2
            FROM around JOIN v ON v.cx = around.kx AND v.cy = around.ky),
        p AS (SELECT eid, pid, d, c2 FROM near WHERE c2 <= {_chord2(grid.reach + TOLERANCE_M)!r}),
        x AS (
            SELECT CAST(r.r AS BIGINT) * {n_pairs} + p.pid AS key, p.c2 AS c2, date_diff('day', p.d, r.as_of) AS age
            FROM (SELECT r, eid, CAST(as_of AS DATE) AS as_of FROM rows_raw) r JOIN p ON p.eid = r.eid
            WHERE p.d < r.as_of AND date_diff('day', p.d, r.as_of) <= {grid.max_window})
        SELECT key, {", ".join(aggs)} FROM x GROUP BY key"""


def _pair_query(lat, lon, located, row_of, row_located, as_of: pd.Series, area: pd.DataFrame,
                pairs: pd.DataFrame, plan: pd.DataFrame) -> pd.DataFrame:
    """`nearby_query` in DuckDB: key = row * n_pairs + pair, then one column per (kind, distance, window)."""
    dates = pd.to_datetime(as_of).to_numpy(dtype="datetime64[ns]")
    rows = pd.DataFrame({"r": np.flatnonzero(row_located), "eid": row_of[row_located],
                         "as_of": dates[row_located]})
    ents = pd.DataFrame({"eid": np.flatnonzero(located), "lat": lat[located], "lon": lon[located]})
    ents = ents[ents["eid"].isin(np.unique(rows["eid"]))]
    grid = NearbyGrid.of(plan, float(np.abs(ents["lat"]).max()))
    first = rows["as_of"].min() - pd.Timedelta(days=grid.max_window)
    last = rows["as_of"].max()
    lat_lo, lat_hi, lon_lo, lon_hi = grid.bounds(ents["lat"].min(), ents["lat"].max(), ents["lon"].min(),
                                                 ents["lon"].max())

    ev = area[["source", "type"]].astype(str).merge(pairs.reset_index(names="pid"), on=["source", "type"],
                                                   how="left")["pid"].to_numpy()
    events = pd.DataFrame({"pid": ev, "d": area["date"].to_numpy(dtype="datetime64[ns]"),
                           "lat": area["lat"].to_numpy(dtype="float64"), "lon": area["lon"].to_numpy(dtype="float64")})
    keep = (~np.isnan(ev)) & (events["d"] >= first).to_numpy() & (events["d"] < last).to_numpy() \
        & events["lat"].between(lat_lo, lat_hi).to_numpy() & events["lon"].between(lon_lo, lon_hi).to_numpy()
    events = events[keep].astype({"pid": "int64"})
    con = duckdb.connect()
    try:
        con.register("ents_raw", ents)
        con.register("events_raw", events)
        con.register("rows_raw", rows)
        return con.sql(nearby_query(plan, len(pairs), grid)).df()
    finally:
        con.close()
