"""precision@k, recall@k, tie handling, labels and temporal splits, against hand computation."""

import numpy as np
import pandas as pd
import pytest

from riskengine.spec import LabelSpec
from riskengine.training import label_rows, positives_at_k, precision_recall_at_k, ranking_metrics, temporal_splits


def test_precision_and_recall_at_k_without_ties():
    y = np.array([1, 0, 1, 0, 0, 1])
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    m = precision_recall_at_k(y, s, 3)
    assert m["precision_at_k"] == pytest.approx(2 / 3)
    assert m["recall_at_k"] == pytest.approx(2 / 3)
    assert m["precision_at_k_worst"] == m["precision_at_k_best"] == m["precision_at_k"]


def test_ties_at_the_cut_off_give_worst_expected_and_best():
    # top k=3: one clear positive above, then 4 rows tied at 0.5 (1 positive) for 2 slots
    y = np.array([1, 1, 0, 0, 0, 1])
    s = np.array([0.9, 0.5, 0.5, 0.5, 0.5, 0.1])
    expected, worst, best = positives_at_k(y, s, 3)
    assert (worst, best) == (1, 2)
    assert expected == pytest.approx(1 + 1 * 2 / 4)
    m = precision_recall_at_k(y, s, 3)
    assert m["precision_at_k"] == pytest.approx(1.5 / 3)
    assert m["precision_at_k_worst"] == pytest.approx(1 / 3)
    assert m["precision_at_k_best"] == pytest.approx(2 / 3)
    assert m["recall_at_k_best"] == pytest.approx(2 / 3)


def test_all_tied_business_as_usual_is_the_base_rate_in_expectation():
    y = np.array([1, 0, 0, 0, 1, 0, 0, 0, 0, 0])
    m = precision_recall_at_k(y, np.zeros(10), 5)
    assert m["precision_at_k"] == pytest.approx(0.2)
    assert m["precision_at_k_worst"] == 0 and m["precision_at_k_best"] == pytest.approx(0.4)


def test_k_larger_than_rows_and_percent_cut_offs():
    y = np.array([1, 0, 1, 0])
    s = np.array([4, 3, 2, 1])
    m = ranking_metrics(y, s, k=10, top_pcts=[25.0, 50.0])
    assert m["k"] == 4 and m["precision_at_k"] == 0.5
    assert m["precision_at_25pct"] == 1.0 and m["precision_at_50pct"] == 0.5
    assert m["roc_auc"] == pytest.approx(0.75)


def test_labels_use_outcomes_in_window_and_leave_unlabelled_out():
    outcomes = pd.DataFrame({
        "entity_id": ["a", "a", "b", "c"],
        "date": pd.to_datetime(["2021-01-01", "2021-03-01", "2021-06-30", "2021-07-01"]),
        "outcome": [0.0, 1.0, 0.0, 1.0],
    })
    spec = LabelSpec(first_as_of=pd.Timestamp("2021-01-01").date(), window_days=181)
    rows = label_rows(outcomes, [pd.Timestamp("2021-01-01")], spec)
    # window is [2021-01-01, 2021-07-01): c's outcome on 2021-07-01 falls outside
    assert dict(zip(rows["entity_id"], rows["label"])) == {"a": 1, "b": 0}
    neg = label_rows(outcomes, [pd.Timestamp("2021-01-01")], LabelSpec(first_as_of=spec.first_as_of, window_days=181,
                     unlabelled="negative"), entity_ids=pd.Series(["a", "b", "c", "d"]))
    assert dict(zip(neg["entity_id"], neg["label"])) == {"a": 1, "b": 0, "c": 0, "d": 0}


def test_no_training_row_has_a_label_window_reaching_its_test_period():
    dates = pd.date_range("2021-01-01", periods=12, freq=pd.DateOffset(months=3))
    rows = pd.DataFrame({"entity_id": "x", "as_of": dates, "label": 0})
    rows["label_window_end"] = rows["as_of"] + pd.Timedelta(days=200)
    splits = temporal_splits(rows, 4)
    assert [s.test_as_of for s in splits] == list(dates[-4:])
    for s in splits:
        train = rows[rows["as_of"].isin(s.train_as_of)]
        assert (train["label_window_end"] <= s.test_as_of).all()
        assert s.test_as_of not in s.train_as_of
        # the row just before the test date is excluded: its window runs into the test period
        assert dates[list(dates).index(s.test_as_of) - 1] not in s.train_as_of


def test_numeric_outcomes_are_positive_above_the_spec_level():
    outcomes = pd.DataFrame({"entity_id": ["a", "b", "c"], "date": pd.to_datetime(["2021-01-05"] * 3),
                             "outcome": [0.0, 2.0, 7.0]})
    spec = LabelSpec(first_as_of=pd.Timestamp("2021-01-01").date(), positive_above=3.0)
    rows = label_rows(outcomes, [pd.Timestamp("2021-01-01")], spec)
    assert dict(zip(rows["entity_id"], rows["label"])) == {"a": 0, "b": 0, "c": 1}
