"""A new use case is a new spec, not new code: businesses and food inspections, with text ids,
US-style dates, no coordinates, no wards and no linkage, through the same commands."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from riskengine.cli import app

TRAINING = """name = "food"
[purpose]
problem = "Food businesses that fail inspection put diners at risk."
insight = "If we could see which businesses look like past failures, we could inspect them first."
datasets = "Using complaints and past inspections."
action = "We would order the week's inspections by risk."
[data]
entities = "{d}/businesses.csv"
outcomes = {{ path = "{d}/inspections.csv", date_format = "%m/%d/%Y" }}
[data.events]
complaints = {{ path = "{d}/complaints.csv", date_format = "%m/%d/%Y" }}
[features]
windows = [90, 365]
static = ["facility_type"]
categorical = ["facility_type"]
[labels]
first_as_of = 2020-07-01
window_days = 90
[[models]]
name = "lgbm"
type = "lightgbm"
params = {{ n_estimators = 60, num_leaves = 7 }}
[baselines]
business_as_usual = ["complaints__sanitation__count_365d"]
[metric]
k = 20
[audit]
attributes = ["facility_type"]
"""


def make_data(d, n=1200, seed=5):
    rng = np.random.default_rng(seed)
    ids = [f"LIC-{i:05d}" for i in range(n)]
    risk = rng.normal(size=n)
    pd.DataFrame({"entity_id": ids, "facility_type": rng.choice(["Restaurant", "Grocery", "School"], n)}).to_csv(
        d / "businesses.csv", index=False)
    start = pd.Timestamp("2019-01-01")
    ev, out = [], []
    for i in range(n):
        for day in rng.integers(0, 6 * 365, rng.poisson(4 * np.exp(0.6 * risk[i]))):
            ev.append((ids[i], (start + pd.Timedelta(days=int(day))).strftime("%m/%d/%Y"), rng.choice(["sanitation", "rodents"])))
        for day in rng.integers(0, 6 * 365, rng.poisson(2)):
            out.append((ids[i], (start + pd.Timedelta(days=int(day))).strftime("%m/%d/%Y"),
                        int(rng.random() < 1 / (1 + np.exp(-(1.5 * risk[i] - 1.5))))))
    pd.DataFrame(ev, columns=["entity_id", "date", "type"]).to_csv(d / "complaints.csv", index=False)
    pd.DataFrame(out, columns=["entity_id", "date", "outcome"]).to_csv(d / "inspections.csv", index=False)


@pytest.fixture()
def food(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.delenv("RISKENGINE_PSEUDONYM_KEY", raising=False)  # nothing to link: no key needed
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    make_data(tmp_path / "data")
    (tmp_path / "training").mkdir()
    (tmp_path / "training" / "food.toml").write_text(TRAINING.format(d=tmp_path / "data"))
    (tmp_path / "scoring").mkdir()
    (tmp_path / "scoring" / "food.toml").write_text('pipeline = "food"\ncapacity = 25\n')
    return tmp_path


def test_train_then_score_a_use_case_with_no_coordinates_wards_or_linkage(food):
    runner = CliRunner()
    trained = runner.invoke(app, ["train", "training/food.toml", "--quiet"])
    assert trained.exit_code == 0, trained.output
    summary = json.loads((food / "out" / "food" / "train" / "summary.json").read_text())
    champ = summary["candidates"][summary["champion"]]
    assert champ["roc_auc"] > summary["baselines"]["random"]["roc_auc"]
    assert (food / "out" / "food" / "train" / "governance" / "model_card.html").is_file()

    scored = runner.invoke(app, ["score", "scoring/food.toml", "--as-of", "2024-12-01", "--quiet"])
    assert scored.exit_code == 0, scored.output
    listed = pd.read_csv(food / "out" / "food" / "2024-12-01" / "list.csv")
    assert len(listed) == 25 and listed["entity_id"].str.startswith("LIC-").all()
    assert listed["reason_1"].str.contains("complaint|facility", case=False).all()
    assert (food / "out" / "food" / "2024-12-01" / "list.html").is_file()
