"""The `riskengine` command: a thin layer over the Python API.

Each command parses its options, calls one API function and prints what a person needs.
A user mistake (RiskEngineError) prints one readable line and exits with status 2.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from riskengine.errors import RiskEngineError

app = typer.Typer(
    help=(
        "riskengine: ranked, explained and audited lists of where to look first, "
        "learned from the cases a service already knows."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
START, FLOW, CHECK = "Start here", "The flow: data to list", "Governance and evaluation"


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a RiskEngineError into one line on stderr and exit status 2 (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except RiskEngineError as exc:
            console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None
        except KeyboardInterrupt:  # Ctrl-C: the run's folder was never put in place (riskengine.outputs)
            console.print("[bold red]interrupted:[/] this run's outputs were not written; the previous ones are "
                          "as they were", highlight=False, soft_wrap=True)
            raise typer.Exit(code=130) from None

    return wrapper


# Stage commands are registered below, one block per stage module.
# --- foundation commands ---
from riskengine.synth.cli import synth_command  # noqa: E402

app.command("synth", rich_help_panel=START)(user_errors(synth_command))
# --- link commands ---
from riskengine.link.cli import link_command  # noqa: E402

app.command("link", rich_help_panel=FLOW)(user_errors(link_command))
# --- training commands ---


@app.command("validate", rich_help_panel=START)
@user_errors
def validate_command(
    # "\\[" : rich markup would otherwise read [data] as a style tag and drop it from --help
    spec: Path = typer.Argument(..., help="A spec file whose \\[data] section names the tables to check."),
    out: Path = typer.Option(None, help="Folder for rejects.csv (default: the spec's data.rejects_dir, else out/<pipeline>/validate)."),
) -> None:
    """Check the data a spec names against the data contract; write the rejected rows with reasons."""
    from riskengine.ingest import validate
    from riskengine.report_console import print_data_summary

    data, path = validate(spec, out)
    print_data_summary(data.summary(), str(path))


@app.command("train", rich_help_panel=FLOW)
@user_errors
def train_command(
    spec: Path = typer.Argument(..., help="A training spec, e.g. training/hmo.toml."),
    out: Path = typer.Option(None, help="Folder for the summary and plots (default: out/<pipeline>/train)."),
    no_mlflow: bool = typer.Option(False, "--no-mlflow", help="Do not log to MLflow or register the model."),
    quiet: bool = typer.Option(False, help="No progress lines."),
    backend: str = typer.Option(None, "--backend", help="Where the training rows' features are built: duckdb or "
                                "spark (fitting stays here). Default: the spec's \\[engine] backend, else duckdb."),
    spark_master: str = typer.Option(None, "--spark-master", help="The Spark master with --backend spark, "
                                     "e.g. local[2], yarn (default: the spec's, else local[*])."),
) -> None:
    """Train candidates over time, compare them with business as usual, register the champion."""
    from riskengine.report_console import print_training_summary
    from riskengine.training import train

    result = train(spec, out=out, log_mlflow=not no_mlflow, quiet=quiet, backend=backend, spark_master=spark_master)
    print_training_summary(result.summary)
    typer.echo(f"Summary: {result.out_dir / 'summary.json'}")


@app.command("backtest", rich_help_panel=CHECK)
@user_errors
def backtest_command(
    spec: Path = typer.Argument(..., help="A training spec, e.g. training/hmo.toml."),
    start: str = typer.Option(..., "--from", help="First day of the past period (YYYY-MM-DD)."),
    end: str = typer.Option(..., "--to", help="Day after the period ends (YYYY-MM-DD)."),
    model: str = typer.Option(None, help="Use this MLflow model (e.g. models:/hmo@champion) instead of "
                              "training on what was known before --from."),
    out: Path = typer.Option(None, help="Folder for the results (default: out/<pipeline>/backtest)."),
    train_until: str = typer.Option(None, "--train-until", help="Train on cases dated before this day "
                                    "(YYYY-MM-DD; default --from, and never later)."),
    quiet: bool = typer.Option(False, help="No progress lines."),
) -> None:
    """Would the model have found the positive cases earlier? Re-order a past period's inspections."""
    from riskengine.evaluation import backtest

    s = backtest(spec, start, end, model_uri=model, out_dir=out, train_until=train_until, quiet=quiet)
    d = s["days_earlier"]
    typer.echo(f"{s['n']} inspections, {s['positives']} positive, {s['from']} to {s['to']}.")
    if d["mean"] is not None:
        p = "n/a" if d["p_value"] is None else f"{d['p_value']:.3g}"
        typer.echo(f"In the model's order positives are found {d['mean']:.1f} days earlier on average "
                   f"(median {d['median']:.0f}, sd {d['sd'] or 0:.1f}, t-test p = {p}).")
    typer.echo(f"Positives found in the first half: {s['first_half']['model']} in the model's order, "
               f"{s['first_half']['actual']} in reality. ROC-AUC {s['roc_auc']:.3f}." if s["roc_auc"] else "")
    if "business_as_usual" in s and s["business_as_usual"]["days_earlier_mean"] is not None:
        typer.echo(f"Re-ordered by business as usual ({s['business_as_usual']['rule']}): "
                   f"{s['business_as_usual']['days_earlier_mean']:.1f} days earlier on average.")
    if "oracle" in s and s["oracle"]["days_earlier_mean"] is not None:
        typer.echo(f"Re-ordered by the true probability (synthetic truth): {s['oracle']['days_earlier_mean']:.1f} "
                   "days earlier on average.")
    typer.echo(f"Results: {s['out_dir']} (page: backtest.html)")


@app.command("demo", rich_help_panel=START)
@user_errors
def demo_command(
    properties: int = typer.Option(50_000, help="Homes in the synthetic borough."),
    seed: int = typer.Option(0, help="Random seed of the synthetic borough."),
) -> None:
    """Run the whole flow on the synthetic borough: generate, validate, link, train, audit, score, design a trial."""
    from riskengine.demo import run_demo

    run_demo(properties=properties, seed=seed)


# --- scoring commands ---
from riskengine.scoring.cli import score_command  # noqa: E402

app.command("score", rich_help_panel=FLOW)(user_errors(score_command))
# --- audit commands ---
from riskengine.audit.cli import audit_command  # noqa: E402

app.command("audit", rich_help_panel=CHECK)(user_errors(audit_command))
# --- evaluation commands ---
from riskengine.evaluation.cli import register as register_evaluation  # noqa: E402

register_evaluation(app, user_errors, panel=CHECK)
# --- profiling commands ---
from riskengine.profiling.cli import profile_command, segment_command  # noqa: E402

PROFILING = "Profiling: who uses a service"
app.command("segment", rich_help_panel=PROFILING)(user_errors(segment_command))
app.command("profile", rich_help_panel=PROFILING)(user_errors(profile_command))

# --- information governance commands ---
from riskengine.infogov.cli import clean_command, governance_command  # noqa: E402

app.command("governance", rich_help_panel=CHECK)(user_errors(governance_command))
app.command("clean", rich_help_panel=CHECK)(user_errors(clean_command))
# --- outcomes back in, the dashboard and the simulation of use ---
from riskengine.outcomes.cli import register as register_outcomes  # noqa: E402

register_outcomes(app, user_errors, panel=FLOW)
from riskengine.dashboard.cli import dashboard_command  # noqa: E402

app.command("dashboard", rich_help_panel=FLOW)(user_errors(dashboard_command))
from riskengine.simulate.cli import simulate_command  # noqa: E402

app.command("simulate", rich_help_panel=CHECK)(user_errors(simulate_command))


def main() -> None:
    """Console-script entry point."""
    sys.exit(app())
