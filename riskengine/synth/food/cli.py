"""`riskengine synth --kind food`: write the food city and say what is in it."""

from __future__ import annotations

from pathlib import Path


def food_command(out: Path, businesses: int, seed: int, start: str | None, end: str | None, quiet: bool) -> None:
    """Write the synthetic food city to `out` and print its files, planted problems and headline figures."""
    from rich.console import Console
    from rich.table import Table

    from riskengine.synth.food._food import synth_food

    summary = synth_food(out, businesses=businesses, seed=seed, start=start or "2021-01-01",
                         end=end or "2024-06-30", progress=not quiet)
    console = Console()
    table = Table(title=f"Synthetic food city in {summary.out_dir}", title_justify="left")
    table.add_column("file")
    table.add_column("rows", justify="right")
    table.add_column("planted bad rows", justify="right")
    for rel, rows in summary.rows.items():
        bad = summary.bad_rows.get(rel)
        table.add_row(rel, f"{rows:,}", f"{bad:,} ({bad / rows:.1%})" if bad is not None and rows else "")
    console.print(table)
    rates = sorted(summary.detection_rates.values())
    console.print(f"Inspections: {summary.inspections:,}, of which {summary.violation_rate:.1%} found a critical "
                  f"violation (business as usual). Inspectors detect between {rates[0]:.0%} and {rates[-1]:.0%} "
                  "of the violations present.")
    console.print(f"Manifest: {summary.out_dir / 'manifest.json'}; hidden truth under {summary.out_dir / 'truth'}.")
