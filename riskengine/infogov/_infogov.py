"""Information governance before the first run: scan the sources, draft the DPIA and the agreement.

`information_governance_pack(spec)` reads every table the spec names (with the data contract's
reader), finds its personal columns, and writes `dpia.{md,html,json}` and, when the data come
from more than one owner, `data_sharing_agreement.{md,html}`. `check_dpia(spec)` stops a
training run whose spec requires a signed DPIA that is not recorded.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd

from riskengine.audit.governance import RunFacts, write_document
from riskengine.errors import SpecError
from riskengine.infogov._documents import (
    Measured,
    SourceFacts,
    draft_dpia,
    draft_sharing_agreement,
    open_questions,
    spec_hash,
)
from riskengine.infogov._scan import scan_table
from riskengine.spec import EARLIEST_DATE, IG_KEYS, information_governance


def check_dpia(spec: Any) -> None:
    """Stop before any work when the spec requires a signed DPIA and none is recorded; check [governance] keys."""
    known = IG_KEYS | {f.name for f in dataclasses.fields(RunFacts)}
    unknown = sorted(set(spec.governance) - known)
    if unknown:
        raise SpecError(f"spec '{spec.name}' [governance]: unknown key(s) {unknown}; expected some of {sorted(known)}")
    ig = information_governance(spec.governance)
    if ig.require_dpia and not ig.dpia_signed:
        missing = [k for k in ("dpia_reference", "dpia_signed_by", "dpia_signed_on") if not getattr(ig, k)]
        raise SpecError(
            f"spec '{spec.name}': governance.require_dpia = true but no signed DPIA is recorded "
            f"(missing {', '.join('governance.' + m for m in missing)}). Draft one with "
            f"`riskengine governance SPEC`, have it signed, then record its reference, who signed it and when"
        )


def _location(source) -> str:
    if source.path is not None:
        return str(source.path)
    from sqlalchemy.engine import make_url

    try:
        return make_url(source.url).render_as_string(hide_password=True) + " (SQL query)"
    except Exception:  # noqa: BLE001 - an unparseable URL is shown without its details
        return "a SQL database (query)"


def _period(df: pd.DataFrame, column: str) -> str | None:
    if column not in df.columns:
        return None
    dates = pd.to_datetime(df[column], errors="coerce", format="mixed")
    dates = dates[(dates >= pd.Timestamp(EARLIEST_DATE)) & (dates.dt.year <= 2200)]  # the spec's default earliest valid date
    if dates.empty:
        return None
    return f"{dates.min().date()} to {dates.max().date()}"


def scan_sources(spec: Any) -> list[SourceFacts]:
    """Every table a spec names, with its shape and personal columns (read with the data contract's reader)."""
    from riskengine.ingest import read_table

    ig = information_governance(spec.governance)
    tables: list[tuple[str, Any, str]] = [("entities", spec.data.entities, "")]
    tables += [(name, src, "date") for name, src in spec.data.events.items()]
    if spec.data.outcomes is not None:
        tables.append(("outcomes", spec.data.outcomes, "date"))
    features = getattr(spec, "features", None)
    if features is not None and features.table is not None:
        tables.append(("feature_table", features.table, "as_of"))
    out = []
    for name, source, date_col in tables:
        df, fingerprint = read_table(source)
        df = df.drop(columns=[c for c in ("_row", "_line") if c in df.columns])
        findings = scan_table(name, df, ig.personal_columns.get(name, []), ig.special_category.get(name, []))
        out.append(SourceFacts(name, _location(source), int(fingerprint["rows"]), [str(c) for c in df.columns],
                               _period(df, date_col) if date_col else None, findings))
    return out


def measured_from_summary(summary: dict | None, audits: list | None = None) -> Measured:
    """What a training run measured: linkage counts from its summary, findings from its audits."""
    m = Measured()
    link = (summary or {}).get("link") or {}
    provenance = link.get("provenance") or {}
    if link.get("rows") and provenance:
        m.link_rows = int(link["rows"]) - int(provenance.get("exact", 0))
        m.link_unmatched = int(provenance.get("unmatched", 0))
        m.link_review = round(float(link.get("review_share_of_unkeyed") or 0) * m.link_rows)
    findings: list[str] = []
    for audit in audits or []:
        if audit is None:
            continue
        findings += [f for f in audit.findings if f not in findings]
        if "suppressed" in audit.groups:
            m.suppressed_groups = (m.suppressed_groups or 0) + int(audit.groups["suppressed"].sum())
    flagged = [f for f in findings if "no disparity" not in f.lower()]
    m.bias_findings = flagged or (["No disparity was found at the list's operating point in the last run."]
                                  if findings else [])
    return m


def information_governance_pack(spec: Any, out_dir: str | Path, measured: Measured | None = None,
                                sources: list[SourceFacts] | None = None,
                                today: dt.date | None = None) -> dict[str, Path]:
    """Write the draft DPIA (and the data-sharing agreement when the sources have several owners).

    The drafts appear together when all are written (riskengine.outputs); other files in the
    folder, such as a signed copy a person put there, stay as they are.
    """
    from riskengine.outputs import final_paths, run_folder

    sources = sources if sources is not None else scan_sources(spec)
    with run_folder(Path(out_dir), shared=True) as out:
        return final_paths(_write_pack(spec, out, measured, sources, today))


def _write_pack(spec: Any, out: Path, measured: Measured | None, sources: list[SourceFacts],
                today: dt.date | None) -> dict[str, Path]:
    dpia = draft_dpia(spec, sources, measured, today)
    paths = {f"dpia_{k}": v for k, v in write_document(dpia, out, "dpia").items()}
    twin = {
        "pipeline": spec.name,
        "spec_sha256": spec_hash(spec),
        "open_questions": open_questions(dpia),
        "sources": [{"name": s.name, "rows": s.rows, "period": s.period, "columns": len(s.columns),
                     "personal_columns": [{"column": f.column, "kind": f.kind, "found_by": f.how,
                                           "non_empty": f.filled, "special": f.special} for f in s.findings]}
                    for s in sources],
    }
    paths["dpia_json"] = out / "dpia.json"
    paths["dpia_json"].write_text(json.dumps(twin, indent=2))
    ig = information_governance(spec.governance)
    owners = {ig.owners[s.name] for s in sources if s.name in ig.owners}
    if len(owners) > 1 or (not owners and len(spec.data.events) > 1):  # data pooled from several owners
        agreement = draft_sharing_agreement(spec, sources, today)
        paths |= {f"data_sharing_agreement_{k}": v
                  for k, v in write_document(agreement, out, "data_sharing_agreement").items()}
    return paths
