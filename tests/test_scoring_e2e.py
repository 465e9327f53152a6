"""End to end: a synthetic borough, a trained and registered champion, then `riskengine score`.

One borough and one MLflow store are built per test session (shared between pytest-xdist
workers through a file lock); linkage is switched off in the temporary training spec to
keep the run short (scoring calls the same link step as training either way).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

import riskengine.cli

ROOT = Path(__file__).resolve().parents[1]
KEY = "5c0e" * 16
WEEK1, WEEK2 = "2026-06-01", "2026-06-08"


def _training_spec(borough: Path) -> str:
    text = (ROOT / "training" / "hmo.toml").read_text().replace("out/borough/", f"{borough}/")
    text = re.sub(r"(\[link\]\s*\n)enabled = true", r"\1enabled = false", text)
    text = re.sub(r"grid = \{[^}]*\}", "grid = { num_leaves = [7], n_estimators = [80] }", text, count=1)
    text = re.sub(r'\[\[models\]\]\s*\nname = "logistic".*?(?=\n\[)', "", text, flags=re.S)  # a tree champion
    # a small borough's least deprived decile is below the audit's minimum group size
    text = re.sub(r"\[audit\.reference\][^\[]*", "", text)
    return text


def _scoring_spec(root: Path, training: Path, **extra: str) -> Path:
    head, _, tables = (ROOT / "scoring" / "hmo.toml").read_text().partition("[quotas]")
    for k in extra:  # a key the shipped spec sets is replaced, not repeated
        head = re.sub(rf"(?m)^{k} = .*$", "", head)
    keys = "".join(f"{k} = {v}\n" for k, v in {"training": f'"{training}"', "outputs": f'"{root / "out" / "hmo"}"',
                                               **extra}.items())
    path = root / "scoring" / f"hmo{'_' + '_'.join(extra) if extra else ''}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(head + keys + "\n[quotas]" + tables)
    return path


def _env(root: Path) -> dict[str, str]:
    return {"MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}", "RISKENGINE_PSEUDONYM_KEY": KEY}


def _score(spec: Path, *args: str):
    res = CliRunner().invoke(riskengine.cli.app, ["score", str(spec), "--quiet", *args])
    return res


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    """The borough, the registered champion and two weekly lists, made once per session."""
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "scoring_e2e"
    root.mkdir(exist_ok=True)
    saved = {k: os.environ.get(k) for k in _env(root)}
    os.environ.update(_env(root))
    try:
        with open(root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if (root / "failed").exists():
                pytest.fail(f"building the borough and its champion failed: {(root / 'failed').read_text()}")
            if not (root / "ready").exists():
                try:
                    _build(root)
                except Exception as exc:
                    (root / "failed").write_text(f"{type(exc).__name__}: {exc}")
                    raise
                (root / "ready").write_text("ok")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return root


def _build(root: Path) -> None:
    from riskengine.synth import synth
    from riskengine.training import train

    synth(root / "borough", properties=3000, seed=3, progress=False)
    training = root / "training" / "hmo.toml"
    training.parent.mkdir(parents=True, exist_ok=True)
    training.write_text(_training_spec(root / "borough"))
    train(training, out=root / "train", log_mlflow=True, quiet=True)
    spec = _scoring_spec(root, training)
    for week in (WEEK1, WEEK2):
        res = _score(spec, "--as-of", week)
        assert res.exit_code == 0, res.output
        (root / f"output_{week}.txt").write_text(res.stdout)


@pytest.fixture()
def store(world, monkeypatch):
    for k, v in _env(world).items():
        monkeypatch.setenv(k, v)
    return world


def _list(root: Path, week: str) -> pd.DataFrame:
    return pd.read_csv(root / "out" / "hmo" / week / "list.csv", dtype={"entity_id": str})


def test_the_command_writes_the_list_and_ends_with_the_page(world):
    out = (world / f"output_{WEEK1}.txt").read_text()
    folder = world / "out" / "hmo" / WEEK1
    assert out.strip().splitlines()[-1] == f"List page: {folder / 'list.html'}"
    for name in ("list.csv", "list.xlsx", "list.html", "list.json", "alerts.csv", "scores.parquet", "run.json",
                 "shap_summary.png"):
        assert (folder / name).is_file(), name
    listed = _list(world, WEEK1)
    assert len(listed) == 50 and list(listed["rank"]) == list(range(1, 51))
    assert listed["exploration"].sum() == 5
    model = listed[~listed["exploration"]]
    assert model["ward"].value_counts().max() <= 8
    assert model["score"].is_monotonic_decreasing
    assert model["reason_1"].str.contains(r"\(raises the risk( a lot| a little)?\)$").all()
    scores = pd.read_parquet(folder / "scores.parquet")
    entities = pd.read_csv(world / "borough" / "entities.csv", dtype={"entity_id": str})
    # every entity that passed validation (synth plants a few duplicate rows, which are rejected)
    assert len(scores) == entities["entity_id"].nunique() and scores["entity_id"].is_unique


def test_the_exclusions_hold_against_the_raw_files(world):
    listed = _list(world, WEEK1)
    as_of = pd.Timestamp(WEEK1)
    outcomes = pd.read_csv(world / "borough" / "outcomes.csv", dtype={"entity_id": str}, parse_dates=["date"])
    recent = outcomes[(outcomes["date"] >= as_of - pd.DateOffset(months=12)) & (outcomes["date"] < as_of)]
    planning = pd.read_csv(world / "borough" / "events" / "planning.csv", dtype={"entity_id": str})
    planning["date"] = pd.to_datetime(planning["date"], errors="coerce")
    licensed = planning[(planning["type"] == "licence_application") & (planning["date"] < as_of)]
    assert len(recent) and len(licensed)
    assert not listed["entity_id"].isin(recent["entity_id"]).any()
    assert not listed["entity_id"].isin(licensed["entity_id"]).any()
    scores = pd.read_parquet(world / "out" / "hmo" / WEEK1 / "scores.parquet").set_index("entity_id")
    some = recent["entity_id"][recent["entity_id"].isin(scores.index)].iloc[0]
    assert "inspected in the last 12 months" in scores.at[some, "excluded"]


def test_the_second_week_raises_alerts_against_the_first(world):
    first, second = _list(world, WEEK1), _list(world, WEEK2)
    alerts = pd.read_csv(world / "out" / "hmo" / WEEK2 / "alerts.csv", dtype={"entity_id": str})
    new = set(alerts.loc[alerts["alert"] == "new", "entity_id"])
    assert new == set(second["entity_id"]) - set(first["entity_id"])
    assert {"reason_1", "reason_2", "reason_3", "detail", "previous_probability"} <= set(alerts.columns)
    run = json.loads((world / "out" / "hmo" / WEEK2 / "run.json").read_text())
    assert run["previous_list"].endswith(f"{WEEK1}/list.csv")


def test_the_same_inputs_give_a_byte_identical_list(store, tmp_path):
    res = _score(_scoring_spec(store, store / "training" / "hmo.toml"), "--as-of", WEEK1, "--no-mlflow",
                 "--out", str(tmp_path / WEEK1))
    assert res.exit_code == 0, res.output
    assert (tmp_path / WEEK1 / "list.csv").read_bytes() == (store / "out" / "hmo" / WEEK1 / "list.csv").read_bytes()


def test_the_scoring_run_is_traceable_in_mlflow(store):
    run = json.loads((store / "out" / "hmo" / WEEK1 / "run.json").read_text())
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    client = MlflowClient()
    logged = client.get_run(run["scoring_run_id"])
    mv = client.get_model_version_by_alias("hmo", "champion")
    assert logged.data.tags["stage"] == "scoring"
    assert logged.data.tags["model_version"] == str(mv.version) == run["model_version"]
    assert logged.data.tags["model_run_id"] == mv.run_id
    assert logged.data.tags["data_fingerprint"] == run["data_fingerprint"]
    assert logged.data.metrics["listed"] == 50
    artifacts = {a.path for a in client.list_artifacts(logged.info.run_id, "outputs")}
    assert {"outputs/list.csv", "outputs/list.html", "outputs/alerts.csv"} <= artifacts
    assert {a.path for a in client.list_artifacts(logged.info.run_id)} >= {"scoring_spec.json", "fingerprints.json"}


def test_a_model_alias_that_does_not_exist_is_named(store):
    res = _score(_scoring_spec(store, store / "training" / "hmo.toml", model_alias='"nightly"'), "--no-mlflow")
    assert res.exit_code == 2
    assert "no model registered as models:/hmo@nightly" in res.output and "Traceback" not in res.output


def test_a_pipeline_with_no_registered_model_names_the_uri_and_the_store(store):
    from riskengine.errors import RiskEngineError
    from riskengine.scoring import load_model

    with pytest.raises(RiskEngineError, match=r"no model registered as models:/nothing@champion .*mlflow\.db.*riskengine train"):
        load_model("nothing", "champion")


def test_data_without_a_column_the_model_needs_is_named(store, tmp_path):
    borough = tmp_path / "borough"
    borough.symlink_to(store / "borough")
    changed = tmp_path / "changed"
    changed.mkdir()
    entities = pd.read_csv(store / "borough" / "entities.csv", dtype=str).drop(columns=["bedrooms"])
    entities.to_csv(changed / "entities.csv", index=False)
    text = _training_spec(borough).replace(f"{borough}/entities.csv", f"{changed}/entities.csv")
    training = tmp_path / "training" / "hmo.toml"
    training.parent.mkdir()
    training.write_text(text)
    res = _score(_scoring_spec(tmp_path, training), "--no-mlflow", "--as-of", WEEK1)
    assert res.exit_code == 2, res.output
    assert "bedrooms" in res.output and "Traceback" not in res.output


def test_data_missing_an_event_source_the_model_learned_from_is_named(store, tmp_path):
    text = re.sub(r"(?m)^epc = .*$", "", _training_spec(store / "borough"))
    training = tmp_path / "training" / "hmo.toml"
    training.parent.mkdir()
    training.write_text(text)
    res = _score(_scoring_spec(tmp_path, training), "--no-mlflow", "--as-of", WEEK1)
    assert res.exit_code == 2, res.output
    assert "no events from source(s) epc" in res.output and "Traceback" not in res.output


def test_the_list_is_audited_by_group_against_the_population(world):
    folder = world / "out" / "hmo" / WEEK1
    doc = json.loads((folder / "bias_report.json").read_text())
    assert doc["audit"]["overall"]["flagged"] == 50  # everyone on the list, exploration included
    attributes = {g["attribute"] for g in doc["audit"]["groups"]}
    assert {"imd_decile", "ward"} <= attributes
    published = [g for g in doc["audit"]["groups"] if g["attribute"] == "ward" and not g["suppressed"]]
    listed = _list(world, WEEK1)
    by_ward = listed["ward"].value_counts()
    for g in published:
        assert g["flagged"] == by_ward.get(g["group"], 0)
    html = (folder / "bias_report.html").read_text()
    assert "flagged when on this list (50 of" in html and "at or above 1" not in html
    assert "homes" in html
