"""Every command in the README's command table, as written.

The commands are read from README.md (the table of the "command line" section), so the docs
cannot drift from the code: a fast test parses each one against the CLI (command names,
options, required arguments); a slow one runs them all, in order, in a fresh folder with only
the shipped specs and no environment variable set, on a small borough (3,000 homes instead
of 50,000: the only change made to the commands).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from riskengine.cli import app

ROOT = Path(__file__).resolve().parents[1]
HOMES = 3000


def readme_commands() -> list[list[str]]:
    """The first column of the README's command table, split like a shell would."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## The command line"):]
    section = section[:section.index("\n## ", 10)]
    table = section[section.index("| command | what it does |"):]
    table = table[:table.index("\n\n")]  # the first table: what runs after `make demo`
    commands = [shlex.split(m) for m in re.findall(r"^\| `(riskengine [^`]+)` \|", table, flags=re.M)]
    assert len(commands) >= 10, "the README's command table was not found"
    return commands


def small(args: list[str]) -> list[str]:
    """The README's command for a small borough: fewer homes, nothing else changed."""
    args = [str(HOMES) if a == "50000" and prev == "--properties" else a for prev, a in zip(["", *args], args)]
    return args + ["--properties", str(HOMES)] if args[1:] == ["demo"] else args


def test_every_readme_command_parses():
    """Each command names a real command with options that exist and every required argument."""
    root = typer.main.get_command(app)
    names = set()
    for args in readme_commands():
        cmd, rest, path = root, args[1:], ["riskengine"]
        while hasattr(cmd, "commands") and rest and rest[0] in cmd.commands:
            cmd, path, rest = cmd.commands[rest[0]], [*path, rest[0]], rest[1:]
        assert not hasattr(cmd, "commands"), f"README: {' '.join(args)}: not a command"
        cmd.make_context(" ".join(path), list(rest))  # raises on an unknown option or a missing argument
        names.add(" ".join(path[1:]))
    documented = {"synth", "validate", "demo", "link", "train", "score", "audit", "trial design",
                  "trial analyse", "trial did", "backtest", "profile"}
    assert documented <= names


@pytest.fixture(scope="module")
def walked(tmp_path_factory):
    """Run every README command in order in a fresh folder; return the folder and each command's output."""
    folder = tmp_path_factory.mktemp("fresh")
    for d in ("training", "scoring", "evaluation"):
        shutil.copytree(ROOT / d, folder / d)
    saved = dict(os.environ)  # mlflow.set_tracking_uri also sets MLFLOW_TRACKING_URI: later tests must not inherit it
    mp = pytest.MonkeyPatch()
    mp.chdir(folder)
    for var in ("RISKENGINE_PSEUDONYM_KEY", "MLFLOW_TRACKING_URI"):
        mp.delenv(var, raising=False)
    outputs = {}
    try:
        runner = CliRunner()
        for args in readme_commands():
            result = runner.invoke(app, small(args)[1:], catch_exceptions=False)
            outputs[" ".join(args[1:3])] = result.output
            assert result.exit_code == 0, f"README command failed: {' '.join(small(args))}\n{result.output[-2000:]}"
    finally:
        mp.undo()
        os.environ.clear()
        os.environ.update(saved)
    return folder, outputs


@pytest.mark.slow
def test_every_readme_command_runs_after_the_demo(walked):
    folder, outputs = walked
    out = folder / "out"
    assert (folder / ".riskengine" / "pseudonym.key").is_file()  # the demo's key, found by every command after it
    assert "pseudonymisation key: key file .riskengine/pseudonym.key" in outputs["link training/hmo.toml"]
    listed = pd.read_csv(out / "hmo" / "2026-07-01" / "list.csv", dtype={"entity_id": str})
    page = (out / "hmo" / "2026-07-01" / "list.html").read_text()
    assert "3,000 homes scored" in page and listed["address"].iloc[0] in page  # found by address, not only the UPRN
    summary = json.loads((out / "hmo" / "train" / "summary.json").read_text())
    assert summary["champion"] in summary["candidates"]
    design = json.loads((out / "hmo" / "trial" / "trial_design.json").read_text())
    assert design["n_units"] == 50  # the list's homes
    report = json.loads((out / "trial" / "trial_report.json").read_text())
    assert report["evidence"]["level"] is not None  # --design makes the level known
    assert (out / "hmo" / "audit" / "bias_report.html").is_file() and (out / "did" / "did_report.html").is_file()
    assert (out / "hmo" / "profile" / "profile.html").is_file() and (out / "hmo" / "backtest" / "summary.json").is_file()
