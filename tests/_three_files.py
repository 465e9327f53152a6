"""A data set supplied only as three files, of the shape of a city's published food inspections.

entities.csv (entity_id, facility_type), outcomes.csv (entity_id, date, outcome: one row per
inspection), features.csv (entity_id, as_of = the inspection's date, a dozen numeric columns
and the inspector). Written the way real exports come: ids partly numbers, dates with a time
of day, missing values spelled several ways, a few repeated keys.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

NUMERIC = ["past_critical", "past_serious", "past_minor", "days_since_last", "complaints_90d", "sanitation_kde",
           "burglary_kde", "garbage_kde", "temperature_max", "licence_age_years", "seating", "alcohol"]


def write_three_files(folder: Path, n_cases: int = 2000, seed: int = 0) -> dict[str, Path]:
    """Write entities.csv, outcomes.csv, features.csv and a training spec; return their paths."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    n_ent = n_cases // 2
    ids = np.array([str(10_000 + i) if i % 3 else f"L{10_000 + i}" for i in range(n_ent)], dtype=object)
    ftype = rng.choice(["Restaurant", "Grocery Store", "School", "Bakery"], n_ent, p=[0.6, 0.2, 0.1, 0.1])
    hidden = rng.normal(0, 1, n_ent) + np.where(ftype == "Restaurant", 0.4, 0.0)
    pd.DataFrame({"entity_id": ids, "facility_type": ftype}).to_csv(folder / "entities.csv", index=False)

    who = rng.integers(0, n_ent, n_cases)
    day = np.sort(rng.integers(0, 3 * 365, n_cases))
    dates = pd.Timestamp("2014-01-06") + pd.to_timedelta(day, unit="D")
    inspectors = np.array(["blue", "brown", "green", "orange", "purple", "yellow"])
    strict = {"blue": 0.8, "brown": -0.6, "green": 0.0, "orange": 0.4, "purple": -0.2, "yellow": 0.1}
    insp = rng.choice(inspectors, n_cases)
    X = {c: rng.poisson(2, n_cases).astype(float) for c in NUMERIC}
    X["past_critical"] = rng.poisson(np.exp(0.5 * hidden[who]))
    X["sanitation_kde"] = np.round(np.exp(0.6 * hidden[who] + rng.normal(0, 0.5, n_cases)), 3)
    X["temperature_max"] = np.round(15 + 12 * np.sin(day / 365 * 2 * np.pi) + rng.normal(0, 3, n_cases), 1)
    logit = -1.3 + 0.8 * hidden[who] + np.vectorize(strict.get)(insp) + 0.03 * (X["temperature_max"] - 15)
    p_true = 1 / (1 + np.exp(-logit))
    outcome = (rng.random(n_cases) < p_true).astype(int)

    when = dates.strftime("%Y-%m-%dT%H:%M:%S")
    pd.DataFrame({"entity_id": ids[who], "date": when, "outcome": outcome}).to_csv(folder / "outcomes.csv", index=False)
    feats = pd.DataFrame({"entity_id": ids[who], "as_of": when, **X, "inspector": insp})
    feats = feats.astype({c: object for c in NUMERIC})
    feats.loc[rng.random(n_cases) < 0.03, "seating"] = ""
    feats.loc[rng.random(n_cases) < 0.01, "alcohol"] = "NA"
    feats.loc[rng.random(n_cases) < 0.01, "inspector"] = ""
    feats = pd.concat([feats, feats.iloc[[5, 17, 40]]], ignore_index=True)  # a few repeated keys
    feats.to_csv(folder / "features.csv", index=False)
    # not one of the three files: the hidden truth, for the oracle view (synthetic data only)
    pd.DataFrame({"entity_id": ids[who], "date": dates.strftime("%Y-%m-%d"), "p_true": p_true.round(6)}).to_csv(
        folder / "truth.csv", index=False)
    return {"entities": folder / "entities.csv", "outcomes": folder / "outcomes.csv", "features": folder / "features.csv"}


def training_spec(folder: Path, name: str = "inspections", extra: str = "", truth: bool = False) -> Path:
    """A training spec over the three files (cases framing, ready table only, no linkage)."""
    top = f'truth = "{folder / "truth.csv"}"\n' if truth else ""
    text = f'''name = "{name}"
kind = "training"
{top}
[purpose]
problem = "Critical violations are found late because inspections follow a fixed cycle."
insight = "If we could see which due inspections are likely to find a critical violation,"
datasets = "Using the inspection results and the city's feature table as of each inspection,"
action = "we would do those inspections first."

[data]
entities = "{folder / 'entities.csv'}"
outcomes = "{folder / 'outcomes.csv'}"

[link]
enabled = false

[labels]
rows = "cases"

[features]
table = "{folder / 'features.csv'}"
from_events = false
categorical = ["inspector"]
max_age_days = 30

[splits]
n_splits = 3

[[models]]
name = "lightgbm"
type = "lightgbm"
params = {{ n_estimators = 60, num_leaves = 7, learning_rate = 0.1, min_child_samples = 20 }}

[[models]]
name = "logistic"
type = "logistic_regression"

[baselines]
business_as_usual = ["past_critical"]

[metric]
k = 50

[audit]
attributes = ["facility_type"]
{extra}'''
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path
