"""Features for cases: one row per (entity, date) pair, each as of its own date.

A grid computes every entity as of every date; cases (inspections, referrals, the work in a
queue) each have their own date, and a grid over all their dates would be entities x dates.
Here every distinct (entity_id, date) pair becomes one "case entity": it carries its entity's
static columns and those of the entity's events dated strictly before the case's date, moved
forward in time by (last case date - case date). All case entities then share one as-of date
and `build_features` computes them in one pass: windows, counts, sums, last values and days
since are differences of dates, which the shift keeps, and an event on or after a case's own
date never reaches it. The ready table is joined as of each case's own date.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from riskengine.errors import DataError
from riskengine.features._build import (EVENT_STATS, FeatureSet, _check_reference, assemble,
                                        _slug, build_features, ready_values)
from riskengine.features._nearby import NEARBY_STATS, nearby_part, split_area_events, wants_nearby
from riskengine.spec import FeaturesSpec

OUTCOME_SOURCE = "outcomes"


def case_keys(cases: pd.DataFrame) -> pd.DataFrame:
    """The distinct (entity_id, as_of) pairs of `cases` (column `as_of` or `date`), by date then entity."""
    date = "as_of" if "as_of" in cases.columns else "date"
    keys = pd.DataFrame({"entity_id": cases["entity_id"].astype(str).to_numpy(dtype=object),
                         "as_of": pd.to_datetime(cases[date]).dt.normalize().to_numpy(dtype="datetime64[ns]")})
    return keys.drop_duplicates().sort_values(["as_of", "entity_id"], kind="stable").reset_index(drop=True)


def case_rows(cases: pd.DataFrame, entities: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """`case_keys(cases)` and each key's row in `entities`; a case of an unknown entity is a DataError."""
    keys = case_keys(cases)
    row = pd.Index(entities["entity_id"].astype(str)).get_indexer(keys["entity_id"])
    if (row < 0).any():
        raise DataError(f"{int((row < 0).sum())} case(s) name an entity_id that is not in the entities table, "
                        f"e.g. {keys['entity_id'][row < 0].iloc[0]!r}")
    return keys, row


def build_case_features(entities: pd.DataFrame, events: pd.DataFrame | None, cases: pd.DataFrame,
                        spec: FeaturesSpec, given: pd.DataFrame | None = None, *,
                        reference: pd.DataFrame | None = None, progress: bool = False) -> FeatureSet:
    """Features for each distinct (entity_id, date) of `cases`, as of that date.

    `cases` has entity_id and as_of (or date). The table has one row per distinct pair,
    ordered by date then entity id; merge it onto the cases by (entity_id, as_of). Static
    columns and event features as `build_features` makes them (events strictly before the
    case's date); the outcome history (source "outcomes") is used whenever
    `outcomes_as_events` is on, even with `from_events = false`; then the ready table's row
    as of the date (`spec.max_age_days`). `reference` fixes the columns as for `build_features`.
    """
    keys, row = case_rows(cases, entities)
    ref = None if reference is None else _check_reference(reference)
    events, area = split_area_events(events)  # area events are not the entity's: joined by place below
    fspec = copy.copy(spec)  # the ready table and the nearby features are joined here, as of each case's date
    fspec.table = None
    fspec.nearby = None
    if ref is None and not spec.from_events:
        fspec.from_events = spec.outcomes_as_events and events is not None and \
            (events["source"].astype(str) == OUTCOME_SOURCE).any()
        if fspec.from_events:
            events = events[events["source"].astype(str) == OUTCOME_SOURCE]
    base_ref = None if ref is None else ref[~ref["stat"].isin(["given", *NEARBY_STATS])].reset_index(drop=True)
    use_events = fspec.from_events if ref is None else base_ref["stat"].isin(EVENT_STATS).any()

    n = len(keys)
    end = keys["as_of"].max() if n else pd.Timestamp("2000-01-01")
    case_entities = entities.iloc[np.maximum(row, 0)].reset_index(drop=True).assign(
        entity_id=np.arange(n).astype(str))
    shifted = _shifted_events(events, keys, end) if use_events else None
    fs = build_features(case_entities, shifted, [end], fspec, reference=base_ref, progress=progress)
    parts = [keys, fs.table.drop(columns=["entity_id", "as_of"]).reset_index(drop=True)]
    infos = [fs.info]
    if wants_nearby(spec, ref):
        values, info = nearby_part(entities, keys, area, spec, ref, _slug)
        parts.append(values.reset_index(drop=True))
        infos.append(info)
    if spec.table is not None or given is not None or (ref is not None and (ref["stat"] == "given").any()):
        values, info = ready_values(keys, spec, given, ref)
        parts.append(values)
        infos.append(info)
    return assemble(parts, infos, ref)


def _shifted_events(events: pd.DataFrame | None, keys: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame | None:
    """Each case's entity's events dated before the case, moved forward by (end - case date), keyed by case."""
    if events is None:
        return None
    ev = events.assign(entity_id=events["entity_id"].astype(str).to_numpy(dtype=object))
    cases = keys.assign(case=np.arange(len(keys)).astype(str))
    joined = ev.merge(cases, on="entity_id", how="inner")
    joined = joined[joined["date"] < joined["as_of"]]
    joined["date"] = (joined["date"] + (end - joined["as_of"])).astype("datetime64[ns]")
    joined["entity_id"] = joined["case"]
    return joined.drop(columns=["as_of", "case"]).reset_index(drop=True)
