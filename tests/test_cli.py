"""The command line as a person meets it: quick help, readable help text, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from riskengine.cli import app

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ["pandas", "numpy", "mlflow", "lightgbm", "sklearn", "duckdb", "splink", "matplotlib", "scipy",
         "statsmodels", "shap", "fairlearn"]


def test_help_imports_no_heavy_library():
    """`riskengine --help` must start in well under a second: no data or modelling library is loaded."""
    code = ("import sys; from riskengine.cli import main; sys.argv = ['riskengine', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            f"print('LOADED', sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "100"}, check=True)
    assert "LOADED []" in out.stdout, out.stdout[-400:]
    for name in ("train", "score", "trial", "profile", "audit", "link", "synth", "validate"):
        assert name in out.stdout


def test_validate_help_shows_the_data_section():
    out = CliRunner().invoke(app, ["validate", "--help"], env={"COLUMNS": "200"})
    assert out.exit_code == 0
    assert "[data] section" in out.output


def test_a_user_error_is_one_line_ending_in_a_newline(tmp_path):
    out = CliRunner().invoke(app, ["train", str(tmp_path / "missing.toml")])
    assert out.exit_code == 2
    assert out.output.endswith("spec file not found\n")
    assert out.output.count("\n") == 1 and "Traceback" not in out.output
