"""Choosing the champion over time, by a rule stated in the run."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from riskengine.spec import SelectionSpec

RULES = {
    "mean_precision_at_k": "the best mean precision@k across the temporal splits",
    "last_precision_at_k": "the best precision@k on the most recent split",
    "min_regret": "the smallest worst-case regret (shortfall from the best candidate) across splits",
}


@dataclass
class Choice:
    champion: str
    regret: pd.Series  # per metrics row: best precision@k in that split minus this one's
    table: pd.DataFrame  # per learnable candidate: the criterion, complexity, whether tied
    rule_text: str


def choose_champion(metrics: pd.DataFrame, spec: SelectionSpec, complexity: dict[str, float]) -> Choice:
    """Best candidate by the rule; candidates within `tolerance` of the best count as tied and
    the tie goes to the simpler one. Baselines are scored and shown but never chosen."""
    learnable = metrics[metrics["candidate"].isin(complexity)]
    best_per_split = learnable.groupby("split")["precision_at_k"].max()
    regret = metrics["split"].map(best_per_split) - metrics["precision_at_k"]
    per = learnable.assign(regret=regret[learnable.index]).groupby("candidate", sort=False)
    if spec.rule == "mean_precision_at_k":
        crit = per["precision_at_k"].mean()
    elif spec.rule == "last_precision_at_k":
        last = learnable["split"].max()
        crit = learnable[learnable["split"] == last].set_index("candidate")["precision_at_k"]
    else:
        crit = -per["regret"].max()
    table = pd.DataFrame({"criterion": crit, "complexity": pd.Series(complexity)}).dropna(subset=["criterion"])
    table["tied_with_best"] = table["criterion"] >= table["criterion"].max() - spec.tolerance
    tied = table[table["tied_with_best"]].sort_values(["complexity", "criterion"], ascending=[True, False])
    champion = str(tied.index[0])
    text = (f"{RULES[spec.rule]}; candidates within {spec.tolerance:g} of the best count as tied "
            "and the tie goes to the simpler model")
    return Choice(champion, regret, table.sort_values("criterion", ascending=False), text)
