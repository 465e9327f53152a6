"""Units of randomisation and stratified, seeded assignment to arms.

Units come from a scored list (its entities, or its wards) or, without a list, from the
spec's numbers (officers x weeks, weeks, or numbered wards). Within each stratum the arms
get their share of units to within one; leftover units go to the arms furthest behind
their overall share, so the totals stay balanced too. The same units and seed always give
the same assignment, whatever order the rows arrive in.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskengine.errors import DataError, SpecError
from riskengine.evaluation._io import numeric_column, require_columns

SCORE_COLUMNS = ("score", "probability")
WEEK_BLOCK = 2  # weeks per block: with "block" strata, consecutive weeks are paired per arm


def score_column(list_df: pd.DataFrame, where: str) -> str:
    """The list's score column: 'score', else 'probability'."""
    for name in SCORE_COLUMNS:
        if name in list_df.columns:
            return name
    raise DataError(
        f"{where}: a scored list needs a 'score' or 'probability' column; "
        f"columns present: {', '.join(map(str, list_df.columns))}"
    )


def risk_bands(scores: pd.Series, n_bands: int) -> pd.Series:
    """Equal-sized bands by rank, 1 = highest scores (ties broken by position)."""
    n_bands = max(1, min(n_bands, len(scores)))
    ranks = scores.rank(method="first", ascending=False)
    bands = pd.qcut(ranks, n_bands, labels=False) + 1
    return bands.astype(int)


def units_from_list(list_df: pd.DataFrame, *, unit: str, strata: list[str], n_bands: int,
                    top_k: int | None, where: str) -> pd.DataFrame:
    """Units (entities or wards) from a scored list, highest scores first, with risk bands."""
    require_columns(list_df, ["entity_id"], where)
    score = score_column(list_df, where)
    df = list_df.copy()
    df[score] = numeric_column(df, score, where)
    for col in ("entity_id", score):
        empty = df[col].isna().to_numpy()
        if empty.any():
            raise DataError(f"{where}: row {empty.nonzero()[0][0] + 1} has no {col}")
    df["entity_id"] = df["entity_id"].astype(str)
    dupes = df["entity_id"].duplicated()
    if dupes.any():
        raise DataError(f"{where}: entity_id {df['entity_id'][dupes].iloc[0]!r} appears more than once")
    df = df.sort_values([score, "entity_id"], ascending=[False, True], kind="stable")
    if top_k is not None:
        df = df.head(top_k)
    if unit == "entities":
        require_columns(df, [s for s in strata if s != "risk_band"], where)
        df["risk_band"] = risk_bands(df[score], n_bands)
        df["unit_id"] = df["entity_id"]
        keep = ["unit_id", "entity_id", score, "risk_band"]
        keep += [c for c in df.columns if c not in keep and c != "unit_id"
                 and (c in strata or c == "ward" or pd.api.types.is_numeric_dtype(df[c]))]
        return df[keep].reset_index(drop=True)
    require_columns(df, ["ward"], where)
    wards = (df.groupby(df["ward"].astype(str), sort=True)
             .agg(n_listed=("entity_id", "size"), mean_score=(score, "mean"), top_score=(score, "max"))
             .reset_index())
    wards["risk_band"] = risk_bands(wards["mean_score"], n_bands)
    wards.insert(0, "unit_id", wards["ward"])
    return wards


def units_from_numbers(*, unit: str, n_units: int | None, n_officers: int | None,
                       n_weeks: int | None, strata: list[str], where: str) -> pd.DataFrame:
    """Units built from the spec alone: officer-weeks, weeks or numbered wards."""
    if unit == "officer-weeks":
        if n_officers and n_weeks:
            grid = pd.MultiIndex.from_product(
                [range(1, n_officers + 1), range(1, n_weeks + 1)], names=["officer", "week"]
            ).to_frame(index=False)
            grid["officer"] = grid["officer"].map(lambda i: f"officer-{i:02d}")
            grid.insert(0, "unit_id", grid["officer"] + "/week-" + grid["week"].map("{:02d}".format))
            return grid
        if strata:
            raise SpecError(f"{where}: key 'design.strata' = {strata} needs 'design.n_officers' "
                            "and 'design.n_weeks' to build officer-weeks")
        count, label = n_units, "officer-week"
    elif unit == "weeks":
        count = n_weeks or n_units
        if count:
            weeks = pd.DataFrame({"week": range(1, count + 1)})
            weeks.insert(0, "unit_id", weeks["week"].map("week-{:02d}".format))
            weeks["block"] = (weeks["week"] - 1) // WEEK_BLOCK + 1
            return weeks
        label = "week"
    elif unit == "wards":
        if "risk_band" in strata:
            raise SpecError(f"{where}: key 'design.strata' = ['risk_band'] needs a scored list "
                            "(--list, or paths.list in the spec) to band the wards")
        count, label = n_units, "ward"
    else:  # entities
        raise SpecError(f"{where}: key 'design.unit' = 'entities' needs a scored list "
                        "(--list, or paths.list in the spec)")
    if not count:
        raise SpecError(f"{where}: say how many units there are: key 'design.n_units'"
                        + (" (or 'design.n_officers' and 'design.n_weeks')" if unit == "officer-weeks" else "")
                        + (" (or 'design.n_weeks')" if unit == "weeks" else ""))
    return pd.DataFrame({"unit_id": [f"{label}-{i:03d}" for i in range(1, count + 1)]})


def assign_arms(units: pd.DataFrame, *, arms: list[str], control: str, ratio: float,
                strata: list[str], seed: int) -> pd.DataFrame:
    """Add 'stratum' and 'arm' to `units`: stratified randomisation reproducible from `seed`.

    Each treatment arm gets `ratio` units per control unit. Units are sorted by unit_id first,
    so the result does not depend on the order of the rows.
    """
    weights = np.array([1.0 if a == control else ratio for a in arms])
    weights = weights / weights.sum()
    rng = np.random.default_rng(seed)
    out = units.sort_values("unit_id", kind="stable").reset_index(drop=True)
    out["stratum"] = "all"
    if strata:
        out["stratum"] = out[strata[0]].astype(str).radd(f"{strata[0]}=")
        for name in strata[1:]:
            out["stratum"] = out["stratum"] + f"|{name}=" + out[name].astype(str)
    arm = np.empty(len(out), dtype=object)
    assigned = np.zeros(len(arms))
    for _, idx in sorted(out.groupby("stratum", sort=True).indices.items()):
        n = len(idx)
        counts = np.floor(n * weights).astype(int)
        left = n - counts.sum()
        if left:
            behind = (assigned + counts) - weights * (assigned.sum() + n)
            order = np.lexsort((rng.random(len(arms)), behind))
            counts[order[:left]] += 1
        assigned += counts
        arm[idx] = rng.permutation(np.repeat(np.array(arms, dtype=object), counts))
    out["arm"] = arm.astype(str) if len(out) else pd.Series(dtype=str)
    return out
