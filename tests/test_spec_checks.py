"""Specs checked against the data before any work: wrong names stop the run at load, naming file and key."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from riskengine.errors import DataError, RiskEngineError, SpecError
from riskengine.ingest import load_data
from riskengine.spec import capacity_warning, check_against_data, load_spec
from riskengine.synth import synth

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def borough(tmp_path_factory):
    """The shipped HMO spec beside a small borough at the paths it names (out/borough/...)."""
    root = tmp_path_factory.mktemp("checks")
    synth(root / "out" / "borough", properties=1000, seed=2, progress=False)
    shutil.copytree(ROOT / "training", root / "training")
    shutil.copytree(ROOT / "scoring", root / "scoring")
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    spec = load_spec("training/hmo.toml")
    data = load_data(spec.data)
    yield root, spec, data
    mp.undo()


def test_the_shipped_specs_pass(borough):
    _, spec, data = borough
    check_against_data(spec, data)
    check_against_data(load_spec("scoring/hmo.toml"), data, training=spec)


@pytest.mark.parametrize("change, key", [
    (lambda s: dataclasses.replace(s.features, levels=["electoral_register.adultz"]), "features.levels[0]"),
    (lambda s: dataclasses.replace(s.features, levels=["register.adults"]), "features.levels[0]"),
    (lambda s: dataclasses.replace(s.features, labels={"food_hygiene.inspection": "x"}), 'features.labels."food_hygiene.inspection"'),
    (lambda s: dataclasses.replace(s.features, static=[*s.features.static, "storeys"]), "features.static[6]"),
])
def test_unknown_sources_types_and_columns_in_features_are_named(borough, change, key):
    _, spec, data = borough
    bad = dataclasses.replace(spec, features=change(spec))
    bad._file = "training/copy.toml"
    with pytest.raises(SpecError, match=re.escape(f"training/copy.toml: key '{key}'")):
        check_against_data(bad, data)


def test_an_audit_attribute_the_entities_lack_is_an_error(borough):
    _, spec, data = borough
    bad = dataclasses.replace(spec, audit=dataclasses.replace(spec.audit, attributes=["imd_decile", "colour"]))
    with pytest.raises(SpecError, match=r"'audit.attributes\[1\]' = 'colour' is not a column"):
        check_against_data(bad, data)


def test_an_unknown_licence_event_is_an_error_in_training_and_scoring(borough):
    _, spec, data = borough
    ex = dataclasses.replace(spec.exclusions, licence_event="licensing.granted")
    with pytest.raises(SpecError, match=r"'exclusions.licence_event' names source 'licensing'"):
        check_against_data(dataclasses.replace(spec, exclusions=ex), data)
    scoring = load_spec("scoring/hmo.toml")
    scoring.exclusions = dataclasses.replace(scoring.exclusions, licence_event="planning.licence")
    with pytest.raises(SpecError, match=r"scoring/hmo.toml: key 'exclusions.licence_event' names event type 'licence'"):
        check_against_data(scoring, data, training=spec)


def test_a_missing_truth_file_stops_training_at_load_naming_the_key(borough, tmp_path):
    root, _, _ = borough
    text = (root / "training" / "hmo.toml").read_text().replace(
        'path = "out/borough/truth/probabilities.parquet"', 'path = "out/elsewhere/probabilities.parquet"')
    spec_path = root / "training" / "copy.toml"
    spec_path.write_text(text)
    from riskengine.training import train

    with pytest.raises(SpecError, match=r"copy.toml: key 'truth.path' names out/elsewhere/probabilities.parquet, "
                                        r"which does not exist \(relative to the current folder"):
        train(spec_path, out=tmp_path / "train", log_mlflow=False, quiet=True)
    assert not (tmp_path / "train" / "link").exists()  # stopped before linkage
    assert not (root / "mlruns").exists()


def test_capacity_not_below_the_labelled_rows_of_a_split_is_said_with_the_numbers():
    assert capacity_warning(50, {"2025-01-01": 300, "2025-04-01": 280}) is None
    text = capacity_warning(100, {"2025-01-01": 93, "2025-04-01": 120})
    assert "metric.k = 100" in text and "93 on 2025-01-01" in text and "below 93" in text
    assert "120" not in text


def test_rejects_are_written_when_validation_stops(borough, tmp_path):
    from riskengine.ingest import validate_into

    _, spec, _ = borough
    (tmp_path / "rejects.csv").write_text("a previous run's file\n")
    strict = dataclasses.replace(spec.data, max_reject_share=0.0)
    with pytest.raises(DataError):
        validate_into(strict, spec.name, tmp_path)
    rejects = pd.read_csv(tmp_path / "rejects.csv")
    assert len(rejects) > 0 and {"file", "reason"} <= set(rejects.columns)


def test_a_run_from_another_folder_says_where_it_looked_and_leaves_no_mlruns(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    spec = load_spec(ROOT / "training" / "hmo.toml")
    with pytest.raises(DataError, match=rf"out/borough/entities.csv: file not found \(relative paths are read from the current folder, {tmp_path}\)"):
        load_data(spec.data)
    from riskengine.scoring import load_model

    with pytest.raises(RiskEngineError, match=r"no MLflow store at .*mlruns/mlflow.db"):
        load_model("hmo")
    assert not (tmp_path / "mlruns").exists()
