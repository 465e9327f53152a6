"""Fuzzing `validate` (the API and the command): mutated inputs never give a traceback.

For every mutated copy of a small, valid borough: either a RiskEngineError or success; on
success every row is accounted for (rows in = rows kept + rows rejected, per file); a row
planted with a bad value is rejected with a reason; and when too many rejects stop the run,
rejects.csv is still written.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from riskengine.errors import DataError, RiskEngineError
from riskengine.ingest import load_data, validate_into
from riskengine.spec import DataSpec, Source

TODAY = dt.date(2026, 11, 22)
ENTITIES = ["entity_id,lat,lon,ward", "E1,51.5,-0.1,North", "E2,51.6,-0.2,South", "E3,51.4,-0.1,South",
            "E4,51.45,-0.15,North", "E5,51.55,-0.05,East"]
EVENTS = ["entity_id,address,date,type,value", "E1,1 High St,2021-01-01,noise,1", "E2,2 High St,2021-02-01,noise,",
          "E3,3 High St,2021-03-01,pest,2.5", "E4,4 High St,2021-04-01,waste,", "E5,5 High St,2021-05-01,noise,3",
          "E1,1 High St,2021-06-01,pest,", "E2,2 High St,2021-07-01,waste,1", "E3,3 High St,2021-08-01,noise,"]
OUTCOMES = ["entity_id,date,outcome", "E1,2021-09-01,1", "E2,2021-09-02,0", "E3,2021-09-03,0", "E4,2021-09-04,1"]

# Values that break the contract in the column they are planted in, with what the reason must say.
BAD_EVENT_VALUES = {
    "date": [("2999-01-01", "in the future"), ("9999-12-31", "in the future"), ("1600-01-01", "before 1950"),
             ("today", "not a real date"), ("now", "not a real date"), ("2023/01/05", "not a real date"),
             ("2023-1-5", "not a real date"), ("2021-02-30", "not a real date"), ("", "missing"),
             ("0000-00-00", "not a real date"), ("2021-13-01", "not a real date")],
    "value": [("inf", "not a finite number"), ("-inf", "not a finite number"), ("1e400", "not a finite number"),
              ("abc", "not a number"), ('"51,5"', "decimal comma"), ("NaNx", "not a number")],
    "entity_id": [("E999", "not in the entities table"), ("E1.5", "not in the entities table")],
    "type": [("", "missing"), ("   ", "missing")],
}
BAD_ENTITY_VALUES = {"lat": [("abc", "not a number"), ('"51,5"', "decimal comma"), ("95", "outside -90..90"),
                             ("inf", "not a finite number"), ("1e400", "not a finite number")],
                     "lon": [("-181", "outside -180..180"), ("x", "not a number")],
                     "entity_id": [("", "missing"), ("E1 ", "duplicate entity_id of row 1")]}
BAD_OUTCOME_VALUES = {"outcome": [("2", "must be 0 or 1"), ("yes", "not a number"), ("inf", "missing or not a number")],
                      "date": [("2999-01-01", "in the future"), ("now", "not a real date")]}
# A busy machine makes generation look slow; the examples are small by design.
SHARED_MACHINE = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much]
NASTY = ["", " ", "\x00", "\u00e9", "\ufeff", "\u202e", "'", '"', '""', ",", "\\", "\t", "0", "-0", "1e400", "nan",
         "NaT", "None", "null", "2999-01-01", "1600-01-01", "2023-01-05T10:30:00+05:00", "2023-01-05Z", "today",
         "x" * 300, "E1", "E1 ", " E1", "1.0", "<script>", "=cmd|' /C calc'!A0"]


def _write(folder: Path, entities: bytes, events: bytes, outcomes: bytes, share: float = 1.0) -> DataSpec:
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in (("entities.csv", entities), ("complaints.csv", events), ("outcomes.csv", outcomes)):
        (folder / name).write_bytes(body)
    return DataSpec(entities=Source(folder / "entities.csv"), events={"complaints": Source(folder / "complaints.csv")},
                    outcomes=Source(folder / "outcomes.csv"), max_reject_share=share)


def _csv(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


def _accounted(data) -> None:
    """Rows in = rows kept + rows rejected, for every file."""
    kept = {"entities": len(data.entities), "outcomes": len(data.outcomes)}
    kept |= {f"events.{s}": len(df) for s, df in data.sources.items()}
    for fp in data.fingerprints:
        rejected = int((data.rejects["file"] == fp["name"]).sum())
        assert fp["rows"] == kept[fp["table"]] + rejected, (fp, kept, rejected)
    assert data.rejects["reason"].astype(str).str.len().gt(0).all()
    assert data.rejects["line"].notna().all()


# ---------------------------------------------------------------------------------------
# The named cases, one at a time
# ---------------------------------------------------------------------------------------


def _plant(lines: list[str], row: int, column: str, value: str) -> list[str]:
    header = lines[0].split(",")
    fields = lines[row].split(",")
    fields[header.index(column)] = value
    return [*lines[:row], ",".join(fields), *lines[row + 1:]]


@pytest.mark.parametrize("table, column, value, reason", [
    *[("events", c, v, r) for c, vs in BAD_EVENT_VALUES.items() for v, r in vs],
    *[("entities", c, v, r) for c, vs in BAD_ENTITY_VALUES.items() for v, r in vs],
    *[("outcomes", c, v, r) for c, vs in BAD_OUTCOME_VALUES.items() for v, r in vs],
])
def test_each_named_bad_value_rejects_its_row_with_a_reason(tmp_path, table, column, value, reason):
    row = 3
    lines = {"entities": ENTITIES, "events": EVENTS, "outcomes": OUTCOMES}
    lines = {**lines, table: _plant(lines[table], row, column, value)}
    data = load_data(_write(tmp_path, *(_csv(lines[t]) for t in ("entities", "events", "outcomes"))), today=TODAY)
    _accounted(data)
    file = {"entities": "entities.csv", "events": "complaints.csv", "outcomes": "outcomes.csv"}[table]
    mine = data.rejects[data.rejects["file"].str.endswith(file) & (data.rejects["line"] == row + 1)]
    assert len(mine) == 1, data.rejects
    assert reason in mine["reason"].iloc[0] and column in mine["column"].iloc[0]


def test_rejects_are_written_when_the_run_stops(tmp_path):
    events = _plant(EVENTS, 2, "date", "2999-01-01")
    spec = _write(tmp_path / "in", _csv(ENTITIES), _csv(events), _csv(OUTCOMES), share=0.0)
    with pytest.raises(DataError, match="max_reject_share.*Rejected rows so far: .*rejects.csv"):
        validate_into(spec, "t", tmp_path / "o", today=TODAY)
    rejects = pd.read_csv(tmp_path / "o" / "rejects.csv")
    assert list(rejects["line"]) == [3] and "in the future" in rejects["reason"].iloc[0]
    assert json.loads(rejects["record"].iloc[0])["date"] == "2999-01-01"


# ---------------------------------------------------------------------------------------
# Property-based: mutated copies through the API
# ---------------------------------------------------------------------------------------

_cell_edit = st.tuples(st.integers(1, len(EVENTS) - 1), st.integers(0, 4), st.sampled_from(NASTY) | st.text(max_size=12))
_byte_edit = st.tuples(st.integers(0, 400), st.binary(min_size=1, max_size=4))
_line_edit = st.tuples(st.sampled_from(["duplicate", "delete", "extra_field", "latin1", "blank", "quote", "header"]),
                       st.integers(1, len(EVENTS) - 1))


def _mutate(lines: list[str], cells, lines_ops) -> bytes:
    lines = list(lines)
    for row, col, value in cells:
        fields = lines[row].split(",")
        fields[col] = '"' + value.replace('"', '""') + '"' if ("," in value or '"' in value or "\n" in value) else value
        lines[row] = ",".join(fields)
    out: list[bytes] = [line.encode("utf-8", errors="surrogatepass") for line in lines]
    for op, row in lines_ops:
        row = min(row, len(out) - 1)
        if row < 1:
            continue
        if op == "duplicate":
            out.insert(row, out[row])
        elif op == "delete":
            del out[row]
        elif op == "extra_field":
            out[row] += b",surplus"
        elif op == "latin1":
            out[row] += "caf\u00e9".encode("latin-1")
        elif op == "blank":
            out.insert(row, b"")
        elif op == "quote":
            out[row] = b'"' + out[row]
        elif op == "header":  # a repeated column name
            out[0] += b"," + out[0].split(b",")[-1]
    return b"\n".join(out) + b"\n"


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=SHARED_MACHINE)
@given(cells=st.lists(_cell_edit, max_size=4), ops=st.lists(_line_edit, max_size=3),
       raw=st.lists(_byte_edit, max_size=2), target=st.sampled_from(["events", "entities", "outcomes"]))
def test_mutated_inputs_give_a_clean_error_or_every_row_accounted_for(tmp_path_factory, cells, ops, raw, target):
    base = {"entities": ENTITIES, "events": EVENTS, "outcomes": OUTCOMES}
    bodies = {t: _csv(lines) for t, lines in base.items()}
    width = len(base[target][0].split(","))
    body = _mutate(base[target], [(min(r, len(base[target]) - 1), c % width, v) for r, c, v in cells], ops)
    for pos, data in raw:
        pos = min(pos, len(body))
        body = body[:pos] + data + body[pos:]
    bodies[target] = body
    spec = _write(tmp_path_factory.mktemp("fuzz"), bodies["entities"], bodies["events"], bodies["outcomes"])
    try:
        data = load_data(spec, today=TODAY)
    except RiskEngineError as exc:
        assert str(exc).strip()
        return
    _accounted(data)


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=SHARED_MACHINE)
@given(row=st.integers(1, len(EVENTS) - 1), column=st.sampled_from(sorted(BAD_EVENT_VALUES)), data=st.data())
def test_a_planted_bad_value_is_always_rejected_with_its_reason(tmp_path_factory, row, column, data):
    value, reason = data.draw(st.sampled_from(BAD_EVENT_VALUES[column]))
    others = [r for r in range(1, len(EVENTS)) if r != row]
    # one damaged value per row: `_plant` splits on commas, so planting twice into a row already holding a
    # quoted comma would leave an unbalanced quote that (as CSV says) swallows the next line, planted row and all
    noise = data.draw(st.lists(st.tuples(st.sampled_from(others), st.sampled_from(["address"]), st.sampled_from(NASTY)),
                               max_size=3, unique_by=lambda t: t[0]))
    lines = _plant(EVENTS, row, column, value)
    for r, c, v in noise:  # unrelated damage elsewhere must not hide the planted row
        lines = _plant(lines, r, c, '"' + v.replace('"', '""') + '"' if ("," in v or '"' in v) else v)
    spec = _write(tmp_path_factory.mktemp("plant"), _csv(ENTITIES), _csv(lines), _csv(OUTCOMES))
    loaded = load_data(spec, today=TODAY)
    _accounted(loaded)
    mine = loaded.rejects[loaded.rejects["file"].str.endswith("complaints.csv") & (loaded.rejects["line"] == row + 1)]
    assert len(mine) == 1 and reason in mine["reason"].iloc[0]


# ---------------------------------------------------------------------------------------
# The command: never a traceback, exit 0 or 2
# ---------------------------------------------------------------------------------------

SPEC = """kind = "data"
name = "{name}"
[purpose]
problem = "p"
insight = "i"
datasets = "d"
action = "a"
[data]
entities = "{folder}/entities.csv"
outcomes = "{folder}/outcomes.csv"
max_reject_share = {share}
[data.events]
complaints = {source}
"""


@settings(max_examples=10, deadline=None, database=None, suppress_health_check=SHARED_MACHINE)
@given(ops=st.lists(_line_edit, max_size=3), cells=st.lists(_cell_edit, max_size=3),
       name=st.sampled_from(["t", "../../x", "a b", "x\\u0000", "ok-name_1"]),
       share=st.sampled_from(["0.0", "1.0", "2", '"x"']),
       source=st.sampled_from(['"{folder}/complaints.csv"', '{{ path = "{folder}/complaints.csv", date_format = "%Q" }}',
                               '{{ path = "{folder}/complaints.csv", encoding = "cp1252" }}',
                               '{{ sql = "CREATE TABLE x (a int)", url = "sqlite:///{folder}/no.db" }}',
                               '{{ sql = "select 1 as entity_id", url = "sqlite:///{folder}/missing.db" }}',
                               '"{folder}/nope.csv"']))
def test_the_validate_command_never_shows_a_traceback(tmp_path_factory, ops, cells, name, share, source):
    from riskengine.cli import app

    folder = tmp_path_factory.mktemp("cli")
    _write(folder, _csv(ENTITIES), _mutate(EVENTS, cells, ops), _csv(OUTCOMES))
    spec = folder / "spec.toml"
    spec.write_text(SPEC.format(name=name, folder=folder, share=share, source=source.format(folder=folder)))
    result = CliRunner().invoke(app, ["validate", str(spec), "--out", str(folder / "o")])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        assert "error:" in result.output and "Traceback" not in result.output
    assert not (folder / "missing.db").exists() and not (folder / "no.db").exists()
    if result.exit_code == 0 or "Rejected rows so far" in result.output:
        assert (folder / "o" / "rejects.csv").is_file()
