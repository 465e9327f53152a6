"""Temporal cross-validation: train only on what was known before the period tested."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskengine.charts import figure, save_png
from riskengine.errors import RiskEngineError


@dataclass
class Split:
    """One fold.

    Grid: `test_as_of` is the tested as-of date and `train_as_of` the as-of dates whose rows
    train it. Window (cases): rows dated in [test_as_of, test_to) are tested, rows dated
    before `train_until` (whose label is known by then) train; `train_as_of` holds the first
    and last training dates, for the record.
    """

    test_as_of: pd.Timestamp
    train_as_of: list[pd.Timestamp]
    test_to: pd.Timestamp | None = None
    train_until: pd.Timestamp | None = None

    @property
    def is_window(self) -> bool:
        return self.test_to is not None

    def train_mask(self, table: pd.DataFrame) -> pd.Series:
        """Which rows of `table` (as_of, label_window_end) train this split."""
        if not self.is_window:
            return table["as_of"].isin(self.train_as_of)
        return (table["as_of"] < self.train_until) & (table["label_window_end"] <= self.test_as_of)

    def test_mask(self, table: pd.DataFrame) -> pd.Series:
        """Which rows of `table` this split tests."""
        if not self.is_window:
            return table["as_of"] == self.test_as_of
        return (table["as_of"] >= self.test_as_of) & (table["as_of"] < self.test_to)

    def describe(self) -> dict:
        out = {"test_as_of": str(self.test_as_of.date()), "train_as_of_first": str(self.train_as_of[0].date()),
               "train_as_of_last": str(self.train_as_of[-1].date())}
        if self.is_window:
            out.update(test_to=str(self.test_to.date()), train_until=str(self.train_until.date()))
        return out


def make_splits(rows: pd.DataFrame, spec, framing: str = "grid") -> list[Split]:
    """The splits a spec's [splits] asks for (`spec`: a SplitSpec) in the `framing` ("grid" or "cases").

    No training row is dated on or after the start of the window it is tested on, and no
    training label comes from that window.
    """
    if framing == "cases":
        if spec.explicit:
            return [_window(rows, pd.Timestamp(spec.test_from),
                            pd.Timestamp(spec.test_to) if spec.test_to else rows["as_of"].max() + pd.Timedelta(days=1),
                            pd.Timestamp(spec.train_until or spec.test_from))]
        return rolling_case_splits(rows, spec.n_splits)
    if not spec.explicit:
        return temporal_splits(rows, spec.n_splits)
    start = pd.Timestamp(spec.test_from)
    stop = pd.Timestamp(spec.test_to) if spec.test_to else pd.Timestamp.max
    until = pd.Timestamp(spec.train_until or spec.test_from)
    dates = sorted(rows["as_of"].unique())
    ends = rows.groupby("as_of")["label_window_end"].max()
    splits = []
    for test in (pd.Timestamp(d) for d in dates if start <= d < stop):
        train = [pd.Timestamp(d) for d in dates if d < until and ends[d] <= min(test, start)]
        if train:
            splits.append(Split(test, train))
    if not splits:
        raise RiskEngineError(f"no as-of date in the tested window splits.test_from = {start.date()} .. "
                              f"test_to = {spec.test_to or 'the end'} has earlier rows to train on")
    return splits


def rolling_case_splits(rows: pd.DataFrame, n_splits: int) -> list[Split]:
    """Case dates cut into n_splits + 1 blocks of about equal size; each later block tested in turn.

    Block boundaries fall between dates, so one day's cases are never split; each block
    trains on every row dated before it.
    """
    counts = rows.groupby("as_of").size().sort_index()
    if len(counts) < n_splits + 1:
        raise RiskEngineError(f"the cases fall on only {len(counts)} date(s): too few for {n_splits} temporal "
                              "split(s) (splits.n_splits); ask for fewer splits")
    cum = counts.cumsum().to_numpy()
    dates = list(counts.index)
    starts = []
    for b in range(1, n_splits + 1):
        i = int(np.searchsorted(cum, b * cum[-1] / (n_splits + 1), side="left")) + 1
        i = min(max(i, (starts[-1] + 1) if starts else 1), len(dates) - (n_splits - b) - 1)
        starts.append(i)
    bounds = [pd.Timestamp(dates[i]) for i in starts] + [pd.Timestamp(dates[-1]) + pd.Timedelta(days=1)]
    return [_window(rows, bounds[j], bounds[j + 1], bounds[j]) for j in range(n_splits)]


def _window(rows: pd.DataFrame, start: pd.Timestamp, stop: pd.Timestamp, until: pd.Timestamp) -> Split:
    split = Split(start, [], test_to=stop, train_until=until)
    train = rows[split.train_mask(rows)]
    tested = rows[split.test_mask(rows)]
    if train.empty or tested.empty:
        raise RiskEngineError(
            f"the split testing {start.date()} to {stop.date()} (training before {until.date()}) has "
            f"{len(train)} training and {len(tested)} test row(s); the cases run from "
            f"{rows['as_of'].min().date()} to {rows['as_of'].max().date()} (check [splits] and [labels])")
    split.train_as_of = [pd.Timestamp(train["as_of"].min()), pd.Timestamp(train["as_of"].max())]
    return split


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
    if splits and splits[0].is_window:
        for i, s in enumerate(splits):
            ax.barh(i, s.train_until - s.train_as_of[0], left=s.train_as_of[0], height=0.25, color="#4c72b0", alpha=0.5)
            ax.barh(i, s.test_to - s.test_as_of, left=s.test_as_of, height=0.5, color="#dd8452")
        ax.set_yticks(range(len(splits)), [f"split {i + 1}: test {s.test_as_of.date()} to {s.test_to.date()}"
                                           for i, s in enumerate(splits)])
        ax.set_xlabel("case dates (blue: cases trained on, orange: cases tested)")
        ax.set_title("Temporal cross-validation by case date")
        fig.tight_layout()
        save_png(fig, path)
        return
    for i, s in enumerate(splits):
        for d in s.train_as_of:
            ax.barh(i, width, left=d, height=0.25, color="#4c72b0", alpha=0.35)
        ax.barh(i, width, left=s.test_as_of, height=0.5, color="#dd8452")
    ax.set_yticks(range(len(splits)), [f"split {i + 1}: test {s.test_as_of.date()}" for i, s in enumerate(splits)])
    ax.set_xlabel("as-of date and its label window (blue: training rows, orange: tested)")
    ax.set_title("Temporal cross-validation")
    fig.tight_layout()
    save_png(fig, path)


def tested_rows(table: pd.DataFrame, splits: list[Split]) -> dict[str, int]:
    """How many rows each split tests, by its first test date (a case split tests a window of dates)."""
    return {str(sp.test_as_of.date()): int(sp.test_mask(table).sum()) for sp in splits}
