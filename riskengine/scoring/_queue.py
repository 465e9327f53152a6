"""The work queue: rank exactly the work already due, each row as of its own date.

A scoring spec's [queue] names a table of (entity_id, date): the inspections due this
period, say. The list then ranks those rows and nothing else, with features as of each
row's date (only what was known strictly before it, or the ready table's row as of it).
Rows that cannot be ranked go to queue_rejects.csv with the reason: a missing or unknown
entity_id, an unreadable date, a repeated row, or an entity already due earlier in the
queue (the list holds one row per entity: its earliest due date).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from riskengine.errors import DataError
from riskengine.features import match_known_ids
from riskengine.ingest import REJECT_COLUMNS, as_date, as_id, read_table
from riskengine.spec import Source


def read_queue(source: Source, entities: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(queue, rejects): entity_id and due date, one row per entity, ordered by date; and the rows set aside."""
    raw, fp = read_table(source, ["entity_id", "date"])
    name = fp["name"]
    ids = raw["entity_id"]
    if pd.api.types.is_float_dtype(ids) and ids.dropna().mod(1).eq(0).all():
        ids = ids.astype("Int64")
    ids = match_known_ids(as_id(ids.astype("string")), entities["entity_id"])
    if pd.api.types.is_datetime64_any_dtype(raw["date"]):
        dates = raw["date"].dt.normalize().astype("datetime64[ns]")
    else:
        dates = as_date(raw["date"], source.date_format)
        if source.date_format is None and dates.isna().any():  # e.g. '01/08/2013 12:00:00 AM'
            retry = pd.to_datetime(raw["date"].where(dates.isna()), errors="coerce", format="mixed")
            dates = dates.fillna(retry.dt.normalize().astype("datetime64[ns]"))
    known = set(entities["entity_id"].astype(str))
    reason = pd.Series("", index=raw.index, dtype=object)
    reason[ids.isna()] = "entity_id: missing"
    reason[ids.notna() & ~ids.isin(known)] = "entity_id: not in the entities table"
    reason[(reason == "") & dates.isna()] = "date: missing or not a date"
    ok = reason == ""
    frame = pd.DataFrame({"entity_id": ids, "date": dates, "_row": raw["_row"]})
    repeated = ok & frame.duplicated(["entity_id", "date"], keep="first")
    reason[repeated] = "duplicate (entity_id, date) row"
    ok = reason == ""
    order = frame[ok].sort_values(["date", "_row"], kind="stable")
    later = order.index[order.duplicated("entity_id", keep="first")]
    first = order.drop_duplicates("entity_id").set_index("entity_id")["date"]
    for i in later:
        reason[i] = f"entity already due on {first[frame.at[i, 'entity_id']].date()} (the list holds one row per entity)"
    bad = reason != ""
    rejects = pd.DataFrame({
        "file": name, "row": raw.loc[bad, "_row"].to_numpy(), "line": raw.loc[bad, "_line"].to_numpy(),
        "column": [r.split(":")[0] if ":" in r else "*" for r in reason[bad]], "reason": reason[bad].to_numpy(),
        "record": [json.dumps({k: (None if pd.isna(v) else str(v)) for k, v in r.items()})
                   for r in raw.loc[bad].drop(columns=["_row", "_line"]).to_dict("records")],
    }, columns=REJECT_COLUMNS)
    queue = frame[~bad].sort_values(["date", "entity_id"], kind="stable")[["entity_id", "date"]].reset_index(drop=True)
    if queue.empty:
        top = rejects["reason"].value_counts().head(3)
        raise DataError(f"{name}: no row of the work queue can be ranked ({len(raw)} row(s); "
                        + "; ".join(f"{r}: {n}" for r, n in top.items()) + ")")
    return queue, rejects


def write_queue_rejects(rejects: pd.DataFrame, out_dir: Path) -> Path | None:
    """queue_rejects.csv beside the list, when any row was set aside."""
    if rejects.empty:
        return None
    path = Path(out_dir) / "queue_rejects.csv"
    rejects.to_csv(path, index=False)
    return path
