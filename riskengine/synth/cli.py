"""`riskengine synth`: write a synthetic borough to a folder and say what is in it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def synth_command(
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder to write into (created if missing; its files are replaced). "
                                  "Default: out/borough or out/food.")
    ] = None,
    properties: Annotated[int, typer.Option("--properties", help="Number of homes (at least 1,000).")] = 50_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives byte-identical files.")] = 0,
    start: Annotated[str | None, typer.Option("--start", help="First day of the event history (YYYY-MM-DD); "
                                              "default 2020-01-01 (borough) or 2021-01-01 (food).")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last day of the event history (YYYY-MM-DD); "
                                            "default 2026-06-30 (borough) or 2024-06-30 (food).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    kind: Annotated[str, typer.Option("--kind", help="borough (homes, the HMO use case) or food (a city's food "
                                      "businesses and their inspections, each a case at its own date).")] = "borough",
    businesses: Annotated[int, typer.Option("--businesses", help="--kind food: number of food businesses.")] = 2_000,
) -> None:
    """Generate a synthetic borough (homes, council event sources, past inspections, hidden truth) or, with
    --kind food, a city's food businesses with inspections, area events, a ready feature table and a work queue."""
    if kind not in ("borough", "food"):
        from riskengine.errors import RiskEngineError

        raise RiskEngineError(f"synth: --kind expected 'borough' or 'food', got {kind!r}")
    if kind == "food":
        from riskengine.synth.food.cli import food_command

        food_command(out or Path("out/food"), businesses=businesses, seed=seed, start=start, end=end, quiet=quiet)
        return
    out = out or Path("out/borough")
    from riskengine.report_console import print_synth_summary
    from riskengine.synth._synth import synth

    print_synth_summary(synth(out, properties=properties, seed=seed, start=start, end=end, progress=not quiet))
