"""`riskengine governance SPEC` and `riskengine clean SPEC --expired`: the data-protection commands."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from riskengine.errors import RiskEngineError


def _load(spec: Path):
    from riskengine.spec import load_spec

    loaded = load_spec(spec)
    if not hasattr(loaded, "data"):
        raise RiskEngineError(
            f"{spec}: a {loaded.kind} spec names no data; give the training (or data) spec it belongs to, "
            "e.g. training/<pipeline>.toml"
        )
    return loaded


def governance_command(
    spec: Path = typer.Argument(..., help="A training or data spec, e.g. training/hmo.toml."),
    out: Path = typer.Option(None, help="Folder for the drafts (default: out/<pipeline>/information_governance)."),
) -> None:
    """Draft the DPIA and data-sharing agreement from the spec and a scan of its data (names and counts only)."""
    from riskengine.infogov import information_governance_pack, measured_from_summary, scan_sources

    loaded = _load(spec)
    sources = scan_sources(loaded)
    summary_path = Path("out") / loaded.name / "train" / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else None
    folder = out or Path("out") / loaded.name / "information_governance"
    paths = information_governance_pack(loaded, folder, measured_from_summary(summary), sources)
    found = [f for s in sources for f in s.findings]
    typer.echo(f"Scanned {len(sources)} tables ({sum(s.rows for s in sources):,} rows): "
               f"{len(found)} personal column(s), {sum(f.special for f in found)} special-category.")
    for f in found:
        typer.echo(f"  {f.source}.{f.column}: {f.kind} (by {f.how})")
    if summary is None:
        typer.echo(f"No training run yet ({summary_path}): the risk register lists what will be measured.")
    questions = json.loads(paths["dpia_json"].read_text())["open_questions"]
    typer.echo(f"{questions} question(s) left for the data protection officer.")
    for name, path in paths.items():
        if name.endswith("html"):
            typer.echo(f"{name.removesuffix('_html').replace('_', ' ')}: {path}")


def clean_command(
    spec: Path = typer.Argument(..., help="A training or data spec whose [governance] retention_days apply."),
    expired: bool = typer.Option(False, "--expired", help="Remove outputs older than their retention period."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only list what has expired."),
    outputs: Path = typer.Option(Path("out"), help="The outputs root holding <pipeline>/ folders."),
) -> None:
    """List, and with --expired remove, outputs kept longer than the spec's retention periods; record each removal."""
    from riskengine.infogov import clean_expired, expired_outputs
    from riskengine.spec import information_governance

    loaded = _load(spec)
    if not information_governance(loaded.governance).retention_days:
        raise RiskEngineError(f"{spec}: no retention periods set; add [governance.retention_days] "
                              "(lists, training, link, rejects, backtest = days)")
    if not expired or dry_run:
        found = expired_outputs(loaded, outputs)
        verb = "expired (not removed; pass --expired to remove)"
    else:
        found = clean_expired(loaded, outputs)
        verb = "removed"
    for item in found:
        typer.echo(f"  {item.kind}: {item.path} ({item.age_days:.0f} days old, kept {item.keep_days})")
    typer.echo(f"{len(found)} output(s) {verb}."
               + (f" Record: {outputs / loaded.name / 'retention_log.jsonl'}" if found and expired and not dry_run else ""))
