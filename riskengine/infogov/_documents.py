"""The draft DPIA and data-sharing agreement, built from a spec, a scan of its data and what a run measured.

The DPIA follows the steps of the ICO's template (need, processing, consultation, necessity
and proportionality, risks, measures, sign-off); the agreement follows the usual headings
of a data-sharing agreement (parties, purpose, data items, basis, security, retention,
rights, review). What the engine cannot know is left as a marked question for the officer,
never invented. Documents carry column names and counts only, never a value from the data.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from riskengine.audit.governance import Document, Section
from riskengine.infogov._scan import ColumnFinding
from riskengine.spec import RETENTION_KINDS, InformationGovernance, information_governance

QUESTION = "To be answered by the DPO."


@dataclass
class SourceFacts:
    """One input table as the documents describe it: no values, only shape and personal columns."""

    name: str  # "entities", "outcomes", or the event source's name
    location: str  # the file path, or the database URL without credentials
    rows: int
    columns: list[str]
    period: str | None  # first to last date, when the table has dates
    findings: list[ColumnFinding] = field(default_factory=list)


@dataclass
class Measured:
    """What a training run measured that bears on data-protection risk (all optional)."""

    link_rows: int | None = None  # source rows that needed linkage (no entity id)
    link_unmatched: int | None = None
    link_review: int | None = None
    bias_findings: list[str] = field(default_factory=list)
    suppressed_groups: int | None = None
    smallest_published_group: int | None = None


def open_questions(document: Document) -> int:
    """Facts still missing plus questions left for the officer, over the whole document."""
    n = document.to_complete
    for section in document.sections:
        for b in section.blocks:
            if b["kind"] == "fields":
                n += sum(f["value"] == QUESTION for f in b["fields"])
            elif b["kind"] == "table":
                n += sum(cell == QUESTION for row in b["rows"] for cell in row)
            elif b["kind"] == "items":
                n += sum(QUESTION in item for item in b["items"])
    return n


def spec_hash(spec: Any) -> str:
    """A stable sha256 of the spec's content: the version the documents were drafted from."""
    text = json.dumps(dataclasses.asdict(spec), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _treatment(spec: Any, source: str, finding: ColumnFinding) -> str:
    """What the engine does with one personal column."""
    link = getattr(spec, "link", None)
    features = getattr(spec, "features", None)
    if link is not None and link.enabled and finding.column in link.person_columns:
        return ("pseudonymised with a keyed hash (HMAC-SHA256) at linkage; the clear value never leaves linkage "
                "and is blanked in rejects.csv")
    if features is not None and finding.column in features.static and source == "entities":
        return "used as a model feature: check that it is necessary (Step 4)"
    if finding.kind in ("address", "postcode") and source != "entities":
        return ("used to match rows without an entity id; kept in the linkage outputs and the review file "
                "for data stewards, not a model feature")
    if finding.kind in ("address", "postcode"):
        return "shown to inspectors on the list so they can find the place; not a model feature"
    return "read but not used: remove it from the extract (data minimisation)"


def _audiences(spec: Any) -> list[list[str]]:
    name = spec.name
    return [
        [f"out/{name}/<as-of>/list.*", "inspectors and service managers",
         "entity ids, addresses, plain-English reasons, probabilities", "lists"],
        [f"out/{name}/train/governance/, bias reports, model card", "governance officers, the public (transparency record)",
         "aggregates only; groups under the minimum size suppressed", "training"],
        [f"out/{name}/train/link/, rejects.csv", "data stewards",
         "addresses and source rows (person identifiers hashed or blanked)", "link, rejects"],
        ["MLflow runs and registered models", "data scientists",
         "entity ids and aggregates only (checked by the leak scan)", "(MLflow's own store)"],
    ]


def _retention_rows(ig: InformationGovernance) -> list[list[str]]:
    return [[kind, what, f"{ig.retention_days[kind]} days" if kind in ig.retention_days else QUESTION]
            for kind, what in RETENTION_KINDS.items()]


def draft_dpia(spec: Any, sources: list[SourceFacts], measured: Measured | None = None,
               today: dt.date | None = None) -> Document:
    """The draft Data Protection Impact Assessment for a spec."""
    ig = information_governance(spec.governance)
    measured = measured or Measured()
    today = today or dt.date.today()
    findings = [f for s in sources for f in s.findings]
    special = [f for f in findings if f.special]
    total_rows = sum(s.rows for s in sources)
    p = spec.purpose

    need = Section("Step 1: Identify the need for a DPIA").fields([
        ("Our problem is", p.problem), ("If we could see", p.insight),
        ("Using these datasets", p.datasets), ("We would", p.action),
    ])
    need.items([
        "Evaluation or scoring: yes. The engine ranks every entity by how likely it is to be a case.",
        f"Matching or combining datasets: {'yes' if len(sources) > 2 else 'no'} ({len(sources)} tables"
        + (", with record linkage" if getattr(getattr(spec, 'link', None), 'enabled', False) else "") + ").",
        f"Special category or criminal offence data: {'yes, ' + str(len(special)) + ' column(s)' if special else 'none detected or flagged'}.",
        f"Large scale: {total_rows:,} rows in {len(sources)} tables.",
        "Automated decision with legal or similar effect: no. The list orders where officers look first; "
        "an officer decides what to do after a visit.",
        "Vulnerable people among the data subjects: " + QUESTION,
    ])

    processing = Section("Step 2: Describe the processing")
    processing.text("The nature of the processing: each source below is read, checked against the data "
                    "contract (rejected rows kept with their reason), linked to one record per entity, turned "
                    "into features known before each date, and scored by a model; outputs go to the audiences "
                    "in the table further down.")
    processing.table(
        ["source", "owner", "whose data", "rows", "period", "personal columns (kind)"],
        [[s.name, ig.owners.get(s.name) or QUESTION, ig.data_subjects.get(s.name) or QUESTION, f"{s.rows:,}",
          s.period or "–", "; ".join(f"{f.column} ({f.kind})" for f in s.findings) or "none detected"]
         for s in sources],
        caption="Sources named by the spec, scanned by column name and content (counts only; no value is copied).",
    )
    if findings:
        processing.table(
            ["source", "column", "kind", "found by", "non-empty values", "what the engine does with it"],
            [[f.source, f.column, f.kind, f.how, f"{f.filled:,}", _treatment(spec, f.source, f)] for f in findings],
            caption="Personal and special-category columns, and what happens to each.",
        )
    processing.table(["output", "who sees it", "what it holds", "retention kind"], _audiences(spec),
                     caption="Who sees which output.")
    processing.fields([
        ("The scope: how many people, which area", QUESTION),
        ("The context: relationship with the people, their expectations, prior concerns", QUESTION),
    ])

    consultation = Section("Step 3: Consultation").fields([
        ("Who was consulted (data subjects or their representatives, staff, processors, security)", QUESTION),
    ])

    necessity = Section("Step 4: Necessity and proportionality").fields([
        ("Lawful basis (UK GDPR Art 6; Art 9 and 10 conditions for special-category and criminal offence data)",
         ig.lawful_basis or QUESTION),
        ("Why the processing is necessary and proportionate", ig.necessity or QUESTION),
        ("Data minimisation", _minimisation(spec, findings)),
        ("How people are told (privacy notice)", QUESTION),
        ("International transfers", QUESTION),
    ])

    risks = Section("Step 5: Identify and assess risks")
    risks.table(["risk", "what the engine measured", "likelihood", "severity"], _risk_register(spec, measured, findings),
                caption="Pre-filled from the spec and the last run; likelihood and severity are for the officer to judge.")

    measures = Section("Step 6: Measures to reduce risk").items(_measures(spec, ig))

    sign_off = Section("Step 7: Sign off and outcomes").fields([
        ("DPIA reference", ig.dpia_reference),
        ("Signed by (role)", ig.dpia_signed_by),
        ("Signed on", ig.dpia_signed_on.isoformat() if ig.dpia_signed_on else None),
        ("Measures approved by", QUESTION),
        ("Residual risks approved by", QUESTION),
        ("DPO advice and whether it was followed", QUESTION),
    ])
    retention = Section("Retention").table(["output kind", "what it holds", "kept for"], _retention_rows(ig))
    retention.text("`riskengine clean SPEC --expired` removes outputs older than these periods and records what it removed.")
    version = f"draft from spec '{spec.name}' (sha256 {spec_hash(spec)[:16]}) · {today.isoformat()}"
    return Document(f"Data Protection Impact Assessment (draft): {spec.name}", version,
                    [need, processing, consultation, necessity, risks, measures, sign_off, retention])


def _minimisation(spec: Any, findings: list[ColumnFinding]) -> str:
    unused = [f"{f.source}.{f.column}" for f in findings
              if _treatment(spec, f.source, f).startswith("read but not used")]
    if not unused:
        return "Every personal column read is either pseudonymised, used for matching, or shown to those who need it."
    return ("Read but not needed, so to be removed from the extracts: " + ", ".join(unused) + ".")


def _risk_register(spec: Any, measured: Measured, findings: list[ColumnFinding]) -> list[list[str]]:
    audit = getattr(spec, "audit", None)
    minimum = audit.min_group_size if audit is not None else 10
    rows = [[
        "Re-identification of a person from a published table",
        f"groups under {minimum} are suppressed (with complementary suppression) in every published table"
        + (f"; {measured.suppressed_groups} group(s) suppressed in the last run" if measured.suppressed_groups else ""),
        QUESTION, QUESTION,
    ]]
    if measured.link_rows:
        unmatched = measured.link_unmatched or 0
        rows.append([
            "Records of one household attached to another (a wrong link), or missed (no link)",
            f"{measured.link_rows:,} source rows needed linkage; {unmatched:,} ({unmatched / measured.link_rows:.1%}) "
            f"stayed unmatched; {measured.link_review or 0:,} went to clerical review",
            QUESTION, QUESTION,
        ])
    if measured.bias_findings:
        rows.append(["Over-targeting of some groups (indirect discrimination)",
                     " ".join(measured.bias_findings[:3]), QUESTION, QUESTION])
    elif audit is not None and audit.attributes:
        rows.append(["Over-targeting of some groups (indirect discrimination)",
                     f"audited by {', '.join(audit.attributes)} at every training and list; not yet measured",
                     QUESTION, QUESTION])
    special = [f"{f.source}.{f.column}" for f in findings if f.special]
    if special:
        rows.append(["Special-category or criminal offence data processed", ", ".join(special), QUESTION, QUESTION])
    rows.append(["Addresses and raw records in outputs for data stewards (rejects, linkage review)",
                 "held under out/; no names (hashed or blanked); removed by the retention clean-up",
                 QUESTION, QUESTION])
    rows.append(["Working copies of the input records (validated tables in .riskengine/cache, linked sources "
                 "beside the link store), kept so a later command does not validate or link again",
                 "identifiers included, readable by the owner only, replaced by each new data set; "
                 "RISKENGINE_CACHE=0 keeps none", QUESTION, QUESTION])
    rows.append(["The pseudonymisation key is lost or disclosed",
                 "the key is read from an environment variable or a key file and never written to outputs",
                 QUESTION, QUESTION])
    return rows


def _measures(spec: Any, ig: InformationGovernance) -> list[str]:
    link = getattr(spec, "link", None)
    out = ["Rejected rows are kept with their reason and person identifier columns blanked in rejects.csv."]
    if link is not None and link.enabled:
        out.append(f"Person identifiers ({', '.join(link.person_columns)}) are pseudonymised with a keyed hash "
                   f"(key from ${link.key_env}" + (f" or {link.key_file}" if link.key_file else "")
                   + ") before anything leaves linkage; a leak scan checks outputs and MLflow artefacts.")
    out.append("Published tables suppress groups under the minimum size; reports carry entity ids and aggregates only.")
    out.append("Features use only events dated before each as-of date; every list is audited for bias by group.")
    if ig.retention_days:
        out.append("Outputs are removed after their retention period by `riskengine clean --expired`, with a record.")
    else:
        out.append("Retention periods: " + QUESTION)
    return out


def draft_sharing_agreement(spec: Any, sources: list[SourceFacts], today: dt.date | None = None) -> Document:
    """The draft data-sharing agreement between the owners of a spec's sources."""
    ig = information_governance(spec.governance)
    today = today or dt.date.today()
    owners = sorted({ig.owners[s.name] for s in sources if s.name in ig.owners})
    unowned = [s.name for s in sources if s.name not in ig.owners]
    parties = Section("1. Parties").fields([
        ("Controller of the pooled data", ig.controller or QUESTION),
        ("Who runs the engine", ig.operator or QUESTION),
        ("Organisations or teams sharing data", owners or None),
        ("Sources whose owner is not named (governance.owners)", unowned or "none"),
    ])
    p = spec.purpose
    purpose = Section("2. Purpose and purpose limitation").fields([
        ("Our problem is", p.problem), ("If we could see", p.insight),
        ("Using these datasets", p.datasets), ("We would", p.action),
    ]).items([
        "The shared data are used only for the purpose above.",
        "Not for enforcement or any decision about a person without an officer's own inspection.",
        "Not for any other purpose without a new agreement and a new DPIA.",
    ])
    items = Section("3. Data items shared").table(
        ["source", "owner", "rows", "period", "columns", "personal columns"],
        [[s.name, ig.owners.get(s.name) or QUESTION, f"{s.rows:,}", s.period or "–", ", ".join(s.columns),
          ", ".join(f"{f.column} ({f.kind})" for f in s.findings) or "none detected"] for s in sources],
    )
    basis = Section("4. Legal basis for sharing").fields([("Lawful basis", ig.lawful_basis or QUESTION)])
    link = getattr(spec, "link", None)
    security = Section("5. Security").fields([
        ("Where the files and outputs live", ig.location or QUESTION),
        ("Who runs the engine and can read the inputs", ig.operator or QUESTION),
        ("Pseudonymisation", f"keyed hash; key in ${link.key_env}" + (f" or {link.key_file}" if link.key_file else "")
         if link is not None and link.enabled else "no linkage of person identifiers"),
        ("Access to outputs", "lists: inspectors; aggregates: governance; linkage outputs and rejects: data stewards"),
        ("Breach reporting between parties", QUESTION),
    ])
    retention = Section("6. Retention and deletion").table(["output kind", "what it holds", "kept for"], _retention_rows(ig))
    retention.fields([("Return or deletion of the source extracts at the end of the agreement", QUESTION)])
    rights = Section("7. Rights of the people in the data").fields([
        ("Which party answers subject access and objection requests", QUESTION),
    ])
    review = Section("8. Review and signatures").fields([
        ("Review date", QUESTION), ("Signatories (roles)", QUESTION),
    ])
    version = f"draft from spec '{spec.name}' (sha256 {spec_hash(spec)[:16]}) · {today.isoformat()}"
    return Document(f"Data-sharing agreement (draft): {spec.name}", version,
                    [parties, purpose, items, basis, security, retention, rights, review])
