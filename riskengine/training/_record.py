"""The training run's record: plots on disk and one MLflow parent run with a child per candidate."""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from riskengine.charts import plot_shap_summary
from riskengine.model import RiskModelPyfunc, contributions
from riskengine.outputs import final_paths
from riskengine.tracking import package_versions, pip_requirements, run_tags, tracking_uri, use_experiment
from riskengine.training._metrics import calibration_table
from riskengine.training._plots import plot_calibration, plot_precision_over_time
from riskengine.training._splits import plot_splits

SPLIT_METRICS = ["precision_at_k", "precision_at_k_worst", "precision_at_k_best", "recall_at_k", "roc_auc",
                 "average_precision", "brier"]


def write_plots(result, oof: pd.DataFrame, splits, sample: pd.DataFrame) -> dict[str, Path]:
    """Splits timeline, precision@k over time, calibration and SHAP summary, as PNG files."""
    out = result.out_dir
    spec = result.spec
    paths = {
        "splits": out / "splits.png",
        "precision_over_time": out / "precision_at_k_over_time.png",
        "calibration": out / "calibration.png",
        "shap_summary": out / "shap_summary.png",
    }
    plot_splits(splits, spec.labels.window_days, str(paths["splits"]))
    plot_precision_over_time(result.metrics, spec.metric.k, result.summary["champion"], str(paths["precision_over_time"]))
    cal = result.calibration
    if cal is not None and len(cal.rows):
        # out of sample: each row's probability comes from a calibrator not fitted on it
        table = calibration_table(cal.rows["label"].to_numpy(), cal.rows["probability"].to_numpy())
        result.summary["calibration"] = table.round(4).to_dict("records")
        plot_calibration(table, str(paths["calibration"]),
                         f"Champion calibration, out of sample ({cal.folds}-fold cross-fitted)")
    else:
        result.summary["calibration"] = []
        del paths["calibration"]
    values, _ = contributions(result.champion, sample)
    plot_shap_summary(values, result.champion.frame(sample), paths["shap_summary"],
                      f"What drives the {spec.name} champion (SHAP values)")
    return paths


def record_run(result, oof: pd.DataFrame, splits, fingerprints: list[dict], log_mlflow: bool,
               sample: pd.DataFrame, population: pd.DataFrame, outcomes: pd.DataFrame) -> None:
    """Write plots; log the parent run, a nested run per candidate, and register the champion.

    The governance pack (bias reports, model card, transparency record) is written after the
    model is registered, so the documents name the version they describe, and logged with it.
    """
    from riskengine.training._governance import governance_pack

    plots = write_plots(result, oof, splits, sample)
    result.summary["plots"] = {k: str(v) for k, v in plots.items()}
    (result.out_dir / "metrics_per_split.csv").write_text(result.metrics.to_csv(index=False))
    if not log_mlflow:
        result.summary["governance"] = {k: str(v) for k, v in governance_pack(result, population, outcomes, fingerprints).items()}
        return
    spec = result.spec
    use_experiment(spec.name)
    with mlflow.start_run(run_name=f"train {spec.name}") as parent:
        mlflow.set_tags(run_tags("training", spec.name, champion=result.summary["champion"]))
        mlflow.log_params({"k": spec.metric.k, "n_splits": spec.splits.n_splits, "rows": spec.labels.rows,
                           "label_window_days": spec.labels.window_days, "every_months": spec.labels.every_months,
                           "unlabelled": spec.labels.unlabelled, "selection_rule": spec.selection.rule,
                           "calibration": spec.selection.calibration, "feature_windows": str(spec.features.windows),
                           "n_features": len(result.feature_info)})
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            (tmp / "fingerprints.json").write_text(json.dumps(fingerprints, indent=2, default=str))
            (tmp / "versions.json").write_text(json.dumps(package_versions(), indent=2))
            (tmp / "spec.json").write_text(json.dumps(_spec_dict(spec), indent=2, default=str))
            result.feature_info.astype(str).to_csv(tmp / "features.csv", index=False)
            for f in tmp.iterdir():
                mlflow.log_artifact(str(f))
        for path in plots.values():
            mlflow.log_artifact(str(path), artifact_path="plots")
        link_dir = result.out_dir / "link"
        for name in ("link_report.html", "link_report.json", "quality_report.html", "quality_report.json"):
            if (link_dir / name).exists():  # aggregates only: linked rows and the review file stay on disk
                mlflow.log_artifact(str(link_dir / name), artifact_path="link")
        if (link_dir / "charts").is_dir():
            mlflow.log_artifacts(str(link_dir / "charts"), artifact_path="link/charts")
        mlflow.log_artifact(str(result.out_dir / "metrics_per_split.csv"))
        champ = result.summary["candidates"][result.summary["champion"]]
        mlflow.log_metrics({"champion_precision_at_k": champ["precision_at_k"] or 0.0,
                            "champion_recall_at_k": champ["recall_at_k"] or 0.0})
        for key, value in (result.summary.get("oracle") or {}).items():
            if isinstance(value, (int, float)):
                mlflow.log_metric(f"oracle_{key}", float(value))
        for name, grp in result.metrics.groupby("candidate", sort=False):
            with mlflow.start_run(run_name=name, nested=True):
                mlflow.set_tags(run_tags("training", spec.name, family=grp["family"].iloc[0], candidate=name))
                for step, r in enumerate(grp.sort_values("test_as_of").to_dict("records")):
                    mlflow.log_metrics({m: float(r[m]) for m in SPLIT_METRICS if m in r and pd.notna(r[m])}, step=step)
                mlflow.log_metrics({f"mean_{m}": float(grp[m].mean()) for m in SPLIT_METRICS
                                    if m in grp and grp[m].notna().any()})
        result.run_id = parent.info.run_id
        result.model_uri = _register(result, sample)
        result.summary["run_id"] = result.run_id
        result.summary["model_uri"] = result.model_uri
        result.summary["tracking_uri"] = tracking_uri()
        paths = governance_pack(result, population, outcomes, fingerprints)
        result.summary["governance"] = {k: str(v) for k, v in paths.items()}
        if paths:
            mlflow.log_artifacts(str(result.out_dir / "governance"), artifact_path="governance")
            _tag_model_version(result)
        mlflow.log_dict(final_paths(result.summary), "summary.json")


def _register(result, sample: pd.DataFrame) -> str:
    """Log the champion as a pyfunc model with signature and example; alias it `champion`."""
    spec = result.spec
    example = sample.head(5).copy()
    for col in example.columns:
        if col in result.champion.categories_:
            example[col] = example[col].astype(object).where(example[col].notna(), None).astype(str)
        else:  # numbers as doubles: a missing value at scoring time must not break the schema
            example[col] = pd.to_numeric(example[col], errors="coerce").astype("float64")
    _compile_champion(result)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*type hints.*")
        wrapper = RiskModelPyfunc(result.champion, result.feature_info)
        signature = infer_signature(example, wrapper.predict(None, example))
        logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)  # its pickling notice is about our own class
        info = mlflow.pyfunc.log_model(
            name="model", python_model=wrapper, signature=signature, input_example=example,
            pip_requirements=pip_requirements(), registered_model_name=spec.name,
        )
    version = info.registered_model_version
    MlflowClient().set_registered_model_alias(spec.name, "champion", version)
    result.summary["model_version"] = version
    return f"models:/{spec.name}@champion"


def _compile_champion(result) -> None:
    """Compile the champion once, here, so scoring never compiles: the library travels inside
    the registered model and is also logged on its own (compiled/) with the model's hash."""
    champion = result.champion.compile()
    fast = getattr(champion, "fast_", None)
    compiled = getattr(fast, "compiled", None)
    info = {"scorer": type(fast).__name__ if fast is not None else "none"}
    if compiled is not None:
        info.update(model_sha256=compiled.model_hash, compiler=compiled.compiler,
                    compile_seconds=round(compiled.compile_seconds, 2), library_bytes=len(compiled.library))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"trees-{compiled.model_hash[:16]}.so"
            path.write_bytes(compiled.library)
            mlflow.log_artifact(str(path), artifact_path="compiled")
        mlflow.set_tag("compiled_model_sha256", compiled.model_hash)
    mlflow.log_dict(info, "compiled/compiled.json")
    result.summary["compiled"] = info


def _tag_model_version(result) -> None:
    """Point the registered version at the governance documents of its run."""
    client = MlflowClient()
    version = result.summary.get("model_version")
    if version:
        client.set_model_version_tag(result.spec.name, str(version), "governance",
                                     f"runs:/{result.run_id}/governance")


def _spec_dict(spec) -> dict:
    from dataclasses import asdict

    return asdict(spec)
