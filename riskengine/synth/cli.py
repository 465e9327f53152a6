"""`riskengine synth`: write a synthetic borough to a folder and say what is in it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from riskengine.synth._synth import synth


def synth_command(
    out: Annotated[
        Path, typer.Option("--out", help="Folder to write into (created if missing; its files are replaced).")
    ],
    properties: Annotated[int, typer.Option("--properties", help="Number of homes (at least 1,000).")] = 50_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives byte-identical files.")] = 0,
    start: Annotated[str, typer.Option("--start", help="First day of the event history (YYYY-MM-DD).")] = "2020-01-01",
    end: Annotated[str, typer.Option("--end", help="Last day of the event history (YYYY-MM-DD).")] = "2026-06-30",
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Generate a synthetic borough: homes, six council event sources, past inspections and the hidden truth."""
    summary = synth(out, properties=properties, seed=seed, start=start, end=end, progress=not quiet)
    console = Console()
    table = Table(title=f"Synthetic borough in {summary.out_dir}", title_justify="left")
    table.add_column("file")
    table.add_column("rows", justify="right")
    table.add_column("planted bad rows", justify="right")
    for rel, rows in summary.rows.items():
        bad = summary.bad_rows.get(rel)
        share = f"{bad:,} ({bad / rows:.1%})" if bad is not None and rows else ""
        table.add_row(rel, f"{rows:,}", share)
    console.print(table)
    prev = summary.prevalence
    console.print(
        f"Private-rented homes: {prev['private_rented_share']:.1%}. Unlicensed HMOs among them: "
        f"{prev['unlicensed_hmo_among_private_rented_at_start']:.1%} at the start, "
        f"{prev['unlicensed_hmo_among_private_rented_at_end']:.1%} at the end."
    )
    console.print(
        f"Past inspections: {summary.inspections:,}, of which {summary.inspection_hit_rate:.1%} "
        "found an unlicensed HMO (business as usual)."
    )
    console.print(f"Manifest: {summary.out_dir / 'manifest.json'}; hidden truth under {summary.out_dir / 'truth'}.")
