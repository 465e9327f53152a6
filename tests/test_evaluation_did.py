"""Difference in differences: the 2x2 arithmetic, the regression SE, parallel-trend check, errors."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from riskengine.errors import DataError
from riskengine.evaluation import did


def tiny():
    # treated before 2, 4 (mean 3); after 7, 9 (8); comparison before 1, 3 (2); after 4, 6 (5)
    return pd.DataFrame({
        "area": ["pilot"] * 4 + ["rest"] * 4,
        "period": ["pre", "pre", "post", "post"] * 2,
        "y": [2, 4, 7, 9, 1, 3, 4, 6],
    })


def test_estimate_equals_the_two_by_two_arithmetic():
    report = did(tiny(), "area", "pilot", "period", "post", "y")
    m = report.data["means"]
    assert (m["treated"]["before"], m["treated"]["after"]) == (3.0, 8.0)
    assert (m["comparison"]["before"], m["comparison"]["after"]) == (2.0, 5.0)
    assert report.data["did"]["estimate"] == pytest.approx((8 - 3) - (5 - 2))
    assert report.data["did"]["arithmetic"] == pytest.approx(2.0)


def panel(seed=0, effect=1.0, trend_gap=0.0, shock=0.5):
    """Wards observed over four quarters; each ward-quarter has its own shock (so rows cluster)."""
    rng = np.random.default_rng(seed)
    rows = []
    for ward in range(24):
        treated = ward < 8
        level = rng.normal(5, 1)
        for t, period in enumerate(["q1", "q2", "q3", "q4"]):
            common = level + rng.normal(0, shock)
            for _ in range(25):
                y = common + 0.2 * t + trend_gap * t * treated + effect * (treated and t >= 2) + rng.normal()
                rows.append(("pilot" if treated else "other", period, f"w{ward}", y))
    return pd.DataFrame(rows, columns=["group", "period", "ward", "y"])


def test_regression_se_equals_statsmodels_hc2_and_cluster_changes_it():
    df = panel()
    report = did(df, "group", "pilot", "period", ["q3", "q4"], "y")
    df["t"] = (df["group"] == "pilot").astype(float)
    df["a"] = df["period"].isin(["q3", "q4"]).astype(float)
    fit = smf.ols("y ~ t * a", data=df).fit(cov_type="HC2")
    assert report.data["did"]["estimate"] == pytest.approx(fit.params["t:a"], rel=1e-10)
    assert report.data["did"]["se"] == pytest.approx(fit.bse["t:a"], rel=1e-10)
    m = report.data["means"]
    assert report.data["did"]["estimate"] == pytest.approx(
        (m["treated"]["after"] - m["treated"]["before"]) - (m["comparison"]["after"] - m["comparison"]["before"]))
    clustered = did(df, "group", "pilot", "period", ["q3", "q4"], "y", cluster_col="ward")
    assert clustered.data["did"]["estimate"] == pytest.approx(report.data["did"]["estimate"])
    assert clustered.data["did"]["se"] > report.data["did"]["se"]  # ward-quarter shocks: fewer independent units
    assert abs(clustered.data["did"]["estimate"] - 1.0) < 3 * clustered.data["did"]["se"]
    assert clustered.data["evidence"]["level"] == 3


def test_diverging_trends_before_the_change_lower_the_level():
    report = did(panel(trend_gap=1.5), "group", "pilot", "period", ["q3", "q4"], "y", cluster_col="ward")
    assert report.data["pretrend"]["p_value"] < 0.05
    assert report.data["evidence"]["level"] == 2
    assert any("parallel trends doubtful" in r for r in report.data["evidence"]["reasons"])


def test_no_effect_in_the_hoped_direction_is_level_one():
    report = did(panel(effect=-1.0), "group", "pilot", "period", ["q3", "q4"], "y", cluster_col="ward")
    assert report.data["evidence"]["level"] == 1
    lower = did(panel(effect=-1.0), "group", "pilot", "period", ["q3", "q4"], "y",
                cluster_col="ward", higher_is_better=False)
    assert lower.data["evidence"]["level"] == 3


def test_errors_name_the_missing_value_or_cell():
    with pytest.raises(DataError, match=r"--treated value\(s\) \['pilots'\] not found in column 'area'"):
        did(tiny(), "area", "pilots", "period", "post", "y")
    df = tiny()
    df.loc[(df.area == "rest") & (df.period == "post"), "y"] = np.nan
    with pytest.raises(DataError, match="comparison group after"):
        did(df, "area", "pilot", "period", "post", "y")


def test_report_files(tmp_path):
    import json

    did(tiny(), "area", "pilot", "period", "post", "y", out_dir=tmp_path)
    data = json.loads((tmp_path / "did_report.json").read_text())
    assert set(data["did"]) >= {"estimate", "se", "ci"}
    assert data["means"]["treated"]["after"] == 8.0
    assert "<svg" in (tmp_path / "did_report.html").read_text()
