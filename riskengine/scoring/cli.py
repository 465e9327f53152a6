"""`riskengine score SPEC`: the week's list, printed short, with the paths of the files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from riskengine.errors import RiskEngineError

console = Console()


def _date(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise RiskEngineError(f"--as-of expected a date as YYYY-MM-DD, got {text!r}") from None


def score_command(
    spec: Path = typer.Argument(..., help="A scoring spec, e.g. scoring/hmo.toml."),
    as_of: str = typer.Option(None, "--as-of", help="Score as of this date (YYYY-MM-DD); only events before it count. "
                              "Default: today, or the day after the data's last date."),
    out: Path = typer.Option(None, help="Folder for the list and its files (default: out/<pipeline>/<as-of>)."),
    previous: Path = typer.Option(None, help="The previous list.csv to raise alerts against "
                                  "(default: the latest earlier list beside this one)."),
    no_mlflow: bool = typer.Option(False, "--no-mlflow", help="Do not log the scoring run to MLflow."),
    quiet: bool = typer.Option(False, help="No progress lines."),
    show: int = typer.Option(10, help="How many rows of the list to print."),
    backend: str = typer.Option(None, "--backend", help="Where features and scores are computed: duckdb (this "
                                "process) or spark. Default: the spec's \\[engine] backend, else duckdb."),
    spark_master: str = typer.Option(None, "--spark-master", help="The Spark master with --backend spark, e.g. "
                                     "local[2], spark://host:7077, yarn (default: the spec's, else local[*])."),
) -> None:
    """Score every entity with the registered model and write the ranked list, reasons, alerts and map."""
    from riskengine.scoring import score

    result = score(spec, as_of=_date(as_of), out=out, previous=previous, log_mlflow=not no_mlflow, quiet=quiet,
                   backend=backend, spark_master=spark_master)
    listed = result.listed
    t = Table(title=f"{result.spec.name}: top {min(show, len(listed))} of {len(listed)} as of {result.as_of.date()}",
              header_style="bold")
    for col in ("rank", "entity id", "probability", "first reason"):
        t.add_column(col, justify="right" if col in ("rank", "probability") else "left")
    for r in listed.head(show).itertuples():
        t.add_row(str(r.rank), str(r.entity_id) + (" (random)" if r.exploration else ""),
                  f"{r.probability:.1%}", str(getattr(r, "reason_1", "") or ""))
    console.print(t)
    counts = result.alerts["alert"].value_counts()
    if result.previous:
        console.print(f"Alerts against {result.previous}: {counts.get('new', 0)} new, {counts.get('jump', 0)} jumps, "
                      f"{counts.get('threshold', 0)} over the threshold.")
    else:
        console.print("No earlier list found: no alerts this time.")
    if result.run_id:
        console.print(f"MLflow run {result.run_id} (model {result.model.uri}, version {result.model.version}).")
    for name in ("list_csv", "list_xlsx", "alerts_csv", "scores"):
        console.print(f"{name.replace('_', '.')}: {result.paths[name]}", highlight=False)
    typer.echo(f"List page: {result.paths['list_html']}")
