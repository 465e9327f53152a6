"""Benchmark: riskengine.features (DuckDB) against a plain pandas groupby of the same features.

Prints figures, not pass/fail. Synthetic data from numpy: entities with UPRN-like string ids,
ten events per entity over ten years from ten (source, type) pairs, three of them with values.
Each measurement runs in a fresh subprocess that reads the inputs from Parquet, so peak
memory (VmHWM) is its own; "inputs MB" is the peak after reading them, before any work.

    python bench/bench_features.py                       # 100k and 1M entities, one date; 20 dates at 100k
    python bench/bench_features.py --sizes 20000 --dates 5
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

AS_OF = pd.Timestamp("2024-04-01")
WINDOWS = [90, 365, 1095]
PAIRS = [  # source, type, has values, share of events
    ("complaints", "noise", False, 0.20), ("complaints", "pest", False, 0.06), ("complaints", "waste", False, 0.10),
    ("council_tax", "account_change", False, 0.15), ("council_tax", "single_person_discount", False, 0.05),
    ("housing_benefit", "claim", True, 0.12), ("housing_benefit", "change_of_circumstances", True, 0.06),
    ("electoral_register", "adults", True, 0.16), ("licensing", "application", False, 0.04),
    ("planning", "enforcement", False, 0.06),
]


# --- synthetic data ---------------------------------------------------------------------


def make_data(n_entities: int, n_events: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Entities and events; about 3% of events fall on or after AS_OF."""
    rng = np.random.default_rng(seed)
    ids = pc.cast(pa.array(10**11 + rng.permutation(n_entities * 3)[:n_entities]), pa.string())
    entities = pa.table({"entity_id": ids,
                         "property_type": pa.array(rng.choice(["flat", "terraced", "semi", "detached"], n_entities)),
                         "bedrooms": pa.array(rng.integers(1, 7, n_entities))}).to_pandas()
    busy = rng.random(n_events) < 0.3  # a third of the events fall on 5% of the entities
    who = np.where(busy, rng.integers(0, max(1, n_entities // 20), n_events), rng.integers(0, n_entities, n_events))
    share = np.array([p[3] for p in PAIRS])
    pair = rng.choice(len(PAIRS), n_events, p=share / share.sum())
    has_value = np.array([p[2] for p in PAIRS])[pair]
    value = np.where(has_value, np.round(rng.gamma(2.0, 150.0, n_events), 2), np.nan)
    value[has_value & (rng.random(n_events) < 0.1)] = np.nan  # some valued events lack a value
    days = rng.integers(-3650, 120, n_events)
    events = pa.table({
        "source": pc.take(pa.array([p[0] for p in PAIRS]), pa.array(pair)),
        "entity_id": pc.take(ids, pa.array(who)),
        "date": pa.array((AS_OF.to_datetime64() + days.astype("timedelta64[D]")).astype("datetime64[ns]")),
        "type": pc.take(pa.array([p[1] for p in PAIRS]), pa.array(pair)),
        "value": pa.array(value),
    }).to_pandas()
    return entities, events


# --- the pandas baseline ----------------------------------------------------------------


def pandas_features(entities: pd.DataFrame, events: pd.DataFrame, dates: list[pd.Timestamp]) -> pd.DataFrame:
    """The same features with plain pandas: one groupby per as-of date, then unstack."""
    key = ["entity_id", "source", "type"]
    valued = events.dropna(subset=["value"]).groupby(["source", "type"]).size()
    out = []
    for as_of in dates:
        past = events[events["date"] < as_of]
        age = (as_of - past["date"]).dt.days
        cols = {}
        for w in WINDOWS:
            cols[f"count_{w}d"] = (age <= w).astype("int64")
            cols[f"sum_{w}d"] = past["value"].where(age <= w)
        cols["count_all"] = pd.Series(1, index=past.index)
        cols["sum_all"] = past["value"]
        frame = pd.DataFrame(cols).join(past[key])
        grouped = frame.groupby(key, observed=True)
        agg = grouped.sum(min_count=1)
        agg["days_since"] = age.groupby([past[k] for k in key], observed=True).min()
        last = (past.dropna(subset=["value"]).sort_values(["date", "value"]).groupby(key, observed=True)["value"].last())
        agg["last"] = last
        wide = agg.unstack(["source", "type"])
        wide.columns = [f"{s}__{t}__{stat}" for stat, s, t in wide.columns]
        wide = wide.reindex(entities["entity_id"])
        for c in wide.columns:
            if "__count_" in c:
                wide[c] = wide[c].fillna(0).astype("int64")
        keep = [c for c in wide.columns if not (("__sum_" in c or c.endswith("__last"))
                                                and tuple(c.split("__")[:2]) not in valued.index)]
        wide = wide[keep].reset_index()
        wide.insert(1, "as_of", as_of)
        out.append(wide)
    return pd.concat(out, ignore_index=True)


def duckdb_features(entities: pd.DataFrame, events: pd.DataFrame, dates: list[pd.Timestamp]) -> pd.DataFrame:
    from riskengine.features import build_features
    from riskengine.spec import FeaturesSpec

    return build_features(entities, events, dates, FeaturesSpec(windows=WINDOWS)).table


def as_of_dates(n: int) -> list[pd.Timestamp]:
    return [AS_OF - pd.DateOffset(months=3 * i) for i in range(n)][::-1]


def check_equal() -> None:
    """Both implementations agree on a small sample before anything is timed."""
    entities, events = make_data(3_000, 30_000, seed=1)
    dates = as_of_dates(3)
    duck = duckdb_features(entities, events, dates)
    pand = pandas_features(entities, events, dates)
    assert set(duck.columns) == set(pand.columns), set(duck.columns) ^ set(pand.columns)
    pand = pand[duck.columns]
    pd.testing.assert_frame_equal(duck.reset_index(drop=True), pand, check_dtype=False, check_exact=False, rtol=1e-9)
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f} (other work on the machine slows wall time)")
    print(f"check: duckdb and pandas agree on {len(duck):,} rows x {duck.shape[1] - 2} features")


# --- one measurement in a fresh process -------------------------------------------------


def peak_mb() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: on Linux a child's
    ru_maxrss starts from its parent's resident size at fork."""
    try:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(impl: str, folder: str, n_dates: int) -> None:
    entities = pd.read_parquet(Path(folder) / "entities.parquet")
    events = pd.read_parquet(Path(folder) / "events.parquet")
    inputs = peak_mb()
    dates = as_of_dates(n_dates)
    run = duckdb_features if impl == "duckdb" else pandas_features
    before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    table = run(entities, events, dates)
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    print(json.dumps({"seconds": seconds, "cpu": cpu, "rows": len(table), "columns": table.shape[1],
                      "inputs_mb": inputs, "peak_mb": peak_mb()}))


def measure(impl: str, folder: Path, n_dates: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", impl, str(folder), str(n_dates)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000], help="numbers of entities")
    parser.add_argument("--dates", type=int, default=20, help="as-of dates for the multi-date run (smallest size)")
    parser.add_argument("--skip-pandas-above", type=int, default=10**9, help="skip the pandas baseline above this size")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return
    check_equal()
    runs = [(n, 1) for n in args.sizes] + ([(min(args.sizes), args.dates)] if args.dates > 1 else [])
    header = (f"{'entities':>10} {'events':>11} {'dates':>5} {'impl':>7} {'seconds':>8} {'cpu s':>7} "
              f"{'events/s':>11} {'entity-dates/s':>14} {'inputs MB':>9} {'peak MB':>8} {'duck/pandas':>11}")
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        for n, n_dates in runs:
            folder = Path(tmp) / f"{n}"
            if not folder.exists():
                folder.mkdir()
                entities, events = make_data(n, 10 * n)
                pq.write_table(pa.Table.from_pandas(entities, preserve_index=False), folder / "entities.parquet")
                pq.write_table(pa.Table.from_pandas(events, preserve_index=False), folder / "events.parquet")
                del entities, events
            results = {}
            for impl in ("duckdb", "pandas"):
                if impl == "pandas" and n > args.skip_pandas_above:
                    continue
                r = results[impl] = measure(impl, folder, n_dates)
                ratio = f"{results['duckdb']['seconds'] / r['seconds']:.3f}" if impl == "pandas" else ""
                print(f"{n:>10,} {10 * n:>11,} {n_dates:>5} {impl:>7} {r['seconds']:>8.2f} {r['cpu']:>7.2f} "
                      f"{10 * n / r['seconds']:>11,.0f} {n * n_dates / r['seconds']:>14,.0f} "
                      f"{r['inputs_mb']:>9,.0f} {r['peak_mb']:>8,.0f} {ratio:>11}", flush=True)
    print("seconds: wall clock; cpu s: user + system time of all threads. events/s and entity-dates/s use "
          "wall time.\nduck/pandas: DuckDB wall time over pandas wall time (below 1: DuckDB faster). "
          "peak MB includes the inputs.")


if __name__ == "__main__":
    main()
