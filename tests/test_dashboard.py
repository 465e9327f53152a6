"""The dashboard's statistics against hand-worked values and a known simulation; its figures on a known store."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from riskengine.dashboard import Rules, Watch, figures, ipw_prevalence, psi
from riskengine.simulate import coverage_study


def test_psi_of_categories_by_hand():
    ref = pd.Series(["a"] * 50 + ["b"] * 50)
    cur = pd.Series(["a"] * 75 + ["b"] * 25)
    assert psi(ref, cur) == pytest.approx((0.75 - 0.5) * math.log(1.5) + (0.25 - 0.5) * math.log(0.5), abs=1e-12)
    assert psi(ref, ref.sample(frac=1, random_state=1)) == 0.0


def test_psi_of_numbers_cuts_at_the_reference_quantiles_and_counts_missing_values():
    ref = pd.Series(np.arange(100, dtype=float))  # quartile edges 24.75, 49.5, 74.25
    cur = pd.Series(np.r_[np.arange(50.0), np.arange(50.0)])  # everything in the lower half
    eps = 1e-4
    expected = 2 * (0.5 - 0.25) * math.log(0.5 / 0.25) + 2 * (eps - 0.25) * math.log(eps / 0.25)
    assert psi(ref, cur, bins=4) == pytest.approx(expected, abs=1e-12)
    with_missing = pd.Series(np.r_[np.arange(75.0), [np.nan] * 25])  # a quarter went missing
    expected = 3 * (0.25 - 0.25) + (eps - 0.25) * math.log(eps / 0.25) + (0.25 - eps) * math.log(0.25 / eps)
    assert psi(ref, with_missing, bins=4) == pytest.approx(expected, rel=1e-6)


def test_inverse_probability_prevalence_by_hand():
    strata = pd.DataFrame({"population": [100, 300], "inspected": [2, 3], "positives": [1, 0]})
    est = ipw_prevalence(strata)
    assert est["estimate"] == pytest.approx((100 / 2 * 1 + 300 / 3 * 0) / 400)
    assert est["effective_n"] == pytest.approx(400 ** 2 / (100 ** 2 / 2 + 300 ** 2 / 3))
    assert est["low"] < est["estimate"] < est["high"]
    none = ipw_prevalence(pd.DataFrame({"population": [50], "inspected": [0], "positives": [0]}))
    assert none["estimate"] is None


def test_inverse_probability_prevalence_in_a_known_simulation_is_unbiased_and_covers():
    rng = np.random.default_rng(7)
    frames = []
    for week in range(26):  # frames of about 40,000 homes, prevalence drifting between 3% and 6%
        n = int(rng.integers(38_000, 42_000))
        frames.append({"week": week, "drawn": 5, "rest_truth": (rng.random(n) < 0.03 + 0.03 * week / 25).astype(int)})
    study = coverage_study(frames, error=0.025, seed=3, replicates=300)
    assert abs(study["bias_final"]) < 0.006  # unbiased within its Monte Carlo error (about 0.0016 here)
    assert 0.90 <= study["coverage_all_weeks_so_far"] <= 0.99
    assert 0.90 <= study["coverage_each_week"] <= 1.0


def _watch() -> Watch:
    weeks = pd.to_datetime(["2024-01-01", "2024-01-08"])
    lists = pd.DataFrame({"list_as_of": np.repeat(weeks, 4), "entity_id": [f"L{i}" for i in range(8)],
                          "rank": [1, 2, 3, 4] * 2, "exploration": [False, False, False, True] * 2,
                          "probability": [0.6, 0.5, 0.4, 0.05, 0.7, 0.5, 0.3, 0.02], "inclusion_probability": 1.0})
    store = pd.DataFrame({
        "entity_id": ["L0", "L1", "L2", "L3", "L4", "L5", "L7", "B1", "B2", "B3", "B4"],
        "date": pd.to_datetime(["2024-01-02"] * 4 + ["2024-01-09"] * 3 + ["2024-01-03", "2024-01-04", "2024-01-10", "2024-01-11"]),
        "outcome": [1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0],
        "slice": ["list"] * 3 + ["exploration"] + ["list"] * 2 + ["exploration"] + ["business as usual"] * 4,
        "list_as_of": list(np.repeat(weeks, [4, 3])) + [pd.NaT] * 4,
        "probability": [0.6, 0.5, 0.4, 0.05, 0.7, 0.5, 0.02] + [np.nan] * 4,
    })
    frames = pd.DataFrame({"list_as_of": weeks, "scored": [1000, 1000], "eligible": [900, 880], "picked": [3, 3],
                           "rest": [897, 877], "rest_mean_probability": [0.04, 0.05]})
    groups = pd.DataFrame({"list_as_of": np.repeat(weeks, 2), "attribute": "ward", "group": ["N", "S"] * 2,
                           "n": [500, 500] * 2, "eligible": [450, 450, 440, 440], "listed": [3, 1, 3, 1]})
    return Watch("hmo", lists, frames, store, groups, min_group_size=10)


def test_figures_on_a_known_store():
    figs = figures(_watch(), Rules(min_inspections=5))
    rates = figs["hit_rates"].set_index(["week", "slice"])
    first = pd.Timestamp("2024-01-01")
    assert rates.loc[(first, "list"), ["inspected", "positives"]].tolist() == [3, 2]
    assert rates.loc[(pd.Timestamp("2024-01-08"), "list"), ["cum_inspected", "cum_positives"]].tolist() == [5, 3]
    # business-as-usual visits fall in the week of the latest list before them
    assert rates.loc[(first, "business as usual"), "inspected"] == 2
    bau = figs["against_bau"]
    assert (bau["list_positives"], bau["list_inspected"], bau["bau_positives"], bau["bau_inspected"]) == (3, 5, 1, 4)
    assert bau["ratio"] == pytest.approx((3 / 5) / (1 / 4))
    prev = figs["prevalence"]["overall"]
    assert prev["estimate"] == pytest.approx((897 * 0 + 877 * 1) / (897 + 877))
    assert figs["prevalence"]["model_estimate"] == pytest.approx((897 * 0.04 + 877 * 0.05) / (897 + 877))
    ops = figs["operations"].set_index("week")
    assert ops.loc[pd.Timestamp("2024-01-08"), ["listed", "inspected", "not_yet_inspected"]].tolist() == [4, 3, 1]
    assert figs["verdict"][0].startswith("The list found 2.4 times as many cases per inspection as business as usual")
    fair = figs["fairness"].set_index("group")
    assert fair.loc["N", "selection"] == pytest.approx(6 / 890)


def test_a_measured_outcome_counts_as_a_hit_only_above_its_level(tmp_path):
    """Inspection scores back in the store: the dashboard counts a hit as training labels one (above 27)."""
    from riskengine.dashboard._watch import read_watch
    from riskengine.outcomes import add_outcomes
    from riskengine.spec import Source

    (tmp_path / "entities.csv").write_text("entity_id\nA\nB\nC\n")
    (tmp_path / "week.csv").write_text("entity_id,date,outcome\nA,2024-01-02,12\nB,2024-01-02,31\nC,2024-01-03,0\n")
    add_outcomes(tmp_path / "week.csv", tmp_path / "store", Source(path=tmp_path / "entities.csv"), tmp_path / "lists",
                 outcome_kind="number")
    watch = read_watch("food", tmp_path / "lists", tmp_path / "store", pd.DataFrame({"entity_id": ["A", "B", "C"]}), [],
                       positive_above=27)
    assert dict(zip(watch.store["entity_id"], watch.store["outcome"])) == {"A": 0, "B": 1, "C": 0}
