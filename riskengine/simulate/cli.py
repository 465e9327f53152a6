"""`riskengine simulate SPEC --weeks N`: months of use on the synthetic borough, against business as usual."""

from __future__ import annotations

from pathlib import Path

import typer


def simulate_command(
    spec: Path = typer.Argument(..., help="The scoring spec, e.g. scoring/hmo.toml (its training spec needs [truth])."),
    weeks: int = typer.Option(26, help="Weeks to simulate, ending where the data ends."),
    start: str = typer.Option(None, help="First week's date (YYYY-MM-DD); default: weeks before the data ends."),
    exploration: float = typer.Option(None, help="Exploration share for the policy with exploration (default: the spec's, or 0.1)."),
    seed: int = typer.Option(0, help="Seed of the visits and recording errors."),
    out: Path = typer.Option(None, help="Folder for the simulation (default: out/<pipeline>/simulation)."),
    quiet: bool = typer.Option(False, help="No progress lines."),
) -> None:
    """Score, inspect, add results and retrain week by week; compare with business as usual against the hidden truth."""
    from riskengine.simulate import simulate

    s = simulate(spec, weeks=weeks, start=start, seed=seed, out=out, quiet=quiet, exploration=exploration)
    found = s["true_positives_found"]
    typer.echo(f"{s['weeks']} weeks from {s['first_week']}, {s['capacity']} visits a week: true cases found "
               + ", ".join(f"{name} {n}" for name, n in found.items()) + ".")
    e = s["prevalence_among_unpicked"].get("model with exploration", {})
    if e.get("exploration_estimate") is not None:
        typer.echo(f"Prevalence among the unpicked: truth {e['truth']:.2%}; exploration estimate {e['exploration_estimate']:.2%} "
                   f"(bias {e['exploration_bias']:+.2%}); the model's own {e['model_estimate']:.2%} (bias {e['model_bias']:+.2%}).")
    p = s["coverage"]["prevalence"]
    if p.get("replicates"):
        typer.echo(f"Coverage of the dashboard's 95% prevalence intervals over {p['replicates']} redraws: "
                   f"{p['coverage_all_weeks_so_far']:.1%} (all weeks so far), {p['coverage_each_week']:.1%} (each week).")
    typer.echo(f"Comparison: {s['page']}")
