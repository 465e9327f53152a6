"""`train`: from a training spec to a registered champion, with every figure behind the choice."""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from riskengine.errors import RiskEngineError
from riskengine.exclusions import exclusions
from riskengine.features import build_case_features, build_features
from riskengine.ingest import load_data_or_write_rejects, read_table, write_rejects
from riskengine.outputs import default_output, final_paths, run_folder
from riskengine.model import RiskModel
from riskengine.infogov import check_dpia
from riskengine.prepare import add_stored_outcomes, feature_events, given_features, link_sources, write_feature_sample
from riskengine.progress import Steps, bar, note
from riskengine.spec import TrainingSpec, capacity_warning, check_against_data, load_spec_as
from riskengine.training._calibration import Calibration, calibrate_champion
from riskengine.training._candidates import Candidate, baseline_scores, expand_grid
from riskengine.training._metrics import precision_recall_at_k, ranking_metrics
from riskengine.training._rows import as_of_dates, case_rows, describe_policy, label_rows, repeated_cases
from riskengine.training._select import choose_champion
from riskengine.training._splits import Split, make_splits, tested_rows

BASELINE = "baseline"


@dataclass
class TrainingResult:
    """What a training run produced; `summary` is also written as summary.json."""

    spec: TrainingSpec
    summary: dict
    metrics: pd.DataFrame  # one row per (candidate, split)
    champion: RiskModel
    feature_info: pd.DataFrame
    last_split: pd.DataFrame  # test rows of the last split: label, champion and baseline scores, entity attributes
    out_dir: Path
    calibration: Calibration | None = None  # the champion's calibration, checked out of sample
    run_id: str | None = None
    model_uri: str | None = None


def load_training_spec(spec: TrainingSpec | str | Path) -> TrainingSpec:
    """A TrainingSpec from a path (or the spec itself), validated."""
    return load_spec_as(spec, TrainingSpec)


def build_training_table(spec: TrainingSpec, data, events: pd.DataFrame, dates: list[pd.Timestamp]):
    """Labelled rows joined to their features as of their own as-of date."""
    if spec.labels.rows == "cases":  # each outcome a row at its own date
        rows = case_rows(data.outcomes, spec.labels)
        entities = data.entities[data.entities["entity_id"].isin(rows["entity_id"].unique())]
        if spec.engine.backend == "spark":  # each case's past events moved and aggregated in Spark; the rows come back
            from riskengine.spark import build_case_features as spark_case_features
            from riskengine.spark import spark_session

            fs = spark_case_features(spark_session(spec.engine.spark_master), entities, events, rows, spec.features,
                                     given=given_features(spec.features, data)).to_pandas()
        else:
            fs = build_case_features(entities, events, rows, spec.features, given=given_features(spec.features, data))
        table = rows.merge(fs.table, on=["entity_id", "as_of"], how="left", validate="many_to_one")
        return table, fs
    rows = label_rows(data.outcomes, dates, spec.labels, data.entities["entity_id"])
    ids = rows["entity_id"].unique()
    entities = data.entities[data.entities["entity_id"].isin(ids)]
    if spec.engine.backend == "spark":  # built at scale in Spark; only the labelled rows come back
        from riskengine.spark import features_for_rows

        fs = features_for_rows(entities, events, dates, spec.features, rows[["entity_id", "as_of"]],
                               spec.engine.spark_master, given=given_features(spec.features, data))
    else:
        fs = build_features(entities, events, dates, spec.features, given=given_features(spec.features, data))
    table = rows.merge(fs.table, on=["entity_id", "as_of"], how="left", validate="one_to_one")
    return table, fs


def train(spec: TrainingSpec | str | Path, out: str | Path | None = None, today: dt.date | None = None,
          log_mlflow: bool = True, quiet: bool = False, backend: str | None = None,
          spark_master: str | None = None) -> TrainingResult:
    """Train, compare over time, choose and register the champion for one pipeline.

    The outputs are written into a fresh folder that replaces `out` (default out/<name>/train)
    only when the run has finished; a second run of the same folder meanwhile is refused.
    `backend` / `spark_master` override the spec's [engine]: with Spark the grid's features
    are built there and the labelled rows handed back; fitting stays in this process.
    """
    spec = load_training_spec(spec)
    if backend or spark_master:
        spec.engine = spec.engine.overridden(backend, spark_master)
    check_dpia(spec)  # a required, unsigned DPIA stops the run before any work
    target = Path(out) if out else default_output(spec.name, "train")
    with run_folder(target) as work:
        result = _train_in(spec, work, today, log_mlflow, quiet)
    result.out_dir = target
    return result


def _train_in(spec: TrainingSpec, out_dir: Path, today: dt.date | None, log_mlflow: bool,
              quiet: bool) -> TrainingResult:
    step = Steps(quiet, total=8)

    step("reading and validating the data")
    session = None
    if spec.engine.backend == "spark":  # read and validated in Spark (any URI it reads); fitting stays here
        from riskengine.spark import load_data_or_write_rejects as load_on_spark
        from riskengine.spark import spark_session

        session = spark_session(spec.engine.spark_master)
        data = load_on_spark(session, spec.data, spec.name, today=today, redact=spec.link.identifying_columns()).data
    else:
        data = load_data_or_write_rejects(spec.data, spec.name, today=today, redact=spec.link.identifying_columns())
    if data.outcomes_skipped:  # rows the outcomes source's outcome_values call no outcome (counts only)
        from riskengine.ingest import skipped_line
        from rich.markup import escape

        note(escape(skipped_line(data.outcomes_skipped)), quiet=quiet)
    given_features(spec.features, data)  # the ready table, validated: its rejects join the others
    rejects_path = write_rejects(data.rejects, out_dir, redact=spec.link.identifying_columns())
    check_against_data(spec, data)  # every name in the spec exists in the data, before any work
    add_stored_outcomes(data, spec.data)  # inspectors' results added since (riskengine outcomes add)
    repeated = repeated_cases(data.outcomes) if spec.labels.rows == "cases" else 0
    if repeated:  # e.g. an extract with a row per violation: each inspection is one case, not one per row
        note(f"outcomes: {repeated:,} rows repeat an entity and date already seen: each entity and date is one case, "
             "positive when any of its rows is", quiet=quiet)
    step(f"linking source rows without an entity id ({sum(len(d) for d in data.unlinked.values())} rows)")
    link_metrics = link_sources(data, spec.link, out_dir=out_dir / "link", spark=session)

    step("building features as of each date")
    events = feature_events(data, spec.features)
    fitted = fit_pipeline(spec, data, events, step, quiet)
    table, fs, splits, metrics, oof = fitted.table, fitted.features, fitted.splits, fitted.metrics, fitted.oof
    k_warning = capacity_warning(spec.metric.k, tested_rows(table, splits))
    if k_warning:  # loud, on stderr, before the rest of the run; also in summary.json
        from rich.console import Console
        from rich.markup import escape

        Console(stderr=True, soft_wrap=True).print(f"[bold yellow]warning:[/] {escape(k_warning)}", highlight=False)
    choice, champion, champion_c, last_models = fitted.choice, fitted.champion, fitted.candidate, fitted.last_models
    features = list(fs.info["name"])

    last = splits[-1]
    last_split = _last_split_table(spec, table, data.entities, oof, champion_c.name, last)
    population = _population(spec, data.entities, events, last, last_models[champion_c.name], fs.info,
                             given_features(spec.features, data), table)
    oracle = None
    if spec.truth is not None:
        step("measuring against the synthetic truth (evaluation only)")
        oracle = (_case_oracle(spec, population) if spec.labels.rows == "cases"
                  else _oracle(spec, population, last, events, data.outcomes))
    else:
        step("no truth table: skipping the oracle view")

    summary = _summary(spec, metrics, choice, oracle, data, link_metrics, rejects_path, table, splits)
    if k_warning:
        summary.setdefault("warnings", []).append(k_warning)
    reference = population[["entity_id", *features]]
    write_feature_sample(reference.assign(probability=champion.predict_proba(reference)[:, 1]),
                         out_dir / "features_reference.parquet")  # what the dashboard measures drift against
    summary["calibration_method"] = spec.selection.calibration
    summary["calibration_scheme"] = fitted.calibration.scheme
    result = TrainingResult(spec, summary, metrics, champion, fs.info, last_split, out_dir, fitted.calibration)
    step("writing plots, the summary and the MLflow run")
    from riskengine.training._record import record_run

    record_run(result, oof=oof, splits=splits, fingerprints=data.fingerprints, log_mlflow=log_mlflow,
               sample=population.sample(min(len(population), 2000), random_state=spec.seed)[features],
               population=population, outcomes=data.outcomes)
    result.summary = final_paths(result.summary)  # the paths it will have once the folder is in place
    (out_dir / "summary.json").write_text(json.dumps(result.summary, indent=2, default=str))
    return result


@dataclass
class Fitted:
    """Everything the comparison over time produced, before it is recorded."""

    table: pd.DataFrame
    features: object  # FeatureSet
    splits: list[Split]
    metrics: pd.DataFrame
    oof: pd.DataFrame
    last_models: dict[str, RiskModel]
    choice: object  # Choice
    candidate: Candidate
    champion: RiskModel
    calibration: Calibration


def fit_pipeline(spec: TrainingSpec, data, events: pd.DataFrame, step=lambda text: None, quiet: bool = True) -> Fitted:
    """Labelled rows, temporal splits, every candidate and baseline, the champion refitted.

    Uses only outcomes in `data` and events before each as-of date; the backtest calls it on
    data cut at its start date.
    """
    dates = as_of_dates(spec.labels, data.outcomes) if spec.labels.rows == "grid" else []
    table, fs = build_training_table(spec, data, events, dates)
    features = list(fs.info["name"])
    categories = {r.name: list(r.categories) for r in fs.info.itertuples() if r.categorical}
    splits = make_splits(table, spec.splits, spec.labels.rows)

    step(f"comparing candidates on {len(splits)} temporal splits")
    candidates = expand_grid(spec.models)
    metrics, oof, last_models = _evaluate(spec, table, features, categories, candidates, splits, quiet)

    step("choosing the champion")
    choice = choose_champion(metrics, spec.selection, {c.name: c.complexity for c in candidates})
    champion_c = next(c for c in candidates if c.name == choice.champion)

    step("refitting the champion on every labelled row and calibrating it (cross-fitted)")
    champion = RiskModel(champion_c.kind, champion_c.params, categories, spec.selection.calibration, spec.seed)
    y = table["label"].to_numpy()
    champion.fit(table[features], y)
    calibration = calibrate_champion(champion, table[features], y, table["entity_id"].to_numpy(), seed=spec.seed)
    return Fitted(table, fs, splits, metrics, oof, last_models, choice, champion_c, champion, calibration)


def _evaluate(spec, table, features, categories, candidates, splits, quiet):
    """Every candidate and baseline on every split: metrics rows and out-of-time predictions."""
    rows, oof, last_models = [], [], {}
    with bar(len(splits) * len(candidates), "fitting candidates", quiet=quiet) as advance:
        for i, split in enumerate(splits):
            train_rows = table[split.train_mask(table)]
            test_rows = table[split.test_mask(table)]
            y_train, y_test = train_rows["label"].to_numpy(), test_rows["label"].to_numpy()
            if len(np.unique(y_train)) < 2:
                raise RiskEngineError(
                    f"split {i + 1} (test {split.test_as_of.date()}): training rows hold only one class; "
                    "more outcomes or an earlier labels.first_as_of are needed"
                )
            for c in candidates:
                model = RiskModel(c.kind, c.params, categories, "none", spec.seed).fit(train_rows[features], y_train)
                raw = model.raw_score(test_rows[features])
                prob = model.predict_proba(test_rows[features])[:, 1]
                rows.append(_metric_row(spec, c.name, c.kind, i, split, y_test, raw, prob))
                oof.append(pd.DataFrame({"candidate": c.name, "split": i, "entity_id": test_rows["entity_id"].to_numpy(),
                                         "as_of": test_rows["as_of"].to_numpy(), "row": test_rows.index.to_numpy(),
                                         "label": y_test, "raw_score": raw}))
                if i == len(splits) - 1:
                    last_models[c.name] = model
                advance()
            for name, score in baseline_scores(spec.baselines, test_rows, spec.seed + i).items():
                rows.append(_metric_row(spec, name, BASELINE, i, split, y_test, score, None))
                oof.append(pd.DataFrame({"candidate": name, "split": i, "entity_id": test_rows["entity_id"].to_numpy(),
                                         "as_of": test_rows["as_of"].to_numpy(), "row": test_rows.index.to_numpy(),
                                         "label": y_test, "raw_score": score}))
    return pd.DataFrame(rows), pd.concat(oof, ignore_index=True), last_models


def _metric_row(spec, name, family, i, split: Split, y, score, prob) -> dict:
    m = ranking_metrics(y, score, spec.metric.k, spec.metric.top_pcts, prob)
    return {"candidate": name, "family": family, "split": i, "test_as_of": split.test_as_of,
            "n_train_as_of": len(split.train_as_of), **m}


def _last_split_table(spec, table, entities, oof, champion, last: Split) -> pd.DataFrame:
    """The last split's test rows with champion and business-as-usual scores: what the audit reads."""
    test = table[last.test_mask(table)][["entity_id", "as_of", "label"]].rename_axis("row").reset_index()
    lo = oof[oof["split"] == oof["split"].max()]
    for name, col in ((champion, "champion_score"), ("business_as_usual", "business_as_usual_score")):
        part = lo[lo["candidate"] == name][["row", "raw_score"]].rename(columns={"raw_score": col})
        test = test.merge(part, on="row", how="left", validate="one_to_one")
    test = test.drop(columns="row")
    attrs = [a for a in spec.audit.attributes if a in entities.columns]
    return test.merge(entities[["entity_id", *attrs]], on="entity_id", how="left")


def _population(spec, entities, events, last: Split, model: RiskModel, info: pd.DataFrame,
                given: pd.DataFrame | None = None, rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every entity's features as of the last split's test date, scored by that split's model.

    In the case framing the population is the last split's tested cases (each as of its own
    date, with its label): the work the model would have ranked.
    """
    if spec.labels.rows == "cases":
        tested = rows[last.test_mask(rows)][["entity_id", "as_of", "label"]]
        fs = build_case_features(entities, events, tested, spec.features, given=given, reference=info)
        table = tested.merge(fs.table, on=["entity_id", "as_of"], how="left", validate="many_to_one")
    else:
        fs = build_features(entities, events, [last.test_as_of], spec.features, given=given, reference=info)
        table = fs.table.copy()
    table["champion_score"] = model.raw_score(table)
    if spec.baselines.business_as_usual:
        table["business_as_usual_score"] = baseline_scores(spec.baselines, table, spec.seed)["business_as_usual"]
    extra = [a for a in spec.audit.attributes if a in entities.columns and a not in table.columns]
    return table.merge(entities[["entity_id", *extra]], on="entity_id", how="left")


def _oracle(spec, population: pd.DataFrame, last: Split, events: pd.DataFrame, outcomes: pd.DataFrame) -> dict:
    """On synthetic data: precision at k over all entities the list may hold, against the truth
    and against the Bayes-optimal ranking by the true posterior probability.

    Entities the spec's exclusions take off the list (already licensed, inspected lately)
    are left out for the model, business as usual and the ceiling alike.
    """
    truth, _ = read_table(spec.truth, ["entity_id", "date", "p_posterior", "is_unlicensed_hmo"])
    truth["date"] = pd.to_datetime(truth["date"])
    truth["entity_id"] = truth["entity_id"].astype("string")
    at = truth.loc[truth["date"] <= last.test_as_of, "date"].max()
    truth = truth[truth["date"] == at]
    scored = population.merge(truth[["entity_id", "p_posterior", "is_unlicensed_hmo"]], on="entity_id", how="inner")
    excluded = 0
    if spec.exclusions is not None:
        why = exclusions(scored["entity_id"], events, outcomes, last.test_as_of, spec.exclusions)
        keep = (why == "").to_numpy()
        excluded = int((~keep).sum())
        scored = scored[keep].reset_index(drop=True)
    k = spec.metric.k
    raw = scored["champion_score"].to_numpy(dtype=float)
    # the posterior given everything the generator knows, the full event history included:
    # what a perfect model would output, so ranking by it is the ceiling
    p_true = scored["p_posterior"].to_numpy(dtype=float)
    is_true = scored["is_unlicensed_hmo"].to_numpy(dtype=float)
    real = precision_recall_at_k(is_true, raw, k)
    top_model = np.argsort(-raw, kind="stable")[:k]
    top_bayes = np.argsort(-p_true, kind="stable")[:k]
    out = {
        "as_of": str(last.test_as_of.date()),
        "truth_date": str(pd.Timestamp(at).date()),
        "entities": len(scored),
        "excluded": excluded,
        "true_precision_at_k": real["precision_at_k"],
        "expected_true_precision_at_k": float(p_true[top_model].mean()),
        "bayes_precision_at_k": float(p_true[top_bayes].mean()),
        "bayes_realised_precision_at_k": float(is_true[top_bayes].mean()),
        "prevalence": float(is_true.mean()),
    }
    out["share_of_bayes"] = out["expected_true_precision_at_k"] / out["bayes_precision_at_k"] if out["bayes_precision_at_k"] else math.nan
    if "business_as_usual_score" in scored:
        out["business_as_usual_true_precision_at_k"] = precision_recall_at_k(is_true, scored["business_as_usual_score"].to_numpy(), k)["precision_at_k"]
    return out


def _case_oracle(spec, population: pd.DataFrame) -> dict:
    """Case framing, synthetic data: the model's ordering of the last split's cases against the
    Bayes-optimal one, by the true probability of a positive at each case.

    The truth file holds entity_id, date and p_true (one row per case). Precision at k of the
    champion's top k, expected under the truth, over that of the top k by p_true is the share
    of the Bayes-optimal ordering the model achieves.
    """
    truth, _ = read_table(spec.truth, ["entity_id", "date", "p_true"])
    truth = pd.DataFrame({"entity_id": truth["entity_id"].astype(str).str.strip(),
                          "as_of": pd.to_datetime(truth["date"], format="ISO8601").dt.normalize().astype("datetime64[ns]"),
                          "p_true": pd.to_numeric(truth["p_true"], errors="coerce")}).drop_duplicates(["entity_id", "as_of"])
    cases = population.assign(entity_id=population["entity_id"].astype(str))
    scored = cases.merge(truth, on=["entity_id", "as_of"], how="inner").dropna(subset=["p_true"])
    if scored.empty:
        raise RiskEngineError(f"{spec.truth.describe()}: no true probability (p_true) for any case of the last split "
                              "(matched by entity_id and date)")
    k = min(spec.metric.k, len(scored))
    raw = scored["champion_score"].to_numpy(dtype=float)
    p_true = scored["p_true"].to_numpy(dtype=float)
    label = scored["label"].to_numpy(dtype=float)
    top_model = np.argsort(-raw, kind="stable")[:k]
    top_bayes = np.argsort(-p_true, kind="stable")[:k]
    out = {"cases": int(len(scored)), "k": int(k),
           "test_from": str(pd.Timestamp(scored["as_of"].min()).date()),
           "test_to": str(pd.Timestamp(scored["as_of"].max()).date()),
           "true_precision_at_k": float(label[top_model].mean()),
           "expected_true_precision_at_k": float(p_true[top_model].mean()),
           "bayes_precision_at_k": float(p_true[top_bayes].mean()),
           "bayes_realised_precision_at_k": float(label[top_bayes].mean()),
           "prevalence": float(p_true.mean())}
    out["share_of_bayes"] = (out["expected_true_precision_at_k"] / out["bayes_precision_at_k"]
                             if out["bayes_precision_at_k"] else math.nan)
    if "business_as_usual_score" in scored:
        top_bau = np.argsort(-scored["business_as_usual_score"].to_numpy(dtype=float), kind="stable")[:k]
        out["business_as_usual_expected_true_precision_at_k"] = float(p_true[top_bau].mean())
    return out


def _per_candidate(metrics: pd.DataFrame, name: str) -> dict:
    """Means over the splits, and each split's figures.

    `precision_at_k_worst` / `_best` are the mean over splits of each split's worst and best
    precision over the orders of rows tied at the cut-off (equal to the mean when nothing is
    tied, as for most learned scores; apart for coarse scores such as complaint counts).
    `precision_at_k_lowest_split` / `_highest_split` are the spread over time: the lowest and
    highest split's precision.
    """
    grp = metrics[metrics["candidate"] == name].sort_values("test_as_of")
    keys = ["precision_at_k", "precision_at_k_worst", "precision_at_k_best", "recall_at_k", "roc_auc",
            "average_precision"] + [c for c in grp.columns if c.startswith(("precision_at_", "recall_at_")) and "pct" in c]
    if "brier" in grp and grp["brier"].notna().any():
        keys.append("brier")
    per_split = []
    for r in grp.to_dict("records"):
        per_split.append({"test_as_of": str(pd.Timestamp(r["test_as_of"]).date()), "n": int(r["n"]),
                          "positives": int(r["positives"]), **{k: _num(r.get(k)) for k in keys + ["regret"] if k in r}})
    spread = {"precision_at_k_lowest_split": _num(grp["precision_at_k"].min()),
              "precision_at_k_highest_split": _num(grp["precision_at_k"].max())}
    return {**{k: _num(grp[k].mean()) for k in keys}, **spread, "regret_mean": _num(grp["regret"].mean()),
            "per_split": per_split}


def _num(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else round(x, 6)


def _summary(spec, metrics, choice, oracle, data, link_metrics, rejects_path, table, splits) -> dict:
    metrics["regret"] = choice.regret
    cands = metrics.loc[metrics["family"] != BASELINE, "candidate"].unique()
    bases = metrics.loc[metrics["family"] == BASELINE, "candidate"].unique()
    summary = {
        "pipeline": spec.name,
        "k": spec.metric.k,
        "champion": choice.champion,
        "selection_rule": choice.rule_text,
        "run_id": None,
        "model_uri": f"models:/{spec.name}@champion",
        "candidates": {c: _per_candidate(metrics, c) for c in cands},
        "baselines": {b: _per_candidate(metrics, b) for b in bases},
        "splits": [s.describe() for s in splits],
        "rows": spec.labels.rows,
        "label_policy": describe_policy(spec.labels),
        "training_rows": int(len(table)),
        "positive_rows": int(table["label"].sum()),
        "data": data.summary(),
        "rejects_file": str(rejects_path),
        "link": link_metrics,
        "purpose": {"problem": spec.purpose.problem, "insight": spec.purpose.insight,
                    "datasets": spec.purpose.datasets, "action": spec.purpose.action},
    }
    if oracle is not None:
        summary["oracle"] = oracle
    return summary
