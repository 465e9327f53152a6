"""The data contract: each rule rejects a bad row with its reason and keeps the good ones."""

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from riskengine.errors import DataError
from riskengine.ingest import load_data, read_table
from riskengine.spec import DataSpec, Source

TODAY = dt.date(2026, 11, 22)

ENTITIES = """entity_id,lat,lon,ward
100000000001,51.5,-0.1,North
100000000002,51.6,-0.2,South
100000000003,51.4,-0.1,South
"""


def make(tmp_path: Path, entities: str = ENTITIES, events: str | None = None, outcomes: str | None = None,
         share: float = 1.0) -> DataSpec:
    (tmp_path / "entities.csv").write_text(entities)
    ev = {}
    if events is not None:
        (tmp_path / "complaints.csv").write_text(events)
        ev["complaints"] = Source(tmp_path / "complaints.csv")
    out = None
    if outcomes is not None:
        (tmp_path / "outcomes.csv").write_text(outcomes)
        out = Source(tmp_path / "outcomes.csv")
    return DataSpec(entities=Source(tmp_path / "entities.csv"), events=ev, outcomes=out, max_reject_share=share)


def only_reject(data, file_part: str) -> pd.Series:
    r = data.rejects[data.rejects["file"].str.contains(file_part)]
    assert len(r) == 1, r
    return r.iloc[0]


GOOD_EVENT = "100000000001,1 High St,2021-01-01,noise,\n"


@pytest.mark.parametrize(
    "bad_line, column, reason",
    [
        ("100000000001,1 High St,2021-02-30,noise,", "date", "not a real date"),
        ("100000000001,1 High St,not a date,noise,", "date", "not a real date"),
        ("100000000001,1 High St,2031-01-01,noise,", "date", "in the future"),
        ("100000000001,1 High St,1899-01-01,noise,", "date", "before 1950-01-01"),
        ("100000000001,1 High St,1901-01-01,noise,", "date", "placeholder for unknown"),
        ("100000000001,1 High St,2021-01-01,,", "type", "missing"),
        ("100000000001,1 High St,2021-01-01,noise,n/a", "value", "not a number"),
        ("100000000999,1 High St,2021-01-01,noise,", "entity_id", "not in the entities table"),
        ("12345abc,1 High St,2021-01-01,noise,", "entity_id", "not in the entities table"),
        (",,2021-01-01,noise,", "entity_id", "no address to link by"),
        ("100000000001,1 High St,2021-01-01,noise,", "*", "duplicate row of row 1"),
    ],
)
def test_event_rule_rejects_bad_row_keeps_good(tmp_path, bad_line, column, reason):
    spec = make(tmp_path, events="entity_id,address,date,type,value\n" + GOOD_EVENT + bad_line + "\n")
    data = load_data(spec, today=TODAY)
    rej = only_reject(data, "complaints")
    assert reason in rej["reason"]
    assert rej["column"] == column
    assert rej["row"] == 2 and rej["line"] == 3  # second data row, third line of the file
    assert json.loads(rej["record"])["date"] == bad_line.split(",")[2]
    assert len(data.events) == 1 and data.events["entity_id"].iloc[0] == "100000000001"


def test_row_without_entity_id_but_with_address_awaits_linkage(tmp_path):
    spec = make(tmp_path, events="entity_id,address,date,type,value\n" + GOOD_EVENT + ",10 Smith Str,2021-03-01,noise,\n")
    data = load_data(spec, today=TODAY)
    assert data.rejects.empty
    assert len(data.events) == 1
    waiting = data.unlinked["complaints"]
    assert list(waiting["address"]) == ["10 Smith Str"] and list(waiting["line"]) == [2]


@pytest.mark.parametrize(
    "bad_line, column, reason",
    [
        ("100000000002,51.5,-0.1,North", "entity_id", "duplicate entity_id of row 2"),
        (",51.5,-0.1,North", "entity_id", "missing"),
        ("100000000009,95,-0.1,North", "lat", "outside -90..90"),
    ],
)
def test_entity_rules(tmp_path, bad_line, column, reason):
    data = load_data(make(tmp_path, entities=ENTITIES + bad_line + "\n"), today=TODAY)
    rej = only_reject(data, "entities")
    assert rej["column"] == column and reason in rej["reason"]
    assert len(data.entities) == 3


@pytest.mark.parametrize(
    "bad_line, column, reason",
    [
        ("100000000009,2021-01-01,1", "entity_id", "not in the entities table"),
        ("100000000001,2021-01-01,yes", "outcome", "not a number"),
        ("100000000001,2021-01-01,2", "outcome", "must be 0 or 1"),
        ("100000000001,2027-01-01,1", "date", "in the future"),
    ],
)
def test_outcome_rules(tmp_path, bad_line, column, reason):
    spec = make(tmp_path, outcomes="entity_id,date,outcome\n100000000001,2021-01-01,1\n" + bad_line + "\n")
    data = load_data(spec, today=TODAY)
    rej = only_reject(data, "outcomes")
    assert rej["column"] == column and reason in rej["reason"]
    assert len(data.outcomes) == 1 and data.outcomes["outcome"].iloc[0] == 1.0


def test_too_many_rejects_stop_the_run_with_the_commonest_reason(tmp_path):
    events = "entity_id,address,date,type,value\n" + GOOD_EVENT * 1 + "".join(
        f"100000000001,x,2021-02-{30 + i % 2},noise,\n" for i in range(3))
    spec = make(tmp_path, events=events, share=0.05)
    with pytest.raises(DataError) as err:
        load_data(spec, today=TODAY)
    msg = str(err.value)
    assert "complaints.csv" in msg and "3 of 4 rows" in msg and "max_reject_share" in msg and "not a real date" in msg


def test_missing_file_and_missing_column_name_them(tmp_path):
    with pytest.raises(DataError, match=r"nope\.csv: file not found"):
        read_table(Source(tmp_path / "nope.csv"))
    spec = make(tmp_path, events="entity_id,address,when,type\n100000000001,x,2021-01-01,noise\n")
    with pytest.raises(DataError, match=r"complaints\.csv: missing column 'date'"):
        load_data(spec, today=TODAY)


def test_parquet_and_sql_sources_give_the_same_tables(tmp_path):
    csv_spec = make(tmp_path, events="entity_id,address,date,type,value\n" + GOOD_EVENT,
                    outcomes="entity_id,date,outcome\n100000000001,2021-01-01,1\n")
    from_csv = load_data(csv_spec, today=TODAY)
    pd.read_csv(tmp_path / "entities.csv", dtype={"entity_id": str}).to_parquet(tmp_path / "entities.parquet")
    db = tmp_path / "council.db"
    with sqlite3.connect(db) as conn:
        pd.read_csv(tmp_path / "complaints.csv", dtype=str).to_sql("complaints", conn, index=False)
        pd.DataFrame({"entity_id": [100000000001], "date": ["2021-01-01"], "outcome": [1]}).to_sql("outcomes", conn, index=False)
    spec = DataSpec(
        entities=Source(tmp_path / "entities.parquet"),
        events={"complaints": Source(sql="select * from complaints", url=f"sqlite:///{db}")},
        outcomes=Source(sql="select entity_id, date, outcome from outcomes", url=f"sqlite:///{db}"),
    )
    other = load_data(spec, today=TODAY)
    pd.testing.assert_frame_equal(from_csv.events, other.events)
    assert list(other.outcomes["entity_id"]) == ["100000000001"]  # integer ids from SQL become their digits
    assert other.fingerprints[1]["rows"] == 1 and len(other.fingerprints[0]["sha256"]) == 64


def test_cli_validate_prints_summary_and_writes_rejects(tmp_path):
    from typer.testing import CliRunner

    from riskengine.cli import app

    make(tmp_path, events="entity_id,address,date,type,value\n" + GOOD_EVENT + "100000000001,x,2021-02-30,noise,\n")
    spec = tmp_path / "spec.toml"
    spec.write_text(f"""kind = "data"
name = "t"
[purpose]
problem = "p"
insight = "i"
datasets = "d"
action = "a"
[data]
entities = "{tmp_path / 'entities.csv'}"
max_reject_share = 0.6
[data.events]
complaints = "{tmp_path / 'complaints.csv'}"
""")
    result = CliRunner().invoke(app, ["validate", str(spec), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "entities" in result.output and "Rejected rows" in result.output
    rejects = pd.read_csv(tmp_path / "o" / "rejects.csv")
    assert rejects["reason"].str.contains("not a real date").all()


def test_rejects_file_redacts_person_identifiers(tmp_path):
    from riskengine.ingest import write_rejects

    events = "entity_id,address,date,type,value,account_holder\n100000000001,x,2021-02-30,noise,,Jane Doe\n"
    data = load_data(make(tmp_path, events=events), today=TODAY)
    path = write_rejects(data.rejects, tmp_path / "o", redact=["account_holder"])
    text = path.read_text()
    assert "Jane" not in text and "(redacted)" in text and "2021-02-30" in text


def test_a_source_can_name_its_date_format(tmp_path):
    (tmp_path / "entities.csv").write_text(ENTITIES)
    (tmp_path / "c.csv").write_text("entity_id,date,type\n100000000001,01/31/2021,noise\n100000000001,31/01/2021,noise\n")
    spec = DataSpec(entities=Source(tmp_path / "entities.csv"),
                    events={"complaints": Source(tmp_path / "c.csv", date_format="%m/%d/%Y")}, max_reject_share=1)
    data = load_data(spec, today=TODAY)
    assert list(data.events["date"]) == [pd.Timestamp("2021-01-31")]
    assert "expected %m/%d/%Y" in data.rejects["reason"].iloc[0]


def test_a_source_maps_its_own_column_names_to_the_contract(tmp_path):
    """Public extracts never say entity_id/date/type: `columns` names them, the rest is unchanged."""
    (tmp_path / "ent.csv").write_text("CAMIS,BORO\n1,Queens\n2,Bronx\n")
    (tmp_path / "insp.csv").write_text("CAMIS,INSPECTION DATE,VIOLATION CODE,SCORE,date\n"
                                       "1,03/04/2020,04L,12,a note\n2,05/06/2021,10F,7,another\n9,05/06/2021,10F,7,x\n")
    events = Source(tmp_path / "insp.csv", date_format="%m/%d/%Y",
                    columns={"entity_id": "CAMIS", "date": "INSPECTION DATE", "type": "VIOLATION CODE", "value": "SCORE"})
    spec = DataSpec(entities=Source(tmp_path / "ent.csv", columns={"entity_id": "CAMIS"}),
                    events={"inspections": events}, max_reject_share=1)
    data = load_data(spec, today=TODAY)
    ev = data.sources["inspections"].sort_values("entity_id")
    assert list(ev["entity_id"]) == ["1", "2"] and list(ev["type"]) == ["04L", "10F"]
    assert list(ev["date"]) == [pd.Timestamp("2020-03-04"), pd.Timestamp("2021-05-06")]
    assert list(ev["value"]) == [12.0, 7.0]
    assert list(ev["date_in_source"]) == ["a note", "another"]  # the file's own 'date' is kept, renamed
    assert data.rejects["reason"].str.contains("not in the entities table").sum() == 1
    assert data.rejects["line"].tolist() == [4]


def test_a_column_map_naming_a_column_the_file_lacks_says_so(tmp_path):
    (tmp_path / "ent.csv").write_text("CAMIS,BORO\n1,Queens\n")
    with pytest.raises(DataError, match=r"ent\.csv: columns\.entity_id names the column 'camis', which the file "
                                        r"does not have; found 'CAMIS', 'BORO'"):
        read_table(Source(tmp_path / "ent.csv", columns={"entity_id": "camis"}), ["entity_id"])
    with pytest.raises(DataError, match=r"missing column 'entity_id'.*columns = \{ entity_id = "):
        read_table(Source(tmp_path / "ent.csv"), ["entity_id"])
    with pytest.raises(ValueError, match="mapped twice"):
        Source(tmp_path / "ent.csv", columns={"entity_id": "CAMIS", "ward": "CAMIS"})
