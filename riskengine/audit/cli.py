"""`riskengine audit`: audit any table of scores by group, standalone."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from riskengine.errors import DataError, RiskEngineError


class Burden(str, Enum):
    punitive = "punitive"
    assistive = "assistive"


class Measure(str, Enum):
    selection_rate = "selection_rate"
    fpr = "fpr"
    fnr = "fnr"


def read_scores(path: Path, columns: list[str], group_cols: list[str]) -> pd.DataFrame:
    """Read the needed columns of a CSV or Parquet file; group columns keep their text as written."""
    from riskengine.io import file_columns, read_file  # pandas: loaded only when a command runs

    _check_columns(path, file_columns(path), columns)
    return read_file(path, columns=columns, dtype={c: str for c in group_cols})


def _check_columns(path: Path, present: list[str], wanted: list[str]) -> None:
    missing = [c for c in wanted if c not in present]
    if missing:
        raise DataError(
            f"{path}: column{'s' if len(missing) > 1 else ''} {', '.join(repr(c) for c in missing)} not found; "
            f"the file has: {', '.join(map(str, present))}"
        )


def _parse_reference(values: list[str], group_cols: list[str]) -> str | dict[str, str] | None:
    """`GROUP` for every column that has it, or `COLUMN=GROUP` for one column."""
    if not values:
        return None
    by_column, plain = {}, []
    for v in values:
        column, sep, group = v.partition("=")
        if sep and column in group_cols:
            by_column[column] = group
        else:
            plain.append(v)
    if plain and (by_column or len(plain) > 1):
        raise RiskEngineError(
            "give --reference once as GROUP, or once per column as COLUMN=GROUP "
            f"(columns: {', '.join(group_cols)}); got {values}"
        )
    return by_column or plain[0]


def audit_command(
    file: Path = typer.Argument(..., help="Table of scores, one row per entity: a .csv or .parquet file."),
    score_col: str = typer.Option(..., "--score-col", help="Column holding the score; higher means flagged first."),
    group_col: list[str] = typer.Option(
        ..., "--group-col", help="Column to audit by (for example ward or age band); repeat for more than one."
    ),
    out: Path = typer.Option(..., "--out", help="Folder for bias_report.html and bias_report.json."),
    label_col: Optional[str] = typer.Option(
        None, "--label-col", help="Known outcome, 0 or 1. Leave out for a fresh list: only selection rates are audited."
    ),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="Flag rows whose score is at or above this."),
    top_k: Optional[int] = typer.Option(None, "--top-k", help="Flag exactly the K highest scores (ties by row order)."),
    top_pct: Optional[float] = typer.Option(
        None, "--top-pct", help="Flag the top P percent of rows (rounded up to whole rows)."
    ),
    reference: list[str] = typer.Option(
        [], "--reference", help="Reference group: GROUP, or COLUMN=GROUP per column. Default: the largest group."
    ),
    intersections: bool = typer.Option(
        False, "--intersections", help="Also audit each pair of group columns combined."
    ),
    min_group_size: int = typer.Option(
        10, "--min-group-size", help="Groups smaller than this are shown only as a count band."
    ),
    tolerance: tuple[float, float] = typer.Option(
        (0.8, 1.25), "--tolerance", help="Ratios between these two numbers count as parity, e.g. --tolerance 0.8 1.25."
    ),
    burden: Burden = typer.Option(
        Burden.punitive,
        "--burden",
        help="punitive: being flagged burdens (an inspection); assistive: it helps (an offer of support).",
    ),
    n_boot: int = typer.Option(1000, "--n-boot", help="Bootstrap resamples for the 95% intervals."),
    seed: int = typer.Option(
        0, "--seed", help="Random seed for the bootstrap; the same seed gives the same intervals."
    ),
    mitigate: bool = typer.Option(
        False, "--mitigate", help="Show what per-group quotas would cost and remove (never applied)."
    ),
    mitigate_measure: Optional[Measure] = typer.Option(
        None,
        "--mitigate-measure",
        help="Measure the quotas equalise; default from --burden (fpr or fnr; selection_rate without labels).",
    ),
    title: str = typer.Option("Fairness audit", "--title", help="Title of the report."),
    name: str = typer.Option("this list", "--name", help="What the list is called in the findings, e.g. 'the model'."),
) -> None:
    """Audit a table of scores by group: rates, ratios to a reference group, intervals and plain-English findings."""
    from riskengine.audit import audit, write_audit_report

    columns = list(dict.fromkeys([score_col, *([label_col] if label_col else []), *group_col]))
    df = read_scores(file, columns, list(group_col))
    mitigation: bool | str = mitigate_measure.value if mitigate_measure is not None else mitigate
    result = audit(
        df,
        score_col,
        label_col,
        list(group_col),
        threshold=threshold,
        top_k=top_k,
        top_pct=top_pct,
        reference=_parse_reference(reference, list(group_col)),
        intersections=intersections,
        min_group_size=min_group_size,
        tolerance=tolerance,
        burden=burden.value,
        n_boot=n_boot,
        seed=seed,
        mitigation=mitigation,
        name=name,
    )
    paths = write_audit_report(result, out, title=title)
    found = result.disparities
    n_disp = int((found["status"] == "disparity").sum()) if len(found) else 0
    n_key = int(((found["status"] == "disparity") & found["key"].astype(bool)).sum()) if len(found) else 0
    typer.echo(f"Audited {result.overall['n']} rows, {result.overall['flagged']} flagged.")
    typer.echo(f"Disparities: {n_disp} ({n_key} on the measures that matter most for a {burden.value} intervention).")
    typer.echo(f"Report: {paths['html']}")
    typer.echo(f"JSON:   {paths['json']}")
