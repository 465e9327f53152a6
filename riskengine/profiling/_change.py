"""Measure again (stage 8): did take-up rise where the action was aimed?

Take-up per 1,000 residents is computed per area before and after; the change in the
targeted areas is compared with the change in the others by a difference in differences
over areas, with the evaluation stage's `did` (the same estimate and cluster-robust
interval as `riskengine trial did`, clustered by area). Every area counts once, whatever
its size; only the means over groups of areas are published.
"""

from __future__ import annotations

import pandas as pd

from riskengine.errors import DataError


def change(before: pd.DataFrame, after: pd.DataFrame, population: pd.Series, targeted: set[str],
           *, per: int = 1000, where: str = "the targeted-areas table") -> dict:
    """Difference in differences of area take-up, targeted areas against the rest."""
    from riskengine.evaluation import did

    known = set(population.index)
    unknown = sorted(targeted - known)
    targeted = targeted & known
    if not targeted:
        raise DataError(f"{where}: none of its areas is in the classification's areas")
    if len(targeted) == len(known):
        raise DataError(f"{where}: every area is targeted, so there is nothing to compare with")
    pop = population[population > 0]
    rows = []
    for period, users in (("before", before), ("after", after)):
        counts = users["area"].value_counts().reindex(pop.index).fillna(0)
        for area, n in counts.items():
            rows.append({"area": area, "period": period, "targeted": "yes" if area in targeted else "no",
                         "take_up": per * float(n) / float(pop[area])})
    table = pd.DataFrame(rows)
    report = did(table, "targeted", "yes", "period", "after", "take_up", cluster_col="area",
                 source="take-up per area")
    d = report.data
    return {
        "estimate": d["did"]["estimate"], "ci": d["did"]["ci"], "p_value": d["did"]["p_value"],
        "se": d["did"]["se"], "se_method": d["se_method"], "means": d["means"],
        "targeted_areas": len(targeted), "other_areas": int(len(pop) - len(targeted & set(pop.index))),
        "unknown_targeted": unknown, "per": per, "users_before": int(len(before)), "users_after": int(len(after)),
        "evidence": d["evidence"],
    }
