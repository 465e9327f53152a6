"""Who is on this week's list, by group, against the whole population (issue: governance).

Without outcomes yet, only selection rates can be compared: the share of each group's
entities on the list, against a reference group, with intervals and small groups suppressed.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from riskengine.audit import audit_with_fallback, write_audit_report


def audit_list(listed: pd.DataFrame, scores: pd.DataFrame, entities: pd.DataFrame, tspec, out_dir: Path,
               purpose=None) -> dict[str, Path]:
    """Write bias_report.html/.json for the list; return their paths (none without audit attributes)."""
    attrs = [a for a in tspec.audit.attributes if a in entities.columns]
    if not attrs:
        return {}
    ents = entities[["entity_id", *attrs]].assign(entity_id=entities["entity_id"].astype(str))
    pop = scores[["entity_id"]].merge(ents, on="entity_id", how="left")
    pop["on_list"] = pop["entity_id"].isin(listed["entity_id"].astype(str)).astype(int)
    result = audit_with_fallback(pop, "on_list", None, group_cols=attrs, threshold=1,
                                 min_group_size=tspec.audit.min_group_size, burden=tspec.audit.burden,
                                 reference=tspec.audit.reference or None, seed=tspec.seed, name="this list",
                                 flagged_means=f"flagged when on this list ({int(pop['on_list'].sum())} of "
                                               f"{len(pop):,} {entities_word(tspec)})")
    paths = write_audit_report(result, out_dir, purpose=purpose,
                               title=f"{tspec.name}: who is on the list, by group, against all {len(pop):,} "
                                     f"{entities_word(tspec)}")
    return {"bias_report": paths["html"], "bias_report_json": paths["json"]}


def entities_word(tspec) -> str:
    """What the pipeline calls its entities in plural ("homes"), from the training spec's [purpose]."""
    return getattr(tspec.purpose, "entities", None) or "entities"
