"""MLflow set-up shared by every stage: one store, explicit artefact location.

By default runs go to a SQLite store at `mlruns/mlflow.db` with artefacts under
`mlruns/artifacts` (MLflow 3's plain file store is frozen). `MLFLOW_TRACKING_URI` overrides,
so a team's own MLflow server works unchanged.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow

DEFAULT_DIR = Path("mlruns")
PACKAGES = ["riskengine", "numpy", "pandas", "pyarrow", "scikit-learn", "lightgbm", "shap", "mlflow",
            "duckdb", "fairlearn", "statsmodels", "pandera", "cloudpickle"]


def tracking_uri(create: bool = True) -> str:
    """The store in use: MLFLOW_TRACKING_URI, else the local SQLite store under mlruns/.

    `create=False` (reading a model): a missing local store is an error naming the folder it was
    looked for in, and no empty mlruns/ is left behind by a run started in the wrong folder.
    """
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    db = DEFAULT_DIR / "mlflow.db"
    if not create and not db.is_file():
        from riskengine.errors import RiskEngineError

        raise RiskEngineError(f"no MLflow store at {db.resolve()} (mlruns/ is looked for in the current folder, "
                              f"{Path.cwd()}): run from the project folder, train first, or set MLFLOW_TRACKING_URI")
    DEFAULT_DIR.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{db.resolve()}"


def use_experiment(name: str) -> str:
    """Point MLflow at the store and the named experiment (created with explicit artefacts).

    With a local SQLite store, creating the database (MLflow runs its schema migrations then)
    and creating the experiment happen under a file lock beside the database, so two runs
    started at once on a fresh store do not both migrate it or both create the experiment.
    """
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    with store_lock(uri):
        exp = mlflow.get_experiment_by_name(name)
        if exp is None:
            artifacts = None
            if uri.startswith("sqlite:///"):
                root = Path(uri.removeprefix("sqlite:///")).parent / "artifacts"
                artifacts = (root / name).resolve().as_uri()
            exp_id = mlflow.create_experiment(name, artifact_location=artifacts)
        else:
            exp_id = exp.experiment_id
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


TAG_STAGE = "stage"  # training, scoring, evaluation: the same tag names on every run the engine logs
TAG_PIPELINE = "pipeline"
TAG_COMMIT = "git_commit"


def run_tags(stage: str, pipeline: str | None = None, **extra: object) -> dict[str, str]:
    """The tags every riskengine MLflow run carries (stage, pipeline, code commit), plus `extra`."""
    tags = {TAG_STAGE: stage, TAG_COMMIT: git_commit() or "unknown"}
    if pipeline is not None:
        tags[TAG_PIPELINE] = pipeline
    tags.update({k: "" if v is None else str(v) for k, v in extra.items()})
    return tags


@contextlib.contextmanager
def store_lock(uri: str, timeout: float = 300.0) -> Iterator[None]:
    """Hold `<db>.lock` beside a SQLite store while it may be created or migrated; other stores: no lock."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    import fcntl

    from riskengine.errors import RiskEngineError

    db = Path(uri.removeprefix("sqlite:///"))
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "a+") as fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RiskEngineError(f"{db}: the MLflow store stayed locked for {timeout:.0f} s by another "
                                          "run creating it; try again when that run has started") from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def package_versions() -> dict[str, str]:
    """Versions of the packages a result depends on."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def pip_requirements() -> list[str]:
    """Explicit requirements for logged models (inferring them costs seconds per model)."""
    return [f"{k}=={v}" for k, v in package_versions().items() if k != "riskengine"]


def git_commit() -> str | None:
    """The commit of the working tree the run came from, if it is a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
