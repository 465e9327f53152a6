"""The synthetic food city: its files, its hidden truth, its ready table and its inspectors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskengine.errors import RiskEngineError
from riskengine.ingest import load_data
from riskengine.spec import DataSpec, Source
from riskengine.synth import synth


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    out = tmp_path_factory.mktemp("food")
    summary = synth(out, kind="food", businesses=400, seed=3, progress=False)
    return out, summary


def test_files_have_the_shapes_of_the_contract(city):
    out, summary = city
    entities = pd.read_csv(out / "entities.csv", dtype=str)
    assert entities["entity_id"].str.match(r"^FB-\d{5}$").all()  # text ids
    assert {"facility_type", "risk_tier", "district", "licence_date", "opening_date", "lat", "lon"} <= set(entities.columns)
    assert entities["lat"].isna().any() and entities["lat"].notna().mean() > 0.9  # some failed geocoding
    assert entities["entity_id"].duplicated().any()  # an export appended twice
    outcomes = pd.read_csv(out / "outcomes.csv", dtype={"entity_id": str})
    assert set(outcomes["outcome"]) == {0, 1} and outcomes["inspector"].nunique() >= 10
    assert set(outcomes["inspection_type"]) == {"routine", "complaint", "follow-up"}
    for rel in ("area/complaints311.csv", "area/crime.csv"):
        area = pd.read_csv(out / rel, dtype=str)
        assert list(area.columns) == ["lat", "lon", "date", "type"]
    queue = pd.read_csv(out / "queue.csv", dtype={"entity_id": str})
    last = pd.to_datetime(outcomes["date"]).max()
    dates = pd.to_datetime(queue["date"])
    assert len(queue) and (dates > last).all() and (dates <= last + pd.Timedelta(days=7)).all()
    assert queue["entity_id"].isin(entities["entity_id"]).all()


def test_the_data_contract_sets_the_planted_mess_aside_with_reasons(city):
    out, _ = city
    spec = DataSpec(entities=Source(out / "entities.csv"), outcomes=Source(out / "outcomes.csv"),
                    events={"complaints": Source(out / "events/complaints.csv")},
                    area_events={"complaints311": Source(out / "area/complaints311.csv"),
                                 "crime": Source(out / "area/crime.csv")})
    data = load_data(spec, today=pd.Timestamp("2025-01-01").date())
    reasons = data.rejects["reason"].str.cat(sep=" | ")
    assert "duplicate entity_id" in reasons and "duplicate row" in reasons
    assert "lat: missing or not a number" in reasons and "lat: outside -90..90" in reasons
    area = data.area_events["complaints311"]
    assert area["lat"].between(-90, 90).all() and len(area) > 10_000
    assert data.summary()["area_events"]["crime"] == len(data.area_events["crime"])


def test_truth_is_one_probability_per_inspection_and_matches_what_happened(city):
    out, _ = city
    outcomes = pd.read_csv(out / "outcomes.csv", dtype={"entity_id": str}, parse_dates=["date"])
    truth = pd.read_parquet(out / "truth/cases.parquet")
    assert len(truth) == len(outcomes)
    merged = outcomes.merge(truth, on=["entity_id", "date"], validate="one_to_one")
    p = merged["p_violation"].to_numpy()
    assert ((p > 0) & (p < 1)).all() and (merged["p_true"] == merged["p_violation"]).all()
    # the outcomes were drawn from it: overall and from the lowest to the highest fifth
    se = np.sqrt((p * (1 - p)).sum()) / len(p)
    assert abs(merged["outcome"].mean() - p.mean()) < 4 * se
    fifth = pd.qcut(p, 5, labels=False)
    rates = merged.groupby(fifth)["outcome"].mean()
    assert rates.iloc[-1] > rates.iloc[0] + 0.2
    # the truth is not in the records: a business's past violations do not pin its risk down
    assert 0.1 < p.std() and merged["p_present"].max() < 1


def test_inspectors_differ_in_how_much_they_find(city):
    out, summary = city
    truth = pd.read_parquet(out / "truth/cases.parquet")
    rates = pd.read_parquet(out / "truth/inspectors.parquet").set_index("inspector")["detection_rate"]
    assert rates.max() - rates.min() > 0.2
    # found / present, per inspector, follows their detection rate
    found = truth.merge(pd.read_csv(out / "outcomes.csv", dtype={"entity_id": str}, parse_dates=["date"]),
                        on=["entity_id", "date", "inspector"])
    present = found[found["violation_present"] == 1]
    share = present.groupby("inspector")["outcome"].mean()
    assert np.corrcoef(share, rates.loc[share.index])[0, 1] > 0.6


def test_ready_table_uses_only_what_was_known_before_each_inspection(city):
    out, _ = city
    table = pd.read_csv(out / "features.csv", dtype={"entity_id": str}, parse_dates=["as_of"])
    outcomes = pd.read_csv(out / "outcomes.csv", dtype={"entity_id": str}, parse_dates=["date"])
    complaints = pd.read_csv(out / "events/complaints.csv", dtype={"entity_id": str}, parse_dates=["date"]).drop_duplicates()
    assert table.shape[1] == 2 + 12 + 1 and table["inspector"].notna().all()
    assert not table.duplicated(["entity_id", "as_of"]).any()
    sample = table.sample(300, random_state=0)
    for row in sample.itertuples():
        past = outcomes[(outcomes["entity_id"] == row.entity_id) & (outcomes["date"] < row.as_of)]
        assert row.inspections_before == len(past)
        assert row.critical_violations_before == past["outcome"].sum()
        mine = complaints[(complaints["entity_id"] == row.entity_id) & (complaints["date"] < row.as_of)]
        assert row.complaints_90d == (mine["date"] >= row.as_of - pd.Timedelta(days=90)).sum()
        if len(past):
            assert row.days_since_last_inspection == (row.as_of - past["date"].max()).days
            assert row.violation_last_inspection == past.sort_values("date")["outcome"].iloc[-1]
        else:
            assert np.isnan(row.days_since_last_inspection)


def test_kind_is_checked():
    with pytest.raises(RiskEngineError, match="'kind' expected 'borough' or 'food'"):
        synth("out/never", kind="harbour")
