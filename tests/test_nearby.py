"""Nearby features: counts and densities of area events around entities, before the as-of date."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from riskengine.features import build_features, describe
from riskengine.features._nearby import EARTH_RADIUS_M, KERNEL_CUTOFF
from riskengine.ingest import validate_area_events
from riskengine.spec import FeaturesSpec, NearbySpec


def haversine(lat1, lon1, lat2, lon2):
    p1, p2 = np.radians(lat1), np.radians(lat2)
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(1.0, h)))


def area_rows(area: pd.DataFrame) -> pd.DataFrame:
    """Area events as the features read them: in the events table, no entity_id, with coordinates."""
    return area.assign(entity_id=pd.NA, value=np.nan)[["source", "entity_id", "date", "type", "value", "lat", "lon"]]


def city(seed: int, n: int = 60, m: int = 1500):
    rng = np.random.default_rng(seed)
    entities = pd.DataFrame({"entity_id": [f"B{i:03d}" for i in range(n)],
                             "lat": 41.88 + rng.uniform(0, 0.015, n), "lon": -87.63 + rng.uniform(0, 0.02, n)})
    entities.loc[5, "lon"] = np.nan  # a business without coordinates
    area = pd.DataFrame({"source": "complaints", "type": rng.choice(["sanitation", "garbage"], m),
                         "date": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 400, m), "D"),
                         "lat": 41.875 + rng.uniform(0, 0.025, m), "lon": -87.635 + rng.uniform(0, 0.03, m)})
    return entities, area


SPEC = FeaturesSpec(windows=[30], nearby=NearbySpec(radii_m=[150, 400], windows=[60, 365], bandwidth_m=[100]))


def test_counts_match_a_brute_force_count_on_many_dates():
    entities, area = city(1)
    dates = ["2024-05-01", "2024-09-15", "2025-01-20"]
    fs = build_features(entities, area_rows(area), dates, SPEC)
    names = [n for n in fs.info["name"] if n.startswith("nearby__")]
    assert len(names) == 2 * (2 * 2 + 2)  # two types x (2 radii x 2 windows + 1 bandwidth x 2 windows)
    dist = haversine(entities["lat"].to_numpy()[:, None], entities["lon"].to_numpy()[:, None],
                     area["lat"].to_numpy()[None, :], area["lon"].to_numpy()[None, :])
    for info in fs.info[fs.info["stat"] == "nearby_count"].itertuples():
        radius = float(info.name.split("_count_")[1].split("m_")[0])
        for t in pd.to_datetime(dates):
            seen = ((area["type"] == info.type) & (area["date"] < t)
                    & (area["date"] >= t - pd.Timedelta(days=int(info.window_days)))).to_numpy()
            expected = ((dist <= radius) & seen[None, :]).sum(axis=1).astype(float)
            expected[entities["lon"].isna().to_numpy()] = np.nan
            got = fs.table.loc[fs.table["as_of"] == t, info.name].to_numpy()
            np.testing.assert_array_equal(got, expected, err_msg=f"{info.name} as of {t.date()}")
    assert fs.table[names].notna().sum().min() > 0 and fs.table[names[0]].isna().sum() == len(dates)


def test_density_matches_a_direct_sum():
    entities, area = city(2)
    as_of = pd.Timestamp("2024-11-01")
    fs = build_features(entities, area_rows(area), [as_of], SPEC)
    b = 100.0
    for e in entities.dropna().itertuples():
        got = fs.table.loc[fs.table["entity_id"] == e.entity_id, "nearby__complaints__garbage__kde_100m_365d"].item()
        seen = area[(area["type"] == "garbage") & (area["date"] < as_of) & (area["date"] >= as_of - pd.Timedelta(days=365))]
        d = haversine(e.lat, e.lon, seen["lat"].to_numpy(), seen["lon"].to_numpy())
        kernel = np.exp(-d ** 2 / (2 * b * b)) * 1e6 / (2 * math.pi * b * b)
        assert got == pytest.approx(kernel[d <= KERNEL_CUTOFF * b].sum(), rel=1e-9, abs=1e-9)
        # the whole sum differs only by the kernel's cut tail: at most exp(-8) of the peak per event
        assert abs(got - kernel.sum()) <= len(d) * math.exp(-8) * 1e6 / (2 * math.pi * b * b)


def test_strictly_before_the_as_of_date_and_at_the_radius():
    entities = pd.DataFrame({"entity_id": ["A"], "lat": [51.5], "lon": [-0.12]})
    at_radius = 51.5 + math.degrees(500 / EARTH_RADIUS_M)  # due north, exactly 500 m
    just_beyond = 51.5 + math.degrees(500.01 / EARTH_RADIUS_M)
    area = pd.DataFrame({
        "source": "crime", "type": "burglary",
        "date": pd.to_datetime(["2024-03-01", "2024-02-29", "2024-02-29", "2024-02-29", "2023-12-02", "2023-12-01"]),
        "lat": [51.5, 51.5, at_radius, just_beyond, 51.5, 51.5], "lon": [-0.12] * 6})
    spec = FeaturesSpec(windows=[30], nearby=NearbySpec(radii_m=[500], windows=[90], bandwidth_m=[]))
    fs = build_features(entities, area_rows(area), ["2024-03-01"], spec)
    # on the as-of date: not counted; the day before: counted; at 500 m: counted; 1 cm beyond: not;
    # 90 days before (2023-12-02): counted; 91 days before: not
    assert fs.table["nearby__crime__burglary__count_500m_90d"].item() == 3
    info = fs.info.set_index("name").loc["nearby__crime__burglary__count_500m_90d"]
    assert describe(info.rename("nearby__crime__burglary__count_500m_90d").to_dict()
                    | {"name": "nearby__crime__burglary__count_500m_90d"}, 3) == "3 crime burglaries within 500 m in the last 3 months"


def test_a_later_area_event_never_changes_a_row():
    entities, area = city(3, n=30, m=600)
    as_of = pd.Timestamp("2024-08-01")
    before = build_features(entities, area_rows(area), [as_of], SPEC).table
    later = area.assign(date=as_of + pd.to_timedelta(np.arange(len(area)) % 50, "D"))
    after = build_features(entities, area_rows(pd.concat([area, later])), [as_of], SPEC).table
    pd.testing.assert_frame_equal(before, after)


def test_scoring_reference_keeps_columns_when_a_type_is_absent():
    entities, area = city(4, n=20, m=300)
    fs = build_features(entities, area_rows(area), ["2024-08-01"], SPEC)
    only_one = area[area["type"] == "sanitation"]
    again = build_features(entities, area_rows(only_one), ["2024-08-01"], SPEC, reference=fs.info)
    assert list(again.table.columns) == list(fs.table.columns)
    located = entities["lon"].notna().to_numpy()
    assert (again.table.loc[located, "nearby__complaints__garbage__count_400m_365d"] == 0).all()


def test_density_reads_as_a_phrase():
    row = {"name": "nearby__complaints__sanitation__kde_250m_90d", "stat": "nearby_kde", "window_days": 90,
           "label": "sanitation complaints"}
    assert describe(row, 12.345) == "sanitation complaints around it in the last 3 months: 12.3 per km2 (kernel 250 m)"
    assert describe(row, float("nan")) == "sanitation complaints nearby: not known (no coordinates)"


def test_bad_area_events_are_rejected_with_reasons():
    raw = pd.DataFrame({"lat": ["41.9", "95", "", "41.9", "41.9"], "lon": ["-87.6", "-87.6", "-87.6", "x", "-87.6"],
                        "date": ["2024-01-02", "2024-01-02", "2024-01-02", "2024-01-02", "2024-13-40"],
                        "type": ["garbage"] * 5})
    raw["_row"] = range(1, 6)
    raw["_line"] = raw["_row"] + 1
    good, rejects = validate_area_events(raw, "garbage.csv", pd.Timestamp("2025-01-01"))
    assert len(good) == 1
    reasons = dict(zip(rejects["row"], rejects["reason"]))
    assert "outside -90..90" in reasons[2]
    assert "lat: missing or not a number" in reasons[3]
    assert "lon: missing or not a number" in reasons[4]
    assert "date" in reasons[5]


MINIMAL = """
name = "food"
[purpose]
problem = "p"
insight = "i"
datasets = "d"
action = "a"
[data]
entities = "e.csv"
[labels]
first_as_of = 2021-01-01
[[models]]
name = "lgbm"
type = "lightgbm"
"""


@pytest.mark.parametrize("extra, message", [
    ('[features.nearby]\nradii_m = [500]\n', r"\[features.nearby\] needs \[data.area_events\]"),
    ('[data.area_events]\nx = "a.csv"\n[features.nearby]\nradii_m = [-5]\n', "distances in metres"),
    ('[data.area_events]\nx = "a.csv"\n[features.nearby]\nwindows = []\n', "positive numbers of days"),
    ('[data.area_events]\nx = "a.csv"\n[features.nearby]\nradius = [5]\n', r"unknown key 'features.nearby.radius'"),
    ('[data.events]\ncrime = "c.csv"\n[data.area_events]\ncrime = "a.csv"\n', r"share the name\(s\) \['crime'\]"),
])
def test_nearby_keys_are_checked_on_load(tmp_path, extra, message):
    from riskengine.errors import SpecError
    from riskengine.spec import load_spec

    (tmp_path / "training").mkdir()
    path = tmp_path / "training" / "food.toml"
    path.write_text(MINIMAL + extra)
    with pytest.raises(SpecError, match=message) as err:
        load_spec(path)
    assert str(path) in str(err.value)


def test_area_events_alone_bring_the_default_nearby_features(tmp_path):
    from riskengine.spec import load_spec

    (tmp_path / "training").mkdir()
    path = tmp_path / "training" / "food.toml"
    path.write_text(MINIMAL.replace("[labels]", '[data.area_events]\ncrime = "a.csv"\n[labels]'))
    spec = load_spec(path)
    assert spec.features.nearby.radii_m == [250.0, 500.0] and spec.data.area_events["crime"].path.name == "a.csv"


def test_nearby_without_area_events_is_an_error_not_silence():
    from riskengine.errors import DataError

    entities, area = city(6, n=10, m=10)
    with pytest.raises(DataError, match="no area events reached the features"):
        build_features(entities, area_rows(area.iloc[:0]), ["2024-08-01"], SPEC)


def test_each_case_sees_what_a_grid_as_of_its_own_date_sees_and_nothing_later():
    from riskengine.features import build_case_features

    entities, area = city(4, n=25, m=800)
    cases = pd.DataFrame({"entity_id": ["B001", "B002", "B002", "B010", "B005"],
                          "as_of": pd.to_datetime(["2024-03-10", "2024-06-01", "2024-11-20", "2024-06-01", "2024-07-07"])})
    got = build_case_features(entities, area_rows(area), cases, SPEC).table
    names = [c for c in got.columns if c.startswith("nearby__")]
    assert names
    for r in got.itertuples(index=False):
        grid = build_features(entities, area_rows(area), [r.as_of], SPEC).table.set_index("entity_id")
        row = got[(got["entity_id"] == r.entity_id) & (got["as_of"] == r.as_of)][names].iloc[0]
        pd.testing.assert_series_equal(row, grid.loc[r.entity_id, names], check_names=False)
    later = area.assign(date=pd.Timestamp("2024-11-20") + pd.to_timedelta(np.arange(len(area)) % 30, "D"))
    with_later = build_case_features(entities, area_rows(pd.concat([area, later])), cases, SPEC).table
    pd.testing.assert_frame_equal(got, with_later)
