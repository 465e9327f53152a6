"""`riskengine link`: link a borough's sources to its entities and report how well it went."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from riskengine.errors import RiskEngineError
from riskengine.outputs import final_paths, run_folder

out = Console(soft_wrap=True)


def _share(value: float | None) -> str:
    """A precision or recall to print; 'n/a' when nothing was linked (or nothing should have been)."""
    return "n/a" if value is None else f"{value:.4f}"


def _is_job(path: Path) -> bool:
    from riskengine.spec import read_toml

    return read_toml(path).get("kind") == "link"


def _run_job(path: Path, out_dir: Path, truth: Path | None, quiet: bool, ephemeral_key: bool = False) -> None:
    """`riskengine link SPEC` for a kind = "link" spec: any tables, a register or deduplication."""
    from riskengine.link import read_job_tables, read_truth, run_job
    from riskengine.spec import load_spec

    spec = load_spec(path)
    tables, where = read_job_tables(spec, path)
    truth_path = truth or spec.truth
    truth_table = read_truth(truth_path) if truth_path is not None else None
    # a fresh folder in place when finished; the decisions kept from earlier runs are carried into it
    with run_folder(out_dir, carry=("decisions.csv",)) as work:
        result = run_job(spec, tables, work, progress=not quiet, truth=truth_table, where=where,
                         allow_ephemeral_key=ephemeral_key)
        result.paths = final_paths(result.paths)
    m = result.metrics
    d = m["decisions"]
    what = "linked to the register" if m["mode"] == "link" else "in a cluster of two or more"
    out.print(f"[bold]{spec.name}: {m['rows']:,} rows[/] from {len(spec.sources)} source(s) in {m['seconds']} s "
              f"({m['method']})")
    out.print(f"  {what}: {d['linked']:,}   review: {d['review']:,}   unmatched: {d['unmatched']:,}")
    if "accuracy" in m:
        a = m["accuracy"]
        out.print(f"  precision {_share(a['precision'])}  recall {_share(a['recall'])}  F1 {a['f1']:.4f}"
                  f"  ({a['unit']}, against {truth_path})")
    for w in result.warnings:
        out.print(f"  [yellow]warning:[/] {w}")
    out.print(f"  links: {result.paths.get('links')}   report: {result.paths.get('report')}")
    if "review" in result.paths:
        out.print(f"  clerical review: {result.paths['review']} and {result.paths['review_page']} "
                  "(clear values: for the council's own staff; deleted when the decisions are read back)")


def link_command(
    source: Annotated[Path, typer.Argument(help="A link spec (kind = \"link\": sources, fields, a register or none for deduplication), a training or data spec (its [data] and [link]), or a synthetic borough's folder.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the linked sources, review file, golden records and reports.")] = Path("out/link"),
    truth: Annotated[Path | None, typer.Option("--truth", help="A truth table to measure precision and recall: (source, line, true_entity_id), or for a link spec (source, row_id, true_id); a borough folder's truth/links.parquet is used when present.")] = None,
    ephemeral_key: Annotated[bool, typer.Option("--ephemeral-key", help="Without a pseudonymisation key set, hash person identifiers with a random key for this run only (demos).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="Print only the summary.")] = False,
) -> None:
    """Resolve every source row to an entity: exact UPRN first, then address matching with splink."""
    from riskengine.io import read_file
    from riskengine.link import link, read_borough, read_spec_sources
    from riskengine.spec import LinkSpec

    if source.is_file() and _is_job(source):
        _run_job(source, out_dir, truth, quiet, ephemeral_key)
        return
    if source.is_dir():
        entities, sources, truth_table = read_borough(source)
        spec = LinkSpec()
    elif source.is_file():
        entities, sources, spec = read_spec_sources(source)
        truth_table = None
    else:
        raise RiskEngineError(f"{source}: no such folder or spec file")
    if truth is not None:
        if not truth.is_file():
            raise RiskEngineError(f"{truth}: truth table not found")
        truth_table = read_file(truth, "truth table", dtype={"true_entity_id": str})
    with run_folder(out_dir) as work:  # the last good linkage stays until this one has finished
        result = link(entities, sources, spec, work, progress=not quiet, truth=truth_table,
                      allow_ephemeral_key=ephemeral_key)
        result.paths = final_paths(result.paths)
    m = result.metrics
    prov = m["provenance"]
    out.print(f"[bold]Linked {m['rows']:,} rows from {len(sources)} sources[/] in {m['seconds']} s")
    if "accuracy" in m:
        a = m["accuracy"]
        out.print(f"  precision {_share(a['overall']['precision'])}  recall {_share(a['overall']['recall'])}"
                  f"   (rows without a usable key: precision {_share(a['without_exact_key']['precision'])},"
                  f" recall {_share(a['without_exact_key']['recall'])})")
    out.print(f"  exact {prov['exact']:,}  probabilistic {prov['probabilistic']:,}  reviewed {prov['reviewed']:,}"
              f"  unmatched {prov['unmatched']:,}")
    page = f" and {result.paths['review_page']} (clear values, for the council's own staff)" \
        if "review_page" in result.paths else ""
    out.print(f"  clerical review: {m['review_share']:.2%} of rows ({m['review_addresses']:,} distinct records)"
              f" -> {result.paths.get('review')}{page}")
    out.print(f"  pseudonymisation key: {result.key_origin}")
    out.print(f"  reports: {result.paths['link_report']}, {result.paths['quality_report']}")
    out.print(f"  golden records: {result.paths['golden']}  linked sources: {out_dir / 'linked'}")
