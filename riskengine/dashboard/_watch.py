"""What the dashboard reads: the lists made so far, the outcome store, alerts, and feature samples.

`Watch` holds them as plain tables; `read_watch` gathers them from a pipeline's outputs on
disk, and the simulation builds one in memory the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from riskengine.io import read_file
from riskengine.outcomes import read_lists, read_store

_AS_OF_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FEATURE_SAMPLE = "features_sample.parquet"  # written by scoring beside each list
REFERENCE_SAMPLE = "features_reference.parquet"  # written by training: the features it learned from


@dataclass
class Watch:
    """A list in use, as plain tables (see each field)."""

    pipeline: str
    lists: pd.DataFrame  # list_as_of, entity_id, rank, exploration, probability, inclusion_probability
    frames: pd.DataFrame  # per list: list_as_of, scored, eligible, picked, rest, rest_mean_probability
    store: pd.DataFrame  # riskengine.outcomes.STORE_COLUMNS
    groups: pd.DataFrame  # per list, attribute and group: n (scored), eligible, listed
    alerts: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["list_as_of", "entity_id", "kind"]))
    reference: pd.DataFrame | None = None  # training features (a sample), with `probability` where known
    current: pd.DataFrame | None = None  # the latest list's features (a sample), with `probability`
    attributes: list[str] = field(default_factory=list)
    entity_attributes: pd.DataFrame | None = None  # entity_id and the audit attributes
    min_group_size: int = 10
    entity_word: str = "entities"


def list_frame(as_of: pd.Timestamp, scores: pd.DataFrame, listed: pd.DataFrame) -> dict:
    """One list's frame: how many were scored and eligible, picked by the model, and left to explore."""
    eligible = scores["excluded"].fillna("").astype(str).eq("") if "excluded" in scores else pd.Series(True, index=scores.index)
    picked = int((~listed["exploration"].astype(bool)).sum()) if len(listed) else 0
    top = set(listed.loc[~listed["exploration"].astype(bool), "entity_id"].astype(str)) if len(listed) else set()
    rest = eligible & ~scores["entity_id"].astype(str).isin(top)
    return {"list_as_of": pd.Timestamp(as_of), "scored": int(len(scores)), "eligible": int(eligible.sum()),
            "picked": picked, "rest": int(rest.sum()),
            "rest_mean_probability": float(scores.loc[rest, "probability"].mean()) if rest.any() else None}


def group_counts(as_of: pd.Timestamp, scores: pd.DataFrame, listed: pd.DataFrame, entities: pd.DataFrame,
                 attributes: list[str]) -> pd.DataFrame:
    """Per audit attribute and group: entities scored, eligible and listed on one list."""
    attrs = [a for a in attributes if a in entities.columns]
    if not attrs:
        return pd.DataFrame(columns=["list_as_of", "attribute", "group", "n", "eligible", "listed"])
    s = scores[["entity_id", *(["excluded"] if "excluded" in scores else [])]].assign(entity_id=lambda d: d["entity_id"].astype(str))
    s = s.merge(entities[["entity_id", *attrs]].astype({"entity_id": str}), on="entity_id", how="left")
    s["eligible"] = s["excluded"].fillna("").astype(str).eq("") if "excluded" in s else True
    s["listed"] = s["entity_id"].isin(set(listed["entity_id"].astype(str)))
    parts = []
    for a in attrs:
        g = s.groupby(s[a].astype(object).where(s[a].notna(), "unknown").astype(str))
        t = pd.DataFrame({"n": g.size(), "eligible": g["eligible"].sum(), "listed": g["listed"].sum()}).reset_index(names="group")
        parts.append(t.assign(attribute=a))
    out = pd.concat(parts, ignore_index=True).assign(list_as_of=pd.Timestamp(as_of))
    return out[["list_as_of", "attribute", "group", "n", "eligible", "listed"]]


def read_watch(pipeline: str, lists_root: str | Path, store: str | Path | None, entities: pd.DataFrame,
               attributes: list[str], min_group_size: int = 10, reference: str | Path | None = None,
               entity_word: str = "entities", positive_above: float = 0.0) -> Watch:
    """Gather a pipeline's lists, scores, alerts, store and feature samples from its output folders.

    The store's outcomes become 0/1 as training labels them (above `positive_above`, the training
    spec's [labels] level): a measured outcome such as an inspection score counts as a hit only
    above it."""
    root = Path(lists_root)
    folders = sorted(p for p in root.iterdir() if p.is_dir() and _AS_OF_DIR.match(p.name)) if root.is_dir() else []
    lists = read_lists(root)
    frames, groups, alerts = [], [], []
    for folder in folders:
        if not (folder / "list.csv").is_file() or not (folder / "scores.parquet").is_file():
            continue
        as_of = pd.Timestamp(folder.name)
        scores = read_file(folder / "scores.parquet", "scores")
        listed = lists[lists["list_as_of"] == as_of]
        frames.append(list_frame(as_of, scores, listed))
        groups.append(group_counts(as_of, scores, listed, entities, attributes))
        if (folder / "alerts.csv").is_file():
            a = read_file(folder / "alerts.csv", "alerts", dtype={"entity_id": str})
            if len(a):
                alerts.append(a.assign(list_as_of=as_of))
    current = None
    if folders and (folders[-1] / FEATURE_SAMPLE).is_file():
        current = read_file(folders[-1] / FEATURE_SAMPLE, "feature sample")
    ref = read_file(reference, "feature reference") if reference is not None and Path(reference).is_file() else None
    return Watch(
        pipeline=pipeline, lists=lists, frames=pd.DataFrame(frames), store=_as_positives(read_store(store), positive_above),
        groups=pd.concat(groups, ignore_index=True) if groups else group_counts(pd.Timestamp(0), pd.DataFrame(columns=["entity_id"]), lists.iloc[:0], entities, []),
        alerts=pd.concat(alerts, ignore_index=True) if alerts else pd.DataFrame(columns=["list_as_of", "entity_id", "kind"]),
        reference=ref, current=current, attributes=attributes,
        entity_attributes=entities[["entity_id", *[a for a in attributes if a in entities.columns]]].astype({"entity_id": str}),
        min_group_size=min_group_size, entity_word=entity_word,
    )


def _as_positives(store: pd.DataFrame, positive_above: float) -> pd.DataFrame:
    """The store with `outcome` as 1 (above `positive_above`) or 0, what the hit rates count."""
    if store.empty or "outcome" not in store.columns:
        return store
    return store.assign(outcome=(pd.to_numeric(store["outcome"], errors="coerce") > positive_above).astype(int))
