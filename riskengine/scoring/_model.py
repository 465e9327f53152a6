"""The registered model: loading it and checking today's data against it.

`load_model` turns a missing model into an error that names the URI and the store;
`check_features` and `check_sources` name what the data lacks before anything is scored.
Every stage that needs the registered model (scoring, the backtest) loads it here, and scores
with the model's own `raw_score` / `predict_proba`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from riskengine.errors import RiskEngineError
from riskengine.model import RiskModel, RiskModelPyfunc


@dataclass
class LoadedModel:
    """The registered model and where it came from."""

    model: RiskModel
    info: pd.DataFrame | None  # feature metadata from training: phrases for the reasons
    uri: str
    version: str | None = None
    run_id: str | None = None  # the training run that logged it
    input_names: list[str] | None = None  # the registered signature's columns


def load_model(pipeline: str, alias: str = "champion") -> LoadedModel:
    """The model registered as models:/<pipeline>@<alias> in the MLflow store in use.

    A missing model is a RiskEngineError that names the URI, the store and how to make one.
    """
    return load_model_uri(f"models:/{pipeline}@{alias}")


def load_model_uri(uri: str) -> LoadedModel:
    """A riskengine model from any MLflow model URI (models:/NAME@ALIAS, models:/NAME/VERSION,
    runs:/RUN_ID/model) in the store in use; every failure is a RiskEngineError naming the URI."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from riskengine.tracking import tracking_uri

    store = tracking_uri(create=False)
    mlflow.set_tracking_uri(store)
    mlflow.set_registry_uri(store)
    version, run_id = None, None
    registered = re.fullmatch(r"models:/([^/@]+)(?:@([^/]+)|/(\d+))", uri)
    if registered:
        name, alias, number = registered.groups()
        try:
            client = MlflowClient()
            mv = client.get_model_version_by_alias(name, alias) if alias else client.get_model_version(name, number)
        except MlflowException as exc:
            raise RiskEngineError(
                f"no model registered as {uri} in the MLflow store {store} ({_first_line(exc)}). "
                f"Train one with `riskengine train training/{name}.toml`, or point MLFLOW_TRACKING_URI at the store that has it"
            ) from None
        version, run_id = str(mv.version), mv.run_id
    elif not uri.startswith(("runs:/", "models:/", "file:", "/")):
        raise RiskEngineError(f"'{uri}' is not an MLflow model URI; expected e.g. models:/hmo@champion or runs:/RUN_ID/model")
    where = f"{uri} (version {version})" if version else uri
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri)
        # MLflow's own requirements check maps every installed distribution's files to its
        # modules (3 s a load); the same check for the model's pinned requirements is below
        pyfunc = mlflow.pyfunc.load_model(local, suppress_warnings=True)
    except (MlflowException, OSError) as exc:
        raise RiskEngineError(f"the model {where} could not be loaded: {_first_line(exc)}") from None
    _warn_mismatches(Path(local), getattr(pyfunc.metadata, "flavors", {}), where)
    wrapper = pyfunc.unwrap_python_model()
    if not isinstance(wrapper, RiskModelPyfunc):
        raise RiskEngineError(f"{uri} is not a riskengine model (it holds a {type(wrapper).__name__})")
    if not hasattr(wrapper.model, "categories_"):
        raise RiskEngineError(f"{where} was trained by an older riskengine whose models read their input "
                              "differently; train it again with `riskengine train`")
    schema = pyfunc.metadata.get_input_schema()
    names = list(schema.input_names()) if schema is not None else None
    if run_id is None:
        run_id = getattr(pyfunc.metadata, "run_id", None)
    return LoadedModel(wrapper.model, wrapper.info, uri, version, run_id, names)


def _warn_mismatches(local: Path, flavors: dict, where: str) -> None:
    """Warn, as MLflow would, when installed packages or Python differ from what the model was logged with.

    Reads the model's requirements.txt (name==version lines, as training writes them) and asks
    importlib.metadata for each installed version: milliseconds, where MLflow's check first maps
    every installed distribution's files to modules.
    """
    import logging
    import sys
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import InvalidRequirement, Requirement

    problems = []
    req_file = local / "requirements.txt"
    for line in (req_file.read_text().splitlines() if req_file.is_file() else []):
        line = line.strip()
        if not line or line.startswith(("#", "-")):
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue  # a path or URL: not checked (MLflow skips these too)
        if req.marker and not req.marker.evaluate():
            continue
        try:
            have = version(req.name)
        except PackageNotFoundError:
            have = None
        if have is None or (req.specifier and not req.specifier.contains(have, prereleases=True)):
            problems.append(f" - {req.name} (current: {have or 'uninstalled'}, required: {line})")
    logged_py = ((flavors or {}).get("python_function") or {}).get("python_version")
    here = "{}.{}".format(*sys.version_info[:2])
    if logged_py and ".".join(str(logged_py).split(".")[:2]) != here:
        problems.append(f" - Python (current: {sys.version.split()[0]}, logged with: {logged_py})")
    if problems:
        logging.getLogger("mlflow.pyfunc").warning(
            "The model %s was logged in another environment; it may not load or score the same here:\n%s",
            where, "\n".join(problems))


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_features(table: pd.DataFrame, loaded: LoadedModel) -> None:
    """The features built now must include every column the model was trained on (its signature)."""
    needed = list(dict.fromkeys([*(loaded.input_names or []), *loaded.model.features_]))
    missing = [c for c in needed if c not in table.columns]
    if missing:
        shown = ", ".join(missing[:12]) + (f" and {len(missing) - 12} more" if len(missing) > 12 else "")
        raise RiskEngineError(
            f"the data does not give the feature column(s) that {loaded.uri} (version {loaded.version}) was trained on: "
            f"{shown}. The data or the training spec's [features] changed since training; "
            "restore them or retrain the model"
        )


def check_sources(loaded: LoadedModel, events: pd.DataFrame) -> None:
    """Every event source the model learned from must be in today's data.

    Without this, a source dropped from the spec or an empty file would quietly read as
    "no events" (zero counts) for every entity, and the list would be wrong without a word.
    """
    if loaded.info is None or "source" not in loaded.info:
        return
    info = loaded.info
    used = set(info.loc[~info["stat"].isin(["static", "given"]), "source"].dropna().astype(str))
    have = set(events["source"].dropna().astype(str).unique())
    missing = sorted(used - have)
    if missing:
        raise RiskEngineError(
            f"the data has no events from source(s) {', '.join(missing)}, which {loaded.uri} "
            f"(version {loaded.version}) was trained on; add them to the training spec's [data.events] "
            "(or check the files are not empty), or retrain without them"
        )
