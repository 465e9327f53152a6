"""Training rows: (entity, as-of date) pairs and their labels from the outcomes that follow."""

from __future__ import annotations

import pandas as pd

from riskengine.errors import RiskEngineError
from riskengine.spec import LabelSpec


def as_of_dates(labels: LabelSpec, outcomes: pd.DataFrame) -> list[pd.Timestamp]:
    """Every `every_months` from `first_as_of` to the last date whose label window has closed.

    A window has closed when the outcomes cover it: as_of + window_days <= the day after the
    last recorded outcome.
    """
    if outcomes is None or outcomes.empty:
        raise RiskEngineError("training needs outcomes (the known cases); data.outcomes is empty or missing")
    data_end = outcomes["date"].max() + pd.Timedelta(days=1)
    latest = pd.Timestamp(labels.last_as_of) if labels.last_as_of else data_end - pd.Timedelta(days=labels.window_days)
    dates = pd.date_range(pd.Timestamp(labels.first_as_of), latest, freq=pd.DateOffset(months=labels.every_months))
    if len(dates) == 0:
        raise RiskEngineError(
            f"no as-of dates between labels.first_as_of ({labels.first_as_of}) and {latest.date()} "
            f"(the last date whose {labels.window_days}-day label window the outcomes cover)"
        )
    return list(dates)


def label_rows(outcomes: pd.DataFrame, dates: list[pd.Timestamp], labels: LabelSpec,
               entity_ids: pd.Series | None = None) -> pd.DataFrame:
    """entity_id, as_of, label for every pair with an outcome in [as_of, as_of + window).

    An outcome above `positive_above` is a positive case (for 0/1 outcomes, a 1; for amounts,
    the spec sets the level). Several outcomes in one window count as positive if any is. Entities with none are left
    out ("exclude", the default) or, if the spec opts in, labelled 0 ("negative"); then
    `entity_ids` lists every entity.
    """
    window = pd.Timedelta(days=labels.window_days)
    parts = []
    for t in dates:
        inside = outcomes[(outcomes["date"] >= t) & (outcomes["date"] < t + window)]
        lab = (inside.groupby("entity_id", sort=True)["outcome"].max() > labels.positive_above).astype(int)
        part = lab.rename("label").reset_index()
        if labels.unlabelled == "negative":
            if entity_ids is None:
                raise ValueError("the 'negative' policy needs every entity id")
            part = pd.DataFrame({"entity_id": pd.Series(entity_ids).sort_values().to_numpy()}).merge(part, how="left")
            part["label"] = part["label"].fillna(0).astype(int)
        part.insert(1, "as_of", t)
        parts.append(part)
    rows = pd.concat(parts, ignore_index=True)
    rows["label_window_end"] = rows["as_of"] + window
    return rows


def describe_policy(labels: LabelSpec) -> str:
    """One sentence for the run record."""
    if labels.rows == "cases":
        return describe_cases_policy(labels)
    if labels.unlabelled == "exclude":
        return (f"rows are entities with an outcome within {labels.window_days} days after the as-of date; "
                "entities with none are unlabelled and left out of training")
    return (f"entities with no outcome within {labels.window_days} days after the as-of date are "
            "treated as negatives (spec opted in)")




def case_rows(outcomes: pd.DataFrame, labels: LabelSpec) -> pd.DataFrame:
    """entity_id, as_of, label, label_window_end: one training row per outcome, at its own date.

    Every outcome is a case (an inspection, a referral): its label is its own outcome (above
    `positive_above` is positive). Several cases of one entity at different dates give several
    rows; rows of one entity on one date are one case, positive when any of them is (extracts
    with a row per finding, such as a violation, repeat their inspection: `distinct_cases`).
    `first_as_of`/`last_as_of` (if set) bound the case dates. `label_window_end` is the day
    after the case: the label is known once the case is closed.
    """
    if outcomes is None or outcomes.empty:
        raise RiskEngineError("training needs outcomes (the known cases); data.outcomes is empty or missing")
    keep = pd.Series(True, index=outcomes.index)
    if labels.first_as_of is not None:
        keep &= outcomes["date"] >= pd.Timestamp(labels.first_as_of)
    if labels.last_as_of is not None:
        keep &= outcomes["date"] <= pd.Timestamp(labels.last_as_of)
    cases = outcomes[keep]
    if cases.empty:
        raise RiskEngineError(f"no outcomes dated between labels.first_as_of ({labels.first_as_of}) and "
                              f"labels.last_as_of ({labels.last_as_of}); the outcomes run from "
                              f"{outcomes['date'].min().date()} to {outcomes['date'].max().date()}")
    cases = distinct_cases(cases).sort_values(["date", "entity_id"], kind="stable")
    rows = pd.DataFrame({"entity_id": cases["entity_id"].astype(str).to_numpy(),
                         "as_of": cases["date"].to_numpy(dtype="datetime64[ns]"),
                         "label": (cases["outcome"].to_numpy(dtype=float) > labels.positive_above).astype(int)})
    rows["label_window_end"] = rows["as_of"] + pd.Timedelta(days=1)
    return rows


def distinct_cases(outcomes: pd.DataFrame) -> pd.DataFrame:
    """entity_id, date, outcome: one row per entity and date, its largest outcome (positive when any
    row is). Extracts with a row per finding (a violation) repeat their inspection on every row."""
    keyed = outcomes.assign(entity_id=outcomes["entity_id"].astype(str), date=outcomes["date"].dt.normalize())
    return keyed.groupby(["entity_id", "date"], sort=False, as_index=False)["outcome"].max()


def repeated_cases(outcomes: pd.DataFrame | None) -> int:
    """How many outcome rows repeat another's entity and date (merged into one case by `distinct_cases`)."""
    if outcomes is None or outcomes.empty:
        return 0
    return len(outcomes) - len(distinct_cases(outcomes))


def describe_cases_policy(labels: LabelSpec) -> str:
    """One sentence for the run record, case framing."""
    return ("every outcome is a training row at its own date, labelled by that outcome (outcomes of one entity on one "
            "date are one row, positive when any is); its features use only "
            "what was known strictly before the date (or the ready table's row as of it)")
