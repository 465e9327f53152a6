"""Outcomes as the source writes them: `outcome_values` maps a file's text results to the contract's outcome.

A Chicago-style inspections extract ("License #", "Inspection Date", "Results" = "Pass", "Fail",
"Out of Business" ...) is read as it is published: mapped results are outcomes, results mapped to
"skip" are no outcome (left out, counted, never rejects), and text the map does not name is a
reject naming the value.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from riskengine.errors import DataError, SpecError
from riskengine.ingest import load_data
from riskengine.spec import DataSpec, from_mapping, load_spec

TODAY = dt.date(2026, 6, 30)
VALUES = {"Fail": 1, "Pass": 0, "Pass w/ Conditions": 0, "Out of Business": "skip", "No Entry": "skip"}
CHICAGO = {"entity_id": "License #", "date": "Inspection Date", "outcome": "Results"}


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    """The synthetic food city, its outcomes file (0/1) and a text twin written the way a city publishes it."""
    from riskengine.synth import synth

    out = tmp_path_factory.mktemp("food")
    synth(out, kind="food", businesses=200, seed=3, progress=False)
    numeric = pd.read_csv(out / "outcomes.csv", dtype=str)
    rng = np.random.default_rng(0)
    results = np.where(numeric["outcome"] == "1", "Fail",
                       rng.choice(["Pass", "Pass w/ Conditions", " PASS ", "pass w/  conditions"], len(numeric)))
    text = pd.DataFrame({"Inspection ID": np.arange(len(numeric)) + 1000,
                         "License #": numeric["entity_id"],
                         "Inspection Date": pd.to_datetime(numeric["date"]).dt.strftime("%m/%d/%Y"),
                         "Results": results, "Inspector": numeric["inspector"]})
    # visits where nothing was inspected: in the file, not outcomes
    visits = text.sample(40, random_state=1).assign(Results=["Out of Business"] * 29 + ["No Entry"] * 11)
    text = pd.concat([text, visits]).sample(frac=1, random_state=2).reset_index(drop=True)
    text.to_csv(out / "inspections.csv", index=False)
    return out


def _data_spec(root: Path, outcomes: dict | str, **more) -> DataSpec:
    raw = {"entities": str(root / "entities.csv"), "outcomes": outcomes, **more}
    return from_mapping(DataSpec, raw, file="training/food.toml", prefix="data")


def _text_outcomes(root: Path, values=VALUES, name: str = "inspections.csv") -> dict:
    return {"path": str(root / name), "date_format": "%m/%d/%Y", "columns": CHICAGO, "outcome_values": values}


def _training_spec(root: Path, tmp_path: Path, outcomes_line: str, store: Path | None = None) -> Path:
    text = (Path(__file__).resolve().parents[1] / "training" / "food.toml").read_text()
    text = text.replace('"out/food/', f'"{root}/')
    text = text.replace(f'outcomes = "{root}/outcomes.csv"', outcomes_line)
    if store is not None:
        text = text.replace("max_reject_share = 0.05", f'max_reject_share = 0.05\noutcome_store = "{store}"')
    path = tmp_path / "training" / "food.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _toml_table(d: dict) -> str:
    return "{ " + ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in d.items()) + " }"


TEXT_LINE = ('outcomes = { path = "ROOT/inspections.csv", date_format = "%m/%d/%Y", columns = '
             + _toml_table(CHICAGO) + ", outcome_values = " + _toml_table(VALUES) + " }")


def test_text_results_train_on_the_same_rows_and_labels_as_their_0_1_twin(city, tmp_path):
    """The trained-on table (every case, its label and its features) is the same from either file."""
    from riskengine.prepare import feature_events
    from riskengine.training._train import build_training_table

    tables = []
    for name, line in (("numeric", f'outcomes = "{city}/outcomes.csv"'), ("text", TEXT_LINE.replace("ROOT", str(city)))):
        spec = load_spec(_training_spec(city, tmp_path / name, line))
        data = load_data(spec.data, today=TODAY)
        table, _ = build_training_table(spec, data, feature_events(data, spec.features), [])
        tables.append((data, table))
    (numeric, a), (text, b) = tables
    assert len(a) > 1000 and a["label"].sum() > 50
    pd.testing.assert_frame_equal(b, a)
    # the 40 visits with no inspection are neither outcomes nor rejects: counted, and said so
    assert text.outcomes_skipped == {"Out of Business": 29, "No Entry": 11}
    assert text.summary()["outcomes_skipped"] == {"Out of Business": 29, "No Entry": 11}
    assert not text.rejects["file"].str.endswith("inspections.csv").any()
    assert "outcomes_skipped" not in numeric.summary()


def _write(path: Path, rows: list[str], header: str = "License #,Inspection Date,Results,Inspector Name") -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def small(tmp_path):
    """Five licences and twenty results: 12 outcomes, 6 visits with no inspection, 2 unmapped results."""
    (tmp_path / "entities.csv").write_text("entity_id,name\n" + "".join(f"L{i},Shop {i}\n" for i in range(5)))
    rows = [f"L{i % 5},01/{i + 1:02d}/2024,{r},Officer Smith" for i, r in enumerate(
        ["Pass", "Fail", "pass", "FAIL ", "Pass w/ Conditions", "Pass", "Fail", "Pass", "Fail", "Pass", "Pass", "Fail",
         "Out of Business", "out of business", "No Entry", "No Entry", "No Entry", " NO ENTRY",
         "Not Ready", "Business Not Located"])]
    _write(tmp_path / "inspections.csv", rows)
    return tmp_path


def test_skipped_rows_are_counted_not_rejected_and_unmapped_text_is_a_reject_naming_it(small):
    spec = _data_spec(small, _text_outcomes(small), max_reject_share=0.15)
    data = load_data(spec, today=TODAY)
    assert len(data.outcomes) == 12 and data.outcomes["outcome"].sum() == 5
    assert data.outcomes_skipped == {"Out of Business": 2, "No Entry": 4}
    # 2 rejects of 14 outcome rows (14%): under 15%; counted against 20 rows would also pass, so check below
    rejects = data.rejects[data.rejects["file"].str.endswith("inspections.csv")]
    assert list(rejects["line"]) == [20, 21]
    assert list(rejects["reason"]) == [
        "outcome: 'Not Ready' is not in outcome_values (Fail, Pass, Pass w/ Conditions, Out of Business, No Entry)",
        "outcome: 'Business Not Located' is not in outcome_values (Fail, Pass, Pass w/ Conditions, Out of Business, "
        "No Entry)"]
    assert json.loads(rejects["record"].iloc[0])["outcome"] == "Not Ready"  # the raw record, kept


def test_skipped_rows_do_not_trip_max_reject_share_but_rejects_among_outcomes_do(small):
    # 6 of 20 rows are skipped: were they rejects, 8 of 20 (40%) would stop the run
    assert load_data(_data_spec(small, _text_outcomes(small), max_reject_share=0.15), today=TODAY)
    # the share is of the rows that are outcomes: 2 of 14 (14.3%) is more than 10%
    with pytest.raises(DataError, match=r"inspections\.csv: 2 of 14 rows \(14\.3%\) break the data contract.*"
                                        r"'Not Ready' is not in outcome_values"):
        load_data(_data_spec(small, _text_outcomes(small), max_reject_share=0.10), today=TODAY)


def test_a_line_that_cannot_be_taken_apart_is_a_reject_whatever_it_says(small):
    with (small / "inspections.csv").open("a", encoding="utf-8") as fh:
        fh.write("L1,02/01/2024,No Entry,Officer Smith,extra\n")  # an unquoted comma: 5 fields, 4 expected
    data = load_data(_data_spec(small, _text_outcomes(small), max_reject_share=1.0), today=TODAY)
    assert data.outcomes_skipped == {"Out of Business": 2, "No Entry": 4}
    assert data.rejects["line"].tolist() == [20, 21, 22] and "5 fields, 4 expected" in data.rejects["reason"].iloc[-1]


def test_numbers_the_map_does_not_name_read_as_before(tmp_path):
    """A measured outcome with a few codes for no measurement: the codes map, the numbers stay numbers."""
    (tmp_path / "entities.csv").write_text("entity_id\nA\nB\n")
    _write(tmp_path / "scores.csv", ["A,01/02/2024,12.5,x", "B,01/03/2024,N/A,x", "A,01/04/2024,  none ,x",
                                     "B,01/05/2024,7,x", "A,01/06/2024,seven,x", "B,01/07/2024,,x"])
    spec = _data_spec(tmp_path, {**_text_outcomes(tmp_path, {"N/A": "skip", "None": 0}, "scores.csv")},
                      outcome_kind="number", max_reject_share=1.0)
    data = load_data(spec, today=TODAY)
    assert data.outcomes["outcome"].tolist() == [12.5, 0.0, 7.0]
    assert data.outcomes_skipped == {"N/A": 1}
    assert list(data.rejects["reason"]) == ["outcome: 'seven' is not in outcome_values (N/A, None)",
                                            "outcome: missing or not a number"]


def test_without_a_map_text_outcomes_are_rejected_as_today(small):
    spec = _data_spec(small, {"path": str(small / "inspections.csv"), "date_format": "%m/%d/%Y", "columns": CHICAGO},
                      max_reject_share=1.0)
    data = load_data(spec, today=TODAY)
    assert len(data.outcomes) == 0 and data.outcomes_skipped == {}
    assert set(data.rejects["reason"]) == {"outcome: missing or not a number"}


@pytest.mark.parametrize("values, message", [
    ({"Fail": 1, "Pass": 0, "fail ": 1},
     r"training/food\.toml: \[data\.outcomes\]: 'outcome_values' names 'Fail' and 'fail ', the same value once "
     r"case and spaces are ignored: keep one"),
    ({"Fail": 2, "Pass": 0},
     r"training/food\.toml: \[data\]: 'outcomes\.outcome_values\.Fail' = 2: a binary outcome is 0 or 1"),
    ({"Fail": "maybe", "Pass": 0},
     r"training/food\.toml: key 'data\.outcomes\.outcome_values\.Fail' expected a number or one of 'skip', "
     r"got 'maybe'"),
    ({"Fail": True}, r"training/food\.toml: key 'data\.outcomes\.outcome_values\.Fail' expected a number"),
    ({"Closed": "skip"}, r"training/food\.toml: \[data\.outcomes\]: 'outcome_values' maps every value to \"skip\""),
    ({"  ": 1}, r"training/food\.toml: \[data\.outcomes\]: 'outcome_values' has a blank key"),
])
def test_a_bad_map_is_a_one_line_spec_error_naming_file_and_key(tmp_path, values, message):
    with pytest.raises(SpecError, match=message) as err:
        _data_spec(tmp_path, _text_outcomes(tmp_path, values))
    assert "\n" not in str(err.value)


def test_a_map_on_another_source_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match=r"\[data\]: 'events\.complaints\.outcome_values': only the outcomes source"):
        _data_spec(tmp_path, "o.csv", events={"complaints": {"path": "c.csv", "outcome_values": {"Fail": 1}}})


def test_validate_says_how_many_rows_the_map_skipped(small, tmp_path):
    from riskengine.cli import app

    spec = tmp_path / "data.toml"
    spec.write_text(
        'name = "inspections"\nkind = "data"\n[purpose]\nproblem = "p"\ninsight = "i"\ndatasets = "d"\naction = "a"\n'
        f'[data]\nentities = "{small}/entities.csv"\nmax_reject_share = 0.15\n'
        f"outcomes = {TEXT_LINE.split('= ', 1)[1].replace('ROOT', str(small))}\n")
    out = CliRunner().invoke(app, ["validate", str(spec), "--out", str(tmp_path / "v")], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "outcomes: 6 rows skipped by outcome_values ('No Entry': 4, 'Out of Business': 2)" in out.output
    assert "Officer Smith" not in out.output  # counts only
    rejects = pd.read_csv(tmp_path / "v" / "rejects.csv")
    assert len(rejects) == 2 and rejects["reason"].str.contains("is not in outcome_values").all()


def _text_pipeline(city: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A scoring spec over a training spec whose outcomes are the city's text extract, and its outcome store."""
    store = tmp_path / "store"
    training = _training_spec(city, tmp_path, TEXT_LINE.replace("ROOT", str(city)), store=store)
    scoring = tmp_path / "scoring" / "food.toml"
    scoring.parent.mkdir()
    scoring.write_text(f'pipeline = "food"\ntraining = "{training}"\noutputs = "{tmp_path / "lists"}"\n')
    return scoring, store


def test_outcomes_add_reads_text_results_with_the_training_specs_map(city, tmp_path):
    """`riskengine outcomes add` on a week of results in the city's words: the pipeline's map applies."""
    from riskengine.cli import app
    from riskengine.outcomes import batches, read_store

    scoring, store = _text_pipeline(city, tmp_path)
    ids = pd.read_csv(city / "entities.csv", dtype=str)["entity_id"].drop_duplicates().head(6).tolist()
    week = _write(tmp_path / "week.csv", [f"{ids[0]},2026-06-01,Fail", f"{ids[1]},2026-06-01,pass w/ conditions",
                                          f"{ids[2]},2026-06-02,Out of Business", f"{ids[3]},2026-06-02,NO ENTRY",
                                          f"{ids[4]},2026-06-03,Not Ready", f"{ids[5]},2026-06-03,PASS"],
                  header="entity_id,date,outcome")
    out = CliRunner().invoke(app, ["outcomes", "add", str(scoring), str(week)], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert ": 6 rows, 3 added (3 business as usual), 1 rejected." in out.output
    assert "2 rows skipped by outcome_values ('Out of Business': 1, 'No Entry': 1)" in out.output
    assert "1 rejected: outcome: 'Not Ready' is not in outcome_values (Fail, Pass, " in out.output
    stored = read_store(store).set_index("entity_id")["outcome"]
    assert stored.to_dict() == {ids[0]: 1.0, ids[1]: 0.0, ids[5]: 0.0}
    assert batches(store)[["rows", "accepted", "rejected", "skipped"]].iloc[0].tolist() == [6, 3, 1, 2]


def test_outcomes_add_reads_a_new_extract_like_the_outcomes_file(city, tmp_path):
    """Next month's extract, in the city's own columns and US dates, goes in as it is published."""
    from riskengine.cli import app
    from riskengine.outcomes import read_store

    scoring, store = _text_pipeline(city, tmp_path)
    ids = pd.read_csv(city / "entities.csv", dtype=str)["entity_id"].drop_duplicates().head(3).tolist()
    extract = _write(tmp_path / "july.csv", [f"{ids[0]},06/03/2026,Fail,A. Officer", f"{ids[1]},06/04/2026,Pass,B. Officer",
                                             f"{ids[2]},06/13/2026,Out of Business,A. Officer"])
    out = CliRunner().invoke(app, ["outcomes", "add", str(scoring), str(extract)], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert ": 3 rows, 2 added (2 business as usual), 0 rejected." in out.output
    stored = read_store(store).set_index("entity_id")
    assert stored["outcome"].to_dict() == {ids[0]: 1.0, ids[1]: 0.0}
    assert list(stored["date"].dt.strftime("%Y-%m-%d")) == ["2026-06-03", "2026-06-04"]  # month first, as the source writes


@pytest.mark.xdist_group("spark")
def test_spark_ingest_maps_text_outcomes_as_ingest_does(spark, small):
    """The same outcomes, the same skipped counts and the same rejects, reason for reason."""
    from riskengine.spark import load_data as load_on_spark

    _write(small / "more.csv", ["L0,02/01/2024,1,x", "L1,02/02/2024, pass\u00a0w/ conditions ,x",
                                "L2,02/03/2024,2,x", "L3,13/40/2024,No Entry,x", "L9,02/05/2024,Maybe,x",
                                "L4,02/06/2024,  ,x", "L4,02/07/2024,Fail,x",
                                "L4,02/08/2024,Closed - spoke to the manager Mr Jones about pests,x"])
    for name in ("inspections.csv", "more.csv"):
        spec = _data_spec(small, _text_outcomes(small, name=name), max_reject_share=1.0)
        duck = load_data(spec, today=TODAY)
        got = load_on_spark(spark, spec, today=TODAY).data
        pd.testing.assert_frame_equal(got.outcomes, duck.outcomes, check_dtype=False)
        assert got.outcomes_skipped == duck.outcomes_skipped and duck.outcomes_skipped
        key = ["row", "line", "column", "reason", "record"]
        pd.testing.assert_frame_equal(got.rejects[key].astype(str), duck.rejects[key].astype(str), obj=name)
        assert [f["rows"] for f in got.fingerprints] == [f["rows"] for f in duck.fingerprints]
    reasons = dict(zip(duck.rejects["line"], duck.rejects["reason"]))
    assert reasons[4] == "outcome: outcome must be 0 or 1"
    assert reasons[6] == ("entity_id: not in the entities table; outcome: 'Maybe' is not in outcome_values "
                          "(Fail, Pass, Pass w/ Conditions, Out of Business, No Entry)")
    assert reasons[7] == "outcome: missing or not a number"
    assert reasons[9].startswith("outcome: 'Closed - spoke to the manager Mr Jones a...' is not in outcome_values")
    assert duck.outcomes_skipped == {"No Entry": 1}  # skipped whatever its date says: it is no outcome
    # the share that stops a run is of the rows that are outcomes, on Spark too
    spec = _data_spec(small, _text_outcomes(small), max_reject_share=0.10)
    with pytest.raises(DataError, match=r"inspections\.csv: 2 of 14 rows \(14\.3%\) break the data contract"):
        load_on_spark(spark, spec, today=TODAY)
