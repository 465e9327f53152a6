"""Issue 16's named inputs: each becomes a reject with its reason and line, never a traceback."""

import datetime as dt
import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskengine.errors import DataError, SpecError
from riskengine.ingest import load_data, parse_dates
from riskengine.spec import DataSpec, Source

TODAY = dt.date(2026, 11, 22)
ENTITIES = "entity_id,lat,lon,ward\nE1,51.5,-0.1,North\nE2,51.6,-0.2,South\nE3,51.4,-0.1,South\n"
HEADER = "entity_id,address,date,type,value\n"
GOOD = "E1,1 High St,2021-01-01,noise,1\n"


def spec_for(tmp_path: Path, events: bytes | str, entities: bytes | str = ENTITIES, **source) -> DataSpec:
    for name, body in (("entities.csv", entities), ("complaints.csv", events)):
        p = tmp_path / name
        p.write_bytes(body if isinstance(body, bytes) else body.encode())
    return DataSpec(entities=Source(tmp_path / "entities.csv"),
                    events={"complaints": Source(tmp_path / "complaints.csv", **source)}, max_reject_share=1.0)


def event_reject(data) -> pd.Series:
    r = data.rejects[data.rejects["file"].str.contains("complaints")]
    assert len(r) == 1, r
    return r.iloc[0]


@pytest.mark.parametrize("date, reason", [
    ("2999-01-01", "in the future"),
    ("9999-12-31", "in the future"),
    ("1600-01-01", "before 1950-01-01"),
    ("2023-01-05T10:30:00+05:00", None),  # a time and an offset after the day: the day as written
    ("today", "not a real date (expected YYYY-MM-DD)"),
    ("now", "not a real date"),
    ("2023/01/05", "not a real date"),
    ("2023-1-5", "not a real date"),
    ("2021-02-30", "not a real date"),
])
def test_dates_follow_one_rule(tmp_path, date, reason):
    body = HEADER + GOOD + f"E2,2 High St,{date},noise,\n"
    data = load_data(spec_for(tmp_path, body), today=TODAY)
    if reason is None:
        assert data.rejects.empty and len(data.events) == 2
        assert data.events["date"].iloc[1] == pd.Timestamp("2023-01-05")
        return
    rej = event_reject(data)
    assert reason in rej["reason"] and rej["column"] == "date" and rej["line"] == 3
    assert len(data.events) == 1


def test_mixed_offsets_with_a_named_format_do_not_crash(tmp_path):
    body = ("entity_id,date,type\nE1,05/01/2023 10:30 +0500,noise\nE2,05/01/2023 10:30 -0800,noise\n"
            "E3,05/01/2023,noise\n")
    data = load_data(spec_for(tmp_path, body, date_format="%d/%m/%Y %H:%M %z"), today=TODAY)
    assert list(data.events["date"]) == [pd.Timestamp("2023-01-05")] * 2
    assert "expected %d/%m/%Y %H:%M %z" in event_reject(data)["reason"]


@pytest.mark.parametrize("value, reason", [
    ("inf", "not a finite number"), ("-inf", "not a finite number"), ("1e400", "not a finite number"),
    ("n/a", "not a number"),
])
def test_values_must_be_finite_numbers(tmp_path, value, reason):
    data = load_data(spec_for(tmp_path, HEADER + GOOD + f"E2,x,2021-01-01,noise,{value}\n"), today=TODAY)
    rej = event_reject(data)
    assert reason in rej["reason"] and rej["column"] == "value"
    assert np.isfinite(data.events["value"]).all()


@pytest.mark.parametrize("lat, reason", [("abc", "not a number"), ('"51,5"', "decimal comma"),
                                         ("95", "outside -90..90")])
def test_coordinates_that_are_not_numbers_are_rejected_not_blanked(tmp_path, lat, reason):
    entities = ENTITIES + f"E4,{lat},-0.1,North\n"
    data = load_data(spec_for(tmp_path, HEADER + GOOD, entities=entities), today=TODAY)
    rej = data.rejects.iloc[0]
    assert len(data.rejects) == 1 and rej["column"] == "lat" and reason in rej["reason"] and rej["line"] == 5
    assert "E4" not in set(data.entities["entity_id"])


def test_duplicates_are_found_after_ids_are_stripped(tmp_path):
    data = load_data(spec_for(tmp_path, HEADER + GOOD + "E1 ,1 High St,2021-01-01,noise,1\n"), today=TODAY)
    assert "duplicate row of row 1" in event_reject(data)["reason"]
    assert len(data.events) == 1


def test_one_latin1_byte_rejects_that_row_only(tmp_path):
    body = (HEADER + GOOD).encode() + "E2,1 Caf\u00e9 Row,2021-01-01,noise,\n".encode("latin-1") + b"E3,x,2021-01-02,noise,\n"
    data = load_data(spec_for(tmp_path, body), today=TODAY)
    rej = event_reject(data)
    assert rej["line"] == 3 and "not utf-8 text (byte 0xE9" in rej["reason"] and 'encoding = "cp1252"' in rej["reason"]
    assert list(data.events["entity_id"]) == ["E1", "E3"]


def test_a_source_can_declare_its_encoding(tmp_path):
    body = (HEADER + GOOD + "E2,1 Caf\u00e9 Row,2021-01-01,noise,\n").encode("cp1252")
    data = load_data(spec_for(tmp_path, body, encoding="cp1252"), today=TODAY)
    assert data.rejects.empty and "1 Caf\u00e9 Row" in set(data.sources["complaints"]["address"])


def test_a_row_with_too_many_fields_rejects_that_row_only(tmp_path):
    body = HEADER + GOOD + "E2,1 High St, Flat 2,2021-01-01,noise,\n" + '"E3","multi\nline",2021-01-02,noise,\n' + "E1,y,2021-01-03,pest,\n"
    data = load_data(spec_for(tmp_path, body), today=TODAY)
    rej = event_reject(data)
    assert rej["line"] == 3 and "6 fields, 5 expected" in rej["reason"]
    assert list(data.events["entity_id"]) == ["E1", "E3", "E1"]
    assert list(data.sources["complaints"]["line"]) == [1, 3, 4]  # data rows; the reject keeps its line 3
    assert len(data.events) + len(data.rejects) == 4


def test_an_extra_column_named_line_is_kept_under_another_name(tmp_path):
    data = load_data(spec_for(tmp_path, "entity_id,date,type,line\nE1,2021-01-01,noise,7\n"), today=TODAY)
    src = data.sources["complaints"]
    assert list(src["line"]) == [1] and list(src["line_in_source"]) == ["7"]
    assert src.columns.is_unique


@pytest.mark.parametrize("ids, expected", [
    ([1.0, 2.0, 3.5], ["1", "2", "3.5"]), ([np.inf, 2.0, np.nan], [None, "2", None]),
])
def test_float_ids_from_parquet_become_text(tmp_path, ids, expected):
    pd.DataFrame({"entity_id": ids, "lat": [51.5] * 3}).to_parquet(tmp_path / "e.parquet")
    (tmp_path / "c.csv").write_text("entity_id,date,type\n1,2021-01-01,noise\n")
    spec = DataSpec(entities=Source(tmp_path / "e.parquet"), events={"c": Source(tmp_path / "c.csv")}, max_reject_share=1)
    data = load_data(spec, today=TODAY)
    assert sorted(data.entities["entity_id"]) == sorted(e for e in expected if e)
    assert len(data.entities) + int(data.rejects["file"].str.endswith("e.parquet").sum()) == 3


def test_float_ids_from_sql_and_read_only_sql(tmp_path):
    db = tmp_path / "council.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table c (entity_id real, date text, type text)")
        conn.executemany("insert into c values (?, ?, ?)", [(1.0, "2021-01-01", "noise"), (1.5, "2021-01-01", "noise")])
    (tmp_path / "e.csv").write_text("entity_id\n1\n")
    spec = DataSpec(entities=Source(tmp_path / "e.csv"),
                    events={"c": Source(sql="select * from c", url=f"sqlite:///{db}")}, max_reject_share=1)
    data = load_data(spec, today=TODAY)
    assert list(data.events["entity_id"]) == ["1"]
    assert "not in the entities table" in data.rejects["reason"].iloc[0]
    assert json.loads(data.rejects["record"].iloc[0])["entity_id"] == "1.5"


@pytest.mark.parametrize("sql", [
    "CREATE TABLE x (a int)", "ATTACH DATABASE 'other.db' AS o", "select 1; drop table c",
    "insert into c values (1, '2021-01-01', 'x')", "select * into y from c", "PRAGMA writable_schema = 1",
])
def test_sql_sources_accept_only_select(sql):
    with pytest.raises(ValueError, match="one SELECT or WITH"):
        Source(sql=sql, url="sqlite:///x.db")


def test_with_select_is_accepted():
    Source(sql="with t as (select 1 as a) select a from t", url="sqlite:///x.db")


def test_sqlite_source_is_read_only_and_never_created(tmp_path):
    missing = tmp_path / "missing.db"
    spec = DataSpec(entities=Source(sql="select 1 as entity_id", url=f"sqlite:///{missing}"))
    with pytest.raises(DataError, match="database file .* not found"):
        load_data(spec, today=TODAY)
    assert not missing.exists()
    db = tmp_path / "c.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table e (entity_id text)")
        conn.execute("insert into e values ('E1')")
    before = db.read_bytes()
    # even a statement that slipped past the SELECT check could not write: the file is opened mode=ro
    from riskengine.ingest import _read_sql

    src = Source(sql="select * from e", url=f"sqlite:///{db}")
    src.sql = "create table y (a int)"
    with pytest.raises(DataError, match="query failed: .*readonly"):
        _read_sql(src)
    assert db.read_bytes() == before


@pytest.mark.parametrize("fmt", ["%Q", "%Y", "%d/%m", "\x00"])
def test_bad_date_formats_are_spec_errors(fmt):
    with pytest.raises(ValueError, match="date_format"):
        Source(path=Path("x.csv"), date_format=fmt)


def test_unknown_encoding_is_a_spec_error():
    with pytest.raises(ValueError, match="not a text encoding"):
        Source(path=Path("x.csv"), encoding="klingon")


def test_parse_dates_says_why():
    dates, why = parse_dates(pd.Series(["2023-01-05", "", "2023/01/05", "2999-01-01"]))
    assert [w if isinstance(w, str) else None for w in why] == [None, "missing", "not a real date (expected YYYY-MM-DD)", None]
    assert dates.iloc[3] == pd.Timestamp("2999-01-01")


def test_lines_are_exact_after_blank_lines_and_values_spanning_lines(tmp_path):
    body = HEADER + GOOD + "\n" + 'E2,"2 High St\nFlat 1",2021-01-01,noise,\n' + "E3,x,2023/01/05,noise,\n"
    data = load_data(spec_for(tmp_path, body), today=TODAY)
    rej = event_reject(data)
    assert rej["line"] == 6 and rej["row"] == 3  # what a text editor shows, and the third data row


def test_a_repeated_header_name_is_numbered_on_both_reading_paths(tmp_path):
    for extra in ("", "\n"):  # the second file has a blank line, so it is read line by line
        body = "entity_id,date,type,type\nE1,2021-01-01,noise,x\n" + extra + "E2,2021-01-02,pest,y\n"
        data = load_data(spec_for(tmp_path, body), today=TODAY)
        assert list(data.events["type"]) == ["noise", "pest"]
        assert list(data.sources["complaints"]["type.1"]) == ["x", "y"]
