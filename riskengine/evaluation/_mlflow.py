"""Logging an analysis to MLflow: figures as metrics, the report files as artefacts.

The store is riskengine.tracking's (MLFLOW_TRACKING_URI, else sqlite under mlruns/).
"""

from __future__ import annotations

import re

from riskengine.evaluation._report import EvaluationReport


def _key(name: str) -> str:
    return re.sub(r"[^\w\-./ ]", "_", name)


def report_metrics(data: dict) -> tuple[dict[str, str], dict[str, float]]:
    """The params and metrics worth tracking from a trial or DiD report's JSON twin."""
    params = {k: str(data[k]) for k in ("source", "treatment_col", "outcome_col", "control",
                                         "strata_col", "cluster_col", "covariates", "group_col",
                                         "treated", "period_col", "after", "se_method")
              if k in data}
    level = data["evidence"]["level"]
    metrics = {} if level is None else {"evidence_level": level}
    for e in data.get("effects", []):
        for field in ("estimate", "se", "p_value", "adjusted_estimate", "adjusted_se", "risk_ratio"):
            if e.get(field) is not None:
                metrics[_key(f"{e['arm']}.{field}")] = e[field]
        metrics[_key(f"{e['arm']}.n_arm")] = e["n_arm"]
    if "attrition" in data:
        metrics["attrition_overall"] = data["attrition"]["overall"]
        metrics["attrition_differential"] = data["attrition"]["differential"]
    if "did" in data:
        for field in ("estimate", "se", "p_value"):
            metrics[f"did.{field}"] = data["did"][field]
        metrics["n"] = data["n"]
    return params, {k: float(v) for k, v in metrics.items()}


def log_report(report: EvaluationReport, experiment: str, run_name: str) -> str:
    """Log `report` as one MLflow run in `experiment`; returns the run id."""
    import mlflow

    from riskengine.tracking import run_tags, use_experiment

    use_experiment(experiment)
    params, metrics = report_metrics(report.data)
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.set_tags(run_tags("evaluation", report.data.get("pipeline")))
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        for path in report.files.values():
            mlflow.log_artifact(str(path))
    return run.info.run_id
