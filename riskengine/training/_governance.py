"""The governance pack of a training run: bias reports, model card, transparency record.

Two audits a governance officer needs:
- the champion against business as usual on the last temporal split (labelled rows), so they
  see whether the model is fairer or less fair than the team's own rule;
- who gets selected across *all* entities: the homes actually inspected in the year before
  the last split against the model's top picks of the same number, so over-targeting built
  into current practice shows up even where no outcome is known.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from riskengine.audit import audit_with_fallback, write_audit_report
from riskengine.audit.governance import RunFacts, write_governance_pack
from riskengine.errors import SpecError
from riskengine.spec import IG_KEYS

MODEL_TYPES = {"lightgbm": "LightGBM gradient-boosted trees", "logistic_regression": "logistic regression"}


def governance_pack(result, population: pd.DataFrame, outcomes: pd.DataFrame, fingerprints: list[dict]) -> dict:
    """Write the reports under out_dir/governance; return {name: path}."""
    spec = result.spec
    attrs = [a for a in spec.audit.attributes if a in result.last_split.columns]
    out = result.out_dir / "governance"
    if not attrs:
        return _information_governance(result, out, [])
    common = dict(group_cols=attrs, min_group_size=spec.audit.min_group_size, burden=spec.audit.burden,
                  reference=spec.audit.reference or None, seed=spec.seed)
    rows = result.last_split.dropna(subset=["champion_score"])
    k = spec.metric.k
    audit = audit_with_fallback
    model_audit = audit(rows, "champion_score", "label", top_k=k, name="the model", **common)
    paths = {}
    bau_audit = None
    if rows["business_as_usual_score"].notna().all():
        bau_audit = audit(rows, "business_as_usual_score", "label", top_k=k, name="business as usual", **common)
    p = write_audit_report(model_audit, out / "last_split", purpose=spec.purpose, compare=bau_audit,
                           title=f"{spec.name}: fairness of the top {k} on the last temporal split "
                                 f"({result.summary['splits'][-1]['test_as_of']}), model against business as usual")
    paths["bias_report_last_split"] = p["html"]

    test_date = pd.Timestamp(result.summary["splits"][-1]["test_as_of"])
    year = outcomes[(outcomes["date"] >= test_date - pd.Timedelta(days=365)) & (outcomes["date"] < test_date)]
    pop = population.assign(inspected=population["entity_id"].isin(year["entity_id"]).astype(int))
    n_inspected = int(pop["inspected"].sum())
    if n_inspected:
        practice = audit(pop, "inspected", None, threshold=1, name="current practice", **common)
        picks = audit(pop, "champion_score", None, top_k=n_inspected, name="the model", **common)
        p = write_audit_report(picks, out / "selection", purpose=spec.purpose, compare=practice,
                               title=f"{spec.name}: who is selected among all {len(pop):,} {spec.purpose.entities}: the "
                                     f"{n_inspected:,} {spec.purpose.entities} inspected in the year before {test_date.date()} "
                                     "against the model's top picks of the same number")
        paths["bias_report_selection"] = p["html"]

    facts = _facts(result, fingerprints, model_audit, bau_audit)
    for name, path in write_governance_pack(facts, out).items():
        paths[name] = path
    paths |= _information_governance(result, out, [model_audit, bau_audit])
    return paths


def _information_governance(result, out, audits: list) -> dict:
    """The draft DPIA and data-sharing agreement, with what this run measured (linkage, bias findings)."""
    from riskengine.infogov import information_governance_pack, measured_from_summary

    return information_governance_pack(result.spec, out, measured_from_summary(result.summary, audits))


def _facts(result, fingerprints, model_audit, bau_audit) -> RunFacts:
    spec = result.spec
    s = result.summary
    champion = s["champion"]
    metrics = result.metrics[result.metrics["candidate"] == champion]
    metrics = metrics[["test_as_of", "n", "positives", "precision_at_k", "recall_at_k", "roc_auc", "average_precision"]]
    kind = next(m.type for m in spec.models if champion.startswith(m.name))
    extra = {k: v for k, v in spec.governance.items() if k not in IG_KEYS}  # the rest are DPIA facts
    known = {f.name for f in dataclasses.fields(RunFacts)}
    unknown = sorted(set(extra) - known)
    if unknown:
        raise SpecError(f"training spec [governance]: unknown key(s) {unknown}; expected some of {sorted(known)}")
    capacity = list_capacity(spec.name)
    per_list = (f"{capacity} per list, scoring/{spec.name}.toml" if capacity else f"{spec.metric.k} per list")
    base = dict(
        pipeline=spec.name,
        purpose=spec.purpose,
        intended_use=extra.pop("intended_use", (
            f"Ordering which {spec.purpose.entities} the team looks at first, up to its capacity ({per_list}). "
            "Officers decide what to do at each visit; the list prioritises, it decides nothing about anyone.")),
        users=extra.pop("users", ["inspection team", "service manager"]),
        out_of_scope=extra.pop("out_of_scope", [
            "Enforcement, sanctions or any decision about an entity without an inspection by an officer.",
            "Scoring people, or any use beyond the purpose stated above.",
            "Other areas or periods without re-training, re-validation and a new fairness audit.",
        ]),
        datasets=[{**f, "period": f"{f['first_date']} to {f['last_date']}" if f.get("first_date") else None}
                  for f in fingerprints],
        features={r.name: f"{r.stat} of {r.label}" + (f" over {int(r.window_days)} days" if pd.notna(r.window_days) else "")
                  for r in result.feature_info.itertuples()},
        metrics=metrics,
        audit=model_audit,
        baseline_audit=bau_audit,
        model_name=spec.name,
        model_version=str(s.get("model_version") or ""),
        model_type=MODEL_TYPES.get(kind, kind),
        run_id=s.get("run_id"),
        label_description=(f"an outcome of 1 recorded within {spec.labels.window_days} days after the as-of date"
                           if spec.labels.rows == "grid" else "the outcome of the case itself (1 = positive), "
                           "with features known strictly before its date"),
        selection_metric=(f"precision at k = {spec.metric.k} (metric.k, the capacity models are compared at), "
                          f"{s['selection_rule']}"
                          + (f"; the list itself holds {capacity} (capacity in scoring/{spec.name}.toml)"
                             if capacity and capacity != spec.metric.k else "")),
        capacity=capacity or spec.metric.k,
        previous_process="visits driven mostly by complaints (the business-as-usual baseline ranks by recent complaints)",
    )
    base.update(extra)
    return RunFacts(**base)



def list_capacity(pipeline: str) -> int | None:
    """The list's capacity from the pipeline's scoring spec (scoring/<pipeline>.toml), if there is one."""
    from pathlib import Path

    from riskengine.spec import ScoringSpec, load_spec

    path = Path("scoring") / f"{pipeline}.toml"
    if not path.is_file():
        return None
    try:
        spec = load_spec(path, kind="scoring")
    except SpecError:
        return None
    return spec.capacity if isinstance(spec, ScoringSpec) and spec.pipeline == pipeline else None
