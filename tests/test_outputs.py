"""Issue 16: outputs never half-written, one writer per folder, the same bytes on a rerun, specs kept in place."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskengine.errors import RiskEngineError, SpecError
from riskengine.outputs import FolderLocked, _umask, resolve_output, run_folder

# ---------------------------------------------------------------------------------------
# Atomic folders and locks
# ---------------------------------------------------------------------------------------


def test_a_failed_run_leaves_the_last_good_folder_untouched(tmp_path):
    target = tmp_path / "hmo" / "train"
    with run_folder(target) as work:
        (work / "summary.json").write_text("good")
    assert (target / "summary.json").read_text() == "good"
    assert target.stat().st_mode & 0o077 == 0o777 & ~_umask() & 0o077  # an ordinary folder, not a private temp one
    with pytest.raises(KeyboardInterrupt):
        with run_folder(target) as work:
            (work / "summary.json").write_text("half")
            (work / "calibration.png").write_text("new plot")
            raise KeyboardInterrupt  # Ctrl-C while the plots are written
    assert (target / "summary.json").read_text() == "good" and not (target / "calibration.png").exists()
    leftovers = [p.name for p in target.parent.iterdir() if p.name.startswith(".train.")]
    assert any(".failed-" in name for name in leftovers)  # plainly marked, never mistaken for a result
    with run_folder(target) as work:
        (work / "summary.json").write_text("next")
    assert (target / "summary.json").read_text() == "next"
    assert not [p for p in target.parent.iterdir() if ".failed-" in p.name or ".partial-" in p.name]


def test_a_run_that_fails_before_writing_anything_leaves_no_work_folder(tmp_path):
    target = tmp_path / "elsewhere" / "out" / "hmo" / "train"
    with pytest.raises(RuntimeError):
        with run_folder(target):
            raise RuntimeError("out/borough/entities.csv: file not found")  # a mistake found at stage 1
    assert not target.exists()
    assert not [p.name for p in target.parent.iterdir() if ".failed-" in p.name or ".partial-" in p.name]


def test_ctrl_c_swallowed_by_a_library_still_fails_the_run(tmp_path):
    """DuckDB turns Ctrl-C into an exception an `except Exception` fallback catches: the run must still stop."""
    import os
    import signal

    from riskengine.progress import Steps

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a command run from a shell
    try:
        target = tmp_path / "hmo" / "train"
        with run_folder(target) as work:
            (work / "summary.json").write_text("good")
        with pytest.raises(KeyboardInterrupt):
            with run_folder(target) as work:
                step = Steps(quiet=True)
                step("linking")
                try:
                    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C ...
                    time.sleep(1)
                except Exception:  # noqa: BLE001
                    pass
                except KeyboardInterrupt:  # ... swallowed, as `except Exception` swallows duckdb's InterruptException
                    pass
                (work / "summary.json").write_text("half")
                step("building features")  # the next step stops the run
                (work / "summary.json").write_text("should never be reached")
        assert (target / "summary.json").read_text() == "good"
        with pytest.raises(KeyboardInterrupt):  # even with no progress step left, the folder never goes into place
            with run_folder(target) as work:
                with contextlib.suppress(KeyboardInterrupt):
                    os.kill(os.getpid(), signal.SIGINT)
                    time.sleep(1)
                (work / "summary.json").write_text("half")
        assert (target / "summary.json").read_text() == "good"
        with run_folder(target) as work:  # the next run is not affected
            Steps(quiet=True)("reading")
            (work / "summary.json").write_text("next")
        assert (target / "summary.json").read_text() == "next"
    finally:
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_during_a_duckdb_query_is_remembered(tmp_path):
    """A real DuckDB query interrupted by Ctrl-C raises an ordinary exception (not KeyboardInterrupt)."""
    import os
    import signal
    import threading

    import duckdb

    from riskengine.outputs import stop_if_interrupted

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            with run_folder(tmp_path / "x") as work:
                threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
                try:  # a few seconds of work at most, should the interrupt be missed
                    duckdb.sql("SELECT count(*) FROM range(1000000000) t(i) WHERE i % 7 = 3").fetchall()
                except Exception:  # noqa: BLE001 - DuckDB's way of saying "interrupted", which a fallback would swallow
                    pass
                (work / "summary.json").write_text("finished as if nothing had happened")
        assert not (tmp_path / "x").exists()
        stop_if_interrupted()  # forgotten once that run has ended
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_second_writer_of_the_same_folder_is_refused_with_a_message(tmp_path):
    target = tmp_path / "hmo" / "train"
    with run_folder(target):
        with pytest.raises(FolderLocked, match="another riskengine run is writing this folder .*pid"):
            with run_folder(target):
                pass
    with run_folder(target):  # released when the first run ends
        pass


def test_a_folder_riskengine_did_not_write_is_never_replaced(tmp_path):
    mine = tmp_path / "documents"
    mine.mkdir()
    (mine / "thesis.docx").write_text("precious")
    with pytest.raises(RiskEngineError, match="holds files riskengine did not write"):
        with run_folder(mine):
            pass
    assert (mine / "thesis.docx").read_text() == "precious"
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(RiskEngineError, match="is a file"):
        with run_folder(afile):
            pass


def test_a_shared_folder_gets_the_runs_files_all_at_once_and_keeps_the_others(tmp_path):
    trial = tmp_path / "hmo" / "trial"
    trial.mkdir(parents=True)
    (trial / "outcomes.csv").write_text("recorded since the design")  # not this command's: never touched
    (trial / "trial_report.html").write_text("last good report")
    with pytest.raises(KeyboardInterrupt):
        with run_folder(trial, shared=True) as work:
            (work / "trial_report.json").write_text("new figures")
            raise KeyboardInterrupt  # before the page is written
    assert (trial / "trial_report.html").read_text() == "last good report" and not (trial / "trial_report.json").exists()
    with run_folder(trial, shared=True) as work:
        assert work != trial
        (work / "trial_report.json").write_text("new figures")
        (work / "trial_report.html").write_text("new report")
        (work / "charts").mkdir()
        (work / "charts" / "a.svg").write_text("<svg/>")
    assert sorted(p.name for p in trial.iterdir() if p.name != ".riskengine.lock") == [
        "charts", "outcomes.csv", "trial_report.html", "trial_report.json"]  # no work folder left behind
    assert (trial / "outcomes.csv").read_text() == "recorded since the design"
    assert (trial / "trial_report.html").read_text() == "new report"
    assert not (trial / ".riskengine-run").exists()  # a shared folder is not marked as one a run may replace
    with run_folder(trial, shared=True):
        with pytest.raises(FolderLocked):  # one writer at a time, shared or not
            with run_folder(trial, shared=True):
                pass


def test_the_current_folder_can_take_a_commands_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scores.csv").write_text("mine")
    with run_folder(Path("."), shared=True) as work:  # e.g. `riskengine audit scores.csv ... --out .`
        (work / "bias_report.html").write_text("page")
    assert (tmp_path / "bias_report.html").read_text() == "page" and (tmp_path / "scores.csv").read_text() == "mine"
    assert not list(tmp_path.parent.glob(".*partial-*"))  # nothing written outside the folder named


def test_a_folder_inside_a_run_in_progress_is_written_directly_and_appears_with_it(tmp_path):
    from riskengine.outputs import final_path

    target = tmp_path / "hmo" / "train"
    with run_folder(target) as work:
        with run_folder(work / "link") as inner:  # e.g. training's linkage outputs
            assert inner == work / "link"
            (inner / "link_report.json").write_text("{}")
            assert final_path(inner / "link_report.json") == target / "link" / "link_report.json"
        assert not (target / "link").exists()
    assert (target / "link" / "link_report.json").is_file()


def test_carried_state_survives_into_the_new_folder_and_a_failed_run_keeps_the_old(tmp_path):
    target = tmp_path / "out" / "link"
    with run_folder(target) as work:
        (work / "decisions.csv").write_text("review_id,candidate_id,decision\n1,2,match\n")
        (work / "review.csv").write_text("stale")
    with pytest.raises(RuntimeError):
        with run_folder(target, carry=("decisions.csv",)) as work:
            assert (work / "decisions.csv").read_text().endswith("1,2,match\n") and not (work / "review.csv").exists()
            (work / "decisions.csv").write_text("changed")
            raise RuntimeError("linkage failed")
    assert (target / "decisions.csv").read_text().endswith("1,2,match\n") and (target / "review.csv").exists()


def test_every_command_that_writes_a_folder_uses_run_folder():
    """The writers named in issue 16 go through riskengine.outputs (a new writer must too)."""
    import inspect

    from riskengine.audit import write_audit_report
    from riskengine.audit.governance import write_document
    from riskengine.dashboard import write_dashboard
    from riskengine.evaluation import backtest, design_trial
    from riskengine.evaluation._report import write_report
    from riskengine.infogov import information_governance_pack
    from riskengine.link import cli as link_cli
    from riskengine.profiling import profile, segment
    from riskengine.simulate import simulate

    for func in (backtest, design_trial, write_report, write_audit_report, write_document, write_dashboard,
                 information_governance_pack, profile, segment, simulate, link_cli.link_command, link_cli._run_job):
        assert "run_folder(" in inspect.getsource(func), func.__qualname__


@pytest.mark.parametrize("path, ok", [("out/hmo", "out/hmo"), ("hmo/lists", "out/hmo/lists"), ("../x", None),
                                      ("out/../../x", None), ("hmo/../../etc", None)])
def test_relative_output_paths_stay_under_out(tmp_path, monkeypatch, path, ok):
    monkeypatch.chdir(tmp_path)
    if ok is None:
        with pytest.raises(SpecError, match="outside the output folder"):
            resolve_output(path, "outputs")
    else:
        assert resolve_output(path, "outputs") == Path(ok)
    assert resolve_output(tmp_path / "elsewhere", "outputs") == tmp_path / "elsewhere"  # absolute: as named


@pytest.mark.slow  # two MLflow imports and a store creation: about 20 s on a busy machine
def test_two_runs_creating_a_fresh_mlflow_store_at_once_both_succeed(tmp_path):
    script = textwrap.dedent("""
        import sys
        from riskengine.tracking import use_experiment
        print(use_experiment(sys.argv[1]))
    """)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "HOME": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", script, name], cwd=tmp_path, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for name in ("hmo", "hmo")]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    ids = [o[0].strip().splitlines()[-1] for o in outs]
    assert ids[0] == ids[1]  # one experiment, created once


# ---------------------------------------------------------------------------------------
# The same inputs give the same bytes
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_list():
    from riskengine.model import RiskModel
    from riskengine.scoring import LoadedModel

    rng = np.random.default_rng(3)
    n = 400
    ents = pd.DataFrame({"entity_id": [f"E{i:05d}" for i in range(n)], "ward": rng.choice(["North", "South"], n),
                         "lat": 51.5 + rng.normal(0, 0.02, n), "lon": -0.1 + rng.normal(0, 0.02, n)})
    table = pd.DataFrame({"entity_id": ents["entity_id"], "as_of": pd.Timestamp("2024-06-03"),
                          "complaints__noise__count_365d": rng.poisson(1.0, n),
                          "council_tax__account_change__count_1095d": rng.poisson(0.7, n)})
    y = (rng.random(n) < 0.2 + 0.1 * table["complaints__noise__count_365d"].clip(0, 5)).astype(int)
    model = RiskModel("lightgbm", {"n_estimators": 20, "num_leaves": 5, "min_child_samples": 10}, {})
    model.fit(table.drop(columns=["entity_id", "as_of"]), y)
    model.calibrate(model.raw_score(table), y)
    info = pd.DataFrame({"name": ["complaints__noise__count_365d", "council_tax__account_change__count_1095d"],
                         "source": ["complaints", "council_tax"], "type": ["noise", "account_change"],
                         "stat": ["count", "count"], "window_days": pd.array([365, 1095], dtype="Int64"),
                         "unit": ["events", "events"], "label": ["noise complaints", "council-tax account changes"],
                         "categorical": [False, False], "categories": [None, None]})
    return ents, table, LoadedModel(model, info, "models:/hmo@champion", "1", "train-run")


def _score_once(small_list, folder: Path):
    from riskengine.scoring import score_frames
    from riskengine.spec import ScoringSpec

    ents, table, loaded = small_list
    empty = pd.DataFrame({"source": pd.Series([], dtype=str), "entity_id": pd.Series([], dtype=str),
                          "date": pd.Series([], dtype="datetime64[ns]"), "type": pd.Series([], dtype=str)})
    purpose = {"problem": "p", "insight": "i", "datasets": "d", "action": "a"}
    return score_frames(ScoringSpec(pipeline="hmo", capacity=30), table, ents, empty, None,
                        pd.Timestamp("2024-06-03"), loaded, folder, purpose=purpose, fingerprint="f" * 64)


def test_two_scoring_runs_give_identical_bytes(small_list, tmp_path):
    _score_once(small_list, tmp_path / "a" / "2024-06-03")
    time.sleep(2.1)  # zip and workbook timestamps tick in seconds (zip: two): a rerun is later
    _score_once(small_list, tmp_path / "b" / "2024-06-03")
    for name in ("list.csv", "list.xlsx", "list.html", "list.json", "alerts.csv", "shap_summary.png"):
        a = (tmp_path / "a" / "2024-06-03" / name).read_bytes()
        b = (tmp_path / "b" / "2024-06-03" / name).read_bytes()
        assert a == b, name
    import openpyxl

    props = openpyxl.load_workbook(tmp_path / "a" / "2024-06-03" / "list.xlsx").properties
    assert props.created.date().isoformat() == props.modified.date().isoformat() == "2024-06-03"


def test_training_plots_have_no_version_stamp_and_repeat(tmp_path):
    from riskengine.charts import plot_shap_summary

    rng = np.random.default_rng(0)
    values, X = rng.normal(size=(200, 3)), pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    plot_shap_summary(values, X, str(tmp_path / "1.png"), "t")
    plot_shap_summary(values, X, str(tmp_path / "2.png"), "t")
    data = (tmp_path / "1.png").read_bytes()
    assert data == (tmp_path / "2.png").read_bytes() and b"matplotlib" not in data.lower()


# ---------------------------------------------------------------------------------------
# Specs checked on load, before any data work
# ---------------------------------------------------------------------------------------

TRAINING = """
name = "{name}"
[purpose]
problem = "p"
insight = "i"
datasets = "d"
action = "a"
[data]
entities = "e.csv"
[labels]
first_as_of = 2021-01-01
[metric]
top_pcts = {top_pcts}
[audit]
attributes = {attributes}
[[models]]
name = "m"
type = "{kind}"
params = {params}
"""


def _load(tmp_path, name="hmo", kind="lightgbm", params="{}", top_pcts="[1.0]", attributes="[]"):
    from riskengine.spec import load_spec

    path = tmp_path / "training" / "x.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(TRAINING.format(name=name, kind=kind, params=params, top_pcts=top_pcts, attributes=attributes))
    return load_spec(path)


@pytest.mark.parametrize("name", ["../../x", "/abs/x", "a b", "x\\u0000y", "", "-x", "a" * 65, "hmo.v2"])
def test_spec_names_are_letters_digits_dash_underscore(tmp_path, name):
    with pytest.raises(SpecError, match="not a valid name"):
        _load(tmp_path, name=name)


@pytest.mark.parametrize("kind, params, message", [
    ("lightgbm", "{ learning_rate = -1.0 }", "learning_rate"),
    ("lightgbm", "{ learning_rat = 0.1 }", "did you mean 'learning_rate'"),
    ("lightgbm", "{ num_leaves = \"x\" }", "num_leaves"),
    ("lightgbm", "{ n_estimators = 0 }", "n_estimators must be a positive integer"),
    ("logistic_regression", "{ C = \"x\" }", "'C' parameter of LogisticRegression"),
    ("logistic_regression", "{ C = -1.0 }", "'C' parameter"),
    ("logistic_regression", "{ gamma = 1 }", "unknown logistic_regression parameter 'gamma'"),
])
def test_model_parameters_are_checked_on_load(tmp_path, kind, params, message):
    with pytest.raises(SpecError, match=r"x\.toml: \[models\[0\]\]: .*" + message):
        _load(tmp_path, kind=kind, params=params)


def test_logistic_regression_takes_the_specs_max_iter(tmp_path):
    from riskengine.model import make_estimator

    spec = _load(tmp_path, kind="logistic_regression", params="{ max_iter = 7, C = 0.5 }")
    params = spec.models[0].params
    assert params["max_iter"] == 7
    assert make_estimator("logistic_regression", params, [0], [], 0).named_steps["lr"].max_iter == 7  # the user's value wins
    assert make_estimator("logistic_regression", {}, [0], [], 0).named_steps["lr"].max_iter == 2000  # else the engine's
    with pytest.raises(SpecError, match="max_iter"):
        _load(tmp_path, kind="logistic_regression", params="{ max_iter = -3 }")


def test_good_parameters_and_the_shipped_spec_load():
    from riskengine.spec import load_spec

    spec = load_spec(Path(__file__).resolve().parents[1] / "training" / "hmo.toml")
    assert spec.models[0].grid


@pytest.mark.parametrize("top_pcts", ["[0.0]", "[150.0]", "[-5.0]"])
def test_top_pcts_are_percentages(tmp_path, top_pcts):
    with pytest.raises(SpecError, match=r"top_pcts.*\(0, 100\]"):
        _load(tmp_path, top_pcts=top_pcts)


@pytest.mark.parametrize("attributes, message", [('[""]', "column names"), ('["ward", "ward"]', "twice")])
def test_audit_attributes_are_checked(tmp_path, attributes, message):
    with pytest.raises(SpecError, match=message):
        _load(tmp_path, attributes=attributes)


def test_far_off_spec_dates_are_spec_errors(tmp_path):
    from riskengine.spec import load_spec

    path = tmp_path / "scoring" / "s.toml"
    path.parent.mkdir()
    path.write_text('pipeline = "hmo"\nas_of = 2999-01-01\n')
    with pytest.raises(SpecError, match="as_of' = 2999-01-01 is outside the dates"):
        load_spec(path)


def test_scoring_outputs_that_is_a_file_stops_before_any_work(tmp_path, monkeypatch):
    from riskengine.scoring import score

    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    path = tmp_path / "scoring" / "s.toml"
    path.parent.mkdir()
    path.write_text(f'pipeline = "hmo"\noutputs = "{tmp_path / "afile"}"\n')
    with pytest.raises(RiskEngineError, match="'outputs' .* is a file"):
        score(path, log_mlflow=False, quiet=True)


def test_scoring_as_of_must_be_within_the_data(tmp_path, capsys):
    from types import SimpleNamespace

    from riskengine.scoring._score import check_as_of

    data = SimpleNamespace(sources={"c": pd.DataFrame({"date": pd.to_datetime(["2020-01-01", "2023-06-30"])})},
                           outcomes=None)
    today = pd.Timestamp("2024-01-01").date()
    with pytest.raises(RiskEngineError, match="after today"):
        check_as_of(pd.Timestamp("2999-01-01"), data, today)
    with pytest.raises(RiskEngineError, match="before the first dated record"):
        check_as_of(pd.Timestamp("1900-01-01"), data, today)
    check_as_of(pd.Timestamp("2023-07-01"), data, today)
    data.sources["c"] = pd.DataFrame({"date": pd.to_datetime(["2019-01-01", "2020-01-01"])})
    check_as_of(pd.Timestamp("2023-12-01"), data, today)
    assert "warning: as_of 2023-12-01 is 1430 days after the last dated record (2020-01-01)" in capsys.readouterr().err


def test_markdown_outputs_escape_data_and_spec_text(tmp_path):
    from riskengine.audit.governance import Document, Section, write_document

    payload = '<script>alert(1)</script> ![x](http://evil/x.png) **b** | c'
    doc = Document(f"Model card: {payload}", payload,
                   [Section(payload).text(payload).items([payload]).fields([(payload, payload)])
                    .table(["a", payload], [[payload, 1.0]])])
    md = write_document(doc, tmp_path, "card")["md"].read_text()
    assert "<script>" not in md and "![x]" not in md and "**b**" not in md
    assert "&lt;script&gt;" in md and "\\!\\[x\\]" in md and "\\*\\*b\\*\\*" in md and "\\|" in md


def test_a_run_killed_between_its_renames_gets_the_last_good_folder_back(tmp_path):
    target = tmp_path / "hmo" / "train"
    with run_folder(target) as work:
        (work / "summary.json").write_text("good")
    target.rename(target.with_name(".train.old-abc123"))  # what a kill between the two renames leaves
    with pytest.raises(RuntimeError):
        with run_folder(target):
            raise RuntimeError("fails before finishing")
    assert (target / "summary.json").read_text() == "good"


def test_an_unwritable_place_is_a_clear_error(tmp_path):
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        import os

        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        with pytest.raises(RiskEngineError, match="cannot write the outputs here"):
            with run_folder(locked / "x" / "train"):
                pass
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize("text", ['pipeline = "hmo"\noutputs = "../elsewhere"\n', 'name = "../../x"\npipeline = "hmo"\n'])
def test_a_scoring_spec_cannot_point_outside_out(tmp_path, text):
    from riskengine.spec import load_spec

    path = tmp_path / "scoring" / "s.toml"
    path.parent.mkdir()
    path.write_text(text)
    with pytest.raises(SpecError, match="outside the output folder|not a valid name"):
        load_spec(path)


def test_a_data_folder_under_out_is_never_replaced(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    borough = Path("out") / "borough"
    (borough / "events").mkdir(parents=True)
    (borough / "entities.csv").write_text("entity_id\nE1\n")
    with pytest.raises(RiskEngineError, match="did not write"):
        with run_folder(borough):
            pass
    assert (borough / "entities.csv").is_file()
    earlier = Path("out") / "hmo" / "train"  # a run's folder from before runs carried the marker
    earlier.mkdir(parents=True)
    (earlier / "summary.json").write_text("{}")
    with run_folder(earlier) as work:
        (work / "summary.json").write_text('{"new": 1}')
    assert (earlier / "summary.json").read_text() == '{"new": 1}'


def test_ctrl_c_in_a_command_is_one_line_not_a_traceback(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    import riskengine.ingest
    from riskengine.cli import app

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(riskengine.ingest, "validate", interrupted)
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "x.toml")])
    assert result.exit_code == 130
    assert "interrupted: this run's outputs were not written" in result.output and "Traceback" not in result.output
