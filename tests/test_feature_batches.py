"""The feature build reads DuckDB's groups in batches, over slices of entities: any batch or slice size
gives the same table."""

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
    monkeypatch.setattr(build, "SLICE_ROWS", 500)  # and the statement run over many slices of entities
    assert len(build._slices(np.repeat(np.arange(300) * 3, 3), 300, 3, 3)) == 6
    pd.testing.assert_frame_equal(build_features(entities, events, dates, spec).table, whole)
    assert whole.filter(like="__count_all").to_numpy().sum() > 0


def test_statement_split_by_valued_types_gives_the_single_branchs_answer():
    """event_query with `valued_pairs` (sums and latest values only for types with values) answers
    exactly as the one-branch statement: every group, every slot, NULL where a type has no values."""
    import duckdb
    import pyarrow as pa

    from riskengine.features import event_query

    rng = np.random.default_rng(3)
    n, ids = 3000, [f"E{i:03d}" for i in range(120)]
    pairs = pd.DataFrame({"pair": [0, 1, 2], "source": ["benefit", "complaints", "register"],
                          "type": ["claim", "noise", "adults"]})
    pick = rng.integers(0, 3, n)
    value = np.where(pick == 1, np.nan, rng.integers(0, 4, n).astype(float))  # noise has no values
    value[rng.random(n) < 0.2] = np.nan
    events = pa.table({"source": pairs["source"].to_numpy()[pick], "entity_id": rng.choice(ids, n),
                       "date": (pd.Timestamp("2024-01-01") - pd.to_timedelta(rng.integers(0, 900, n), unit="D")
                                ).to_numpy(), "type": pairs["type"].to_numpy()[pick], "value": value})
    con = duckdb.connect()
    con.register("events_raw", events)
    con.register("entities_raw", pa.table({"entity_id": ids, "row": np.arange(len(ids))}))
    con.register("dates_raw", pd.DataFrame({"k": [0, 1], "as_of": pd.to_datetime(["2023-06-01", "2024-01-01"])}))
    con.register("pairs", pairs)
    args = dict(n_rows=len(ids), n_pairs=3, windows=[30, 365], with_sums=True, has_value_column=True)
    one = con.sql(event_query(**args)).df().sort_values("key", ignore_index=True)
    split = con.sql(event_query(**args, valued_pairs=[0, 2])).df().sort_values("key", ignore_index=True)
    assert len(one) > 300 and one["last"].notna().sum() > 100
    pd.testing.assert_frame_equal(split, one, check_exact=False, rtol=1e-12)
