"""Results back in: validate a file of inspection results and append it to the store with provenance.

Each row is checked against the outcomes contract (ingest's rules), then against the batch
itself and against what is stored: a repeat of a stored result is a duplicate, a different
result for the same entity and date is a conflict. Both are rejected with the reason, never
merged silently: to correct a result, undo its batch and add the corrected file.

Provenance says where each inspection came from: the list it was on (`list_date`, or the
latest list dated on or before the inspection that holds the entity), its rank, and whether
it was one of the model's picks ("list"), a random draw from the rest ("exploration"), or an
inspection the team chose itself ("business as usual").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from riskengine.errors import RiskEngineError
from riskengine.io import file_columns, read_file
from riskengine.ingest import (
    OUTCOME_REQUIRED,
    REJECT_COLUMNS,
    as_date,
    read_table,
    validate_entities,
    skipped_counts,
    validate_outcomes,
)
from riskengine.outcomes._store import append_batch, read_store, store_lock
from riskengine.spec import EARLIEST_DATE, Source

LIST_WINDOW_DAYS = 56  # an inspection counts as coming from a list made at most this long before it
_AS_OF_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class AddResult:
    """What one `outcomes add` did: nothing lost (rows = accepted + rejected + skipped)."""

    batch_id: str
    rows: int
    accepted: int
    rejected: int
    by_slice: dict[str, int]
    rejects_path: Path
    reasons: dict[str, int]
    skipped: dict[str, int] = field(default_factory=dict)  # rows left out by outcome_values ("skip"), per key


def read_lists(lists_root: str | Path) -> pd.DataFrame:
    """Every list under `lists_root` (folders named by as-of date): list_as_of, entity_id, rank, exploration, probability."""
    root = Path(lists_root)
    frames = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and _AS_OF_DIR.match(p.name)) if root.is_dir() else []:
        path = folder / "list.csv"
        if not path.is_file():
            continue
        df = read_file(path, "list", dtype={"entity_id": str})
        keep = [c for c in ("entity_id", "rank", "exploration", "probability", "inclusion_probability") if c in df]
        df = df[keep].assign(list_as_of=pd.Timestamp(folder.name))
        frames.append(df)
    cols = ["list_as_of", "entity_id", "rank", "exploration", "probability", "inclusion_probability"]
    if not frames:
        return pd.DataFrame(columns=cols)
    out = pd.concat(frames, ignore_index=True).reindex(columns=cols)
    out["exploration"] = out["exploration"].astype(str).str.lower().isin(["true", "1"])
    return out


def provenance(rows: pd.DataFrame, lists: pd.DataFrame) -> pd.DataFrame:
    """list_as_of, rank, slice and probability at listing for each result (entity_id, date, optional list_date)."""
    out = pd.DataFrame(index=rows.index, data={"list_as_of": pd.NaT, "rank": float("nan"),
                                               "slice": "business as usual", "probability": float("nan")})
    if lists.empty or rows.empty:
        return out
    given = pd.to_datetime(rows.get("list_date"), errors="coerce") if "list_date" in rows else pd.Series(pd.NaT, index=rows.index)
    cand = rows[["entity_id", "date"]].assign(_i=rows.index, _given=given).merge(lists, on="entity_id", how="inner")
    on_given = cand["_given"].notna() & (cand["list_as_of"] == cand["_given"])
    in_window = cand["_given"].isna() & (cand["list_as_of"] <= cand["date"]) & (
        cand["date"] - cand["list_as_of"] <= pd.Timedelta(days=LIST_WINDOW_DAYS))
    cand = cand[on_given | in_window].sort_values(["_i", "list_as_of"]).drop_duplicates("_i", keep="last")
    idx = cand["_i"].to_numpy()
    out.loc[idx, "list_as_of"] = cand["list_as_of"].to_numpy()
    out.loc[idx, "rank"] = cand["rank"].to_numpy(dtype=float)
    out.loc[idx, "slice"] = ["exploration" if e else "list" for e in cand["exploration"]]
    out.loc[idx, "probability"] = cand["probability"].to_numpy(dtype=float)
    return out


def _batch_id(path: Path, now: dt.datetime) -> str:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:6]
    return f"{now:%Y%m%d-%H%M%S}-{digest}"


def _against(rows: pd.DataFrame, other: pd.DataFrame, where: str) -> pd.Series:
    """Reasons (or "") for rows that repeat or contradict a result already in `other`."""
    reasons = pd.Series("", index=rows.index, dtype=object)
    if other.empty or rows.empty:
        return reasons
    o = other[["entity_id", "date", "outcome"] + (["batch_id"] if "batch_id" in other else [])]
    o = o.drop_duplicates(["entity_id", "date"])
    m = rows[["entity_id", "date", "outcome"]].reset_index().merge(o, on=["entity_id", "date"], suffixes=("", "_old"))
    for r in m.itertuples():
        label = f"{where} (batch {r.batch_id})" if "batch_id" in m else where
        if r.outcome == r.outcome_old:
            reasons[r.index] = f"duplicate: the same result is already in {label}"
        else:
            reasons[r.index] = (f"conflict: {label} holds outcome {r.outcome_old:g} for this entity and date; "
                                "undo that batch to correct it")
    return reasons


def results_source(path: Path, outcomes: Source | None, date_format: str | None = None) -> Source:
    """How a results file is read. A file with the columns the training data's outcomes source maps
    (a new extract of the same system, e.g. "License #", "Inspection Date", "Results") is read like
    that source: its column map, date format (unless `date_format` is given) and encoding. Any other
    file is read by the contract's names (entity_id, date, outcome) with `date_format`."""
    if outcomes is not None and outcomes.columns:
        theirs = {c.strip() for c in outcomes.columns.values()}
        if theirs <= {c.strip() for c in file_columns(path, "results file")}:
            return Source(path=path, columns=dict(outcomes.columns), encoding=outcomes.encoding,
                          date_format=date_format or outcomes.date_format)
    return Source(path=path, date_format=date_format)


def add_outcomes(file: str | Path, store: str | Path, entities: Source, lists_root: str | Path,
                 known_outcomes: pd.DataFrame | None = None, outcome_kind: str = "binary",
                 today: dt.date | None = None, earliest: dt.date = EARLIEST_DATE,
                 date_format: str | None = None, known_entities: pd.Index | None = None,
                 outcomes: Source | None = None) -> AddResult:
    """Validate `file` and append its good rows to the store; the rest go to the batch's rejects file.

    `known_entities` (the entity ids, when the caller has them) saves reading the entities table.
    `outcomes` (the training spec's outcomes source): its `outcome_values` read results written as
    text, as ingest reads the outcomes file (rows mapped to "skip" are left out and counted); a
    file that has that source's own column names is read like it (see `results_source`).
    """
    path = Path(file)
    if not path.is_file():
        raise RiskEngineError(f"{path}: file not found")
    now = dt.datetime.now()
    batch = _batch_id(path, now)
    source = results_source(path, outcomes, date_format)
    date_format = source.date_format
    outcome_values = outcomes.outcome_values if outcomes is not None else None
    raw, fp = read_table(source, OUTCOME_REQUIRED)
    if known_entities is None:
        ent_raw, ent_fp = read_table(entities, ["entity_id"])
        known_entities = pd.Index(validate_entities(ent_raw, ent_fp["name"])[0]["entity_id"])
    today_ts = pd.Timestamp(today or dt.date.today())
    good, rejects, skip = validate_outcomes(raw, fp["name"], known_entities, today_ts, outcome_kind,
                                            pd.Timestamp(earliest), date_format, outcome_values)
    skipped = skipped_counts(skip, outcome_values or {})
    kept = raw[~raw["_row"].isin(rejects["row"]) & ~raw.index.isin(skip.index)].reset_index(drop=True)
    good = good.assign(_row=kept["_row"].to_numpy(), _line=kept["_line"].to_numpy())
    for col in ("list_date", "officer", "action"):
        good[col] = kept[col].to_numpy() if col in kept else None
    if "list_date" in kept:
        good["list_date"] = as_date(kept["list_date"], date_format).to_numpy()

    with store_lock(store):  # from the duplicate check against the store to the batch's log line
        return _check_and_append(raw, fp, good, rejects, batch, now, store, lists_root, known_outcomes, skipped)


def _check_and_append(raw: pd.DataFrame, fp: dict, good: pd.DataFrame, rejects: pd.DataFrame, batch: str,
                      now: dt.datetime, store: str | Path, lists_root: str | Path,
                      known_outcomes: pd.DataFrame | None, skipped: dict[str, int] | None = None) -> AddResult:
    """Refuse repeats within the file, against the store and the outcomes file; append the rest."""
    reasons = _within_batch(good)
    stored = read_store(store)
    reasons = reasons.where(reasons != "", _against(good, stored, "the outcome store"))
    if known_outcomes is not None:
        reasons = reasons.where(reasons != "", _against(good, known_outcomes, "the outcomes file"))
    bad = reasons != ""
    more = pd.DataFrame({
        "file": fp["name"], "row": good.loc[bad, "_row"], "line": good.loc[bad, "_line"], "column": "entity_id, date",
        "reason": reasons[bad],
        "record": [raw.loc[raw["_row"] == r].drop(columns=["_row", "_line"]).iloc[0].to_json() for r in good.loc[bad, "_row"]],
    })
    rejects = pd.concat([r for r in (rejects, more) if len(r)] or [pd.DataFrame(columns=REJECT_COLUMNS)],
                        ignore_index=True).sort_values("row", kind="stable")
    accepted = good[~bad].reset_index(drop=True)
    accepted = pd.concat([accepted, provenance(accepted, read_lists(lists_root))], axis=1)
    accepted = accepted.assign(batch_id=batch, source_file=fp["name"], source_line=accepted["_line"])
    skipped = skipped or {}
    n_skipped = sum(skipped.values())
    if len(rejects) + len(accepted) + n_skipped != len(raw):  # the promise: nothing lost
        raise AssertionError(f"{len(raw)} rows in, {len(accepted)} accepted, {len(rejects)} rejected "
                             f"and {n_skipped} skipped")
    entry = {"batch_id": batch, "at": now.isoformat(timespec="seconds"), "file": fp["name"], "sha256": fp["sha256"],
             "rows": len(raw), "accepted": len(accepted), "rejected": len(rejects)}
    if skipped:
        entry["skipped"] = dict(skipped)  # per outcome_values key: counts, no row's content
    append_batch(Path(store), accepted, rejects, entry)
    general = rejects["reason"].str.split("; ").explode().str.replace(r" \(batch [^)]*\)| on line \d+| of row \d+", "", regex=True)
    counts = general.value_counts()
    return AddResult(batch, len(raw), len(accepted), len(rejects), accepted["slice"].value_counts().to_dict(),
                     Path(store) / "rejects" / f"{batch}.csv", {str(k): int(v) for k, v in counts.items()},
                     skipped=dict(skipped))


def _within_batch(good: pd.DataFrame) -> pd.Series:
    """Repeats inside one file: identical copies after the first are duplicates; differing results all conflict."""
    reasons = pd.Series("", index=good.index, dtype=object)
    key = good[["entity_id", "date"]]
    n_results = good.groupby(["entity_id", "date"])["outcome"].transform("nunique")
    conflict = n_results > 1
    first_line = good.groupby(["entity_id", "date"])["_line"].transform("first")
    reasons[conflict] = "conflict: the file gives different results for this entity and date (keep one)"
    dup = ~conflict & key.duplicated(keep="first")
    reasons[dup] = [f"duplicate: the same result is on line {int(x)}" if pd.notna(x) else "duplicate: the same result appears earlier"
                    for x in first_line[dup]]
    return reasons
