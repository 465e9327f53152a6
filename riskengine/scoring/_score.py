"""`score`: from a scoring spec to the week's list, with reasons, alerts, a map and a record.

Scoring reads the training spec for the data and feature settings and calls the same
functions training calls (`prepare.link_sources`, `prepare.feature_events`,
`features.build_features`), so the model sees features built by one implementation.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from riskengine.outputs import final_path, run_folder
from riskengine.progress import Steps
from riskengine.errors import RiskEngineError
from riskengine.spec import ScoringSpec, TrainingSpec, check_against_data, load_scoring_spec, training_spec_for
from riskengine.scoring._alerts import find_alerts, find_previous, read_previous
from riskengine.scoring._list import exclusions, make_list
from riskengine.scoring._model import LoadedModel, check_features, check_sources, load_model
from riskengine.scoring._outputs import write_outputs
from riskengine.scoring._page import NAME_COLUMNS
from riskengine.scoring._reasons import explain, reasons_for_all, top_reasons


@dataclass
class ScoringResult:
    """What a scoring run produced; the files are in `out_dir`."""

    spec: ScoringSpec
    as_of: pd.Timestamp
    out_dir: Path
    listed: pd.DataFrame  # the list, rank order, with reasons
    scores: pd.DataFrame  # every entity: score, probability, exclusion reason
    alerts: pd.DataFrame
    model: LoadedModel
    previous: Path | None
    paths: dict[str, Path] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    fingerprint: str = ""
    run_id: str | None = None
    backend: str = "duckdb"  # where features and scores were computed: "duckdb" or "spark (<master>)"


# ---------------------------------------------------------------------------------------
# Specs, dates and fingerprints
# ---------------------------------------------------------------------------------------


def default_as_of(data, today: dt.date | None = None) -> pd.Timestamp:
    """Today, or the day after the data's last dated row when the data stops earlier."""
    today_ts = pd.Timestamp(today or dt.date.today())
    last = [df["date"].max() for df in data.sources.values() if len(df)]
    if data.outcomes is not None and len(data.outcomes):
        last.append(data.outcomes["date"].max())
    last = [d for d in last if pd.notna(d)]
    if not last:
        return today_ts
    return min(today_ts, pd.Timestamp(max(last)).normalize() + pd.Timedelta(days=1))


def fingerprint_of(fingerprints: list[dict]) -> str:
    """One hash for all inputs (each file's sha256 and row count): what the list was made from."""
    text = json.dumps(sorted(fingerprints, key=lambda f: str(f.get("table"))), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------


def score(spec: ScoringSpec | str | Path, as_of: dt.date | str | None = None, out: str | Path | None = None,
          previous: str | Path | None = None, log_mlflow: bool = True, quiet: bool = False,
          today: dt.date | None = None, model: LoadedModel | None = None, backend: str | None = None,
          spark_master: str | None = None) -> ScoringResult:
    """Score every entity as of a date and write the list, its reasons, alerts, page and record.

    `model` skips the registry (a LoadedModel you built); otherwise the spec's registered
    alias is loaded. `previous` names the list to compare with (default: the latest earlier
    list beside this one). `backend` ("duckdb" or "spark") and `spark_master` override the
    spec's [engine]: with Spark the features and every entity's score are computed there
    (riskengine.spark) and the same list is written from here.
    """
    from riskengine.ingest import load_data_or_write_rejects
    from riskengine.prepare import add_stored_outcomes, link_sources

    spec_path = None if isinstance(spec, ScoringSpec) else spec
    spec = load_scoring_spec(spec)
    engine = spec.engine.overridden(backend, spark_master)
    step = Steps(quiet)

    root = scoring_root(spec)  # checked before any work: an `outputs` that is a file stops here
    step(f"loading the training spec and the model {spec.pipeline}@{spec.model_alias}", "load")
    tspec = training_spec_for(spec, spec_path)
    loaded = model or load_model(spec.pipeline, spec.model_alias)

    session = on_spark = None
    if engine.backend == "spark":  # Spark reads and validates the data; linkage of new rows runs on it too
        from riskengine.spark import spark_session
        from riskengine.spark import load_data_or_write_rejects as load_on_spark

        session = spark_session(engine.spark_master)
        step(f"reading and validating the data on Spark ({session.sparkContext.master})", "data")
        on_spark = load_on_spark(session, tspec.data, spec.pipeline, today=today, redact=tspec.link.identifying_columns(),
                                 driver_rows=exclusion_types(spec), link_addresses=tspec.link.enabled)
        data = on_spark.data
    else:
        step("reading and validating the data", "data")
        data = load_data_or_write_rejects(tspec.data, spec.pipeline, today=today, redact=tspec.link.identifying_columns())
    add_stored_outcomes(data, tspec.data)  # new results take entities off the list (exclusions)
    check_against_data(spec, data, training=tspec)
    awaiting = {name: frame["line"] for name, frame in data.unlinked.items()}
    link_sources(data, tspec.link, spark=session)
    if on_spark is not None:  # the rows linkage gave an entity, and past outcomes, join the events Spark holds
        on_spark.complete_events(data, awaiting, tspec.features)
    queue = queue_rejects = None
    if spec.queue is not None:  # rank exactly the work due, each row as of its own date
        from riskengine.scoring._queue import read_queue

        queue, queue_rejects = read_queue(spec.queue.path, data.entities)
    when = pd.Timestamp(as_of or spec.as_of) if (as_of or spec.as_of) else (
        min(queue["date"].min(), pd.Timestamp(today or dt.date.today())) if queue is not None  # work due soon
        else default_as_of(data, today))
    check_as_of(when, data, today)
    target = Path(out) if out else root / str(when.date())
    with run_folder(target) as work:
        result = _score_in(spec, tspec, data, loaded, when, work, previous, log_mlflow, step, queue, queue_rejects,
                           engine, on_spark)
        result.paths = {k: final_path(v) for k, v in result.paths.items()}
    result.out_dir = target
    return result


def scoring_root(spec: ScoringSpec) -> Path:
    """The folder holding one folder per as-of date: `outputs` (under out/ unless absolute), else out/<pipeline>."""
    from riskengine.outputs import default_output, resolve_output

    root = resolve_output(spec.outputs, "outputs", "scoring spec") if spec.outputs else default_output(spec.pipeline)
    if root.exists() and not root.is_dir():
        raise RiskEngineError(f"scoring spec: 'outputs' = '{spec.outputs}' is a file; it must name a folder "
                              "(one folder per as-of date goes inside it)")
    return root


def check_as_of(when: pd.Timestamp, data, today: dt.date | None = None) -> None:
    """An as-of date the data can speak to: not after today, not before the first event; warn if long after the last."""
    today_ts = pd.Timestamp(today or dt.date.today())
    if when > today_ts:
        raise RiskEngineError(f"as_of {when.date()} is after today ({today_ts.date()}): a list for the future "
                              "would count no events that have not happened yet; score as of today or earlier")
    dates = [df["date"] for df in data.sources.values() if len(df)]
    if data.outcomes is not None and len(data.outcomes):
        dates.append(data.outcomes["date"])
    dates = [d.dropna() for d in dates if d.notna().any()]
    if not dates:
        return
    first, last = min(d.min() for d in dates), max(d.max() for d in dates)
    if when <= first:
        raise RiskEngineError(f"as_of {when.date()} is on or before the first dated record ({first.date()}): "
                              "no event would count, so every entity would score alike")
    if when - last > pd.Timedelta(days=365):
        from rich.console import Console

        msg = (f"as_of {when.date()} is {(when - last).days} days after the last dated record ({last.date()}): "
               "features see no recent events; is the data up to date?")
        Console(stderr=True).print(f"[bold yellow]warning:[/] {msg}", highlight=False, soft_wrap=True)


def _score_in(spec: ScoringSpec, tspec: TrainingSpec, data, loaded: LoadedModel, when: pd.Timestamp,
              out_dir: Path, previous, log_mlflow: bool, step: Steps, queue: pd.DataFrame | None = None,
              queue_rejects: pd.DataFrame | None = None, engine=None, on_spark=None) -> ScoringResult:
    from riskengine.features import build_features
    from riskengine.prepare import feature_events, given_features

    events = feature_events(data, tspec.features)
    check_sources(loaded, events)
    entities = data.entities
    if engine is not None and engine.backend == "spark":
        result = _score_on_spark(spec, tspec, data, events, loaded, when, out_dir, previous, step, engine, on_spark,
                                 queue)
        return _finish(result, spec, tspec, data, out_dir, log_mlflow, queue_rejects)
    # With the model's own feature metadata as the reference, the table has exactly the columns
    # and categories it was trained on, even when an event type has no rows this time.
    if queue is not None:
        from riskengine.features import build_case_features

        step(f"building features for the {len(queue):,} rows of the work queue, each as of its due date", "features")
        fs = build_case_features(data.entities, events, queue, tspec.features,
                                 given=given_features(tspec.features, data), reference=loaded.info)
        fs.table = queue.rename(columns={"date": "as_of"}).merge(fs.table, on=["entity_id", "as_of"], how="left")
        entities = data.entities.merge(queue.rename(columns={"date": "due_date"}), on="entity_id", how="left")
    else:
        step(f"building features as of {when.date()} for {len(data.entities):,} entities", "features")
        fs = build_features(data.entities, events, [when], tspec.features, given=given_features(tspec.features, data),
                            reference=loaded.info)
    result = score_frames(spec, fs.table, entities, events, data.outcomes, when, loaded, out_dir,
                          previous=previous, purpose=asdict(spec.purpose or tspec.purpose),
                          fingerprint=fingerprint_of(data.fingerprints), info=fs.info, step=step)
    return _finish(result, spec, tspec, data, out_dir, log_mlflow, queue_rejects)


def _score_on_spark(spec: ScoringSpec, tspec: TrainingSpec, data, events: pd.DataFrame, loaded: LoadedModel,
                    when: pd.Timestamp, out_dir: Path, previous, step: Steps, engine, on_spark=None,
                    queue: pd.DataFrame | None = None) -> ScoringResult:
    """Features and every entity's score in Spark; the list, reasons and files from here, as on DuckDB.

    `on_spark` (riskengine.spark's SparkData) holds the events in Spark, with the rows linkage
    matched; `events` (on the driver) are then only what the exclusions read. Its rejects are
    written beside the list as rejects.parquet. With a `queue`, its rows (one per entity) are
    scored, each as of its own due date (riskengine.spark.build_case_features)."""
    from riskengine.prepare import given_features
    from riskengine.scoring._reasons import reasons_for_all
    from riskengine.spark import build_case_features as spark_case_features
    from riskengine.spark import build_features as spark_features
    from riskengine.spark import score_features, spark_session

    session = spark_session(engine.spark_master)
    master = session.sparkContext.master
    feature_events = events if on_spark is None else on_spark.events
    entities = data.entities
    if queue is not None:
        step(f"building features for the {len(queue):,} rows of the work queue, each as of its due date, on Spark "
             f"({master})", "features")
        sfs = spark_case_features(session, data.entities, feature_events, queue, tspec.features,
                                  given=given_features(tspec.features, data), reference=loaded.info)
        entities = data.entities.merge(queue.rename(columns={"date": "due_date"}), on="entity_id", how="left")
    else:
        step(f"building features as of {when.date()} for {len(data.entities):,} entities on Spark ({master})",
             "features")
        sfs = spark_features(session, data.entities, feature_events, [when],
                             tspec.features, reference=loaded.info, given=given_features(tspec.features, data))
    # the registered version itself, so an alias moved meanwhile cannot mix two models
    uri = f"models:/{spec.pipeline}/{loaded.version}" if loaded.version else loaded.uri
    n_rows = len(data.entities) if queue is None else len(queue)
    step(f"scoring {n_rows:,} {'entities' if queue is None else 'queue rows'} on Spark with {uri} "
         "(mlflow.pyfunc.spark_udf)", "scoring")
    scored = score_features(session, sfs, uri, loaded.model, loaded.input_names, reasons_for_all, spec.reasons)
    result = score_frames(spec, None, entities, events, data.outcomes, when, loaded, out_dir,
                          previous=previous, purpose=asdict(spec.purpose or tspec.purpose),
                          fingerprint=fingerprint_of(data.fingerprints), info=sfs.info, step=step, scored=scored)
    result.backend = f"spark ({master})"
    if on_spark is not None and len(data.rejects):
        from riskengine.spark import write_rejects_parquet

        result.paths["rejects"] = write_rejects_parquet(data.rejects, out_dir, tspec.link.identifying_columns())
    return result


def exclusion_types(spec: ScoringSpec):
    """For a source, the event types the exclusions read ("" for all of them): the rows the driver needs."""
    ex = spec.exclusions
    names = [*([ex.licence_event] if ex.already_licensed else []), *ex.events]

    def types(source: str) -> list[str]:
        return [name.partition(".")[2] for name in names if name.partition(".")[0] == source]
    return types


def _finish(result: ScoringResult, spec: ScoringSpec, tspec: TrainingSpec, data, out_dir: Path, log_mlflow: bool,
            queue_rejects: pd.DataFrame | None) -> ScoringResult:
    """The list's audit, the queue's rejects, the MLflow record and run.json."""
    from riskengine.scoring._audit import audit_list

    if queue_rejects is not None and len(queue_rejects):
        from riskengine.scoring._queue import write_queue_rejects

        result.paths["queue_rejects"] = write_queue_rejects(queue_rejects, out_dir)
    result.paths.update(audit_list(result.listed, result.scores, data.entities, tspec, out_dir,
                                   purpose=spec.purpose or tspec.purpose))
    if log_mlflow:
        from riskengine.scoring._record import record_scoring_run

        result.run_id = record_scoring_run(result, data.fingerprints)
    _write_run_json(result)
    return result


def score_frames(spec: ScoringSpec, table: pd.DataFrame | None, entities: pd.DataFrame, events: pd.DataFrame,
                 outcomes: pd.DataFrame | None, as_of: pd.Timestamp, loaded: LoadedModel, out_dir: Path,
                 previous: str | Path | None = None, purpose: dict | None = None, fingerprint: str = "",
                 info: pd.DataFrame | None = None, step: Steps | None = None, scored=None) -> ScoringResult:
    """The list from a feature table already built: score, exclude, rank, alert, explain, write.

    `table` has entity_id and the model's feature columns (one row per entity); `entities`
    the entity attributes (ward, lat, lon, quota columns); `events` and `outcomes` are what
    the exclusions read. Writes every output file into `out_dir`.

    `scored` (riskengine.spark's SparkScores) replaces `table` when the scores were computed
    elsewhere: every row's ids, raw scores, probabilities and top reasons in table order, and
    `rows(positions)` to fetch the few feature rows the list and its reasons need.
    """
    step = step or Steps(quiet=True)
    when = pd.Timestamp(as_of)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    from riskengine.prepare import feature_sample_positions, write_feature_sample

    if scored is None:
        table = table.reset_index(drop=True)
        check_features(table, loaded)
        step(f"scoring {len(table):,} entities", "scoring")
        raw = loaded.model.raw_score(table)
        prob = loaded.model.probability_from_raw(raw)
        ids, rows = table["entity_id"], table.iloc.__getitem__
    else:
        check_features(pd.DataFrame(columns=["entity_id", *scored.columns]), loaded)
        raw, prob, ids, rows = scored.raw, scored.prob, scored.ids, scored.rows

    sample = feature_sample_positions(len(ids))
    write_feature_sample(rows(sample).assign(probability=prob[sample]),  # for the dashboard's drift check
                         out_dir / "features_sample.parquet")
    step("applying the exclusions and making the list", "list")
    scores = _scores_frame(pd.DataFrame({"entity_id": ids}), raw, prob, entities, spec)
    scores["excluded"] = exclusions(scores["entity_id"], events, outcomes, when, spec.exclusions).to_numpy()
    listed = make_list(scores, spec.capacity, when, spec.quotas, spec.exploration.share, spec.exploration.seed)

    step("comparing with the previous list", "alerts")
    prev_path = Path(previous) if previous else (spec.alerts.previous or find_previous(out_dir, when))
    prev_list, prev_probs = read_previous(prev_path) if prev_path else (None, None)
    picks = listed.loc[~listed["exploration"].astype(bool), "probability"]
    alerts = find_alerts(listed, scores, prev_list, prev_probs, spec.alerts.jump, spec.alerts.threshold,
                         list_floor=float(picks.min()) if len(picks) else None)

    step(f"explaining {len(listed):,} listed entities (exact SHAP)", "reasons")
    ids = pd.Index(listed["entity_id"]).append(pd.Index(alerts["entity_id"].astype(str))).unique()
    pos = pd.Index(scores["entity_id"]).get_indexer(ids)
    X = rows(pos).reset_index(drop=True)
    contrib, _ = explain(loaded.model, X)
    why = top_reasons(contrib, X, loaded.model.features_, loaded.info if loaded.info is not None else info, spec.reasons)
    why.insert(0, "entity_id", X["entity_id"].astype(str).to_numpy())
    reason_cols = [f"reason_{i}" for i in range(1, spec.reasons + 1)]
    listed = listed.merge(why[["entity_id", *reason_cols]], on="entity_id", how="left", validate="one_to_one")
    n_list = len(listed)
    # compiled models: every entity's reasons
    everyone = reasons_for_all(loaded.model, table, spec.reasons) if scored is None else scored.everyone
    if everyone is not None:
        scores = pd.concat([scores, everyone.reset_index(drop=True)], axis=1)

    step(f"writing the list to {out_dir}", "outputs")
    purpose = purpose or {"problem": "", "insight": "", "datasets": "", "action": ""}
    result = ScoringResult(spec, when, out_dir, listed, scores, alerts, loaded, prev_path, fingerprint=fingerprint)
    result.paths = write_outputs(result, why, contrib[:n_list], X.iloc[:n_list], purpose)
    step.close()
    result.timings = dict(step.timings)
    return result


def _scores_frame(table: pd.DataFrame, raw: np.ndarray, prob: np.ndarray, ents: pd.DataFrame,
                  spec: ScoringSpec) -> pd.DataFrame:
    """One row per entity: entity_id, score, probability, and the entity columns the list shows."""
    name = [c for c in NAME_COLUMNS if c in ents.columns][:1]  # the address (or name) the team finds it by
    keep = [c for c in dict.fromkeys(["due_date", *name, "ward", *spec.quotas, "lat", "lon"]) if c in ents.columns]
    missing = [c for c in spec.quotas if c not in ents.columns]
    if missing:
        raise RiskEngineError(
            f"scoring spec [quotas] names column(s) the entities table does not have: {', '.join(missing)}; "
            f"entity columns: {', '.join(map(str, ents.columns))}"
        )
    ids = table["entity_id"].astype(str).reset_index(drop=True)
    scores = pd.DataFrame({"entity_id": ids, "score": raw, "probability": prob})
    if keep:
        ent_ids = ents["entity_id"].astype(str).reset_index(drop=True)
        if ids.equals(ent_ids):  # features keep the entities' order: no join needed
            attrs = ents[keep].reset_index(drop=True)
        else:
            pos = pd.Index(ent_ids).get_indexer(ids)
            if (pos < 0).any():
                raise RiskEngineError(f"{int((pos < 0).sum())} scored entity id(s) are not in the entities table, "
                                      f"e.g. {ids[pos < 0].iloc[0]!r}")
            attrs = ents[keep].iloc[pos].reset_index(drop=True)
        scores = pd.concat([scores, attrs], axis=1)
    return scores


def _write_run_json(result: ScoringResult) -> None:
    """run.json: where the list came from (model version, training run, data fingerprint, scoring run)."""
    m = result.model
    doc = {"pipeline": result.spec.pipeline, "as_of": str(result.as_of.date()), "model_uri": m.uri,
           "model_version": m.version, "model_run_id": m.run_id, "scoring_run_id": result.run_id,
           "data_fingerprint": result.fingerprint, "previous_list": str(result.previous) if result.previous else None,
           "entities_scored": int(len(result.scores)), "listed": int(len(result.listed)),
           "alerts": int(len(result.alerts)), "backend": result.backend, "timings_seconds": result.timings,
           "files": {k: str(final_path(v)) for k, v in result.paths.items()}}
    path = result.out_dir / "run.json"
    path.write_text(json.dumps(doc, indent=2))
    result.paths["run"] = path
