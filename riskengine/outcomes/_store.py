"""The outcome store: inspectors' results, appended in batches with provenance, never overwritten.

On disk, one folder (the training spec's `data.outcome_store`):
- `outcomes.csv`: every accepted row, appended batch after batch (the file only grows);
- `batches.jsonl`: one line per batch added, and one per batch undone;
- `rejects/<batch_id>.csv`: the rows of a batch that were refused, with the reason.

Undoing a batch appends a line to the log; its rows stay in `outcomes.csv` and are skipped
when the store is read, so nothing is ever lost and every change can be traced.

The log line is the commit: rows of a batch that never reached the log (a run killed while
appending) are not read, and a half-written last line is cut off before the next batch is
appended. Adding and undoing hold the store's lock (`.riskengine.lock`), so two clerks adding
files at once cannot both pass the duplicate check with the same result.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from riskengine.errors import RiskEngineError
from riskengine.io import read_file
from riskengine.outputs import folder_lock

STORE_COLUMNS = ["batch_id", "entity_id", "date", "outcome", "list_date", "officer", "action",
                 "list_as_of", "rank", "slice", "probability", "source_file", "source_line"]
SLICES = ("list", "exploration", "business as usual")


def log_entries(store: Path) -> list[dict]:
    """Every line of the batch log, in order."""
    path = Path(store) / "batches.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def batches(store: Path) -> pd.DataFrame:
    """One row per batch added: id, when, file, rows in, accepted, rejected, skipped (rows its
    outcome_values call no outcome), and whether it was undone."""
    entries = log_entries(store)
    added = [e for e in entries if e.get("event") == "add"]
    undone = {e["batch_id"]: e["at"] for e in entries if e.get("event") == "undo"}
    cols = ["batch_id", "at", "file", "rows", "accepted", "rejected", "skipped", "undone_at"]
    return pd.DataFrame([{**{k: e.get(k) for k in cols[:-2]}, "skipped": sum((e.get("skipped") or {}).values()),
                          "undone_at": undone.get(e["batch_id"])} for e in added], columns=cols)


def read_store(store: str | Path | None) -> pd.DataFrame:
    """The stored results of every batch not undone (STORE_COLUMNS; dates as timestamps)."""
    path = Path(store) / "outcomes.csv" if store else None
    if path is None or not path.is_file():
        return pd.DataFrame(columns=STORE_COLUMNS)
    df = read_file(path, "outcome store", text=True)
    entries = log_entries(Path(store))
    committed = {e["batch_id"] for e in entries if e.get("event") == "add"}
    undone = {e["batch_id"] for e in entries if e.get("event") == "undo"}
    df = df[df["batch_id"].isin(committed - undone)].reset_index(drop=True)
    df["date"] = pd.to_datetime(df["date"]).astype("datetime64[ns]")
    for col in ("list_date", "list_as_of"):
        df[col] = pd.to_datetime(df[col]).astype("datetime64[ns]")
    for col in ("outcome", "rank", "probability"):
        df[col] = pd.to_numeric(df[col]).astype("float64")
    return df


@contextlib.contextmanager
def store_lock(store: str | Path) -> Iterator[None]:
    """Hold the store for one add or undo: from reading it for the duplicate check to the log line."""
    with folder_lock(Path(store), inside=True):
        yield


def append_batch(store: Path, rows: pd.DataFrame, rejects: pd.DataFrame, entry: dict) -> None:
    """Append accepted rows, write the batch's rejects, then log the batch (the log line commits it)."""
    store = Path(store)
    (store / "rejects").mkdir(parents=True, exist_ok=True)
    path = store / "outcomes.csv"
    out = rows.reindex(columns=STORE_COLUMNS).copy()
    for col in ("date", "list_date", "list_as_of"):
        out[col] = pd.to_datetime(out[col]).dt.strftime("%Y-%m-%d")
    _cut_partial_line(path)
    text = out.to_csv(index=False, header=not path.is_file() or path.stat().st_size == 0, lineterminator="\n")
    with path.open("a", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    rejects.to_csv(store / "rejects" / f"{entry['batch_id']}.csv", index=False)
    _log(store, {"event": "add", **entry})


def _cut_partial_line(path: Path) -> None:
    """Drop a last line left half-written by a killed run (its batch was never logged, so never read)."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with path.open("rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return
        fh.seek(0)
        data = fh.read()
        fh.truncate(data.rfind(b"\n") + 1)


def undo_batch(store: str | Path, batch_id: str) -> dict:
    """Mark a whole batch as undone; its rows stay on disk but are no longer read."""
    store = Path(store)
    with store_lock(store):
        return _undo(store, batch_id)


def _undo(store: Path, batch_id: str) -> dict:
    known = batches(store)
    row = known[known["batch_id"] == batch_id]
    if row.empty:
        listed = ", ".join(known["batch_id"].tail(5)) or "none yet"
        raise RiskEngineError(f"{store}: no batch '{batch_id}' in the outcome store (latest: {listed})")
    if pd.notna(row["undone_at"].iloc[0]):
        raise RiskEngineError(f"{store}: batch '{batch_id}' was already undone at {row['undone_at'].iloc[0]}")
    entry = {"event": "undo", "batch_id": batch_id, "at": _now(), "rows": int(row["accepted"].iloc[0])}
    _log(store, entry)
    return entry


def _log(store: Path, entry: dict) -> None:
    store.mkdir(parents=True, exist_ok=True)
    with (store / "batches.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, default=str) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _now() -> str:
    return dt.datetime.now().isoformat(timespec="seconds")
