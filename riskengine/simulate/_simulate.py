"""A simulation of months of use on the synthetic borough: score, inspect, add results, retrain, watch.

Three policies run over the same weeks from the same start, each with its own outcome store:
the model's list with its exploration slice, the model's list without one, and business as
usual (the most-complained-about homes first, at the same capacity). Before the start, each
knows only the inspections that really happened; from then on, only its own. Every week it
makes a list as `riskengine score` does, its officers visit the listed homes and record what the
hidden truth says (with the generator's recording error), the results go in through
`riskengine outcomes add`, and on the spec's schedule the model is retrained on what its own
lists found: the feedback loop the exploration slice is there to measure.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from riskengine.dashboard import list_frame, read_watch, write_dashboard
from riskengine.errors import RiskEngineError
from riskengine.features import build_features
from riskengine.ingest import Dataset, events_table, load_data
from riskengine.outcomes import add_outcomes, read_store
from riskengine.prepare import given_features, link_sources, write_feature_sample
from riskengine.progress import Steps
from riskengine.scoring import LoadedModel, exclusions, load_scoring_spec, make_list, score_frames, training_spec_for
from riskengine.simulate._world import World
from riskengine.training import fit_pipeline

ARMS = {"model with exploration": "model_exploration", "model without exploration": "model_only",
        "business as usual": "business_as_usual"}
DEFAULT_EXPLORATION = 0.1  # used when the scoring spec draws none, so the comparison has its subject


@dataclass
class Arm:
    """One policy's state as the weeks go by."""

    name: str
    folder: Path
    share: float  # exploration share of the list (0 for business as usual)
    outcomes: pd.DataFrame  # entity_id, date, outcome: what this policy knows
    model: LoadedModel | None = None
    weekly: list[dict] = field(default_factory=list)
    frames: list[dict] = field(default_factory=list)  # per week: the exploration frame and its truth

    @property
    def uses_model(self) -> bool:
        return self.name != "business as usual"


def _cut(data: Dataset, outcomes: pd.DataFrame, before: pd.Timestamp) -> Dataset:
    """The data as known on `before`: events and outcomes dated strictly earlier."""
    sources = {s: df[df["date"] < before] for s, df in data.sources.items()}
    return dataclasses.replace(data, sources=sources, outcomes=outcomes[outcomes["date"] < before].reset_index(drop=True))


def _outcome_events(outcomes: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"source": "outcomes", "entity_id": outcomes["entity_id"].astype("string"),
                         "date": outcomes["date"].astype("datetime64[ns]"), "type": "inspection",
                         "value": outcomes["outcome"].astype("float64")})


def _fit(tspec, data: Dataset, outcomes: pd.DataFrame, now: pd.Timestamp, label: str, folder: Path) -> LoadedModel:
    """Train as `riskengine train` would on what was known at `now`; keep its training features for drift."""
    known = _cut(data, outcomes, now)
    events = events_table(known.sources)
    if tspec.features.outcomes_as_events and len(known.outcomes):
        events = pd.concat([events, _outcome_events(known.outcomes)], ignore_index=True)
    fitted = fit_pipeline(tspec, known, events)
    features = list(fitted.features.info["name"])
    population = build_features(known.entities, events, [now], tspec.features, given=given_features(tspec.features),
                                reference=fitted.features.info).table[["entity_id", *features]]
    folder.mkdir(parents=True, exist_ok=True)  # drift is measured against every entity as the model first saw it
    write_feature_sample(population.assign(probability=fitted.champion.predict_proba(population)[:, 1]),
                         folder / "features_reference.parquet")
    return LoadedModel(fitted.champion, fitted.features.info, uri=f"simulation:{label}", version=label)


class _Features:
    """Features per week: the world's records once per model, each policy's own inspections on top."""

    def __init__(self, tspec, entities: pd.DataFrame, world_events: pd.DataFrame):
        self.spec, self.entities, self.events = tspec.features, entities, world_events
        self.given = given_features(tspec.features)
        self.cache: dict[tuple[int, pd.Timestamp], pd.DataFrame] = {}

    def table(self, info: pd.DataFrame, outcomes: pd.DataFrame, when: pd.Timestamp) -> pd.DataFrame:
        key = (id(info), when)
        if key not in self.cache:
            self.cache = {k: v for k, v in self.cache.items() if k[1] == when}
            self.cache[key] = build_features(self.entities, self.events, [when], self.spec, given=self.given,
                                             reference=info).table
        table = self.cache[key].copy()
        own = info.loc[info["source"].astype(str) == "outcomes", "name"].tolist() if "source" in info else []
        if own and self.spec.outcomes_as_events:
            part = build_features(self.entities, _outcome_events(outcomes), [when], self.spec, reference=info).table
            table[own] = part[own].to_numpy()
        return table


def simulate(spec, weeks: int = 26, start: str | None = None, seed: int = 0, out: str | Path | None = None,
             quiet: bool = False, exploration: float | None = None) -> dict:
    """Run the three policies for `weeks` weeks; write their lists, stores and dashboards, and the comparison."""
    from riskengine.outputs import default_output, final_paths, run_folder
    from riskengine.simulate._report import coverage_study, write_report

    if weeks < 2:
        raise RiskEngineError("simulate: --weeks must be at least 2")
    spec_path = spec if isinstance(spec, (str, Path)) else None
    sspec = load_scoring_spec(spec)
    tspec = training_spec_for(sspec, spec_path)
    if tspec.truth is None or tspec.truth.path is None:
        raise RiskEngineError(f"simulate needs the synthetic borough's hidden truth: the training spec of '{sspec.pipeline}' "
                              "has no [truth] path (real data has no truth to draw inspection results from)")
    world = World.read(Path(tspec.truth.path).parent)
    rules = sspec.dashboard
    share = exploration if exploration is not None else (sspec.exploration.share or DEFAULT_EXPLORATION)
    target = Path(out) if out else default_output(sspec.pipeline, "simulation")
    # a fresh folder (stores and lists of an earlier simulation never mix in), in place when finished
    with run_folder(target) as root:
        step = Steps(quiet, total=weeks + 4)

        step("reading, validating and linking the data (once for every policy)")
        data = load_data(tspec.data)
        link_sources(data, tspec.link)
        if data.outcomes is None:
            raise RiskEngineError("simulate needs the outcomes (past inspections) that the models learn from")
        last = max(df["date"].max() for df in data.sources.values() if len(df))
        t0 = pd.Timestamp(start) if start else (pd.Timestamp(last).normalize() + pd.Timedelta(days=1) - pd.Timedelta(weeks=weeks))
        dates = [t0 + pd.Timedelta(weeks=w) for w in range(weeks)]
        base = data.outcomes[data.outcomes["date"] < t0][["entity_id", "date", "outcome"]].reset_index(drop=True)
        known_ids = pd.Index(data.entities["entity_id"].astype(str))

        step(f"training the model on what was known on {t0.date()}")
        arms = {name: Arm(name, root / folder, share if name == "model with exploration" else 0.0, base.copy())
                for name, folder in ARMS.items()}
        first = _fit(tspec, data, base, t0, "week 0", arms["model with exploration"].folder)
        for arm in arms.values():
            arm.model = first
        arms["model without exploration"].folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(arms["model with exploration"].folder / "features_reference.parquet",
                        arms["model without exploration"].folder / "features_reference.parquet")

        world_events = events_table(data.sources)
        feats = _Features(tspec, data.entities, world_events)
        rng = np.random.default_rng(seed)
        for w, when in enumerate(dates):
            if w and w % rules.retrain_every_weeks == 0:
                step(f"week {w + 1}/{weeks} ({when.date()}): retraining each model on what its own lists found")
                for arm in arms.values():
                    if arm.uses_model:
                        arm.model = _fit(tspec, data, arm.outcomes, when, f"week {w}", arm.folder)
            else:
                step(f"week {w + 1}/{weeks} ({when.date()}): scoring, inspecting, adding the results")
            for arm in arms.values():
                _week(arm, sspec, tspec, feats, data.entities, world_events, when, world, rng, known_ids, w)

        step("writing the dashboards and the comparison")
        bau_results = read_store(arms["business as usual"].folder / "outcome_store")
        dashboards = {}
        for arm in arms.values():
            if not arm.uses_model:
                continue
            watch = read_watch(sspec.pipeline, arm.folder, arm.folder / "outcome_store", data.entities,
                               tspec.audit.attributes, tspec.audit.min_group_size,
                               reference=arm.folder / "features_reference.parquet")
            made = write_dashboard(watch, rules, arm.folder, baseline=bau_results,
                                   purpose=dataclasses.asdict(sspec.purpose or tspec.purpose))
            dashboards[arm.name] = made
        study = coverage_study(arms["model with exploration"].frames, world.recording_error, seed=seed)
        summary = write_report(root, arms, dashboards, study, dates, sspec, share)
        summary = final_paths(summary)
    step.close()
    return summary


def _week(arm: Arm, sspec, tspec, feats: _Features, entities: pd.DataFrame, world_events: pd.DataFrame,
          when: pd.Timestamp, world: World, rng: np.random.Generator, known_ids: pd.Index, week: int) -> None:
    """One week of one policy: its list, its visits, its results back into its store."""
    out_dir = arm.folder / str(when.date())
    table = feats.table(arm.model.info, arm.outcomes, when)
    if arm.uses_model:
        aspec = dataclasses.replace(sspec, exploration=dataclasses.replace(sspec.exploration, share=arm.share),
                                    outputs=arm.folder)
        result = score_frames(aspec, table, entities, world_events, arm.outcomes, when, arm.model, out_dir,
                              purpose=dataclasses.asdict(sspec.purpose or tspec.purpose), info=arm.model.info)
        listed, scores = result.listed, result.scores
    else:
        listed, scores = _business_as_usual(sspec, tspec, table, entities, world_events, arm.outcomes, when, rng, out_dir)
    frame = list_frame(when, scores, listed)
    top = set(listed.loc[~listed["exploration"].astype(bool), "entity_id"].astype(str))
    eligible = scores["excluded"].fillna("").astype(str).eq("")
    rest_ids = scores.loc[eligible & ~scores["entity_id"].astype(str).isin(top), "entity_id"].astype(str)
    rest_truth = world.status(rest_ids, when)
    visits = world.inspect(listed, when, rng)
    results_dir = arm.folder / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"week_{week + 1:02d}_{when.date()}.csv"
    visits.assign(date=visits["date"].dt.strftime("%Y-%m-%d"), list_date=str(when.date()))[
        ["entity_id", "date", "outcome", "list_date"]].to_csv(path, index=False)
    added = add_outcomes(path, arm.folder / "outcome_store", tspec.data.entities, arm.folder,
                         known_entities=known_ids, earliest=tspec.data.earliest_date)
    if added.rejected:
        raise RuntimeError(f"simulation week {week + 1}: {added.rejected} of its own results were rejected ({added.reasons})")
    arm.outcomes = pd.concat([arm.outcomes, visits[["entity_id", "date", "outcome"]]], ignore_index=True)
    on_list = visits["entity_id"].isin(top)
    arm.weekly.append({"week": when, "listed": len(listed), "inspected": len(visits),
                       "recorded_positives": int(visits["outcome"].sum()), "true_positives": int(visits["truth"].sum()),
                       "list_inspected": int(on_list.sum()), "list_true_positives": int(visits.loc[on_list, "truth"].sum()),
                       "list_recorded_positives": int(visits.loc[on_list, "outcome"].sum()),
                       "rest": frame["rest"], "rest_true_prevalence": float(rest_truth.mean()) if len(rest_truth) else None,
                       "rest_mean_probability": frame["rest_mean_probability"]})
    explored = visits[~on_list]
    arm.frames.append({"week": when, "rest_truth": rest_truth, "drawn": int(listed["exploration"].astype(bool).sum()),
                       "explored": len(explored), "explored_positives": int(explored["outcome"].sum())})


def _business_as_usual(sspec, tspec, table: pd.DataFrame, entities: pd.DataFrame, world_events: pd.DataFrame,
                       outcomes: pd.DataFrame, when: pd.Timestamp, rng: np.random.Generator, out_dir: Path):
    """The team's own rule at the same capacity: the baseline's features summed, ties broken at random."""
    cols = tspec.baselines.business_as_usual
    if not cols:
        raise RiskEngineError("simulate: the training spec's [baselines] business_as_usual names no features to rank by")
    score = table[cols].fillna(0).sum(axis=1).to_numpy(dtype=float) + rng.random(len(table)) * 1e-6
    scores = pd.DataFrame({"entity_id": table["entity_id"].astype(str), "score": score, "probability": np.nan})
    keep = [c for c in dict.fromkeys(["ward", *sspec.quotas]) if c in entities.columns]
    scores = scores.merge(entities[["entity_id", *keep]].astype({"entity_id": str}), on="entity_id", how="left")
    scores["excluded"] = exclusions(scores["entity_id"], world_events, outcomes, when, sspec.exclusions).to_numpy()
    listed = make_list(scores, sspec.capacity, when, sspec.quotas, 0.0, 0)
    out_dir.mkdir(parents=True, exist_ok=True)
    listed.to_csv(out_dir / "list.csv", index=False)
    scores.to_parquet(out_dir / "scores.parquet", index=False)
    return listed, scores
