"""`riskengine segment SPEC` and `riskengine profile SPEC` (the older `profile --users ...` form kept)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from riskengine.errors import RiskEngineError


def segment_command(
    spec: Annotated[Path, typer.Argument(metavar="SPEC", help="A segments spec, e.g. evaluation/segments.toml.")],
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default: out_dir in the spec, "
                                             "else out/segments/NAME).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress lines.")] = False,
) -> None:
    """Build an open area classification from census counts: supergroups, groups, pen portraits, a saved model."""
    from riskengine.profiling import segment

    r = segment(spec, out, quiet=quiet)
    d = r.data
    typer.echo(f"{d['areas']:,} areas, {d['variables']} variables -> {len(d['supergroups'])} supergroups, "
               f"{sum(len(s['groups']) for s in d['supergroups'])} groups.")
    st = d["stability"]
    if st["runs"]:
        typer.echo(f"Stability over {st['runs']} other seeds: adjusted Rand index {st['mean']:.3f} on average "
                   f"(lowest {st['min']:.3f}).")
    if d["truth"]:
        typer.echo(f"Against the hidden area types: adjusted Rand index {d['truth']['ari_supergroups']:.3f} "
                   f"(supergroups), {d['truth']['ari_groups']:.3f} (groups).")
    for s in d["supergroups"]:
        typer.echo(f"  {s['code']}. {s['name']} ({s['areas']} areas)")
    if len(d["rejected"]):
        typer.echo(f"{len(d['rejected'])} area row(s) set aside: {r.paths['rejects']}")
    typer.echo(f"Page: {r.paths['page_html']}  Areas: {r.paths['areas']}  Model: {r.paths['model']}")


def profile_command(
    spec: Annotated[Path | None, typer.Argument(
        metavar="SPEC", help="A profiling spec (evaluation/profile_services.toml): service address files "
        "matched, analysed, mapped. Without it, use --users/--population/--segment-col.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default: the spec's out_dir, else "
                                             "out/profile/NAME; out/profile for --users).")] = None,
    no_mlflow: Annotated[bool, typer.Option("--no-mlflow", help="Do not log the aggregates to MLflow.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress lines.")] = False,
    users: Annotated[Path | None, typer.Option(
        "--users", help="(Without SPEC) users table with a segment on each row.")] = None,
    population: Annotated[Path | None, typer.Option(
        "--population", help="(Without SPEC) population: one row per member, or counts with --weight-col.")] = None,
    segment_col: Annotated[str | None, typer.Option(
        "--segment-col", help="(Without SPEC) segment column in both tables.")] = None,
    weight_col: Annotated[str | None, typer.Option("--weight-col", help="(Without SPEC) count per population row.")] = None,
    duplicates: Annotated[str, typer.Option(
        "--duplicates", help="(Without SPEC) 'drop': each user once (by --id-col); 'keep': every row.")] = "drop",
    id_col: Annotated[str, typer.Option("--id-col", help="(Without SPEC) user id for --duplicates drop.")] = "entity_id",
    min_count: Annotated[int, typer.Option("--min-count", help="(Without SPEC) suppress smaller counts.")] = 10,
) -> None:
    """Profile service users against the population: segments, index with intervals, map, overlap, before/after."""
    if spec is None:
        if users is None or population is None or segment_col is None:
            raise RiskEngineError("profile needs a SPEC (a profiling spec .toml), or --users, --population "
                                  "and --segment-col for tables that already carry the segment")
        from riskengine.evaluation.cli import profile_command as table_profile

        table_profile(users=users, population=population, segment_col=segment_col, weight_col=weight_col,
                      duplicates=duplicates, id_col=id_col, min_count=min_count, out=out or Path("out/profile"))
        return
    if users is not None or population is not None or segment_col is not None:
        raise RiskEngineError(f"{spec}: give either a SPEC or --users/--population/--segment-col, not both")
    from riskengine.profiling import profile

    r = profile(spec, out, quiet=quiet, log_mlflow=not no_mlflow)
    for s in r.data["services"]:
        m = s["matching"]
        why = "; ".join(f"{k}: {v:,}" for k, v in m["not_matched"].items()) or "none"
        typer.echo(f"{s['label']}: {m['rows']:,} rows, {m['matched_share']:.1%} matched "
                   f"({m['matched_by']['UPRN']:,} by UPRN, {m['matched_by']['address']:,} by address); not matched: {why}"
                   + (f"; dropped columns {', '.join(s['dropped_columns'])}" if s["dropped_columns"] else ""))
        marks = [f"{g['segment']} ({g['index']:.0f})" for g in s["segments"] if g["difference"] == "more than expected"]
        if marks:
            typer.echo(f"  more users than expected from segment(s): {', '.join(marks)}")
    c = r.data["change"]
    if c:
        typer.echo(f"{c['label']} after the action: difference in differences {c['estimate']:+.1f} users per 1,000 "
                   f"residents (95% CI {c['ci'][0]:+.1f} to {c['ci'][1]:+.1f}, p = {c['p_value']:.3g}) in "
                   f"{c['targeted_areas']} targeted areas against {c['other_areas']} others")
    for line in r.log[1:]:
        typer.echo(line)
    typer.echo(f"Page: {r.paths['html']}  Figures: {r.paths['json']}  Run log: {r.paths['log']}")
