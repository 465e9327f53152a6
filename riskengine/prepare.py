"""From validated data to what the features read: linked events, past outcomes, a ready table.

Training and scoring both call these functions, so both see the same events.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from riskengine.io import read_file, read_working_copy, working_copies_on, write_working_copy
from riskengine.ingest import Dataset, as_date, as_id, events_table, read_table
from riskengine.spec import DataSpec, FeaturesSpec, LinkSpec


def link_sources(data: Dataset, spec: LinkSpec, out_dir: Path | None = None, progress: bool = False,
                 spark=None) -> dict:
    """Resolve rows without an entity_id (riskengine.link); returns the link metrics.

    Replaces `data.sources` with the linked frames (entity_id filled where matched). With
    `spark` (a SparkSession: the Spark backend) splink compares the candidate pairs there.
    Without `out_dir` (scoring, the backtest, simulation) only the linked sources are made:
    golden records, the quality report and the metrics are training's, and cost more than
    linking the rows the link store has not seen; the metrics returned are then empty.
    """
    if not spec.enabled or not data.unlinked:
        return {}
    from riskengine.link import link

    sources_only = out_dir is None
    key = _linked_key(data, spec) if spark is None else None
    if sources_only and key is not None:
        kept = _linked_read(key, spec)
        if kept is not None:  # these very rows were linked before (by training): link once
            data.sources = kept
            return {}
    truth = (read_file(spec.truth, "link truth") if not sources_only and spec.truth is not None
             and Path(spec.truth).exists() else None)
    result = link(data.entities, data.sources, spec, out_dir=out_dir, progress=progress, truth=truth,
                  sources_only=sources_only, **({"spark": spark} if spark is not None else {}))
    data.sources = result.sources
    if key is not None:
        _linked_keep(key, spec, result.sources)
    if sources_only:
        return {}
    if "review_page" in result.paths:  # the console names the clerk's page (where it will be once the run ends)
        from riskengine.outputs import final_path

        result.metrics["review_page"] = str(final_path(result.paths["review_page"]))
        result.metrics["review_records"] = int(len(result.review))
    return result.metrics


# Linked sources kept by what they were made from: the validated files (Dataset.content_key), the
# [link] settings, the hashing key, the clerks' decisions and the code that links. In this process
# (the demo trains, backtests and scores the same data) and, with [link] store, beside the link
# store, so that `score` after `train` on the same files links nothing. Any change to one of those
# inputs changes the key; a run with another key links as before and replaces what is kept.
_LINKED: dict[str, dict[str, pd.DataFrame]] = {}
LINKED_FILE = "linked_sources.pkl"


def _linked_key(data: Dataset, spec: LinkSpec) -> str | None:
    import hashlib
    import json

    from riskengine.errors import RiskEngineError
    from riskengine.link import load_key

    if data.content_key is None:
        return None
    try:
        secret = load_key(spec)
    except RiskEngineError:
        return None  # link() says why
    if secret.ephemeral:
        return None
    h = hashlib.sha256()
    h.update(json.dumps([data.content_key, repr(spec), {k: len(v) for k, v in data.sources.items()}]).encode())
    h.update(hashlib.sha256(b"riskengine linked sources\0" + secret.secret).digest())
    decisions = Path(spec.review_decisions) if spec.review_decisions is not None else None
    h.update(decisions.read_bytes() if decisions is not None and decisions.is_file() else b"\0")
    here = Path(__file__).parent
    for code in sorted([*(here / "link").glob("*.py"), here / "prepare.py", here / "ingest.py"]):
        h.update(code.name.encode() + code.read_bytes())
    return h.hexdigest()


def _copy_sources(sources: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {k: v.copy(deep=True) for k, v in sources.items()}


def _linked_read(key: str, spec: LinkSpec) -> dict[str, pd.DataFrame] | None:
    if key in _LINKED:
        return _copy_sources(_LINKED[key])
    path = _linked_path(spec)
    sources = None if path is None else read_working_copy(path, key)
    if not isinstance(sources, dict):
        return None
    _LINKED.clear()
    _LINKED[key] = sources
    return _copy_sources(sources)


def _linked_path(spec: LinkSpec) -> Path | None:
    """Where the linked sources are kept on disk: beside the link store, unless RISKENGINE_CACHE=0."""
    if spec.store is None or not working_copies_on():
        return None
    return Path(spec.store) / LINKED_FILE


def _linked_keep(key: str, spec: LinkSpec, sources: dict[str, pd.DataFrame]) -> None:
    _LINKED.clear()
    _LINKED[key] = _copy_sources(sources)
    path = _linked_path(spec)
    if path is not None:
        write_working_copy(path, key, _LINKED[key])  # owner only: source records


def add_stored_outcomes(data: Dataset, spec: DataSpec) -> int:
    """Add the outcome store's results (riskengine.outcomes) to `data.outcomes`; return how many were added.

    A stored result for an entity and date the outcomes file already holds is not counted twice;
    results for entities no longer in the entities table are left out.
    """
    if spec.outcome_store is None:
        return 0
    from riskengine.outcomes import read_store

    stored = read_store(spec.outcome_store)
    stored = stored[stored["entity_id"].isin(data.entities["entity_id"])][["entity_id", "date", "outcome"]]
    if stored.empty:
        return 0
    base = data.outcomes if data.outcomes is not None else stored.iloc[:0]
    new = stored.merge(base[["entity_id", "date"]], on=["entity_id", "date"], how="left", indicator=True)
    new = new[new["_merge"] == "left_only"].drop(columns="_merge")
    data.outcomes = pd.concat([base, new], ignore_index=True)
    return len(new)


def feature_events(data: Dataset, spec: FeaturesSpec) -> pd.DataFrame:
    """The events table the features read, with past outcomes as the source "outcomes".

    With [features.nearby], the area events come too: entity_id empty, `lat` and `lon` set."""
    events = events_table(data.sources)
    if spec.outcomes_as_events and data.outcomes is not None and len(data.outcomes):
        past = pd.DataFrame({"source": "outcomes", "entity_id": data.outcomes["entity_id"],
                             "date": data.outcomes["date"], "type": "inspection",
                             "value": data.outcomes["outcome"].astype("float64")})
        events = pd.concat([events, past], ignore_index=True)
    if spec.nearby is not None and data.area_events:
        # area events ride along without an entity_id, with their coordinates: the features
        # turn them into counts and densities around each entity (features.nearby)
        area = [df.assign(source=name, entity_id=pd.NA, value=float("nan"))[[*events.columns, "lat", "lon"]]
                for name, df in data.area_events.items() if len(df)]
        events = pd.concat([events, *area], ignore_index=True)
    events["date"] = events["date"].astype("datetime64[ns]")
    return events


def given_features(spec: FeaturesSpec, data: Dataset | None = None) -> pd.DataFrame | None:
    """The spec's ready feature table, keyed by entity_id and as_of and validated, or None.

    With `data`, the table is checked against its entities (unknown ids are rejects), its
    rejects join `data.rejects`, its fingerprint `data.fingerprints`, and it is kept on
    `data` so that later calls read it once.
    """
    if spec.table is None:
        return None
    if data is not None and data.ready_table is not None:
        return data.ready_table
    from riskengine.features import load_ready_table

    known = data.entities["entity_id"] if data is not None else None
    share = data.max_reject_share if data is not None else 1.0
    table, rejects, fingerprint = load_ready_table(spec.table, spec.categorical, known, share, spec.static)
    if data is not None:
        data.ready_table = table
        if len(rejects):
            data.rejects = pd.concat([r for r in (data.rejects, rejects) if len(r)], ignore_index=True)
        data.fingerprints.append(fingerprint)
    return table


FEATURE_SAMPLE_ROWS = 5_000  # enough for a stable PSI per feature; small enough to keep with every list


def feature_sample_positions(n: int, rows: int = FEATURE_SAMPLE_ROWS):
    """The positions of the seeded sample `write_feature_sample` keeps from a table of n rows
    (those of `table.sample(rows, random_state=0)`), for a table that is not in this process."""
    import numpy as np

    if n <= rows:
        return np.arange(n)
    return pd.RangeIndex(n).to_series().sample(rows, random_state=0).to_numpy()


def write_feature_sample(table: pd.DataFrame, path: Path, rows: int = FEATURE_SAMPLE_ROWS) -> Path:
    """A seeded sample of a feature table (entity_id, features, probability) for the dashboard's drift check."""
    sample = table.sample(min(len(table), rows), random_state=0) if len(table) > rows else table
    sample.drop(columns=["as_of"], errors="ignore").reset_index(drop=True).to_parquet(path, index=False)
    return path
