"""Backtest by re-ordering: the arithmetic on a tiny hand-made period."""

import pandas as pd
import pytest

from riskengine.evaluation._backtest import reorder, summarise


def period():
    return pd.DataFrame({
        "entity_id": ["a", "b", "c", "d", "e"],
        "date": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-09"]),
        "outcome": [0, 0, 1, 1, 1],
        "score": [0.1, 0.2, 0.9, 0.5, 0.5],
    })


def test_dates_are_handed_out_in_descending_score_order():
    out = reorder(period()).set_index("entity_id")
    # c (0.9) gets the first date; d and e tie at 0.5 and keep their real order
    assert out.loc["c", "model_date"] == pd.Timestamp("2024-01-01")
    assert out.loc["d", "model_date"] == pd.Timestamp("2024-01-02")
    assert out.loc["e", "model_date"] == pd.Timestamp("2024-01-03")
    assert out.loc["b", "model_date"] == pd.Timestamp("2024-01-04")
    assert out.loc["a", "model_date"] == pd.Timestamp("2024-01-09")
    assert list(out.loc[["c", "d", "e"], "days_earlier"]) == [2, 2, 6]
    assert sorted(out["model_date"]) == sorted(out.reset_index()["date"])  # same dates, new order


def test_summary_statistics_and_first_half():
    s = summarise(reorder(period()), pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-11"))
    assert s["n"] == 5 and s["positives"] == 3
    assert s["days_earlier"]["mean"] == pytest.approx(10 / 3)
    assert s["days_earlier"]["median"] == 2
    assert s["days_earlier"]["sd"] == pytest.approx(pd.Series([2, 2, 6]).std())
    from scipy import stats

    assert s["days_earlier"]["p_value"] == pytest.approx(stats.ttest_1samp([2, 2, 6], 0).pvalue)
    # midpoint 2024-01-06: really, c and d were found before it; in the model's order all three
    assert s["first_half"] == {"midpoint": "2024-01-06", "actual": 2, "model": 3}
    assert s["roc_auc"] == pytest.approx(1.0)
