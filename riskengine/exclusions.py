"""Who may not be listed as of a date: recently inspected, already licensed, or with a named event.

Read from events and outcomes dated strictly before the as-of date, as features are. Scoring
leaves these entities off the list; training's view against the synthetic truth leaves
them out too, so both stages apply one rule.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskengine.errors import RiskEngineError
from riskengine.spec import ScoringExclusions


def exclusions(entity_ids: pd.Series, events: pd.DataFrame, outcomes: pd.DataFrame | None,
               as_of: pd.Timestamp, spec: ScoringExclusions) -> pd.Series:
    """Why each entity is left off the list: a reason string, or "" when it may be listed.

    Only events and outcomes dated strictly before `as_of` count, as for features.
    `events` has columns source, entity_id, date, type; `outcomes` entity_id, date.
    """
    as_of = pd.Timestamp(as_of)
    ids = pd.Index(entity_ids.astype("string"))
    lookup = pd.Index(np.asarray(entity_ids.astype(str), dtype=object), dtype=object)  # hashes faster than Arrow strings
    why = pd.Series("", index=ids, dtype="string")

    def flag(hit_ids, text: str) -> None:
        nonlocal why
        hit = lookup.isin(np.asarray(hit_ids, dtype=object))
        if hit.any():
            first = pd.Series(hit & (why == "").to_numpy(), index=ids)
            more = pd.Series(hit & (why != "").to_numpy(), index=ids)
            why = why.mask(more, why + "; " + text).mask(first, text)

    if spec.inspected_within_months:
        if outcomes is None:
            raise RiskEngineError("exclusions.inspected_within_months needs outcomes (the inspections) in the training spec's data")
        start = as_of - pd.DateOffset(months=spec.inspected_within_months)
        recent = outcomes[(outcomes["date"] >= start) & (outcomes["date"] < as_of)]
        flag(recent["entity_id"].unique(), f"inspected in the last {spec.inspected_within_months} months")
    if spec.already_licensed:
        flag(_matching(events, spec.licence_event, "exclusions.licence_event", None, as_of), "already licensed")
    start = as_of - pd.DateOffset(months=spec.events_within_months) if spec.events_within_months else None
    for name in spec.events:
        flag(_matching(events, name, "exclusions.events", start, as_of), f"has a {name} event")
    return why


def _matching(events: pd.DataFrame, name: str, key: str, start: pd.Timestamp | None, end: pd.Timestamp) -> np.ndarray:
    """Entity ids with an event named "source.type" (or just "source") dated in [start, end)."""
    source, _, type_ = name.partition(".")
    hit = (events["source"] == source).to_numpy(dtype=bool, na_value=False)
    if not hit.any():
        known = sorted(map(str, events["source"].dropna().unique()))
        raise RiskEngineError(
            f"scoring spec key '{key}' names source '{source}' (in {name!r}), which the data does not have; "
            f"sources: {', '.join(known) or 'none'}"
        )
    idx = np.flatnonzero(hit)
    dates = events["date"].to_numpy()[idx]
    keep = dates < end.to_datetime64()
    if start is not None:
        keep &= dates >= start.to_datetime64()
    if type_:
        keep &= (events["type"].iloc[idx] == type_).to_numpy(dtype=bool, na_value=False)
    return events["entity_id"].iloc[idx[keep]].dropna().unique()
