"""The evaluation commands as a user runs them: files written, JSON fields, errors without tracebacks."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from riskengine.cli import app

HMO = str(Path(__file__).parents[1] / "evaluation" / "hmo.toml")
runner = CliRunner()


@pytest.fixture(autouse=True)
def hermetic_mlflow(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    (tmp_path / "mlruns").mkdir()


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result


def test_trial_design_from_the_shipped_spec_alone(tmp_path):
    result = invoke("trial", "design", HMO, "--out", tmp_path / "design")
    assert result.exit_code == 0, result.output
    assert "432 officer-weeks randomised" in result.output
    data = json.loads((tmp_path / "design" / "trial_design.json").read_text())
    assert data["unit"] == "officer-weeks" and data["power"]["units_needed"] == 418
    assert data["evidence"]["level"] == 3
    assignment = pd.read_csv(tmp_path / "design" / "assignment.csv")
    assert len(assignment) == 432 and set(assignment["arm"]) == {"model", "bau"}
    again = invoke("trial", "design", HMO, "--out", tmp_path / "again")
    assert again.exit_code == 0
    assert (tmp_path / "again" / "assignment.csv").read_text() == (tmp_path / "design" / "assignment.csv").read_text()


def test_trial_design_with_a_scored_list_keeps_entity_ids_as_text(tmp_path):
    rng = np.random.default_rng(0)
    pd.DataFrame({"entity_id": [f"0{i:011d}" for i in range(300)], "probability": rng.random(300),
                  "ward": rng.choice(["E05000001", "E05000002"], 300)}).to_csv(tmp_path / "list.csv", index=False)
    result = invoke("trial", "design", HMO, "--list", tmp_path / "list.csv", "--out", tmp_path / "d")
    assert result.exit_code == 0, result.output
    a = pd.read_csv(tmp_path / "d" / "assignment.csv", dtype={"entity_id": str})
    assert a["entity_id"].str.startswith("0").all() and len(a) == 300
    data = json.loads((tmp_path / "d" / "trial_design.json").read_text())
    assert data["strata"] == ["risk_band", "ward"] and data["n_strata"] == 10


def trial_table(path, seed=0):
    rng = np.random.default_rng(seed)
    n = 600
    arm = rng.permutation(np.repeat(["model", "bau"], n // 2))
    score = rng.random(n)
    hit = (rng.random(n) < 0.1 + 0.08 * (arm == "model") + 0.1 * score).astype(int)
    pd.DataFrame({"arm": arm, "hit": hit, "score": score, "band": rng.integers(1, 4, n)}).to_csv(path, index=False)
    return path


def test_trial_analyse_generic_table_writes_the_documented_json(tmp_path):
    table = trial_table(tmp_path / "t.csv")
    result = invoke("trial", "analyse", table, "--treatment-col", "arm", "--outcome-col", "hit",
                    "--control", "bau", "--strata-col", "band", "--covariate-col", "score",
                    "--out", tmp_path / "r", "--no-mlflow")
    assert result.exit_code == 0, result.output
    assert "model vs bau" in result.output and "MLflow" not in result.output
    data = json.loads((tmp_path / "r" / "trial_report.json").read_text())
    (effect,) = data["effects"]
    assert effect["arm"] == "model" and effect["n_arm"] == effect["n_control"] == 300
    for key in ("estimate", "se", "ci", "p_value", "adjusted_estimate", "adjusted_se", "risk_ratio"):
        assert isinstance(effect[key], (float, list)), key
    assert data["evidence"]["level"] is None  # nothing says the table came from a randomised design
    page = (tmp_path / "r" / "trial_report.html").read_text()
    assert "Assignment was randomised" not in page and "No level of Nesta" in page
    assert "pass --design or --randomised" in result.output
    assert not (tmp_path / "mlruns" / "mlflow.db").exists()


def test_trial_analyse_with_the_design_awards_a_level(tmp_path):
    table = trial_table(tmp_path / "t.csv")
    design = tmp_path / "trial_design.json"
    design.write_text(json.dumps({"seed": 1, "n_by_arm": {"model": 300, "bau": 300}}))
    result = invoke("trial", "analyse", table, "--treatment-col", "arm", "--outcome-col", "hit",
                    "--design", design, "--out", tmp_path / "r", "--no-mlflow")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "r" / "trial_report.json").read_text())
    assert data["evidence"]["level"] in (2, 3) and "Assignment was randomised" in " ".join(data["evidence"]["reasons"])
    design.write_text(json.dumps({"seed": 1, "n_by_arm": {"list": 300, "bau": 300}}))
    wrong = invoke("trial", "analyse", table, "--treatment-col", "arm", "--outcome-col", "hit",
                   "--design", design, "--out", tmp_path / "r", "--no-mlflow")
    assert wrong.exit_code == 2 and "do not include ['model']" in wrong.output


def test_trial_analyse_logs_to_mlflow(tmp_path):
    import mlflow

    table = trial_table(tmp_path / "t.csv")
    result = invoke("trial", "analyse", table, "--treatment-col", "arm", "--outcome-col", "hit",
                    "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("trial-analysis")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.metrics["model.estimate"] == pytest.approx(
        json.loads((tmp_path / "r" / "trial_report.json").read_text())["effects"][0]["estimate"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert artifacts == {"trial_report.html", "trial_report.json"}
    assert experiment.artifact_location.startswith((tmp_path / "mlruns").as_uri())


def test_trial_analyse_from_the_spec_joins_outcomes_to_officer_weeks(tmp_path):
    assert invoke("trial", "design", HMO, "--out", tmp_path / "d").exit_code == 0
    a = pd.read_csv(tmp_path / "d" / "assignment.csv")
    rng = np.random.default_rng(1)
    kept = a.iloc[5:]  # five officer-weeks never inspected: attrition
    rows = kept.loc[kept.index.repeat(10), ["officer", "week", "arm"]]
    rows["outcome"] = (rng.random(len(rows)) < np.where(rows["arm"] == "model", 0.2, 0.1)).astype(int)
    rows.drop(columns="arm").to_csv(tmp_path / "outcomes.csv", index=False)
    result = invoke("trial", "analyse", HMO, "--outcomes", tmp_path / "outcomes.csv",
                    "--assignment", tmp_path / "d" / "assignment.csv", "--out", tmp_path / "r", "--no-mlflow")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "r" / "trial_report.json").read_text())
    assert data["cluster_col"] == "unit_id" and data["strata_col"] == "stratum"
    assert data["attrition"]["unit"] == "cluster"
    assert sum(r["assigned"] - r["observed"] for r in data["attrition"]["by_arm"]) == 5
    assert data["effects"][0]["n_arm"] + data["effects"][0]["n_control"] == 4270
    assert data["purpose"]["problem"].startswith("Unlicensed")


def test_trial_did_command(tmp_path):
    pd.DataFrame({"area": ["pilot"] * 4 + ["rest"] * 4, "period": ["pre", "pre", "post", "post"] * 2,
                  "y": [2, 4, 7, 9, 1, 3, 4, 6]}).to_csv(tmp_path / "d.csv", index=False)
    result = invoke("trial", "did", tmp_path / "d.csv", "--group-col", "area", "--treated", "pilot",
                    "--period-col", "period", "--after", "post", "--outcome-col", "y",
                    "--out", tmp_path / "r", "--no-mlflow")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "r" / "did_report.json").read_text())
    assert data["did"]["estimate"] == pytest.approx(2.0)
    assert data["means"]["comparison"] == {"before": 2.0, "after": 5.0, "n_before": 2, "n_after": 2, "change": 3.0}


def test_profile_command(tmp_path):
    rng = np.random.default_rng(0)
    pd.DataFrame({"entity_id": rng.integers(0, 500, 800), "mosaic": rng.choice(list("ABCD"), 800, p=[.5, .3, .19, .01])}
                 ).to_csv(tmp_path / "users.csv", index=False)
    pd.DataFrame({"mosaic": list("ABCD"), "households": [4000, 3000, 2000, 1000]}).to_csv(tmp_path / "pop.csv", index=False)
    result = invoke("profile", "--users", tmp_path / "users.csv", "--population", tmp_path / "pop.csv",
                    "--segment-col", "mosaic", "--weight-col", "households", "--out", tmp_path / "p")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "p" / "profile.json").read_text())
    assert data["duplicates_removed"] > 0
    flags = {s["segment"]: s["flag"] for s in data["segments"]}
    assert flags["D"] == "suppressed"
    assert (tmp_path / "p" / "profile.html").is_file()


def test_user_mistakes_exit_2_with_one_line(tmp_path, monkeypatch):
    table = trial_table(tmp_path / "t.csv")
    result = invoke("trial", "analyse", table, "--treatment-col", "group", "--outcome-col", "hit", "--no-mlflow")
    assert result.exit_code == 2
    assert "no column 'group'" in result.output and "Traceback" not in result.output
    result = invoke("trial", "analyse", table, "--no-mlflow")
    assert result.exit_code == 2 and "--treatment-col" in result.output
    result = invoke("trial", "design", tmp_path / "missing.toml")
    assert result.exit_code == 2 and "spec file not found" in result.output
    monkeypatch.chdir(tmp_path)  # the spec's outcomes file (relative: out/hmo/trial/) does not exist here, even after make demo
    result = invoke("trial", "analyse", HMO, "--no-mlflow")
    assert result.exit_code == 2 and "out/hmo/trial/outcomes.csv" in result.output
    data_spec = tmp_path / "data.toml"
    data_spec.write_text('kind = "data"\nname = "x"\n[purpose]\nproblem = "p"\ninsight = "i"\n'
                         'datasets = "d"\naction = "a"\n[data]\nentities = "e.csv"\n')
    result = invoke("trial", "design", data_spec)
    assert result.exit_code == 2 and "an evaluation spec is needed" in result.output


def test_trial_analyse_from_the_spec_with_entity_units(tmp_path):
    rng = np.random.default_rng(2)
    ids = [f"{i:08d}" for i in range(400)]
    pd.DataFrame({"entity_id": ids, "score": rng.random(400), "ward": rng.choice(["A", "B"], 400)}
                 ).to_csv(tmp_path / "list.csv", index=False)
    assert invoke("trial", "design", HMO, "--list", tmp_path / "list.csv", "--out", tmp_path / "d").exit_code == 0
    a = pd.read_csv(tmp_path / "d" / "assignment.csv", dtype={"entity_id": str})
    out = pd.DataFrame({"entity_id": a["entity_id"], "outcome": (a["arm"] == "model").astype(int)})
    out = pd.concat([out, pd.DataFrame({"entity_id": ["99999999"], "outcome": [1]})])
    out.to_csv(tmp_path / "outcomes.csv", index=False)
    result = invoke("trial", "analyse", HMO, "--outcomes", tmp_path / "outcomes.csv",
                    "--assignment", tmp_path / "d" / "assignment.csv", "--out", tmp_path / "r", "--no-mlflow")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "r" / "trial_report.json").read_text())
    assert data["cluster_col"] is None and data["effects"][0]["estimate"] == pytest.approx(1.0)
    assert data["notes"] == ["1 outcome rows belong to no assigned unit and were left out."]


def test_the_trial_commands_are_callable_from_python_with_the_same_answers(tmp_path):
    from riskengine.errors import RiskEngineError
    from riskengine.evaluation import analyse_trial_files, trial_experiment

    table = trial_table(tmp_path / "t.csv")
    design = tmp_path / "trial_design.json"
    design.write_text(json.dumps({"seed": 1, "n_by_arm": {"model": 300, "bau": 300}}))
    report = analyse_trial_files(table, treatment_col="arm", outcome_col="hit", design=design, out=tmp_path / "api")
    result = invoke("trial", "analyse", table, "--treatment-col", "arm", "--outcome-col", "hit",
                    "--design", design, "--out", tmp_path / "cli", "--no-mlflow")
    assert result.exit_code == 0, result.output
    assert report.data["effects"] == json.loads((tmp_path / "cli" / "trial_report.json").read_text())["effects"]
    assert report.data["evidence"]["level"] in (2, 3) and trial_experiment(table) == "trial-analysis"
    with pytest.raises(RiskEngineError, match="--treatment-col and --outcome-col"):
        analyse_trial_files(table, out=tmp_path / "x")
