"""Specs: a bad spec fails on load with a message naming the file and the key."""

from pathlib import Path

import pytest

from riskengine.errors import SpecError
from riskengine.spec import TrainingSpec, load_spec

ROOT = Path(__file__).resolve().parents[1]

MINIMAL = """
name = "hmo"
[purpose]
problem = "p"
insight = "i"
datasets = "d"
action = "a"
[data]
entities = "e.csv"
[labels]
first_as_of = 2021-01-01
[[models]]
name = "lgbm"
type = "lightgbm"
"""


def write(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "training"
    folder.mkdir(exist_ok=True)
    path = folder / "x.toml"
    path.write_text(text)
    return path


def test_shipped_training_spec_loads_with_the_four_statements():
    spec = load_spec(ROOT / "training" / "hmo.toml")
    assert isinstance(spec, TrainingSpec)
    assert spec.name == "hmo"
    assert all(getattr(spec.purpose, k) for k in ("problem", "insight", "datasets", "action"))
    assert spec.metric.k == 100


def test_minimal_spec_gets_defaults(tmp_path):
    spec = load_spec(write(tmp_path, MINIMAL))
    assert spec.splits.n_splits == 4
    assert str(spec.data.entities.path) == "e.csv"


def test_unknown_key_names_file_and_key(tmp_path):
    path = write(tmp_path, MINIMAL.replace("[labels]", "[labels]\nwindow_dayz = 90"))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    msg = str(err.value)
    assert str(path) in msg and "labels.window_dayz" in msg and "window_days" in msg


def test_wrong_type_names_key_and_expectation(tmp_path):
    path = write(tmp_path, MINIMAL.replace("[labels]", "[metric]\nk = \"a hundred\"\n[labels]"))
    with pytest.raises(SpecError, match=r"metric\.k' expected an integer, got 'a hundred'"):
        load_spec(path)


def test_missing_required_key(tmp_path):
    path = write(tmp_path, MINIMAL.replace('action = "a"\n', ""))
    with pytest.raises(SpecError, match=r"missing required key 'purpose\.action'"):
        load_spec(path)


def test_bad_date_and_bad_choice(tmp_path):
    with pytest.raises(SpecError, match=r"labels\.first_as_of' expected a date"):
        load_spec(write(tmp_path, MINIMAL.replace("2021-01-01", '"2021-13-01"')))
    with pytest.raises(SpecError, match=r"models\[0\]\.type' expected one of 'lightgbm', 'logistic_regression'"):
        load_spec(write(tmp_path, MINIMAL.replace('type = "lightgbm"', 'type = "xgboost"')))


def test_invalid_value_checked_on_load(tmp_path):
    with pytest.raises(SpecError, match="capacity"):
        load_spec(write(tmp_path, MINIMAL.replace("[labels]", "[metric]\nk = 0\n[labels]")))


def test_sql_source_form(tmp_path):
    spec = load_spec(write(tmp_path, MINIMAL.replace('entities = "e.csv"', 'entities = { sql = "select 1", url = "sqlite://" }')))
    assert spec.data.entities.sql == "select 1"
    with pytest.raises(SpecError, match="needs 'url'"):
        load_spec(write(tmp_path, MINIMAL.replace('entities = "e.csv"', 'entities = { sql = "select 1" }')))


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(SpecError, match="spec file not found"):
        load_spec(tmp_path / "nope.toml")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec(write(tmp_path, "name = "))


def test_cli_reports_bad_spec_without_traceback(tmp_path):
    from typer.testing import CliRunner

    from riskengine.cli import app

    path = write(tmp_path, MINIMAL.replace("[labels]", "[labels]\nwindow_dayz = 90"))
    result = CliRunner().invoke(app, ["train", str(path)])
    assert result.exit_code == 2
    assert "labels.window_dayz" in result.output
    assert "Traceback" not in result.output
