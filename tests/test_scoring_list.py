"""The list: capacity, ranking and ties, exclusions, quotas and the exploration slice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskengine.errors import RiskEngineError, SpecError
from riskengine.scoring import exclusions, make_list
from riskengine.spec import ScoringExclusions, ScoringSpec, load_spec

AS_OF = pd.Timestamp("2024-06-01")


def scores_frame(n: int = 500, seed: int = 0, wards: str = "ABCDEFGHIJ") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    raw = rng.normal(size=n)
    return pd.DataFrame({"entity_id": [f"U{i:06d}" for i in range(n)], "score": raw,
                         "probability": 1 / (1 + np.exp(-raw)), "ward": rng.choice(list(wards), n), "excluded": ""})


def test_capacity_cuts_the_ranked_list():
    s = scores_frame()
    out = make_list(s, 40, AS_OF)
    assert list(out["rank"]) == list(range(1, 41))
    assert set(out["entity_id"]) == set(s.nlargest(40, "score")["entity_id"])
    assert out["score"].is_monotonic_decreasing
    assert not out["exploration"].any() and (out["inclusion_probability"] == 1).all()


def test_capacity_larger_than_the_eligible_lists_everyone_eligible():
    s = scores_frame(30)
    s.loc[:9, "excluded"] = "already licensed"
    out = make_list(s, 100, AS_OF)
    assert len(out) == 20 and not out["entity_id"].isin(s.loc[:9, "entity_id"]).any()


def test_ties_are_broken_by_entity_id_whatever_the_input_order():
    s = scores_frame(200)
    s["score"] = np.round(s["score"], 1)  # many equal scores
    a = make_list(s, 25, AS_OF)
    b = make_list(s.sample(frac=1, random_state=3), 25, AS_OF)
    pd.testing.assert_frame_equal(a, b)
    for _, grp in a.groupby("score"):
        assert list(grp["entity_id"]) == sorted(grp["entity_id"])


def test_a_tie_at_the_cut_goes_to_the_smaller_entity_id():
    s = pd.DataFrame({"entity_id": ["z", "b", "a", "c"], "score": [2.0, 1.0, 1.0, 1.0], "probability": 0.5,
                      "excluded": ""})
    assert list(make_list(s, 2, AS_OF)["entity_id"]) == ["z", "a"]


def test_excluded_entities_are_never_listed_and_the_next_ones_move_up():
    s = scores_frame()
    top = s.nlargest(10, "score")["entity_id"]
    s.loc[s["entity_id"].isin(top), "excluded"] = "inspected in the last 12 months"
    out = make_list(s, 20, AS_OF)
    assert not out["entity_id"].isin(top).any()
    assert set(out["entity_id"]) == set(s[~s["entity_id"].isin(top)].nlargest(20, "score")["entity_id"])


def _events() -> pd.DataFrame:
    rows = [
        ("planning", "L1", "2020-03-01", "licence_application"),
        ("planning", "P1", "2023-03-01", "planning_application"),
        ("planning", "F1", "2024-06-01", "licence_application"),  # on the as-of date: not yet known
        ("complaints", "C1", "2024-05-01", "noise"),
        ("complaints", "C2", "2021-05-01", "noise"),
    ]
    df = pd.DataFrame(rows, columns=["source", "entity_id", "date", "type"])
    df["date"] = pd.to_datetime(df["date"])
    return df


def _outcomes() -> pd.DataFrame:
    return pd.DataFrame({"entity_id": ["I1", "I2", "I3", "I4"],
                         "date": pd.to_datetime(["2023-06-01", "2023-05-31", "2024-05-31", "2024-06-01"]),
                         "outcome": [0.0, 1.0, 0.0, 1.0]})


IDS = pd.Series(["L1", "P1", "F1", "C1", "C2", "I1", "I2", "I3", "I4", "N1"])


def test_inspected_within_months_counts_back_from_the_day_before_the_as_of_date():
    why = exclusions(IDS, _events(), _outcomes(), AS_OF, ScoringExclusions(inspected_within_months=12))
    hit = set(why[why != ""].index)
    # 2023-06-01 is exactly 12 months back (in); 2023-05-31 is older (out); 2024-06-01 is the as-of day (future)
    assert hit == {"I1", "I3"}
    assert why["I1"] == "inspected in the last 12 months"


def test_already_licensed_and_any_listed_event_type_exclude():
    spec = ScoringExclusions(already_licensed=True, events=["complaints.noise"], events_within_months=6)
    why = exclusions(IDS, _events(), _outcomes(), AS_OF, spec)
    assert why["L1"] == "already licensed"
    assert why["C1"] == "has a complaints.noise event"
    assert why["C2"] == "" and why["P1"] == "" and why["F1"] == "" and why["N1"] == ""
    whole_source = exclusions(IDS, _events(), None, AS_OF, ScoringExclusions(events=["complaints"]))
    assert set(whole_source[whole_source != ""].index) == {"C1", "C2"}


def test_reasons_are_joined_when_several_rules_apply():
    ev = pd.concat([_events(), pd.DataFrame({"source": ["complaints"], "entity_id": ["L1"],
                                             "date": [pd.Timestamp("2024-01-01")], "type": ["noise"]})])
    why = exclusions(IDS, ev, None, AS_OF, ScoringExclusions(already_licensed=True, events=["complaints.noise"]))
    assert why["L1"] == "already licensed; has a complaints.noise event"


def test_an_exclusion_naming_an_unknown_source_is_a_clear_error():
    with pytest.raises(RiskEngineError, match="exclusions.events.*'housing'.*sources: complaints, planning"):
        exclusions(IDS, _events(), None, AS_OF, ScoringExclusions(events=["housing.claim"]))


def test_quotas_cap_each_group_and_fill_from_further_down():
    s = scores_frame(400, wards="ABCD")
    out = make_list(s, 40, AS_OF, quotas={"ward": 10})
    assert len(out) == 40
    assert out["ward"].value_counts().max() <= 10
    # each ward's picks are that ward's best entities
    for ward, grp in out.groupby("ward"):
        assert set(grp["entity_id"]) == set(s[s["ward"] == ward].nlargest(len(grp), "score")["entity_id"])
    assert out["score"].is_monotonic_decreasing


def test_quotas_reach_deep_when_the_best_are_all_in_one_ward():
    n = 20000
    s = scores_frame(n, wards="AB")
    s["ward"] = np.where(s["score"] > np.quantile(s["score"], 0.2), "A", s["ward"])  # the top 80% are all ward A
    s.loc[s["ward"] == "B", "ward"] = [f"W{i % 3}" for i in range((s["ward"] == "B").sum())]
    out = make_list(s, 30, AS_OF, quotas={"ward": 10})
    counts = out["ward"].value_counts()
    assert len(out) == 30 and counts["A"] == 10 and counts.max() == 10
    assert list(out["entity_id"][:10]) == list(s.sort_values("score", ascending=False)["entity_id"][:10])
    others = s[s["ward"] != "A"].sort_values("score", ascending=False)
    assert out["score"].iloc[10] == others["score"].iloc[0]  # the best of the other wards comes next


def test_a_missing_ward_counts_as_its_own_group():
    s = scores_frame(100, wards="A")
    s.loc[s.index % 2 == 0, "ward"] = None
    out = make_list(s, 10, AS_OF, quotas={"ward": 3})
    assert len(out) == 6  # 3 in ward A, 3 with no ward


def test_a_quota_on_a_column_that_does_not_exist_is_a_clear_error():
    with pytest.raises(RiskEngineError, match=r"\[quotas\].*lsoa"):
        make_list(scores_frame(), 10, AS_OF, quotas={"lsoa": 2})


def test_exploration_slice_is_marked_random_from_the_rest_and_reproducible():
    s = scores_frame(1000)
    s.loc[s.index % 10 == 0, "excluded"] = "already licensed"
    out = make_list(s, 50, AS_OF, exploration_share=0.1, seed=7)
    model, explore = out[~out["exploration"]], out[out["exploration"]]
    assert len(model) == 45 and len(explore) == 5
    assert list(out["rank"]) == list(range(1, 51)) and explore["rank"].min() == 46
    eligible = s[s["excluded"] == ""]
    assert set(model["entity_id"]) == set(eligible.nlargest(45, "score")["entity_id"])
    assert not explore["entity_id"].isin(model["entity_id"]).any()
    assert explore["entity_id"].isin(eligible["entity_id"]).all()
    assert np.allclose(explore["inclusion_probability"], 5 / (len(eligible) - 45))
    again = make_list(s.sample(frac=1, random_state=1), 50, AS_OF, exploration_share=0.1, seed=7)
    pd.testing.assert_frame_equal(out, again)
    other_seed = make_list(s, 50, AS_OF, exploration_share=0.1, seed=8)
    next_week = make_list(s, 50, AS_OF + pd.Timedelta(days=7), exploration_share=0.1, seed=7)
    assert set(other_seed.loc[other_seed["exploration"], "entity_id"]) != set(explore["entity_id"])
    assert set(next_week.loc[next_week["exploration"], "entity_id"]) != set(explore["entity_id"])


def test_exploration_draws_are_spread_evenly_over_the_rest():
    s = scores_frame(400)
    counts = pd.Series(0, index=s["entity_id"])
    for seed in range(300):
        out = make_list(s, 20, AS_OF, exploration_share=0.5, seed=seed)
        counts[out.loc[out["exploration"], "entity_id"]] += 1
    model_picks = set(s.nlargest(10, "score")["entity_id"])
    rest = counts.drop(list(model_picks))
    assert counts[list(model_picks)].sum() == 0
    # 3000 draws over 390 entities: about 7.7 each; by score quintile the shares are even. Each share is
    # a mean of 3000 draws of p = 0.2 (10 a list without replacement from 390): within 3.5 standard errors
    quintile = pd.qcut(s.set_index("entity_id").loc[rest.index, "score"], 5, labels=False)
    by_quintile = rest.groupby(quintile.to_numpy()).sum() / rest.sum()
    n, p = rest.sum(), 0.2
    se = (p * (1 - p) / n * (1 - 9 / 389)) ** 0.5
    assert ((by_quintile - p).abs() < 3.5 * se).all(), (by_quintile, se)


def test_the_shipped_scoring_spec_loads():
    spec = load_spec("scoring/hmo.toml")
    assert isinstance(spec, ScoringSpec)
    assert spec.pipeline == "hmo" and spec.name == "hmo" and spec.model_alias == "champion"
    assert spec.capacity == 50 and spec.quotas == {"ward": 8}
    assert spec.exclusions.inspected_within_months == 12 and spec.exclusions.already_licensed
    assert spec.exploration.share == 0.1 and spec.alerts.jump == 0.10 and spec.alerts.threshold == 0.5


@pytest.mark.parametrize("text, message", [
    ('pipeline = "hmo"\ncapacity = 0\n', "capacity"),
    ('pipeline = "hmo"\ncapacty = 5\n', "unknown key 'capacty'"),
    ('capacity = 5\n', "missing required key 'pipeline'"),
    ('pipeline = "hmo"\n[exploration]\nshare = 1.5\n', "exploration.share"),
    ('pipeline = "hmo"\n[quotas]\nward = "eight"\n', "quotas.ward"),
    ('pipeline = "hmo"\n[alerts]\nthreshold = 50\n', "alerts.threshold"),
])
def test_a_bad_scoring_spec_names_the_key(tmp_path, text, message):
    path = tmp_path / "scoring" / "bad.toml"
    path.parent.mkdir()
    path.write_text(text)
    with pytest.raises(SpecError, match=message):
        load_spec(path)
