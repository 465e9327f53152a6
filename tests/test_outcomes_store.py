"""Results back in: every row accounted for, duplicates and conflicts rejected with a reason, provenance, undo."""

from __future__ import annotations

import pandas as pd
import pytest

from riskengine.errors import RiskEngineError
from riskengine.ingest import Dataset
from riskengine.outcomes import add_outcomes, batches, read_store, undo_batch
from riskengine.prepare import add_stored_outcomes
from riskengine.scoring import exclusions
from riskengine.spec import DataSpec, ScoringExclusions, Source


@pytest.fixture
def pipeline(tmp_path):
    """Ten entities and two lists: 2024-03-04 (E1 rank 1, E2 rank 2, E9 exploration) and 2024-03-11 (E2 rank 1)."""
    pd.DataFrame({"entity_id": [f"E{i}" for i in range(10)]}).to_csv(tmp_path / "entities.csv", index=False)
    lists = tmp_path / "out" / "hmo"
    for day, rows in {"2024-03-04": [("E1", 1, False, 0.6), ("E2", 2, False, 0.5), ("E9", 3, True, 0.05)],
                      "2024-03-11": [("E2", 1, False, 0.55)]}.items():
        (lists / day).mkdir(parents=True)
        pd.DataFrame(rows, columns=["entity_id", "rank", "exploration", "probability"]).to_csv(lists / day / "list.csv", index=False)
    return tmp_path, lists


def _add(tmp_path, lists, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return add_outcomes(path, tmp_path / "store", Source(path=tmp_path / "entities.csv"), lists)


def test_every_row_is_kept_or_rejected_with_its_reason_and_provenance(pipeline):
    tmp_path, lists = pipeline
    r = _add(tmp_path, lists, "week1.csv",
             "entity_id,date,outcome,officer\n"
             "E1,2024-03-05,1,A\n"      # from the first list, rank 1
             "E9,2024-03-06,0,B\n"      # the exploration draw
             "E2,2024-03-12,1,A\n"      # on both lists: the later one (2024-03-11) is its list
             "E5,2024-03-06,0,C\n"      # on no list: business as usual
             "E7,2024-03-06,1,C\n"
             "E7,2024-03-06,1,C\n"      # the same row twice: the copy is a duplicate
             "E8,2024-03-07,1,C\n"
             "E8,2024-03-07,0,D\n"      # two results for one visit: both refused
             "X1,2024-03-07,1,C\n"      # unknown entity
             "E3,2024-02-30,1,C\n")     # not a date
    assert (r.rows, r.accepted, r.rejected) == (10, 5, 5)
    rejects = pd.read_csv(r.rejects_path)
    assert sorted(rejects["line"]) == [7, 8, 9, 10, 11]
    reasons = dict(zip(rejects["line"], rejects["reason"]))
    assert reasons[7] == "duplicate: the same result is on line 6"
    assert reasons[8].startswith("conflict") and reasons[9].startswith("conflict")
    assert "not in the entities table" in reasons[10] and "not a real date" in reasons[11]
    stored = read_store(tmp_path / "store").set_index("entity_id")
    assert stored.loc["E1", ["slice", "rank"]].tolist() == ["list", 1.0]
    assert stored.loc["E9", "slice"] == "exploration"
    assert stored.loc["E2", ["slice", "list_as_of"]].tolist() == ["list", pd.Timestamp("2024-03-11")]
    assert stored.loc["E5", "slice"] == "business as usual" and pd.isna(stored.loc["E5", "rank"])
    assert stored.loc["E1", "officer"] == "A" and stored.loc["E1", "probability"] == 0.6


def test_repeats_and_conflicts_with_the_store_are_refused_nothing_is_overwritten_and_undo_withdraws_a_batch(pipeline):
    tmp_path, lists = pipeline
    first = _add(tmp_path, lists, "a.csv", "entity_id,date,outcome\nE1,2024-03-05,1\nE2,2024-03-12,0\n")
    before = (tmp_path / "store" / "outcomes.csv").read_bytes()
    second = _add(tmp_path, lists, "b.csv", "entity_id,date,outcome\nE1,2024-03-05,1\nE2,2024-03-12,1\nE3,2024-03-13,0\n")
    assert (second.accepted, second.rejected) == (1, 2)
    rejects = pd.read_csv(second.rejects_path).set_index("line")["reason"]
    assert rejects[2] == f"duplicate: the same result is already in the outcome store (batch {first.batch_id})"
    assert rejects[3].startswith(f"conflict: the outcome store (batch {first.batch_id}) holds outcome 0")
    assert (tmp_path / "store" / "outcomes.csv").read_bytes().startswith(before)  # appended, never rewritten

    undo_batch(tmp_path / "store", first.batch_id)
    assert read_store(tmp_path / "store")["entity_id"].tolist() == ["E3"]
    assert len(pd.read_csv(tmp_path / "store" / "outcomes.csv")) == 3  # the rows stay on disk, marked undone
    assert batches(tmp_path / "store")["undone_at"].notna().tolist() == [True, False]
    with pytest.raises(RiskEngineError, match="already undone"):
        undo_batch(tmp_path / "store", first.batch_id)
    with pytest.raises(RiskEngineError, match="no batch 'nope'"):
        undo_batch(tmp_path / "store", "nope")
    corrected = _add(tmp_path, lists, "c.csv", "entity_id,date,outcome\nE2,2024-03-12,1\n")
    assert corrected.accepted == 1  # once undone, the corrected result goes in


def test_training_and_scoring_read_the_store_and_new_positives_leave_the_list(pipeline):
    tmp_path, lists = pipeline
    _add(tmp_path, lists, "a.csv", "entity_id,date,outcome\nE1,2024-03-05,1\nE4,2024-01-10,0\n")
    ents = pd.DataFrame({"entity_id": [f"E{i}" for i in range(10)]})
    base = pd.DataFrame({"entity_id": ["E4", "E6"], "date": pd.to_datetime(["2024-01-10", "2023-05-01"]), "outcome": [0.0, 1.0]})
    data = Dataset(ents, {}, base.copy())
    spec = DataSpec(entities=Source(path=tmp_path / "entities.csv"), outcome_store=tmp_path / "store")
    assert add_stored_outcomes(data, spec) == 1  # E4's visit is already in the outcomes file
    assert sorted(data.outcomes["entity_id"]) == ["E1", "E4", "E6"]
    why = exclusions(ents["entity_id"], pd.DataFrame(columns=["source", "entity_id", "date", "type"]), data.outcomes,
                     pd.Timestamp("2024-03-18"), ScoringExclusions(inspected_within_months=12))
    assert why.loc["E1"].startswith("inspected in the last 12 months")
    assert why.loc["E2"] == ""


def test_a_batch_killed_while_appending_is_never_read_and_the_next_batch_goes_in_cleanly(pipeline):
    tmp_path, lists = pipeline
    store = tmp_path / "store"
    first = _add(tmp_path, lists, "a.csv", "entity_id,date,outcome\nE1,2024-03-05,1\n")
    # a run killed mid-append: one whole row and half a row on disk, no log line for its batch
    with (store / "outcomes.csv").open("a") as fh:
        fh.write("killed-batch,E2,2024-03-12,1,,,,,,list,0.5,b.csv,2\nkilled-batch,E3,2024-03")
    assert read_store(store)["entity_id"].tolist() == ["E1"]

    second = _add(tmp_path, lists, "c.csv", "entity_id,date,outcome\nE2,2024-03-12,0\n")
    assert second.accepted == 1  # E2's unlogged result from the killed run is no obstacle
    assert read_store(store)[["entity_id", "outcome"]].values.tolist() == [["E1", 1.0], ["E2", 0.0]]
    assert batches(store)["batch_id"].tolist() == [first.batch_id, second.batch_id]


def test_a_second_clerk_adding_while_the_store_is_held_is_told_to_wait(pipeline):
    from riskengine.outcomes._store import store_lock

    tmp_path, lists = pipeline
    with store_lock(tmp_path / "store"):
        with pytest.raises(RiskEngineError, match="another riskengine run is writing"):
            _add(tmp_path, lists, "a.csv", "entity_id,date,outcome\nE1,2024-03-05,1\n")
    assert _add(tmp_path, lists, "a.csv", "entity_id,date,outcome\nE1,2024-03-05,1\n").accepted == 1
