"""`riskengine synth --kind food`: write the food city and say what is in it."""

from __future__ import annotations

from pathlib import Path


def food_command(out: Path, businesses: int, seed: int, start: str | None, end: str | None, quiet: bool) -> None:
    """Write the synthetic food city to `out` and print its files, planted problems and headline figures."""
    from rich.console import Console

    from riskengine.report_console import synth_files_table
    from riskengine.synth.food._food import synth_food

    summary = synth_food(out, businesses=businesses, seed=seed, start=start or "2021-01-01",
                         end=end or "2024-06-30", progress=not quiet)
    console = Console()
    console.print(synth_files_table(summary, f"Synthetic food city in {summary.out_dir}"))
    rates = sorted(summary.detection_rates.values())
    console.print(f"Inspections: {summary.inspections:,}, of which {summary.violation_rate:.1%} found a critical "
                  f"violation (business as usual). Inspectors detect between {rates[0]:.0%} and {rates[-1]:.0%} "
                  "of the violations present.")
    console.print(f"Manifest: {summary.out_dir / 'manifest.json'}; hidden truth under {summary.out_dir / 'truth'}.")
