"""Alerts on two consecutive lists: new to the list, a jump in probability, a threshold crossed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskengine.errors import RiskEngineError
from riskengine.model import RiskModel
from riskengine.scoring import LoadedModel, find_alerts, find_previous, read_previous, score_frames
from riskengine.spec import ScoringAlerts, ScoringExclusions, ScoringSpec

WEEK1, WEEK2 = pd.Timestamp("2024-06-03"), pd.Timestamp("2024-06-10")
INFO = pd.DataFrame({"name": ["signal"], "source": ["entities"], "type": ["signal"], "stat": ["static"],
                     "window_days": [pd.NA], "unit": [None], "label": ["risk signal"], "categorical": [False],
                     "categories": [None]})


@pytest.fixture(scope="module")
def linear():
    """A one-feature logistic model (no calibration), and the signal value that gives any wanted probability."""
    rng = np.random.default_rng(0)
    s = rng.normal(size=2000)
    y = (rng.random(2000) < 1 / (1 + np.exp(-(2 * s - 1)))).astype(int)
    # a constant category beside the signal (model.py's logistic path needs one categorical column)
    model = RiskModel("logistic_regression", {"C": 1e6}, {"kind": ["home"]}, calibration="none")
    model.fit(pd.DataFrame({"signal": s, "kind": "home"}), y)

    def signal_for(probs: list[float]) -> np.ndarray:
        """The signals whose raw scores are logit(p): the model is monotone in them, so bisect (all at once)."""
        target = np.log(np.asarray(probs) / (1 - np.asarray(probs)))
        lo, hi = np.full(len(target), -100.0), np.full(len(target), 100.0)
        for _ in range(60):
            mid = (lo + hi) / 2
            above = model.raw_score(pd.DataFrame({"signal": mid, "kind": "home"})) > target
            hi, lo = np.where(above, mid, hi), np.where(above, lo, mid)
        return (lo + hi) / 2

    return LoadedModel(model, INFO, "models:/toy@champion", "1", "run-1"), signal_for


def _week(signal_for, probs: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"entity_id": list(probs), "signal": signal_for(list(probs.values())), "kind": "home"})


def _probabilities() -> dict[str, float]:
    probs = {f"TOP{i}": 0.90 - 0.01 * i for i in range(10)}  # the first list
    probs |= {"NEXT": 0.70, "J": 0.05, "T": 0.45, "X": 0.05}
    probs |= {f"R{i:03d}": 0.01 + 0.0001 * i for i in range(100)}
    return probs


def test_two_consecutive_lists_raise_new_jump_and_threshold_alerts_with_reasons(linear, tmp_path):
    loaded, signal_for = linear
    spec = ScoringSpec(pipeline="toy", capacity=10, exclusions=ScoringExclusions(inspected_within_months=12,
                       already_licensed=True), alerts=ScoringAlerts(jump=0.20, threshold=0.5))
    entities = pd.DataFrame({"entity_id": list(_probabilities()), "ward": "W1"})
    no_events = pd.DataFrame({"source": ["planning"], "entity_id": ["R000"], "date": [pd.Timestamp("2010-01-01")],
                              "type": ["planning_application"]})
    no_outcomes = pd.DataFrame({"entity_id": ["R001"], "date": [pd.Timestamp("2010-01-01")], "outcome": [0.0]})
    first = score_frames(spec, _week(signal_for, _probabilities()), entities, no_events, no_outcomes, WEEK1, loaded,
                         tmp_path / "toy" / str(WEEK1.date()))
    assert set(first.listed["entity_id"]) == {f"TOP{i}" for i in range(10)}
    assert first.previous is None and first.alerts.empty
    assert pd.read_csv(first.paths["alerts_csv"]).empty

    # a week later: TOP0 was inspected, J and T rose, X rose most but got a licence
    probs = _probabilities() | {"J": 0.30, "T": 0.55, "X": 0.95}
    events = pd.concat([no_events, pd.DataFrame({"source": ["planning"], "entity_id": ["X"],
                        "date": [pd.Timestamp("2024-06-05")], "type": ["licence_application"]})])
    outcomes = pd.concat([no_outcomes, pd.DataFrame({"entity_id": ["TOP0"], "date": [pd.Timestamp("2024-06-04")],
                                                     "outcome": [1.0]})])
    second = score_frames(spec, _week(signal_for, probs), entities, events, outcomes, WEEK2, loaded,
                          tmp_path / "toy" / str(WEEK2.date()))
    assert second.previous == first.paths["list_csv"]
    alerts = pd.read_csv(second.paths["alerts_csv"], dtype={"entity_id": str})
    got = sorted(zip(alerts["alert"], alerts["entity_id"]))
    # J rose by 25 points but stays far below the list (lowest pick 70%): nothing to act on, no alert;
    # T crossed the spec's threshold: always an alert for an entity that may be listed
    assert got == [("new", "NEXT"), ("threshold", "T")]
    row = alerts.set_index("entity_id")
    assert row.at["NEXT", "rank"] == 10 and row.at["NEXT", "detail"] == "new to the list at rank 10"
    assert row.at["T", "detail"] == "probability crossed 50%: 45.0% -> 55.0%"
    assert pd.isna(row.at["T", "rank"])
    # each alert carries its reasons, worded from the feature metadata
    for e in ("T", "NEXT"):
        assert row.at[e, "reason_1"].startswith("risk signal: ") and "raises the risk" in row.at[e, "reason_1"]
    # the page counts them too
    page = second.paths["list_html"].read_text()
    assert "New to the list since the previous one: 1</h3>" in page
    assert "Risk rose sharply" not in page
    assert "Crossed the alert threshold: 1 (all off the list)</h3>" in page


def test_a_jump_off_the_list_alerts_only_when_it_reaches_the_list():
    """Kept off by a quota at the list's level: act next round; a rise that stays far below: no alert."""
    current = pd.DataFrame({"entity_id": ["a", "b"], "rank": [1, 2]})
    scores = pd.DataFrame({"entity_id": ["a", "b", "q", "low"], "probability": [0.9, 0.6, 0.7, 0.3], "excluded": ""})
    prev_list = pd.DataFrame({"entity_id": ["a", "b"], "rank": [1, 2]})
    prev = pd.DataFrame({"entity_id": ["a", "b", "q", "low"], "probability": [0.9, 0.6, 0.2, 0.05]})
    out = find_alerts(current, scores, prev_list, prev, jump=0.1, threshold=None, list_floor=0.6)
    assert list(zip(out["alert"], out["entity_id"])) == [("jump", "q")]
    every = find_alerts(current, scores, prev_list, prev, jump=0.1, threshold=None)
    assert set(every["entity_id"]) == {"q", "low"}


def test_alerts_only_for_entities_that_may_be_listed():
    current = pd.DataFrame({"entity_id": ["a"], "rank": [1]})
    scores = pd.DataFrame({"entity_id": ["a", "b", "c"], "probability": [0.9, 0.8, 0.7],
                           "excluded": ["", "already licensed", ""]})
    prev_list = pd.DataFrame({"entity_id": ["z"], "rank": [1]})
    prev = pd.DataFrame({"entity_id": ["a", "b", "c"], "probability": [0.1, 0.1, 0.65]})
    out = find_alerts(current, scores, prev_list, prev, jump=0.1, threshold=0.5)
    assert "b" not in set(out["entity_id"])
    assert sorted(zip(out["alert"], out["entity_id"])) == [("jump", "a"), ("new", "a"), ("threshold", "a")]
    assert list(out["alert"]) == ["new", "jump", "threshold"]


def test_no_previous_list_means_no_alerts():
    current = pd.DataFrame({"entity_id": ["a"], "rank": [1]})
    scores = pd.DataFrame({"entity_id": ["a"], "probability": [0.9], "excluded": [""]})
    out = find_alerts(current, scores, None, None, jump=0.1, threshold=0.5)
    assert out.empty and "alert" in out.columns


def test_the_previous_list_is_the_latest_earlier_one_beside_this(tmp_path):
    for day in ("2024-05-20", "2024-05-27", "2024-06-10"):
        (tmp_path / day).mkdir()
        (tmp_path / day / "list.csv").write_text("rank,entity_id,probability\n")
    (tmp_path / "2024-06-01").mkdir()  # no list in it
    (tmp_path / "notes").mkdir()
    assert find_previous(tmp_path / "2024-06-03", pd.Timestamp("2024-06-03")) == tmp_path / "2024-05-27" / "list.csv"
    assert find_previous(tmp_path / "2024-05-20", pd.Timestamp("2024-05-20")) is None


def test_previous_probabilities_come_from_scores_parquet_when_present(tmp_path):
    pd.DataFrame({"rank": [1], "entity_id": ["a"], "probability": [0.9]}).to_csv(tmp_path / "list.csv", index=False)
    lst, probs = read_previous(tmp_path / "list.csv")
    assert list(probs["entity_id"]) == ["a"]
    pd.DataFrame({"entity_id": ["a", "b"], "probability": [0.9, 0.2]}).to_parquet(tmp_path / "scores.parquet")
    lst, probs = read_previous(tmp_path / "list.csv")
    assert list(probs["entity_id"]) == ["a", "b"] and list(lst["entity_id"]) == ["a"]


def test_a_previous_file_that_is_not_a_list_is_a_clear_error(tmp_path):
    (tmp_path / "list.csv").write_text("id,p\n1,0.5\n")
    with pytest.raises(RiskEngineError, match="missing column"):
        read_previous(tmp_path / "list.csv")
    with pytest.raises(RiskEngineError, match="previous list not found"):
        read_previous(tmp_path / "nope.csv")


def test_a_quota_that_keeps_the_list_below_capacity_is_explained_on_the_page(linear, tmp_path):
    loaded, signal_for = linear
    probs = _probabilities()
    entities = pd.DataFrame({"entity_id": list(probs), "ward": ["W1"] * 12 + ["W2"] * (len(probs) - 12),
                             "address": [f"{i} High Street" for i in range(len(probs))]})
    spec = ScoringSpec(pipeline="toy", capacity=10, quotas={"ward": 3})
    none = pd.DataFrame({"source": [], "entity_id": [], "date": pd.to_datetime([]), "type": []})
    res = score_frames(spec, _week(signal_for, probs), entities, none, None, WEEK1, loaded, tmp_path / "q")
    assert len(res.listed) == 6  # 3 from each ward
    page = res.paths["list_html"].read_text()
    assert "The list holds 6, 4 below the capacity of 10: the quotas were reached" in page
    assert "0 High Street" in page  # the address the team finds each entity by
    assert list(pd.read_csv(res.paths["list_csv"]).columns[:3]) == ["rank", "entity_id", "address"]
