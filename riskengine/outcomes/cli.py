"""`riskengine outcomes add|undo|list SCORING_SPEC ...`: inspectors' results back into the pipeline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from riskengine.errors import RiskEngineError


def _pipeline(spec: Path):
    """(scoring spec, training spec, store folder, lists folder) for a scoring spec path."""
    from riskengine.spec import load_scoring_spec, training_spec_for

    sspec = load_scoring_spec(spec)
    tspec = training_spec_for(sspec, spec)
    if tspec.data.outcome_store is None:
        raise RiskEngineError(
            f"the training spec of pipeline '{sspec.pipeline}' names no outcome store; add "
            f"`outcome_store = \"out/{sspec.pipeline}/outcome_store\"` (or a durable folder) to its [data]"
        )
    lists = Path(sspec.outputs or Path("out") / sspec.pipeline)
    return sspec, tspec, Path(tspec.data.outcome_store), lists


def add_command(
    spec: Path = typer.Argument(..., help="The scoring spec whose lists the results answer, e.g. scoring/hmo.toml."),
    file: Path = typer.Argument(..., help="Results: entity_id, date, outcome; optional list_date, officer, action. "
                                "Text outcomes are read with the training spec's data.outcomes outcome_values; a file "
                                "with the columns data.outcomes maps (a new extract) is read like that file."),
    date_format: str = typer.Option(None, help="strftime format of the file's dates (default YYYY-MM-DD, or "
                                    "data.outcomes' date_format for a file read like it)."),
) -> None:
    """Add inspectors' results to the pipeline's outcome store, with provenance; bad rows go to rejects with the reason."""
    from riskengine.ingest import load_data
    from riskengine.outcomes import add_outcomes

    _, tspec, store, lists = _pipeline(spec)
    known = None
    if tspec.data.outcomes is not None:
        from dataclasses import replace

        known = load_data(replace(tspec.data, events={})).outcomes
    r = add_outcomes(file, store, tspec.data.entities, lists, known_outcomes=known,
                     outcome_kind=tspec.data.outcome_kind, earliest=tspec.data.earliest_date, date_format=date_format,
                     outcomes=tspec.data.outcomes)  # its text map; its column names and date format for a file like it
    slices = ", ".join(f"{n} {s}" for s, n in sorted(r.by_slice.items())) or "none"
    typer.echo(f"Batch {r.batch_id}: {r.rows} rows, {r.accepted} added ({slices}), {r.rejected} rejected.")
    if r.skipped:
        from riskengine.ingest import skipped_line

        typer.echo(f"  {skipped_line(r.skipped).removeprefix('outcomes: ')} (no outcome: not added, not rejects)")
    for reason, n in r.reasons.items():
        typer.echo(f"  {n} rejected: {reason}")
    if r.rejected:
        typer.echo(f"Rejected rows with reasons: {r.rejects_path}")
    typer.echo(f"Undo the whole batch with: riskengine outcomes undo {spec} {r.batch_id}")


def undo_command(
    spec: Path = typer.Argument(..., help="The scoring spec, e.g. scoring/hmo.toml."),
    batch_id: str = typer.Argument(..., help="The batch to withdraw (see `riskengine outcomes list`)."),
) -> None:
    """Withdraw a whole batch of results: its rows stay on disk, marked undone, and are no longer read."""
    from riskengine.outcomes import undo_batch

    _, _, store, _ = _pipeline(spec)
    entry = undo_batch(store, batch_id)
    typer.echo(f"Batch {batch_id} undone ({entry['rows']} rows no longer read).")


def list_command(spec: Path = typer.Argument(..., help="The scoring spec, e.g. scoring/hmo.toml.")) -> None:
    """The batches in the outcome store: when, from which file, rows added and rejected, undone or not."""
    from riskengine.outcomes import batches

    _, _, store, _ = _pipeline(spec)
    table = batches(store)
    if table.empty:
        typer.echo(f"No batches yet in {store}.")
        return
    typer.echo(table.fillna("").to_string(index=False))


def register(app: typer.Typer, wrap: Callable[[Callable[..., Any]], Callable[..., Any]], panel: str | None = None) -> None:
    """Add `outcomes add|undo|list` to the main app."""
    group = typer.Typer(help="Inspectors' results back in: add a file, undo a batch, list batches.", no_args_is_help=True)
    group.command("add")(wrap(add_command))
    group.command("undo")(wrap(undo_command))
    group.command("list")(wrap(list_command))
    app.add_typer(group, name="outcomes", rich_help_panel=panel)
