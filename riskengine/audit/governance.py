"""The governance pack: a model card and an algorithmic transparency record, as Markdown and HTML.

Both are built from plain facts about a run (`RunFacts`): the spec's purpose, the data and
its fingerprints, the features, metrics over time and the fairness audit. The model card
follows the sections of Model Cards for Model Reporting (Mitchell et al., 2019); the record
follows the UK Algorithmic Transparency Recording Standard: a tier 1 summary for the public
and tier 2 detail (owner, rationale, decision process, tool and data, risks). A fact not
supplied is shown as "to be completed", never invented, and counted at the top.

Each document is a list of sections of simple blocks, rendered by one Markdown and one HTML
template, so the two files always say the same thing.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import pandas as pd

from riskengine.audit import _format as fmt
from riskengine.errors import RiskEngineError
from riskengine.spec import Purpose
from riskengine.templating import environment

if TYPE_CHECKING:
    from riskengine.audit._audit import AuditResult

TO_COMPLETE = "To be completed by the owner before publication."

# Caveats true of every riskengine model, whatever the use case.
STANDARD_CAVEATS = [
    "A score ranks where to look first; it is not evidence that any entity is in breach or in need. "
    "A person decides what to do, and the usual processes and rights of challenge apply.",
    "The model learns only from entities whose outcome is known, which are mostly those the service "
    "chose to visit before. Where the service rarely looked, cases are under-recorded, so past "
    "targeting can shape future scores; the fairness audit against business as usual is there to show this.",
    "Performance is measured on past periods (temporal splits), not on the future. Data and practice "
    "change; the model should be re-trained and re-audited on a schedule, and retired if it drifts.",
    "Groups with fewer than the minimum number of entities are suppressed in every table, so small "
    "groups cannot be judged from this document.",
]


@dataclass
class DatasetFacts:
    """One input table: what it is, how many rows, and the fingerprint (sha256) of the exact file."""

    name: str
    description: str | None = None
    rows: int | None = None
    fingerprint: str | None = None
    period: str | None = None  # e.g. "2019-04-01 to 2024-03-31"

    @classmethod
    def coerce(cls, value: "DatasetFacts | dict") -> "DatasetFacts":
        """Accept the fingerprint dicts from ingest ({name, sha256, rows, table, ...}) as they are."""
        if isinstance(value, cls):
            return value
        if not isinstance(value, dict) or "name" not in value:
            raise RiskEngineError(f"a dataset needs at least a 'name'; got {value!r}")
        return cls(
            name=str(value["name"]),
            description=value.get("description") or (f"{value['table']} table" if value.get("table") else None),
            rows=value.get("rows"),
            fingerprint=value.get("fingerprint") or value.get("sha256"),
            period=value.get("period") or value.get("dates"),
        )


@dataclass
class RunFacts:
    """What the model card and transparency record say, as plain inputs. Only the first few are required."""

    pipeline: str
    purpose: Purpose
    intended_use: str
    users: list[str]
    datasets: list[DatasetFacts | dict] = field(default_factory=list)
    features: list[str] | dict[str, str] = field(default_factory=list)  # names, or name -> meaning
    metrics: pd.DataFrame | None = None  # one row per temporal split (test_as_of), one column per metric
    audit: "AuditResult | None" = None  # the champion on the last split
    baseline_audit: "AuditResult | None" = None  # business as usual on the same rows
    limitations: list[str] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)
    out_of_scope: list[str] = field(default_factory=list)
    # The model
    model_name: str | None = None
    model_version: str | None = None
    model_type: str | None = None  # e.g. "LightGBM gradient-boosted trees"
    run_id: str | None = None
    created: dt.date | None = None
    label_description: str | None = None  # what counts as a case
    selection_metric: str | None = None  # e.g. "precision at k = 200 (the team's monthly capacity)"
    capacity: int | None = None
    # The organisation and the decision (transparency record, tier 2)
    organisation: str | None = None
    team: str | None = None
    senior_responsible_owner: str | None = None
    contact: str | None = None
    website: str | None = None
    external_supplier: str | None = None
    benefits: str | None = None
    previous_process: str | None = None  # what the team does today (business as usual)
    alternatives: str | None = None
    information_provided: str | None = None
    frequency: str | None = None
    human_review: str | None = None
    training_required: str | None = None
    appeals: str | None = None
    phase: str | None = None  # pre-deployment, beta/pilot, production, retired
    maintenance: str | None = None
    data_collection: str | None = None
    data_sharing: str | None = None
    data_access: str | None = None
    risks: list[tuple[str, str]] = field(default_factory=list)  # (risk, mitigation)
    impact_assessments: list[str] = field(default_factory=list)  # e.g. "DPIA, approved 2024-03-01"

    def __post_init__(self) -> None:
        if not isinstance(self.purpose, Purpose):
            raise RiskEngineError(
                f"RunFacts.purpose must be a riskengine.spec.Purpose, got {type(self.purpose).__name__}"
            )
        self.datasets = [DatasetFacts.coerce(d) for d in self.datasets]
        if self.metrics is not None and not isinstance(self.metrics, pd.DataFrame):
            raise RiskEngineError("RunFacts.metrics must be a pandas DataFrame (one row per split)")


# ---------------------------------------------------------------------------------------
# Document building blocks
# ---------------------------------------------------------------------------------------


@dataclass
class Section:
    title: str
    blocks: list[dict] = field(default_factory=list)

    def text(self, value: str | None) -> "Section":
        self.blocks.append({"kind": "text", "text": value if value else TO_COMPLETE, "missing": not value})
        return self

    def items(self, values: list[str], empty: str | None = None) -> "Section":
        if values:
            self.blocks.append({"kind": "items", "items": list(values)})
        else:
            self.text(empty)
        return self

    def fields(self, pairs: list[tuple[str, Any]]) -> "Section":
        rows = [{"label": k, "value": _say(v), "missing": _missing(v)} for k, v in pairs]
        self.blocks.append({"kind": "fields", "fields": rows})
        return self

    def table(self, columns: list[str], rows: list[list[Any]], caption: str | None = None) -> "Section":
        self.blocks.append({"kind": "table", "columns": columns, "rows": [[_cell(v) for v in r] for r in rows],
                            "caption": caption})
        return self


def _missing(v: Any) -> bool:
    return v is None or v == "" or v == []


def _say(v: Any) -> str:
    if _missing(v):
        return TO_COMPLETE
    if isinstance(v, (list, tuple)):
        return "; ".join(map(str, v))
    return str(v)


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, (dt.date, pd.Timestamp)):
        return v.date().isoformat() if isinstance(v, pd.Timestamp) else v.isoformat()
    return str(v)


@dataclass
class Document:
    title: str
    subtitle: str
    sections: list[Section]

    @property
    def to_complete(self) -> int:
        """How many facts are still missing."""
        n = 0
        for s in self.sections:
            for b in s.blocks:
                if b["kind"] == "text":
                    n += b["missing"]
                elif b["kind"] == "fields":
                    n += sum(f["missing"] for f in b["fields"])
        return n


# ---------------------------------------------------------------------------------------
# Shared pieces
# ---------------------------------------------------------------------------------------


def _purpose_fields(p: Purpose) -> list[tuple[str, str]]:
    return [("Our problem is", p.problem), ("If we could see", p.insight),
            ("Using these datasets", p.datasets), ("We would", p.action)]


def _features(facts: RunFacts) -> tuple[list[str], list[list[str]]]:
    if isinstance(facts.features, dict):
        return ["feature", "meaning"], [[k, v] for k, v in facts.features.items()]
    return ["feature"], [[f] for f in facts.features]


def _datasets_table(section: Section, facts: RunFacts) -> None:
    if not facts.datasets:
        section.text(None)
        return
    section.table(
        ["dataset", "description", "rows", "period", "fingerprint (sha256)"],
        [[d.name, d.description, d.rows, d.period, d.fingerprint] for d in facts.datasets],
    )


def _metrics_table(section: Section, metrics: pd.DataFrame | None) -> None:
    if metrics is None or metrics.empty:
        section.text(None)
        return
    frame = metrics if isinstance(metrics.index, pd.RangeIndex) else metrics.reset_index()
    section.table([str(c) for c in frame.columns], frame.astype(object).values.tolist(),
                  caption="One row per temporal split: trained on the past, tested on the period after test_as_of.")


def _audit_blocks(section: Section, audit: "AuditResult | None", baseline: "AuditResult | None") -> None:
    """Fairness findings with the figures of the bias report (the same rounding)."""
    if audit is None:
        section.text(None)
        return
    doc = audit.to_dict()
    names = [fmt.METRIC_NAMES[m] for m in doc["key_metrics"]]
    section.text(
        f"Audited by {', '.join(doc['reference'])} on {doc['overall']['n']} entities at the list's operating "
        f"point ({doc['operating_point']['description']}). The measures that matter most for this decision: "
        f"{', '.join(names)}. Full figures, intervals and charts are in the bias report."
    )
    if baseline is not None:
        _, sentences = audit.compare(baseline)
        section.items(sentences, empty="No measure could be compared with business as usual.")
    section.items(doc["findings"])
    shown = list(dict.fromkeys(["selection_rate", *doc["key_metrics"]]))
    columns = ["attribute", "group", "n"] + [f"{fmt.METRIC_NAMES[m]} (× reference)" for m in shown]
    rows = []
    for g in doc["groups"]:
        if g["suppressed"]:
            rows.append([g["attribute"], g["group"], g["n_band"]] + ["suppressed"] * len(shown))
            continue
        label = g["group"] + (" (reference)" if g["is_reference"] else "")
        rows.append([g["attribute"], label, g["n"]]
                    + [f"{fmt.pct(g[m])} (×{fmt.ratio(g[m + '_ratio'])})" for m in shown])
    section.table(columns, rows)


# ---------------------------------------------------------------------------------------
# The two documents
# ---------------------------------------------------------------------------------------


def model_card(facts: RunFacts) -> Document:
    """The model card: Model Cards for Model Reporting sections, from the run's facts."""
    created = (facts.created or dt.date.today()).isoformat()
    details = Section("Model details").fields([
        ("Pipeline", facts.pipeline),
        ("Model", facts.model_name),
        ("Version", facts.model_version),
        ("Type", facts.model_type),
        ("Training run", facts.run_id),
        ("Date", created),
        ("Owner", facts.organisation and f"{facts.organisation}{', ' + facts.team if facts.team else ''}"),
        ("Contact", facts.contact),
    ])
    use = Section("Intended use").fields(_purpose_fields(facts.purpose)).text(facts.intended_use)
    users = Section("Intended users").items(facts.users)
    out_of_scope = Section("Out-of-scope uses").items(facts.out_of_scope)
    factors = Section("Factors").text(
        "Groups the model is audited by: " + ", ".join(facts.audit.reference) + "."
        if facts.audit is not None else None
    )
    metric = Section("Metrics").fields([
        ("How the model is chosen", facts.selection_metric),
        ("Capacity (entities on each list, from the scoring spec)", facts.capacity),
        ("What counts as a case", facts.label_description),
    ])
    if facts.audit is not None:
        metric.text(
            "Fairness is measured at the list's operating point; the measures that matter most here: "
            + ", ".join(fmt.METRIC_NAMES[m] for m in facts.audit.key_metrics) + "."
        )
    training = Section("Training data")
    _datasets_table(training, facts)
    features = Section("Features")
    columns, rows = _features(facts)
    if rows:
        features.table(columns, rows)
    else:
        features.text(None)
    over_time = Section("Quantitative analysis: performance over time")
    _metrics_table(over_time, facts.metrics)
    fairness = Section("Quantitative analysis: fairness")
    _audit_blocks(fairness, facts.audit, facts.baseline_audit)
    ethics = Section("Ethical considerations").items(
        [f"{risk} Mitigation: {mitigation}" for risk, mitigation in facts.risks]
    )
    ethics.text(
        "Reports and logged artefacts carry entity identifiers and aggregate figures only, never names or "
        "free text; person identifiers are pseudonymised before logging."
    )
    limitations = Section("Limitations").items(facts.limitations)
    caveats = Section("Caveats and recommendations").items(STANDARD_CAVEATS + list(facts.caveats))
    sections = [details, use, users, out_of_scope, factors, metric, training, features, over_time, fairness,
                ethics, limitations, caveats]
    return Document(f"Model card: {facts.pipeline}", f"{facts.model_name or facts.pipeline} · {created}", sections)


def transparency_record(facts: RunFacts) -> Document:
    """The algorithmic transparency record: ATRS tier 1 summary and tier 2 detail."""
    p = facts.purpose
    created = (facts.created or dt.date.today()).isoformat()
    tier1 = Section("Tier 1: summary").fields([
        ("Name", facts.model_name or facts.pipeline),
        ("Description", f"Our problem is {_clause(p.problem)}. If we could see {_clause(p.insight)}, we would "
                        f"{_clause(p.action)}."),
        ("How the tool works", f"It learns from cases the service already knows, using {_clause(p.datasets)}, "
                               "and ranks every entity by how likely it is to be a case, with the reasons for "
                               "each rank. Officers use the ranked list to choose where to look first."),
        ("Why the tool is used", facts.benefits),
        ("How it affects decisions", facts.human_review),
        ("Website", facts.website),
        ("Contact", facts.contact),
    ])
    owner = Section("Tier 2 · 1. Owner and responsibility").fields([
        ("1.1 Organisation", facts.organisation),
        ("1.2 Team", facts.team),
        ("1.3 Senior responsible owner", facts.senior_responsible_owner),
        ("1.4 External supplier", facts.external_supplier),
    ])
    rationale = Section("Tier 2 · 2. Description and rationale").fields([
        ("2.1 Detailed description", facts.intended_use),
        ("2.2 Scope", "; ".join(facts.out_of_scope) and "Not for: " + "; ".join(facts.out_of_scope)),
        ("2.3 Benefits", facts.benefits),
        ("2.4 Previous process", facts.previous_process),
        ("2.5 Alternatives considered", facts.alternatives),
    ])
    decision = Section("Tier 2 · 3. Decision-making process").fields([
        ("3.1 Process integration", _integration(facts)),
        ("3.2 Information provided", facts.information_provided),
        ("3.3 Frequency and scale of use", facts.frequency),
        ("3.4 Human decisions and review", facts.human_review),
        ("3.5 Required training", facts.training_required),
        ("3.6 Appeals and review", facts.appeals),
    ])
    performance = None
    if facts.metrics is not None and not facts.metrics.empty:
        performance = f"Measured on {len(facts.metrics)} temporal splits; see the table below and the model card."
    tool = Section("Tier 2 · 4. Tool specification").fields([
        ("4.1 System architecture", "riskengine: validated inputs, linked records, features as of a date "
                                    "(only earlier events), models compared with business as usual over "
                                    "temporal splits, tracked in MLflow, fairness audit at the operating point."),
        ("4.2 Phase", facts.phase),
        ("4.3 Maintenance", facts.maintenance),
        ("4.4 Model name and version", facts.model_name and f"{facts.model_name} {facts.model_version or ''}".strip()),
        ("4.5 Model task", f"Rank {_things(facts)} by the likelihood of the outcome within the label window."),
        ("4.6 Model input", f"{len(_features(facts)[1])} features" if _features(facts)[1] else None),
        ("4.7 Model output", f"A probability and rank per {_things(facts, 1)}, with plain-English reasons."),
        ("4.8 Model architecture", facts.model_type),
        ("4.9 Model performance", performance),
    ])
    _metrics_table(tool, facts.metrics)
    data = Section("Tier 2 · 4. Data specification").fields([
        ("Source data", [d.name for d in facts.datasets]),
        ("Data modality", "Tabular"),
        ("Data description", p.datasets),
        ("Sensitive attributes audited", list(facts.audit.reference) if facts.audit is not None else None),
        ("Data completeness and representativeness", _completeness(facts.audit)),
        ("Data collection", facts.data_collection),
        ("Data sharing agreements", facts.data_sharing),
        ("Data access and storage", facts.data_access),
    ])
    _datasets_table(data, facts)
    risks = Section("Tier 2 · 5. Risks, mitigations and impact assessments").fields(
        [("5.1 Impact assessments (e.g. DPIA, equality impact assessment)", facts.impact_assessments)]
    )
    if facts.risks:
        risks.table(["5.2 risk", "mitigation"], [list(r) for r in facts.risks])
    else:
        risks.fields([("5.2 Risks and mitigations", None)])
    fairness = Section("Fairness audit")
    _audit_blocks(fairness, facts.audit, facts.baseline_audit)
    sections = [tier1, owner, rationale, decision, tool, data, risks, fairness]
    return Document(f"Algorithmic transparency record: {facts.pipeline}", created, sections)


def _integration(facts: RunFacts) -> str:
    size = f" (the {facts.capacity} highest scores, the team's capacity)" if facts.capacity else ""
    return (
        f"A ranked list of the {_things(facts)} most likely to be cases{size} goes to the team, who would "
        f"{_clause(facts.purpose.action)}. Each row carries the reasons for its rank."
    )


def _things(facts: RunFacts, n: int = 2) -> str:
    """What the pipeline calls its entities ([purpose] entity / entities), plural unless n == 1."""
    purpose = facts.purpose
    return (getattr(purpose, "entity", None) or "entity") if n == 1 else (getattr(purpose, "entities", None) or "entities")


def _clause(text: str) -> str:
    """A statement as part of a sentence: no final full stop, lower-case start unless an acronym."""
    text = text.strip().rstrip(".")
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def _completeness(audit: "AuditResult | None") -> str | None:
    if audit is None:
        return None
    unknown = audit.groups[audit.groups["group"].str.startswith("unknown")]
    notes = [
        f"{attr}: {row['n_band'] if row['suppressed'] else int(row['n'])} entities with no recorded value"
        for attr, row in zip(unknown["attribute"], unknown.to_dict("records"))
    ]
    base = "Only entities whose outcome is known (mostly those inspected before) carry labels."
    if not notes:
        return base + " No attribute audited has missing values."
    return base + " Missing values: " + "; ".join(notes) + "."


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------


_MD_PUNCT = re.compile(r"([\\`*\[\]#|!~])")
_MD_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9_])_+|_+(?![A-Za-z0-9_])")  # inside a word (reply_to) it is no emphasis


def _md(value: Any) -> str:
    """Text from data or specs made inert in Markdown: one line, HTML and Markdown syntax escaped.

    `<script>`, `![x](http://...)`, `**bold**`, a leading `#` or `-` and table pipes all render
    as the characters they are, in any Markdown viewer (MLflow's included).
    """
    text = " ".join(str(value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_PUNCT.sub(r"\\\1", text)
    text = _MD_UNDERSCORE.sub(lambda m: "\\_" * len(m.group()), text)
    text = re.sub(r"^(\d+)([.)])(?=\s|$)", r"\1\\\2", text)  # not a numbered list
    return re.sub(r"^([+=-])(?=\s|$)", r"\\\1", text)  # not a bullet or a heading underline


def _md_cell(value: Any) -> str:
    return _md(value)


def _environment() -> jinja2.Environment:
    return environment({"md_cell": _md_cell, "md": _md})


def write_document(document: Document, out_dir: str | Path, stem: str) -> dict[str, Path]:
    """Write `stem`.md and `stem`.html; return their paths."""
    from riskengine.outputs import final_paths, run_folder

    env = _environment()
    texts = {kind: env.get_template(f"governance_document.{kind}.j2").render(doc=document, to_complete=TO_COMPLETE)
             for kind in ("md", "html")}
    with run_folder(Path(out_dir), shared=True) as out:  # both versions appear together
        paths = {kind: out / f"{stem}.{kind}" for kind in texts}
        for kind, path in paths.items():
            path.write_text(texts[kind], encoding="utf-8")
        return final_paths(paths)


def write_model_card(facts: RunFacts, out_dir: str | Path) -> dict[str, Path]:
    """Write model_card.md and model_card.html."""
    return write_document(model_card(facts), out_dir, "model_card")


def write_transparency_record(facts: RunFacts, out_dir: str | Path) -> dict[str, Path]:
    """Write transparency_record.md and transparency_record.html."""
    return write_document(transparency_record(facts), out_dir, "transparency_record")


def write_governance_pack(facts: RunFacts, out_dir: str | Path) -> dict[str, Path]:
    """Both documents: keys model_card_md, model_card_html, transparency_record_md, transparency_record_html."""
    paths = {f"model_card_{k}": v for k, v in write_model_card(facts, out_dir).items()}
    paths |= {f"transparency_record_{k}": v for k, v in write_transparency_record(facts, out_dir).items()}
    return paths


__all__ = [
    "DatasetFacts",
    "Document",
    "RunFacts",
    "Section",
    "model_card",
    "transparency_record",
    "write_governance_pack",
    "write_model_card",
    "write_transparency_record",
]
