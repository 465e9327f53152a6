"""The feature build reads DuckDB's groups in batches: any batch size gives the same table."""

from __future__ import annotations

import numpy as np
import pandas as pd

import riskengine.features._build as build
from riskengine.features import build_features
from riskengine.spec import FeaturesSpec


def test_small_batches_give_the_same_table(monkeypatch):
    rng = np.random.default_rng(7)
    ids = [f"E{i:04d}" for i in range(300)]
    n = 4000
    events = pd.DataFrame({
        "source": rng.choice(["complaints", "benefit"], n),
        "entity_id": rng.choice(ids, n),
        "date": pd.Timestamp("2024-01-01") - pd.to_timedelta(rng.integers(0, 1500, n), unit="D"),
        "type": rng.choice(["noise", "claim", "pest"], n),
        "value": np.where(rng.random(n) < 0.5, rng.gamma(2.0, 10.0, n), np.nan)})
    entities = pd.DataFrame({"entity_id": ids})
    dates = ["2022-06-01", "2023-01-01", "2023-12-31"]
    spec = FeaturesSpec(windows=[90, 365])
    whole = build_features(entities, events, dates, spec).table
    monkeypatch.setattr(build, "BATCH_ROWS", 97)  # many batches, each holding every type
    pd.testing.assert_frame_equal(build_features(entities, events, dates, spec).table, whole)
    assert whole.filter(like="__count_all").to_numpy().sum() > 0
