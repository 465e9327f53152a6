"""The case framing: cases as training rows, ready tables as of a date, splits by case date,
the work queue and the backtest by re-ordering."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import riskengine.cli
from _three_files import training_spec, write_three_files
from riskengine.errors import DataError, RiskEngineError, SpecError
from riskengine.evaluation._backtest import random_expectation, reorder, summarise
from riskengine.features import build_case_features, build_features, join_as_of, load_ready_table
from riskengine.scoring._queue import read_queue
from riskengine.spec import FeaturesSpec, LabelSpec, Source, SplitSpec, load_spec
from riskengine.training._rows import case_rows, repeated_cases
from riskengine.training._splits import make_splits

# --- leakage: nothing dated on or after a case's date reaches it --------------------------

DAY0 = pd.Timestamp("2024-01-01")
IDS = ["a", "b", "c"]
SPEC = FeaturesSpec(windows=[7, 30], static=["kind"], categorical=["kind"])
ENTITIES = pd.DataFrame({"entity_id": IDS, "kind": ["cafe", "shop", "cafe"]})


def _events(rows) -> pd.DataFrame:
    return pd.DataFrame({"source": [r[0] for r in rows], "entity_id": [r[1] for r in rows],
                         "date": pd.to_datetime([DAY0 + pd.Timedelta(days=r[2]) for r in rows]).astype("datetime64[ns]"),
                         "type": [r[3] for r in rows], "value": [float(r[4]) for r in rows]},
                        columns=["source", "entity_id", "date", "type", "value"])


def _with_outcomes(events: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """Past outcomes as the source "outcomes", as prepare.feature_events adds them."""
    past = pd.DataFrame({"source": "outcomes", "entity_id": outcomes["entity_id"], "date": outcomes["date"],
                         "type": "inspection", "value": outcomes["outcome"].astype(float)})
    return pd.concat([events, past], ignore_index=True)


event_rows = st.lists(st.tuples(st.sampled_from(["complaints", "permits"]), st.sampled_from(IDS),
                                st.integers(0, 60), st.sampled_from(["noise", "pest"]), st.integers(0, 5)),
                      min_size=0, max_size=15)
outcome_rows = st.lists(st.tuples(st.sampled_from(IDS), st.integers(0, 60), st.integers(0, 1)), min_size=2, max_size=12)
extra_rows = st.lists(st.tuples(st.sampled_from(["events", "outcomes"]), st.sampled_from(IDS), st.integers(0, 20),
                                st.sampled_from(["noise", "pest", "fire"]), st.integers(0, 5)), min_size=1, max_size=6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_rows, outcome_rows, extra_rows, st.data())
def test_nothing_on_or_after_a_cases_date_changes_its_features_or_earlier_labels(ev, out, extra, data):
    events = _events(ev)
    outcomes = pd.DataFrame({"entity_id": [o[0] for o in out],
                             "date": [DAY0 + pd.Timedelta(days=o[1]) for o in out],
                             "outcome": [float(o[2]) for o in out]}).astype({"date": "datetime64[ns]"})
    labels = LabelSpec(rows="cases")
    rows = case_rows(outcomes, labels)
    case = rows.iloc[data.draw(st.integers(0, len(rows) - 1))]
    when = case["as_of"]
    # everything added is dated on or after the case's date (same day included)
    later = [(s, e, (when - DAY0).days + d, t, v) for s, e, d, t, v in extra]
    more_events = pd.concat([events, _events([r for r in later if r[0] == "events"]).assign(source="complaints")],
                            ignore_index=True)
    more_outcomes = pd.concat([outcomes, pd.DataFrame({
        "entity_id": [r[1] for r in later if r[0] == "outcomes"],
        "date": pd.to_datetime([DAY0 + pd.Timedelta(days=r[2]) for r in later if r[0] == "outcomes"]),
        "outcome": [float(r[4] > 2) for r in later if r[0] == "outcomes"]})], ignore_index=True).astype({"date": "datetime64[ns]"})

    before = build_case_features(ENTITIES, _with_outcomes(events, outcomes), rows, SPEC).table
    rows_after = case_rows(more_outcomes, labels)
    after = build_case_features(ENTITIES, _with_outcomes(more_events, more_outcomes), rows_after, SPEC).table
    key = (before["entity_id"] == case["entity_id"]) & (before["as_of"] == when)
    key_after = (after["entity_id"] == case["entity_id"]) & (after["as_of"] == when)
    b, a = before[key].iloc[0], after[key_after].iloc[0]
    for col in before.columns:
        assert (pd.isna(b[col]) and pd.isna(a[col])) or b[col] == a[col], col
    for col in set(after.columns) - set(before.columns):  # a type that appears only later: nothing yet
        assert pd.isna(a[col]) or a[col] == 0, col
    # the labels of every case before it are unchanged
    earlier = rows[rows["as_of"] < when].reset_index(drop=True)
    pd.testing.assert_frame_equal(earlier, rows_after[rows_after["as_of"] < when].reset_index(drop=True))


def test_case_features_count_only_the_past_and_never_the_case_itself():
    events = _events([("complaints", "a", 0, "noise", 1), ("complaints", "a", 9, "noise", 1),
                      ("complaints", "a", 10, "noise", 1)])
    outcomes = pd.DataFrame({"entity_id": ["a", "a", "a", "b"], "outcome": [1.0, 0.0, 1.0, 1.0],
                             "date": pd.to_datetime(["2024-01-05", "2024-01-11", "2024-01-11", "2024-01-11"])})
    rows = case_rows(outcomes, LabelSpec(rows="cases"))
    # one row per entity and date: a's two results on 11 January (a row per finding, as some extracts
    # write them) are one inspection, positive as one of them is
    assert list(zip(rows["entity_id"], rows["label"])) == [("a", 1), ("a", 1), ("b", 1)]
    assert repeated_cases(outcomes) == 1
    fs = build_case_features(ENTITIES, _with_outcomes(events, outcomes), rows, SPEC)
    t = fs.table.set_index(["entity_id", "as_of"])
    jan11 = t.loc[("a", pd.Timestamp("2024-01-11"))]
    assert jan11["complaints__noise__count_all"] == 2  # days 0 and 9; day 10 is the case's own date
    assert jan11["complaints__noise__count_7d"] == 1
    assert jan11["complaints__noise__days_since"] == 1
    assert jan11["outcomes__inspection__count_all"] == 1  # the earlier case only, not the same-day ones
    assert jan11["outcomes__inspection__last"] == 1.0
    assert t.loc[("a", pd.Timestamp("2024-01-05")), "outcomes__inspection__count_all"] == 0
    assert t.loc[("b", pd.Timestamp("2024-01-11")), "kind"] == "shop"
    # the same features as a grid at that one date
    grid = build_features(ENTITIES, _with_outcomes(events, outcomes), ["2024-01-11"], SPEC).table.set_index("entity_id")
    for col in grid.columns.drop("as_of"):
        assert grid.loc["a", col] == jan11[col] or (pd.isna(grid.loc["a", col]) and pd.isna(jan11[col])), col


# --- the ready table, as of a date ----------------------------------------------------


def test_the_ready_table_is_joined_as_of_each_date():
    table = pd.DataFrame({"entity_id": ["a", "a", "b"], "as_of": pd.to_datetime(["2024-01-10", "2024-02-01", "2024-01-01"]),
                          "x": [1.0, 2.0, 3.0]})
    keys = pd.DataFrame({"entity_id": ["a", "a", "a", "a", "b", "c"],
                         "as_of": pd.to_datetime(["2024-01-10", "2024-01-31", "2024-02-11", "2024-01-09",
                                                  "2024-01-12", "2024-01-12"])})
    got = join_as_of(keys, table, ["x"], max_age_days=10)["x"].tolist()
    # exact date; latest earlier (21 days old: beyond 10 -> missing); 10 days old: served; before any row;
    # b: 11 days old -> missing; c: no rows at all
    assert got[0] == 1.0
    assert np.isnan(got[1])
    assert got[2] == 2.0
    assert np.isnan(got[3]) and np.isnan(got[4]) and np.isnan(got[5])
    unlimited = join_as_of(keys, table, ["x"], max_age_days=None)["x"].tolist()
    assert unlimited[1] == 1.0 and unlimited[4] == 3.0 and np.isnan(unlimited[3])  # never a later row
    with pytest.raises(DataError, match="more than one row"):
        join_as_of(keys, pd.concat([table, table.iloc[[0]]]), ["x"])


def test_loading_the_ready_table_rejects_bad_rows_with_reasons(tmp_path):
    path = tmp_path / "features.csv"
    path.write_text("entity_id,as_of,score,inspector,flag,empty\n"
                    "1,2024-01-10T00:00:00,1.5,7,true,\n"
                    "1,2024-01-10 00:00:00,9,8,false,\n"      # the same key again
                    "2,2024-01-11,NA,7,,\n"                    # 'NA' is missing, not a reject
                    "3,2024-01-12,abc,9,no,\n"                 # not a number
                    "99,2024-01-12,1,7,no,\n"                  # unknown entity
                    "2,someday,1,7,no,\n"                      # not a date
                    "2.0,01/15/2024 12:00:00 AM,2,7,yes,\n")   # an id written as a number; a portal's date
    good, rejects, fp = load_ready_table(Source(path=path), ["inspector"], known=pd.Series(["1", "2", "3"]))
    assert list(good["entity_id"]) == ["1", "2", "2"]
    assert list(good["as_of"].dt.strftime("%Y-%m-%d")) == ["2024-01-10", "2024-01-11", "2024-01-15"]
    assert good["score"].dtype == "float64" and np.isnan(good["score"].iloc[1])
    assert list(good["inspector"]) == ["7", "7", "7"]  # declared categorical: kept as text
    np.testing.assert_array_equal(good["flag"].to_numpy(), [1.0, np.nan, 1.0])  # true/yes -> 1, blank -> missing
    assert good["empty"].dtype == "float64" and good["empty"].isna().all()  # an empty column: numbers, all missing
    reasons = dict(zip(rejects["line"], rejects["reason"]))
    assert "duplicate (entity_id, as_of) key of row 1" in reasons[3]
    assert "score: not a number ('abc')" in reasons[5]
    assert "entity_id: not in the entities table" in reasons[6]
    assert "as_of: missing or not a date" in reasons[7]
    assert len(rejects) == 4 and fp["table"] == "features.table"
    with pytest.raises(DataError, match="4 of 7 rows"):
        load_ready_table(Source(path=path), ["inspector"], known=pd.Series(["1", "2", "3"]), max_reject_share=0.1)
    with pytest.raises(DataError, match=r"features\.categorical names column\(s\) \['grade'\]"):
        load_ready_table(Source(path=path), ["grade"])


def test_grid_dates_without_their_own_ready_row_take_the_latest_earlier_one():
    ready = pd.DataFrame({"entity_id": ["a", "b"], "as_of": pd.to_datetime(["2024-01-05", "2023-06-01"]),
                          "x": [1.0, 2.0], "inspector": ["p", "q"]})
    spec = FeaturesSpec(table=Source(path=Path("ready.csv")), from_events=False, categorical=["inspector"],
                        max_age_days=90)
    fs = build_features(ENTITIES, None, ["2024-02-01"], spec, given=ready)
    t = fs.table.set_index("entity_id")
    assert t.loc["a", "x"] == 1.0 and t.loc["a", "inspector"] == "p"
    assert np.isnan(t.loc["b", "x"])  # 245 days old: beyond max_age_days
    assert fs.info.set_index("name").loc["inspector", "categorical"]


# --- splits by case date --------------------------------------------------------------


def _cases(n=120, seed=1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = pd.DataFrame({"entity_id": rng.choice(list("abcdefgh"), n),
                        "date": DAY0 + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
                        "outcome": rng.integers(0, 2, n).astype(float)}).astype({"date": "datetime64[ns]"})
    return case_rows(out, LabelSpec(rows="cases"))


def test_explicit_split_windows_train_only_before_the_window():
    rows = _cases()
    spec = SplitSpec(train_until=dt.date(2024, 5, 1), test_from=dt.date(2024, 6, 1), test_to=dt.date(2024, 9, 1))
    [split] = make_splits(rows, spec, "cases")
    train, test = rows[split.train_mask(rows)], rows[split.test_mask(rows)]
    assert train["as_of"].max() < pd.Timestamp("2024-05-01")
    assert len(train) == (rows["as_of"] < pd.Timestamp("2024-05-01")).sum()
    assert test["as_of"].min() >= pd.Timestamp("2024-06-01") and test["as_of"].max() < pd.Timestamp("2024-09-01")
    assert len(test) == rows["as_of"].between("2024-06-01", "2024-08-31").sum()
    with pytest.raises(ValueError, match="train_until"):
        SplitSpec(train_until=dt.date(2024, 7, 1), test_from=dt.date(2024, 6, 1))
    with pytest.raises(RiskEngineError, match="0 test row"):
        make_splits(rows, SplitSpec(test_from=dt.date(2030, 1, 1)), "cases")


def test_the_capacity_check_counts_every_row_a_case_split_tests_not_only_its_first_day():
    from riskengine.spec import capacity_warning
    from riskengine.training._splits import tested_rows

    rows = _cases()
    spec = SplitSpec(train_until=dt.date(2024, 5, 1), test_from=dt.date(2024, 6, 1), test_to=dt.date(2024, 9, 1))
    counts = tested_rows(rows, make_splits(rows, spec, "cases"))
    in_window = int(rows["as_of"].between("2024-06-01", "2024-08-31").sum())
    assert counts == {"2024-06-01": in_window} and in_window > 20
    assert capacity_warning(20, counts) is None  # k is below the window's rows: no false alarm
    assert "metric.k = " in capacity_warning(in_window, counts)


def test_explicit_windows_on_a_grid_train_only_on_closed_label_windows():
    dates = pd.date_range("2023-01-01", periods=8, freq=pd.DateOffset(months=3))
    rows = pd.DataFrame({"entity_id": "a", "as_of": dates, "label": 0,
                         "label_window_end": dates + pd.Timedelta(days=182)})
    splits = make_splits(rows, SplitSpec(test_from=dt.date(2024, 4, 1), test_to=dt.date(2024, 10, 1)), "grid")
    assert [s.test_as_of for s in splits] == [pd.Timestamp("2024-04-01"), pd.Timestamp("2024-07-01")]
    for s in splits:  # trained only on as-of dates whose label window closed by the window's start
        assert all(d + pd.Timedelta(days=182) <= pd.Timestamp("2024-04-01") for d in s.train_as_of)
    assert splits[0].train_as_of[-1] == pd.Timestamp("2023-10-01")  # its window closes on 31 March 2024


def test_rolling_case_splits_cut_by_date_and_never_train_on_the_window():
    rows = _cases(400)
    splits = make_splits(rows, SplitSpec(n_splits=3), "cases")
    assert len(splits) == 3
    tested = 0
    for s in splits:
        train, test = rows[s.train_mask(rows)], rows[s.test_mask(rows)]
        assert train["as_of"].max() < test["as_of"].min()
        assert not set(train.index) & set(test.index)
        tested += len(test)
        assert 60 <= len(test) <= 140  # about a quarter of 400 each
    assert [s.test_to for s in splits[:-1]] == [s.test_as_of for s in splits[1:]]  # windows follow each other
    assert tested == (rows["as_of"] >= splits[0].test_as_of).sum()


def test_the_case_keys_in_a_spec_are_checked(tmp_path):
    path = tmp_path / "training" / "x.toml"
    path.parent.mkdir()
    base = training_spec(tmp_path).read_text()
    path.write_text(base.replace('rows = "cases"', 'rows = "cases"\nfirst_as_of = 2015-01-01'))
    spec = load_spec(path)
    assert spec.labels.rows == "cases" and spec.features.max_age_days == 30 and spec.features.categorical == ["inspector"]
    path.write_text(base.replace('rows = "cases"', 'rows = "grid"'))
    with pytest.raises(SpecError, match="first_as_of"):
        load_spec(path)
    path.write_text(base.replace("n_splits = 3", "n_splits = 3\ntest_to = 2016-01-01"))
    with pytest.raises(SpecError, match="test_to"):
        load_spec(path)


# --- the backtest's arithmetic, by hand -------------------------------------------------


def test_reordering_six_cases_over_three_days_by_hand():
    # two inspections a day on 1, 2 and 3 March; real order: a b | c d | e f
    period = pd.DataFrame({
        "entity_id": list("abcdef"),
        "date": pd.to_datetime(["2024-03-01"] * 2 + ["2024-03-02"] * 2 + ["2024-03-03"] * 2),
        "outcome": [0, 0, 1, 0, 1, 1],
        "score": [0.2, 0.1, 0.5, 0.3, 0.9, 0.7],
    })
    out = reorder(period).set_index("entity_id")
    # score order e f c d a b takes the dates 1 1 2 2 3 3: each day keeps its two inspections
    assert out["model_date"].dt.day.to_dict() == {"e": 1, "f": 1, "c": 2, "d": 2, "a": 3, "b": 3}
    # positives: c 2->2 (0 days), e 3->1 (2), f 3->1 (2): mean 4/3
    assert out.loc[["c", "e", "f"], "days_earlier"].tolist() == [0, 2, 2]
    s = summarise(reorder(period), pd.Timestamp("2024-03-01"), pd.Timestamp("2024-03-04"))
    assert s["n"] == 6 and s["positives"] == 3
    assert s["days_earlier_mean"] == pytest.approx(4 / 3)
    # sd of (0, 2, 2) = 2/sqrt(3); t = (4/3) / (2/3) = 2 on 2 df
    from scipy import stats

    assert s["days_earlier_p_value"] == pytest.approx(2 * stats.t.sf(2.0, 2))
    half = stats.t.ppf(0.975, 2) * (2 / np.sqrt(3)) / np.sqrt(3)
    assert s["days_earlier_ci95"] == pytest.approx([4 / 3 - half, 4 / 3 + half])
    # midpoint 2 March 12:00: the first half holds 1 and 2 March (really only c; re-ordered e, f and c)
    assert (s["first_half_actual"], s["first_half_model"]) == (1, 3)
    assert s["roc_auc"] == pytest.approx(1.0)  # every positive (0.5, 0.7, 0.9) outscores every negative
    # random order: by the end of day 1, 2 of 6 slots done, half the cases positive -> 1 expected
    assert random_expectation(period)["expected_found"].tolist() == [1.0, 2.0, 3.0]


# --- the three-file data set, through the commands --------------------------------------


def test_reading_the_work_queue_sets_aside_what_cannot_be_ranked(tmp_path):
    path = tmp_path / "queue.csv"
    path.write_text("entity_id,date\n5.0,2024-03-02\n6,2024-03-01T09:30:00\n5,2024-03-04\n6,2024-03-01\n77,2024-03-01\n,2024-03-01\n5,soon\n")
    queue, rejects = read_queue(Source(path=path), pd.DataFrame({"entity_id": ["5", "6"]}))
    assert queue.to_dict("list") == {"entity_id": ["6", "5"], "date": list(pd.to_datetime(["2024-03-01", "2024-03-02"]))}
    assert sorted(rejects["line"]) == [4, 5, 6, 7, 8]
    why = dict(zip(rejects["line"], rejects["reason"]))
    assert why[4].startswith("entity already due on 2024-03-02") and why[5] == "duplicate (entity_id, date) row"
    assert why[6] == "entity_id: not in the entities table" and why[7] == "entity_id: missing"


@pytest.fixture(scope="module")
def three_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("three_files")
    write_three_files(root / "data", n_cases=2000, seed=3)
    spec = training_spec(root / "data", truth=True)
    saved = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    yield root, spec
    if saved is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = saved


def _run(*args: str):
    res = CliRunner().invoke(riskengine.cli.app, list(args))
    assert res.exit_code == 0, res.output + repr(res.exception)
    return res


def test_three_files_train_backtest_and_score_a_queue(three_files):
    root, spec = three_files
    out = root / "out"
    _run("train", str(spec), "--out", str(out / "train"), "--quiet")
    s = json.loads((out / "train" / "summary.json").read_text())
    inspections = pd.read_csv(root / "data" / "outcomes.csv", dtype=str)[["entity_id", "date"]].drop_duplicates()
    assert s["rows"] == "cases" and s["training_rows"] == len(inspections) > 1990  # one row per entity and date
    assert s["model_version"] and s["data"]["rejected"]  # registered; repeated keys set aside
    rejects = pd.read_csv(out / "train" / "rejects.csv")
    assert rejects["reason"].str.contains("duplicate \\(entity_id, as_of\\)").sum() >= 3
    for split in s["splits"]:
        assert split["train_as_of_last"] < split["test_as_of"]
    champ = s["candidates"][s["champion"]]
    assert champ["roc_auc"] > 0.6  # the hidden risk and the strict inspectors are learnable
    o = s["oracle"]  # the last split's cases against their true probabilities
    assert o["cases"] > 300 and 0.5 < o["share_of_bayes"] <= 1.05
    assert o["bayes_precision_at_k"] >= o["expected_true_precision_at_k"] - 0.02
    assert Path(s["governance"]["model_card_html"]).exists()  # audit and governance pack in this framing

    res = _run("backtest", str(spec), "--from", "2016-07-01", "--to", "2017-01-10", "--out", str(out / "bt"))
    b = json.loads((out / "bt" / "summary.json").read_text())
    for key in ("n", "positives", "days_earlier_mean", "days_earlier_ci95", "days_earlier_p_value",
                "first_half_actual", "first_half_model", "roc_auc"):
        assert b[key] is not None, key
    outcomes = pd.read_csv(root / "data" / "outcomes.csv")
    in_period = outcomes[outcomes["date"].between("2016-07-01", "2017-01-10")]
    assert b["n"] == len(in_period.drop_duplicates(["entity_id", "date"]))  # an entity's results on one day: one inspection
    assert b["days_earlier_mean"] > 0 and b["first_half_model"] > b["first_half_actual"]
    assert "business_as_usual" in b and "days earlier" in (out / "bt" / "backtest.html").read_text()
    assert b["oracle"]["cases_with_truth"] == b["n"]
    assert "days earlier on average" in res.output
    bt = pd.read_csv(out / "bt" / "inspections.csv")
    assert sorted(bt["date"]) == sorted(bt["model_date"])  # the same dates, handed out again

    due = outcomes[outcomes["date"] >= "2016-12-15"][["entity_id", "date"]].drop_duplicates("entity_id")
    due.to_csv(root / "queue.csv", index=False)
    scoring = root / "scoring" / "inspections.toml"
    scoring.parent.mkdir(exist_ok=True)
    scoring.write_text(f'pipeline = "inspections"\ntraining = "{spec}"\ncapacity = 500\noutputs = "{out / "lists"}"\n'
                       f'[queue]\npath = "{root / "queue.csv"}"\n')
    _run("score", str(scoring), "--quiet")
    [folder] = [f for f in (out / "lists").iterdir() if (f / "list.csv").exists()]  # one list, dated
    listed = pd.read_csv(folder / "list.csv", dtype={"entity_id": str})
    assert sorted(listed["entity_id"]) == sorted(due["entity_id"].astype(str))  # exactly the queue
    assert listed["reason_1"].notna().all() and (listed["score"].diff().dropna() <= 0).all()
    assert (folder / "list.html").exists() and "due_date" in listed


def test_a_backtest_may_not_train_on_its_own_window(three_files):
    _, spec = three_files
    res = CliRunner().invoke(riskengine.cli.app, ["backtest", str(spec), "--from", "2016-07-01", "--to", "2016-09-01",
                                                  "--train-until", "2016-08-01"])
    assert res.exit_code == 2 and "cannot be after --from" in res.output


def test_a_measured_outcome_is_positive_above_its_level_in_the_backtest_too(tmp_path):
    """Inspection scores (0-44), positive above 27: the backtest counts what training labels positive."""
    write_three_files(tmp_path / "data", n_cases=1200, seed=5)
    out = pd.read_csv(tmp_path / "data" / "outcomes.csv")
    rng = np.random.default_rng(0)
    out["outcome"] = out["outcome"] * 30 + rng.integers(0, 14, len(out))  # negatives score 0-13, positives 30-43
    out.to_csv(tmp_path / "data" / "outcomes.csv", index=False)
    spec = training_spec(tmp_path / "data")
    text = spec.read_text().replace('[link]', 'outcome_kind = "number"\n\n[link]')
    spec.write_text(text.replace('rows = "cases"', 'rows = "cases"\npositive_above = 27'))
    _run("backtest", str(spec), "--from", "2016-07-01", "--to", "2017-01-10", "--out", str(tmp_path / "bt"))
    b = json.loads((tmp_path / "bt" / "summary.json").read_text())
    period = out[pd.to_datetime(out["date"]).between("2016-07-01", "2017-01-10")]
    cases = period.groupby(["entity_id", pd.to_datetime(period["date"]).dt.normalize()])["outcome"].max()
    assert b["n"] == len(cases) and b["positives"] == int((cases > 27).sum()) < int((cases > 0).sum())
