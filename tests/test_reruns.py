"""Issue 16: the same inputs give the same bytes, for every page, list and workbook a person opens.

The slow test runs the whole demo (a 3,000-home borough and the food city) twice through the API
in a temporary folder and compares every file it wrote. What may differ is listed here, and
nothing else: MLflow run ids (in the pages and records that name the run), timings, the lock
files (they name the process), the profiling run's log (it records when it ran) and the linked
sources kept beside the link store (a working copy, not an output). Parquet tables are compared
by value, with floats to 1e-12 of their size: DuckDB adds a type's event values in parallel, in no
fixed order, so a sum may differ in its last bits between runs (seen: 2e-13 on sums near 1e3);
every page, list and workbook must still be the same bytes. The fast
tests do the same for linkage (whose pages carried a time stamp and a duration) and a page of
charts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]

# Files that record when or by whom a run happened, and only that.
NOT_COMPARED = {
    "run_log.json",  # profiling: when the run started and finished
    "timings.json",  # linkage: how long it took
    "linked_sources.pkl",  # a working copy of the linked rows, kept so scoring does not link again
}
NOT_COMPARED_SUFFIXES = (".lock",)  # `.<folder>.lock` names the process that held it
# Fields of JSON files that carry run ids or timings.
JSON_FIELDS_NOT_COMPARED = {"run_id", "model_run_id", "scoring_run_id", "seconds", "timings_seconds"}
MLFLOW_RUN_ID = re.compile(r"\b[0-9a-f]{32}\b")  # as the pages and model card name the training run


def _without(obj, keys: set[str]):
    if isinstance(obj, dict):
        return {k: _without(v, keys) for k, v in obj.items() if k not in keys}
    if isinstance(obj, list):
        return [_without(v, keys) for v in obj]
    return obj


def _run_ids(folder: Path) -> set[str]:
    """Every MLflow run id this run's records name (training summaries, scoring records)."""
    ids: set[str] = set()
    for name in ("summary.json", "run.json"):
        for path in folder.rglob(name):
            doc = json.loads(path.read_text())
            ids |= {str(doc[k]) for k in ("run_id", "model_run_id", "scoring_run_id") if doc.get(k)}
    return ids


def _comparable(path: Path, run_ids: set[str]) -> bytes | pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    data = path.read_bytes()
    if path.suffix == ".json":
        return json.dumps(_without(json.loads(data), JSON_FIELDS_NOT_COMPARED), sort_keys=True).encode()
    if path.suffix in (".html", ".md", ".csv") and run_ids:
        text = data.decode("utf-8")
        for rid in run_ids:
            text = text.replace(rid, "<run id>")
        return text.encode("utf-8")
    return data


def _same(x: bytes | pd.DataFrame, y: bytes | pd.DataFrame) -> bool:
    if not isinstance(x, pd.DataFrame):
        return x == y
    try:
        pd.testing.assert_frame_equal(x, y, check_exact=False, rtol=1e-12, atol=0)
    except AssertionError:
        return False
    return True


def _files(folder: Path) -> dict[str, Path]:
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in NOT_COMPARED and not p.name.endswith(NOT_COMPARED_SUFFIXES)}


def assert_same_bytes(first: Path, second: Path) -> int:
    """Every file in both folders, compared; returns how many were compared."""
    a, b = _files(first), _files(second)
    assert sorted(a) == sorted(b), set(a) ^ set(b)
    ids_a, ids_b = _run_ids(first), _run_ids(second)
    differ = [name for name in a if not _same(_comparable(a[name], ids_a), _comparable(b[name], ids_b))]
    assert not differ, f"differ on a rerun: {differ}"
    for name in a:  # and nothing else in them looks like a run id
        if a[name].suffix in (".html", ".md"):
            left = MLFLOW_RUN_ID.findall(a[name].read_text(encoding="utf-8"))
            assert set(left) <= ids_a, (name, set(left) - ids_a)
    return len(a)


def test_linking_twice_gives_the_same_reports(tmp_path, monkeypatch):
    from riskengine.link import link, read_borough
    from riskengine.outputs import run_folder
    from riskengine.spec import LinkSpec
    from riskengine.synth import synth

    monkeypatch.setenv("RISKENGINE_PSEUDONYM_KEY", "devkey-not-secret")
    synth(tmp_path / "borough", properties=1000, seed=1)
    entities, sources, truth = read_borough(tmp_path / "borough")
    for run in ("first", "second"):
        with run_folder(tmp_path / run / "link") as work:
            link(entities, sources, LinkSpec(), work, truth=truth)
    n = assert_same_bytes(tmp_path / "first", tmp_path / "second")
    assert n >= 10  # the reports, the linked sources, the golden records, the charts and the model
    quality = (tmp_path / "first" / "link" / "quality_report.html").read_text()
    assert re.search(r"checked on \d{4}-\d{2}-\d{2}</p>", quality)  # a day, no time of day
    assert json.loads((tmp_path / "first" / "link" / "timings.json").read_text())["seconds"] >= 0
    assert " s · " not in (tmp_path / "first" / "link" / "link_report.html").read_text()


def test_chart_pages_repeat(tmp_path):
    from riskengine.evaluation import analyse_trial

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"arm": rng.choice(["bau", "model"], 400), "outcome": rng.integers(0, 2, 400)})
    for run in ("first", "second"):
        analyse_trial(df, "arm", "outcome", control="bau", out_dir=tmp_path / run)
    assert assert_same_bytes(tmp_path / "first", tmp_path / "second") == 2
    assert "<svg" in (tmp_path / "first" / "trial_report.html").read_text()


@pytest.mark.slow  # the whole demo twice at 3,000 homes: about two minutes of CPU
def test_the_demo_twice_gives_the_same_bytes(tmp_path):
    work = tmp_path / "project"
    work.mkdir()
    for folder in ("training", "scoring", "evaluation"):
        shutil.copytree(ROOT / folder, work / folder)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RISKENGINE_PSEUDONYM_KEY": "devkey-not-secret"}
    env.pop("MLFLOW_TRACKING_URI", None)  # the project's own store under mlruns/, as `make demo` uses
    demo = [sys.executable, "-c", "from riskengine.demo import run_demo; run_demo(properties=3000, seed=0)"]
    for run in ("first", "second"):  # each in its own process, as `make demo` twice
        done = subprocess.run(demo, cwd=work, env=env, capture_output=True, text=True, timeout=1800)
        assert done.returncode == 0, done.stderr[-3000:]
        if run == "first":
            (work / "out").rename(tmp_path / "first")
            shutil.rmtree(work / "mlruns")  # a fresh store again: the model is version 1 both times
    n = assert_same_bytes(tmp_path / "first", work / "out")
    assert n > 100  # 148 at the time of writing
    pages = [p for p in (work / "out").rglob("*") if p.suffix in (".html", ".xlsx", ".png", ".csv", ".md")]
    assert len(pages) > 80
