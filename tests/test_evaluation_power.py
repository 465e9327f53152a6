"""Sample sizes and the design effect against textbook formulas computed by hand.

The formulas used by hand: the normal approximation for two independent groups,
n_control = (z_{1-alpha/2} + z_{power})^2 (1 + 1/r) / es^2, with es = Cohen's h for proportions
(h = 2 asin sqrt(p1) - 2 asin sqrt(p0)) and Cohen's d = delta / sd for means; treatment = r x n.
"""

import math

import pytest
from scipy.stats import norm
from statsmodels.stats.power import NormalIndPower

from riskengine.evaluation import design_effect, plan_power, sample_size


def hand_n(es, alpha=0.05, power=0.8, ratio=1.0):
    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    return z**2 * (1 + 1 / ratio) / es**2


def cohens_h(p1, p0):
    return 2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p0))


def test_design_effect_is_one_plus_m_minus_one_times_icc():
    assert design_effect(10, 0.02) == pytest.approx(1.18)
    assert design_effect(1, 0.3) == 1.0
    assert design_effect(61, 0.05) == pytest.approx(4.0)


def test_binary_sample_size_matches_cohens_h_by_hand_and_statsmodels():
    plan = plan_power(outcome="binary", effect=0.03, baseline_rate=0.10, alpha=0.05, power=0.8, ratio=1.0)
    h = cohens_h(0.13, 0.10)
    assert plan["effect_size"] == pytest.approx(h, rel=1e-12)
    by_hand = hand_n(h)
    by_statsmodels = NormalIndPower().solve_power(effect_size=h, alpha=0.05, power=0.8, ratio=1.0)
    assert by_statsmodels == pytest.approx(by_hand, rel=1e-4)  # statsmodels adds the far tail
    assert plan["n_control"] == plan["n_per_treatment_arm"] == math.ceil(by_hand) == 1769
    assert plan["n_total_unclustered"] == 2 * 1769


def test_unequal_allocation_scales_the_treatment_arm():
    n_c, n_t = sample_size(cohens_h(0.25, 0.20), alpha=0.05, power=0.9, ratio=2.0)
    assert n_c == pytest.approx(hand_n(cohens_h(0.25, 0.20), power=0.9, ratio=2.0), rel=1e-4)
    assert n_t == pytest.approx(2 * n_c)


def test_continuous_sample_size_matches_the_normal_formula():
    plan = plan_power(outcome="continuous", effect=2.0, sd=8.0, alpha=0.05, power=0.8, ratio=1.0)
    # two groups, equal size: n = 2 (z + z)^2 sd^2 / delta^2
    z = norm.ppf(0.975) + norm.ppf(0.8)
    assert plan["n_control"] == math.ceil(2 * z**2 * 8.0**2 / 2.0**2) == 252
    assert plan["effect_size_name"] == "Cohen's d"


def test_cluster_design_inflates_outcomes_by_the_design_effect():
    plan = plan_power(outcome="binary", effect=0.03, baseline_rate=0.10, alpha=0.05, power=0.8,
                      ratio=1.0, cluster_size=10, icc=0.02, units_available=500)
    assert plan["design_effect"] == pytest.approx(1.18)
    assert plan["units_control"] == math.ceil(1769 * 1.18 / 10) == 209
    assert plan["units_needed"] == 418
    assert plan["adequately_powered"] is True
    short = plan_power(outcome="binary", effect=0.03, baseline_rate=0.10, alpha=0.05, power=0.8,
                       ratio=1.0, cluster_size=10, icc=0.02, units_available=200)
    assert short["adequately_powered"] is False
    assert short["power_with_available"] < 0.5
    assert short["detectable_effect_with_available"] > 0.03


def test_power_and_detectable_effect_are_consistent_with_the_sample_size():
    plan = plan_power(outcome="binary", effect=0.05, baseline_rate=0.2, alpha=0.05, power=0.8,
                      ratio=1.0, cluster_size=5, icc=0.1, units_available=10_000)
    units = plan["units_needed"]
    exact = plan_power(outcome="binary", effect=0.05, baseline_rate=0.2, alpha=0.05, power=0.8,
                       ratio=1.0, cluster_size=5, icc=0.1, units_available=units)
    assert exact["power_with_available"] == pytest.approx(0.8, abs=0.01)
    assert exact["detectable_effect_with_available"] == pytest.approx(0.05, abs=0.002)


def test_two_treatment_arms_share_one_control():
    plan = plan_power(outcome="continuous", effect=1.0, sd=4.0, alpha=0.05, power=0.8, ratio=1.0,
                      n_treatment_arms=2)
    assert plan["units_needed"] == 3 * plan["units_control"]
