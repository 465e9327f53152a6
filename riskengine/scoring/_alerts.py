"""Alerts: what changed since the previous list of the same pipeline.

Three kinds, one row each: `new` (on this list, not on the previous one), `jump` (the
probability rose by more than the spec's jump since the previous scoring) and `threshold`
(the probability crossed the spec's threshold from below). Only alerts that lead to an
action are raised: only for entities that may be listed (not excluded); a jump off the list
only when the probability reached the list's lowest model pick (kept off by capacity or
quotas, so worth a look next round); a threshold crossing always (the spec set it). Each kind carries its advice (ADVICE) for the page.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from riskengine.errors import RiskEngineError
from riskengine.io import read_file

KINDS = ["new", "jump", "threshold"]
# What each kind asks of the team, on the list and off it.
ADVICE = {
    "new": ("New to the list since the previous one", "Not on the previous list: nobody has been asked to "
            "look at these yet. Visit them as listed; the reasons say what put them here."),
    "jump": ("Risk rose sharply", "Their probability rose by more than the alert's jump since the previous "
             "list. On the list: read the reasons before the visit, something changed. Off the list (kept off "
             "by capacity or a quota): consider them first for the next list or any spare visit."),
    "threshold": ("Crossed the alert threshold", "Their probability crossed the alert threshold since the "
                  "previous list. Off the list: consider them first for the next list or any spare visit."),
}
ALERT_COLUMNS = ["alert", "entity_id", "rank", "probability", "previous_probability", "change", "detail"]


def find_previous(folder: Path, as_of: pd.Timestamp) -> Path | None:
    """The latest list.csv in a sibling folder named by an earlier as-of date (YYYY-MM-DD)."""
    root = Path(folder).parent
    if not root.is_dir():
        return None
    best = None
    for d in root.iterdir():
        try:
            day = dt.date.fromisoformat(d.name)
        except ValueError:
            continue
        if day < pd.Timestamp(as_of).date() and (d / "list.csv").is_file() and (best is None or day > best[0]):
            best = (day, d / "list.csv")
    return best[1] if best else None


def read_previous(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The previous list (entity_id, rank) and the previous probabilities (entity_id, probability).

    Probabilities come from the scores.parquet beside the list (every entity) when it is
    there, else from the list itself.
    """
    path = Path(path)
    if not path.is_file():
        raise RiskEngineError(f"{path}: previous list not found (alerts.previous or --previous)")
    prev = read_file(path, "previous list", dtype={"entity_id": str})
    missing = [c for c in ("entity_id", "rank", "probability") if c not in prev.columns]
    if missing:
        raise RiskEngineError(f"{path}: not a list.csv from `riskengine score`: missing column(s) {', '.join(missing)}")
    scores_path = path.with_name("scores.parquet")
    if scores_path.is_file():
        probs = read_file(scores_path, "previous scores", columns=["entity_id", "probability"])
        probs["entity_id"] = probs["entity_id"].astype(str)
    else:
        probs = prev[["entity_id", "probability"]]
    return prev[["entity_id", "rank"]], probs


def find_alerts(current: pd.DataFrame, scores: pd.DataFrame, previous_list: pd.DataFrame | None,
                previous_probs: pd.DataFrame | None, jump: float, threshold: float | None,
                list_floor: float | None = None) -> pd.DataFrame:
    """Alert rows against the previous list, ordered by kind, then rank, then probability.

    `current` is this list (entity_id, rank, ...), `scores` every entity (entity_id,
    probability, excluded). With no previous list there is nothing to compare: no rows.
    `list_floor` (the lowest probability the model put on the list): jump alerts for entities
    off the list only at or above it, the ones a team could act on next.
    """
    if previous_list is None:
        return pd.DataFrame(columns=ALERT_COLUMNS)
    now = scores[["entity_id", "probability", "excluded"]].copy()
    now["entity_id"] = now["entity_id"].astype(str)
    now = now[now["excluded"].fillna("").astype(str) == ""].drop(columns="excluded")
    rank = current[["entity_id", "rank"]].astype({"entity_id": str})
    prev = previous_probs.rename(columns={"probability": "previous_probability"}).astype({"entity_id": str})
    df = now.merge(prev, on="entity_id", how="left").merge(rank, on="entity_id", how="left")
    df["change"] = df["probability"] - df["previous_probability"]

    prev_ids = set(previous_list["entity_id"].astype(str))
    parts = []

    new = df[df["rank"].notna() & ~df["entity_id"].isin(prev_ids)]
    parts.append(new.assign(alert="new", detail=[f"new to the list at rank {int(r)}" for r in new["rank"]]))

    rose = df[df["change"] > jump]
    if list_floor is not None:  # off the list, a rise matters when it reaches the list's own level
        rose = rose[rose["rank"].notna() | (rose["probability"] >= list_floor)]
    parts.append(rose.assign(alert="jump", detail=[
        f"probability rose from {p0:.1%} to {p1:.1%} (+{c * 100:.1f} points)"
        for p0, p1, c in zip(rose["previous_probability"], rose["probability"], rose["change"])]))

    if threshold is not None:
        crossed = df[(df["previous_probability"] < threshold) & (df["probability"] >= threshold)]
        parts.append(crossed.assign(alert="threshold", detail=[
            f"probability crossed {threshold:.0%}: {p0:.1%} -> {p1:.1%}"
            for p0, p1 in zip(crossed["previous_probability"], crossed["probability"])]))

    out = pd.concat([p for p in parts if len(p)] or [pd.DataFrame(columns=ALERT_COLUMNS)], ignore_index=True)
    if not len(out):
        return pd.DataFrame(columns=ALERT_COLUMNS)
    out["_kind"] = out["alert"].map(KINDS.index)
    out["_rank"] = out["rank"].fillna(np.inf)
    out = out.sort_values(["_kind", "_rank", "probability", "entity_id"], ascending=[True, True, False, True],
                          kind="stable")
    out["rank"] = out["rank"].astype("Int64")
    return out[ALERT_COLUMNS].reset_index(drop=True)
