"""`synth_food`: write the food city in the data contract, with a ready feature table and its truth."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from riskengine.errors import RiskEngineError
from riskengine.synth.food._city import City, build_city

MIN_BUSINESSES = 200
DESCRIPTION = (
    "A synthetic city's food businesses (about 12 x 9 km, 24 neighbourhoods, 8 districts) for the "
    "food-safety inspection use case. entities.csv lists each business (text id, facility type, risk "
    "tier, district, licence and opening dates, coordinates; some missing); events/ holds complaints "
    "about businesses and licence changes; area/ holds events with coordinates and no business "
    "(sanitation and garbage complaints, burglaries); weather.csv the daily maximum temperature. "
    "outcomes.csv has one row per inspection (outcome 1 = critical violation found) with the inspector; "
    "inspections follow business as usual: a routine cycle by risk tier, complaint-driven visits and "
    "follow-ups. features.csv is a ready feature table as a city publishes it (one row per inspection, "
    "as_of = its date, columns computed strictly before it, and the inspector); queue.csv the inspections "
    "due in the week after the last date. truth/ holds what no city knows: per inspection the true "
    "probability that a critical violation is present (p_present) and that this inspection records one "
    "(p_violation = p_present x the inspector's detection rate), and the inspectors' detection rates."
)


@dataclass
class FoodSummary:
    """What `synth_food` wrote: paths, row counts and headline figures."""

    out_dir: Path
    paths: dict[str, Path]
    rows: dict[str, int]
    inspections: int
    violation_rate: float
    detection_rates: dict[str, float]
    bad_rows: dict[str, int] = field(default_factory=dict)


def _day(value: str | dt.date, name: str) -> int:
    try:
        return int(np.datetime64(dt.date.fromisoformat(str(value)), "D").astype(np.int64))
    except ValueError:
        raise RiskEngineError(f"synth: '{name}' expected a date YYYY-MM-DD, got {value!r}") from None


def _text(days) -> np.ndarray:
    return np.asarray(days, dtype="int64").astype("datetime64[D]").astype(str)


def synth_food(out_dir: str | Path = "out/food", businesses: int = 2_000, seed: int = 0,
               start: str | dt.date = "2021-01-01", end: str | dt.date = "2024-06-30",
               progress: bool = False) -> FoodSummary:
    """Write a synthetic food city to `out_dir` (see DESCRIPTION); the same seed gives the same files."""
    if businesses < MIN_BUSINESSES:
        raise RiskEngineError(f"synth --kind food: at least {MIN_BUSINESSES} businesses, got {businesses}")
    s, e = _day(start, "start"), _day(end, "end")
    if e - s < 2 * 365:
        raise RiskEngineError(f"synth --kind food: 'end' must be at least two years after 'start' ({start} .. {end})")
    from riskengine.progress import Steps

    step = Steps(not progress, total=3)
    step("drawing the city: businesses, neighbourhoods, area events, inspections")
    rng = np.random.default_rng(seed)
    city = build_city(businesses, s, e, rng)
    out = Path(out_dir)
    for sub in ("events", "area", "truth"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    step("computing the ready feature table")
    ids = _ids(len(city.businesses), rng)
    tables, bad = _tables(city, ids, rng)
    tables["features.csv"] = ready_table(city, ids)
    step("writing files")
    rows = {}
    for rel, df in tables.items():
        path = out / rel
        if rel.endswith(".parquet"):
            df.to_parquet(path, index=False)
        else:
            df.to_csv(path, index=False)
        rows[rel] = len(df)
    manifest = {"kind": "food", "description": DESCRIPTION, "seed": seed, "businesses": businesses,
                "start": str(start), "end": str(end), "rows": rows, "planted": bad}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    insp = city.inspections
    return FoodSummary(out, {rel: out / rel for rel in rows} | {"manifest.json": out / "manifest.json"}, rows,
                       len(insp), float(insp["outcome"].mean()),
                       dict(zip(city.inspectors["inspector"], city.inspectors["detection"].astype(float))), bad)


def _ids(n: int, rng) -> np.ndarray:
    """Text licence numbers, not in the order the businesses were drawn."""
    numbers = rng.choice(np.arange(10_000, 99_999), n, replace=False)
    return np.array([f"FB-{k:05d}" for k in numbers])


def _tables(city: City, ids: np.ndarray, rng) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
    b = city.businesses
    bad: dict[str, int] = {}
    lat, lon = b["lat"].round(6).astype(object), b["lon"].round(6).astype(object)
    no_coords = rng.random(len(b)) < 0.03  # geocoding failed
    lat[no_coords], lon[no_coords] = None, None
    entities = pd.DataFrame({"entity_id": ids, "facility_type": b["facility_type"], "risk_tier": b["risk_tier"],
                             "district": "D" + (b["district"] + 1).astype(str),
                             "licence_date": _text(b["licence_date"]), "opening_date": _text(b["opened"]),
                             "lat": lat, "lon": lon})
    dup = entities.sample(n=max(1, len(b) // 400), random_state=int(rng.integers(1 << 31)))
    entities = pd.concat([entities, dup]).sort_values("entity_id", kind="stable").reset_index(drop=True)
    bad["entities.csv"] = len(dup)
    bad["entities.csv (no coordinates, kept)"] = int(no_coords.sum())

    comp = city.complaints
    complaints = pd.DataFrame({"entity_id": ids[comp["business"]], "date": _text(comp["day"]), "type": "food complaint"})
    complaints, bad["events/complaints.csv"] = _repeat_some(complaints, 0.01, rng)
    own = city.owner_changes
    licences = pd.concat([
        pd.DataFrame({"entity_id": ids, "date": _text(b["licence_date"]), "type": "licence issued"}),
        pd.DataFrame({"entity_id": ids[own["business"]], "date": _text(own["day"]), "type": "change of owner"})])
    licences = licences[licences["date"] <= _text([city.end])[0]].sort_values(["date", "entity_id"]).reset_index(drop=True)

    tables = {"entities.csv": entities, "events/complaints.csv": complaints, "events/licences.csv": licences}
    for source, part in city.area.groupby("source", sort=True):
        frame = pd.DataFrame({"lat": part["lat"].round(6).astype(object), "lon": part["lon"].round(6).astype(object),
                              "date": _text(part["day"]), "type": part["type"]})
        frame, n_dup = _repeat_some(frame, 0.005, rng)
        broken = rng.random(len(frame)) < 0.002  # coordinates lost or mangled in the export
        frame.loc[broken, "lat"] = np.where(rng.random(int(broken.sum())) < 0.5, None, "999")
        frame = frame.astype({"lat": str, "lon": str}).replace({"None": ""})
        rel = f"area/{source}.csv"
        tables[rel] = frame
        bad[rel] = n_dup + int(broken.sum())

    tables["weather.csv"] = pd.DataFrame({"date": _text(city.weather["day"]), "temp_max": city.weather["temp_max"]})
    tables["weather.csv"] = tables["weather.csv"][tables["weather.csv"]["date"] <= _text([city.end])[0]]
    insp = city.inspections
    tables["outcomes.csv"] = pd.DataFrame({"entity_id": ids[insp["business"]], "date": _text(insp["day"]),
                                           "outcome": insp["outcome"], "inspector": insp["inspector"],
                                           "inspection_type": insp["kind"]})
    q = city.queue
    tables["queue.csv"] = pd.DataFrame({"entity_id": ids[q["business"]], "date": _text(q["day"]),
                                        "inspector": q["inspector"], "inspection_type": q["kind"]})
    tables["truth/cases.parquet"] = pd.DataFrame({
        "entity_id": ids[insp["business"]], "date": pd.to_datetime(_text(insp["day"])),
        "p_violation": insp["p_violation"], "p_true": insp["p_violation"],  # p_true: the name the oracle view reads
        "p_present": insp["p_present"], "violation_present": insp["present"],
        "inspector": insp["inspector"], "detection_rate": insp["detection"], "inspection_type": insp["kind"]})
    tables["truth/queue.parquet"] = pd.DataFrame({
        "entity_id": ids[q["business"]], "date": pd.to_datetime(_text(q["day"])), "p_violation": q["p_violation"],
        "p_present": q["p_present"], "inspector": q["inspector"], "detection_rate": q["detection"]})
    tables["truth/inspectors.parquet"] = city.inspectors[["inspector", "detection"]].rename(
        columns={"detection": "detection_rate"})
    return tables, bad


def _repeat_some(df: pd.DataFrame, share: float, rng) -> tuple[pd.DataFrame, int]:
    """Exact repeats of a few rows, as exports that were appended twice have."""
    k = int(round(len(df) * share))
    extra = df.iloc[rng.choice(len(df), k, replace=False)] if k else df.iloc[:0]
    return pd.concat([df, extra]).sort_values("date", kind="stable").reset_index(drop=True), k


# --- the ready feature table ----------------------------------------------------------

READY_RADIUS_M = 500.0


def _window_count(keys: np.ndarray, entity: np.ndarray, day: np.ndarray, window: int | None) -> np.ndarray:
    """Events of `entity` dated in [day - window, day) (all history if window is None); keys sorted."""
    hi = np.searchsorted(keys, entity * 1_000_000 + day, "left")
    lo_day = day - window if window is not None else np.full_like(day, -500_000)
    lo = np.searchsorted(keys, entity * 1_000_000 + lo_day, "left")
    return (hi - lo).astype(float)


def _keys(entity: np.ndarray, day: np.ndarray) -> np.ndarray:
    return np.sort(np.asarray(entity, np.int64) * 1_000_000 + np.asarray(day, np.int64))


def ready_table(city: City, ids: np.ndarray) -> pd.DataFrame:
    """One row per inspection and per queued inspection: what the city knew strictly before its date."""
    from scipy.spatial import cKDTree

    rows = pd.concat([city.inspections[["business", "day", "inspector"]],
                      city.queue[["business", "day", "inspector"]]], ignore_index=True)
    b, day = rows["business"].to_numpy(np.int64), rows["day"].to_numpy(np.int64)
    biz = city.businesses
    insp = city.inspections.sort_values(["business", "day"])
    i_keys = insp["business"].to_numpy(np.int64) * 1_000_000 + insp["day"].to_numpy(np.int64)
    v_keys = _keys(insp.loc[insp["outcome"] == 1, "business"], insp.loc[insp["outcome"] == 1, "day"])
    before = np.searchsorted(i_keys, b * 1_000_000 + day, "left") - 1
    has_prev = (before >= 0) & (i_keys[np.maximum(before, 0)] // 1_000_000 == b)
    prev_day = np.where(has_prev, insp["day"].to_numpy()[np.maximum(before, 0)], np.nan)
    prev_out = np.where(has_prev, insp["outcome"].to_numpy()[np.maximum(before, 0)], np.nan)
    c_keys = _keys(city.complaints["business"], city.complaints["day"])
    o_keys = _keys(city.owner_changes["business"], city.owner_changes["day"])

    table = {
        "entity_id": ids[b], "as_of": _text(day),
        "days_since_last_inspection": day - prev_day,
        "inspections_before": _window_count(i_keys, b, day, None),
        "critical_violations_before": _window_count(v_keys, b, day, None),
        "violation_last_inspection": prev_out,
        "complaints_90d": _window_count(c_keys, b, day, 90),
        "complaints_365d": _window_count(c_keys, b, day, 365),
    }
    points = biz[["x", "y"]].to_numpy()  # the city's own map, in metres
    for (source, type_), window in ((("complaints311", "sanitation"), 90), (("complaints311", "garbage"), 90),
                                    (("crime", "burglary"), 365)):
        part = city.area[(city.area["source"] == source) & (city.area["type"] == type_)]
        near = cKDTree(points).sparse_distance_matrix(cKDTree(part[["x", "y"]].to_numpy()), READY_RADIUS_M,
                                                      output_type="coo_matrix")
        owner, days = near.row, part["day"].to_numpy()[near.col]
        name = f"{type_}_{'complaints' if source == 'complaints311' else 'reports'}_500m_{window}d"
        table[name] = _window_count(_keys(owner, days), b, day, window)
    temps = city.weather.set_index("day")["temp_max"]
    table["temp_max_7d"] = temps.rolling(7).mean().shift(1).reindex(day).round(2).to_numpy()
    table["business_age_years"] = np.round((day - biz["opened"].to_numpy()[b]) / 365.25, 2)
    table["owner_change_365d"] = _window_count(o_keys, b, day, 365)
    table["inspector"] = rows["inspector"].to_numpy()
    out = pd.DataFrame(table).sort_values(["as_of", "entity_id"], kind="stable").reset_index(drop=True)
    return out
