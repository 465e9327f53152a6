"""`riskengine dashboard SPEC`: the list in use, watched week by week."""

from __future__ import annotations

from pathlib import Path

import typer


def dashboard_command(
    spec: Path = typer.Argument(..., help="The scoring spec whose lists to watch, e.g. scoring/hmo.toml."),
    out: Path = typer.Option(None, help="Folder for dashboard.html (default: the lists' folder, out/<pipeline>)."),
    no_mlflow: bool = typer.Option(False, "--no-mlflow", help="Do not log the weekly figures to MLflow."),
) -> None:
    """Hit rates, calibration, prevalence among the unpicked, drift, fairness and operations, with a verdict."""
    from riskengine.dashboard import dashboard

    result = dashboard(spec, out=out, log_mlflow=not no_mlflow)
    for sentence in result["figures"]["verdict"]:
        typer.echo(f"- {sentence}")
    typer.echo(f"Dashboard: {result['paths']['html']}")
