"""Temporal cross-validation: train only on what was known before the period tested."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from riskengine.charts import figure, save_png
from riskengine.errors import RiskEngineError


@dataclass
class Split:
    """One fold: the test as-of date, and the as-of dates whose rows train it."""

    test_as_of: pd.Timestamp
    train_as_of: list[pd.Timestamp]


def temporal_splits(rows: pd.DataFrame, n_splits: int) -> list[Split]:
    """The last `n_splits` as-of dates are tested in turn.

    Each trains on rows whose label window closed on or before the test as-of date, so no
    training label comes from the period under test.
    """
    dates = sorted(rows["as_of"].unique())
    ends = rows.groupby("as_of")["label_window_end"].max()
    splits = []
    for test in dates[-n_splits:]:
        train = [d for d in dates if ends[d] <= test]
        if train:
            splits.append(Split(pd.Timestamp(test), [pd.Timestamp(d) for d in train]))
    if len(splits) < n_splits:
        raise RiskEngineError(
            f"only {len(splits)} temporal split(s) have earlier data to train on, {n_splits} asked "
            f"(splits.n_splits); start labels.first_as_of earlier or ask for fewer splits"
        )
    return splits


def plot_splits(splits: list[Split], window_days: int, path: str) -> None:
    """A timeline: for each split, the as-of dates trained on and the one tested."""
    fig = figure(9, 0.6 * len(splits) + 1.5)
    ax = fig.add_subplot()
    width = pd.Timedelta(days=window_days)
    for i, s in enumerate(splits):
        for d in s.train_as_of:
            ax.barh(i, width, left=d, height=0.25, color="#4c72b0", alpha=0.35)
        ax.barh(i, width, left=s.test_as_of, height=0.5, color="#dd8452")
    ax.set_yticks(range(len(splits)), [f"split {i + 1}: test {s.test_as_of.date()}" for i, s in enumerate(splits)])
    ax.set_xlabel("as-of date and its label window (blue: training rows, orange: tested)")
    ax.set_title("Temporal cross-validation")
    fig.tight_layout()
    save_png(fig, path)
