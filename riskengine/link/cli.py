"""`riskengine link`: link a borough's sources to its entities and report how well it went."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from riskengine.errors import RiskEngineError

out = Console(soft_wrap=True)


def link_command(
    source: Annotated[Path, typer.Argument(help="A synthetic borough's folder (entities.csv, events/*.csv) or a spec file (TOML) with a data section and, optionally, a link section.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the linked sources, review file, golden records and reports.")] = Path("out/link"),
    truth: Annotated[Path | None, typer.Option("--truth", help="A truth table (source, line, true_entity_id) to measure precision and recall; a borough folder's truth/links.parquet is used when present.")] = None,
    ephemeral_key: Annotated[bool, typer.Option("--ephemeral-key", help="Without a pseudonymisation key set, hash person identifiers with a random key for this run only (demos).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="Print only the summary.")] = False,
) -> None:
    """Resolve every source row to an entity: exact UPRN first, then address matching with splink."""
    from riskengine.io import read_file
    from riskengine.link import link, read_borough, read_spec_sources
    from riskengine.spec import LinkSpec

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
    result = link(entities, sources, spec, out_dir, progress=not quiet, truth=truth_table,
                  allow_ephemeral_key=ephemeral_key)
    m = result.metrics
    prov = m["provenance"]
    out.print(f"[bold]Linked {m['rows']:,} rows from {len(sources)} sources[/] in {m['seconds']} s")
    if "accuracy" in m:
        a = m["accuracy"]
        out.print(f"  precision {a['overall']['precision']:.4f}  recall {a['overall']['recall']:.4f}"
                  f"   (rows without a usable key: precision {a['without_exact_key']['precision'] or 0:.4f},"
                  f" recall {a['without_exact_key']['recall'] or 0:.4f})")
    out.print(f"  exact {prov['exact']:,}  probabilistic {prov['probabilistic']:,}  reviewed {prov['reviewed']:,}"
              f"  unmatched {prov['unmatched']:,}")
    out.print(f"  clerical review: {m['review_share']:.2%} of rows ({m['review_addresses']:,} distinct addresses)"
              f" -> {result.paths.get('review')}")
    out.print(f"  pseudonymisation key: {result.key_origin}")
    out.print(f"  reports: {result.paths['link_report']}, {result.paths['quality_report']}")
    out.print(f"  golden records: {result.paths['golden']}  linked sources: {out_dir / 'linked'}")
