"""Trial analysis: HC2 against statsmodels and by hand, recovery of a known effect, coverage."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from riskengine.errors import DataError
from riskengine.evaluation import analyse_trial, assign_arms


def two_arms(seed=0, n_t=130, n_c=90):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"arm": ["model"] * n_t + ["bau"] * n_c,
                         "y": np.r_[rng.normal(3.0, 2.0, n_t), rng.normal(2.0, 0.7, n_c)]})


def test_difference_in_means_and_hc2_equal_statsmodels_and_the_hand_formula():
    df = two_arms()
    effect = analyse_trial(df, "arm", "y", control="bau").data["effects"][0]
    d = (df["arm"] == "model").astype(float)
    fit = sm.OLS(df["y"], sm.add_constant(d)).fit(cov_type="HC2")
    assert effect["estimate"] == pytest.approx(fit.params.iloc[1], rel=1e-12)
    assert effect["se"] == pytest.approx(fit.bse.iloc[1], rel=1e-12)
    assert effect["ci"] == pytest.approx(list(fit.conf_int().iloc[1]), rel=1e-12)
    assert effect["p_value"] == pytest.approx(fit.pvalues.iloc[1], rel=1e-9)
    y1, y0 = df.loc[df.arm == "model", "y"], df.loc[df.arm == "bau", "y"]
    assert effect["estimate"] == pytest.approx(y1.mean() - y0.mean(), rel=1e-12)
    assert effect["se"] == pytest.approx(np.sqrt(y1.var() / len(y1) + y0.var() / len(y0)), rel=1e-12)
    assert (effect["n_arm"], effect["n_control"]) == (130, 90)


def test_binary_outcome_gives_risk_difference_and_ratio():
    df = pd.DataFrame({"arm": ["t"] * 200 + ["control"] * 200,
                       "hit": [1] * 30 + [0] * 170 + [1] * 20 + [0] * 180})
    e = analyse_trial(df, "arm", "hit").data["effects"][0]
    assert e["risk_difference"] == pytest.approx(0.05)
    assert e["risk_ratio"] == pytest.approx(1.5)
    # close to the textbook (Katz) interval; HC2 uses n - 1 in each arm's variance
    se_log = np.sqrt(1 / 30 - 1 / 200 + 1 / 20 - 1 / 200)
    lo, hi = e["risk_ratio_ci"]
    assert np.log(hi / 1.5) == pytest.approx(1.96 * se_log, rel=0.01)
    assert lo < 1.5 < hi


def simulate_trial(rng, effect=0.03, officers=8, weeks=20, per_week=10):
    """Officer-weeks stratified by officer; hit probability varies by officer-week (ICC > 0)."""
    units = pd.DataFrame([(f"o{o}", w) for o in range(officers) for w in range(weeks)],
                         columns=["officer", "week"])
    units["unit_id"] = units["officer"] + "-" + units["week"].astype(str)
    a = assign_arms(units, arms=["model", "bau"], control="bau", ratio=1.0, strata=["officer"],
                    seed=int(rng.integers(1 << 31)))
    p = 0.10 + effect * (a["arm"] == "model") + rng.uniform(-0.05, 0.05, len(a))
    rows = a.loc[a.index.repeat(per_week)].reset_index(drop=True)
    rows["hit"] = (rng.random(len(rows)) < np.repeat(p.to_numpy(), per_week)).astype(int)
    return rows


def test_simulated_trial_recovers_a_known_effect():
    rng = np.random.default_rng(2024)
    rows = simulate_trial(rng, effect=0.05, officers=10, weeks=40)
    report = analyse_trial(rows, "arm", "hit", control="bau", strata_col="stratum", cluster_col="unit_id",
                           randomised=True)
    e = report.data["effects"][0]
    assert e["ci"][0] < 0.05 < e["ci"][1]
    assert abs(e["estimate"] - 0.05) < 3 * e["se"]
    assert e["p_value"] < 0.05 and e["clusters_arm"] == e["clusters_control"] == 200
    assert abs(e["adjusted_estimate"] - 0.05) < 3 * e["adjusted_se"]
    assert report.data["evidence"]["level"] == 3


def coverage(n_trials, seed):
    rng = np.random.default_rng(seed)
    covered = 0
    for _ in range(n_trials):
        rows = simulate_trial(rng)
        e = analyse_trial(rows, "arm", "hit", control="bau", strata_col="stratum",
                          cluster_col="unit_id").data["effects"][0]
        covered += e["ci"][0] <= 0.03 <= e["ci"][1]
    return covered / n_trials


def test_interval_coverage_quick():
    # 40 trials: a correct 95% interval covers 34 or more with probability 0.997
    assert coverage(40, seed=1) >= 0.85


@pytest.mark.slow
def test_interval_coverage_over_200_simulated_trials():
    assert 0.93 <= coverage(200, seed=7) <= 0.97


def test_cuped_covariate_shrinks_the_standard_error():
    rng = np.random.default_rng(3)
    n = 1000
    pre = rng.normal(10, 3, n)
    arm = rng.permutation(np.repeat(["model", "bau"], n // 2))
    y = pre + 0.5 * (arm == "model") + rng.normal(0, 1, n)
    e = analyse_trial(pd.DataFrame({"arm": arm, "y": y, "pre": pre}), "arm", "y",
                      control="bau", covariate_cols=["pre"]).data["effects"][0]
    assert e["adjusted_se"] < e["se"] / 2
    assert abs(e["adjusted_estimate"] - 0.5) < 3 * e["adjusted_se"]


def test_multiple_arms_each_against_control_with_holm():
    rng = np.random.default_rng(4)
    arm = rng.choice(["bau", "a", "b"], 900)
    y = rng.normal(0, 1, 900) + (arm == "a") * 0.4
    report = analyse_trial(pd.DataFrame({"arm": arm, "y": y}), "arm", "y", control="bau")
    effects = {e["arm"]: e for e in report.data["effects"]}
    assert set(effects) == {"a", "b"}
    assert all(e["p_value_holm"] >= e["p_value"] for e in effects.values())
    assert effects["a"]["p_value"] < 0.01


def test_attrition_counted_by_arm_and_lowers_the_evidence_level():
    df = two_arms(n_t=100, n_c=100)
    df["y"] = df["y"] + 5  # a clear effect
    df.loc[df.index[:30], "y"] = np.nan  # 30% of the treatment arm lost
    report = analyse_trial(df, "arm", "y", control="bau", randomised=True)
    by_arm = {r["arm"]: r for r in report.data["attrition"]["by_arm"]}
    assert by_arm["model"]["attrition"] == pytest.approx(0.3)
    assert by_arm["bau"]["attrition"] == 0
    assert report.data["attrition"]["low"] is False
    assert report.data["evidence"]["level"] == 2


def test_numeric_arms_and_control_given_as_text():
    df = two_arms()
    df["arm"] = (df["arm"] == "model").astype(int)
    report = analyse_trial(df, "arm", "y", control="0")
    assert report.data["control"] == "0" and report.data["effects"][0]["arm"] == "1"


def test_user_errors_name_the_column_and_values():
    df = two_arms()
    with pytest.raises(DataError, match=r"no column 'outcome'"):
        analyse_trial(df, "arm", "outcome")
    with pytest.raises(DataError, match=r"cannot tell which value of 'arm' is the control.*list_b, model"):
        analyse_trial(df.replace({"bau": "list_b"}), "arm", "y")
    with pytest.raises(DataError, match=r"control value 'ctrl' not found"):
        analyse_trial(df, "arm", "y", control="ctrl")
    df["y"] = df["y"].astype(object)
    df.loc[5, "y"] = "lots"
    with pytest.raises(DataError, match=r"column 'y' must be numeric; row 6"):
        analyse_trial(df, "arm", "y", control="bau")


def test_report_files_hold_the_same_figures(tmp_path):
    import json

    report = analyse_trial(two_arms(), "arm", "y", control="bau", out_dir=tmp_path)
    data = json.loads((tmp_path / "trial_report.json").read_text())
    e = data["effects"][0]
    for key in ("arm", "n_arm", "n_control", "estimate", "se", "ci", "p_value", "adjusted_estimate", "adjusted_se"):
        assert key in e
    assert e["estimate"] == pytest.approx(report.data["effects"][0]["estimate"])
    html = (tmp_path / "trial_report.html").read_text()
    assert f"{e['estimate']:.4f}" in html and "<svg" in html


def test_no_evidence_level_when_the_design_is_unknown(tmp_path):
    """Any table with two arms: without being told it was randomised, no level and no claim of randomisation."""
    df = two_arms(n_t=100, n_c=100)
    df["y"] = df["y"] + 5
    report = analyse_trial(df, "arm", "y", control="bau", out_dir=tmp_path)
    assert report.data["evidence"]["level"] is None
    page = (tmp_path / "trial_report.html").read_text()
    assert "Assignment was randomised" not in page and "No level of Nesta" in page
    known = analyse_trial(df, "arm", "y", control="bau", randomised=True)
    assert known.data["evidence"]["level"] == 3
    assert "Assignment was randomised, giving a control group." in known.data["evidence"]["reasons"]
