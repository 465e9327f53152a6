"""The scoring run in MLflow: linked to the model version, the spec and the data fingerprint.

Every list can be traced back: the run's tags name the registered model version and the
training run that made it, the data fingerprint (one hash over every input file's sha256)
and the as-of date; the spec, the per-file fingerprints and the outputs are artefacts.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict
from pathlib import Path

import mlflow

from riskengine.tracking import run_tags, use_experiment


def record_scoring_run(result, fingerprints: list[dict]) -> str:
    """Log one MLflow run for a scoring result; returns its run id."""
    spec, m = result.spec, result.model
    use_experiment(spec.pipeline)
    listed, alerts = result.listed, result.alerts
    with mlflow.start_run(run_name=f"score {spec.name} {result.as_of.date()}") as run:
        mlflow.set_tags(run_tags(
            "scoring", spec.pipeline, as_of=str(result.as_of.date()),
            model_uri=m.uri, model_version=m.version or "unregistered", model_run_id=m.run_id or "",
            data_fingerprint=result.fingerprint, previous_list=str(result.previous) if result.previous else "",
        ))
        mlflow.log_params({"capacity": spec.capacity, "model_alias": spec.model_alias,
                           "exploration_share": spec.exploration.share, "exploration_seed": spec.exploration.seed,
                           "quotas": json.dumps(spec.quotas), "alert_jump": spec.alerts.jump,
                           "alert_threshold": spec.alerts.threshold, "reasons": spec.reasons})
        excluded = int((result.scores["excluded"].fillna("").astype(str) != "").sum())
        mlflow.log_metrics({
            "entities_scored": float(len(result.scores)), "entities_excluded": float(excluded),
            "listed": float(len(listed)), "exploration_rows": float(listed["exploration"].sum()),
            "mean_probability_listed": float(listed.loc[~listed["exploration"], "probability"].mean()) if len(listed) else 0.0,
            "expected_positives_listed": float(listed.loc[~listed["exploration"], "probability"].sum()),
            **{f"alerts_{k}": float((alerts["alert"] == k).sum()) for k in ("new", "jump", "threshold")},
            **{f"seconds_{k}": float(v) for k, v in result.timings.items()},
        })
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            (tmp / "scoring_spec.json").write_text(json.dumps(asdict(spec), indent=2, default=str))
            (tmp / "fingerprints.json").write_text(json.dumps(fingerprints, indent=2, default=str))
            for f in tmp.iterdir():
                mlflow.log_artifact(str(f))
        for path in result.paths.values():
            if Path(path).is_file():
                mlflow.log_artifact(str(path), artifact_path="outputs")
        return run.info.run_id
