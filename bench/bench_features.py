"""Benchmark: riskengine.features (DuckDB) against a plain pandas groupby of the same features, and polars.

Prints figures, not pass/fail. Synthetic data from numpy: entities with UPRN-like string ids,
ten events per entity over ten years from ten (source, type) pairs, three of them with values;
as-of dates three months apart. The data are written once to Parquet (source and type as
categories, as pandas writes a column of a few repeated labels), and every timed run is its own
process that reads the files with `pd.read_parquet` and builds the table, as a user's process
(or `riskengine`) would: its memory peak is what a user sees, with nothing left over from
another run. First one process checks every implementation's output equal to pandas' on a
smaller borough; then the runs take turns (pandas, DuckDB at each thread count, ...; the order
rotated every round), each figure the median of --repeat runs, as a ratio to pandas' median
(pandas runs on one thread whatever the setting, so its runs serve every thread count). Peaks:
the process's VmHWM while reading, and during the build (reset after reading).

    python bench/bench_features.py                                  # 1M entities, 10M events, 8 dates, 1 and 2 threads
                                                                    # (then polars against both at 200k)
    python bench/bench_features.py --entities 200000 --repeat 3
    python bench/bench_features.py --impls duckdb --repeat 1        # the engine's time and peak only
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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
    """The same features with plain pandas: one groupby per as-of date, then unstack; each date's
    table is written into the result's columns as it is made."""
    key = ["entity_id", "source", "type"]
    valued = events.dropna(subset=["value"]).groupby(["source", "type"]).size()
    # the dates' tables are stacked into columns allocated once (a concat would hold them twice);
    # a type without events before a date keeps zero counts and missing statistics there
    out = {}
    for s, t in events[["source", "type"]].drop_duplicates().itertuples(index=False):
        names = [f"count_{w}d" for w in WINDOWS] + ["count_all"]
        if (s, t) in valued.index:
            names += [f"sum_{w}d" for w in WINDOWS] + ["sum_all", "last"]
        for name in names + ["days_since"]:
            out[f"{s}__{t}__{name}"] = (np.zeros(len(dates) * len(entities), np.int32) if name.startswith("count")
                                        else np.full(len(dates) * len(entities), np.nan,
                                                     np.float32 if name == "days_since" else np.float64))
    for i, as_of in enumerate(dates):
        past = events[events["date"] < as_of]
        age = (as_of - past["date"]).dt.days
        cols = {}
        for w in WINDOWS:
            cols[f"count_{w}d"] = (age <= w).astype("int32")
            cols[f"sum_{w}d"] = past["value"].where(age <= w)
        cols["count_all"] = pd.Series(1, index=past.index, dtype="int32")
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
                wide[c] = wide[c].fillna(0).astype("int32")  # the engine's count type: 4 bytes
            elif c.endswith("__days_since"):
                wide[c] = wide[c].astype("float32")  # the engine's type for days since: whole days, NaN: never
        keep = [c for c in wide.columns if not (("__sum_" in c or c.endswith("__last"))
                                                and tuple(c.split("__")[:2]) not in valued.index)]
        wide = wide[keep]
        at = slice(i * len(wide), (i + 1) * len(wide))
        for c in wide.columns:
            out[c][at] = wide[c].to_numpy()
        del wide
    ids = entities["entity_id"].take(np.tile(np.arange(len(entities)), len(dates))).reset_index(drop=True)
    return pd.DataFrame({"entity_id": ids, "as_of": np.repeat(np.asarray(dates, dtype="datetime64[ns]"), len(entities)),
                         **out}, copy=False)


def duckdb_features(entities: pd.DataFrame, events: pd.DataFrame, dates: list[pd.Timestamp],
                    threads: int | None = None) -> pd.DataFrame:
    """riskengine's own build (one DuckDB statement for every date, then the numpy scatter)."""
    from riskengine.features import build_features
    from riskengine.spec import FeaturesSpec

    return build_features(entities, events, dates, FeaturesSpec(windows=WINDOWS), threads=threads).table


def polars_features(entities: pd.DataFrame, events: pd.DataFrame, dates: list[pd.Timestamp]):
    """The same features in polars, in the best form found: the events sorted once so that within
    each group the latest (date, value) with a value comes last; per as-of date one lazy group-by
    of plain aggregations (sums of precomputed window columns, `last`, `min`: polars' fast path;
    filters or sorts inside an aggregation run group by group, about twice as slow here), the
    dates' groups concatenated, then one pivot and a join onto the grid. (Crossing every event
    with every date in one query took about as much CPU at 50k entities, and 5.4-6.1 GB at 200k.)
    Returns a polars DataFrame (the conversion to pandas is left out of its time)."""
    import polars as pl

    ev = pl.from_pandas(events[["source", "entity_id", "date", "type", "value"]]).with_columns(
        pl.col("source", "type").cast(pl.Utf8))  # (categories in the files: polars joins their names as text)
    valued = set(map(tuple, ev.lazy().filter(pl.col("value").is_not_null())
                     .select("source", "type").unique().collect().rows()))
    ids = pl.from_pandas(entities[["entity_id"]]).with_row_index("row")
    grid = pl.DataFrame({"as_of": [d.to_pydatetime() for d in dates]}).with_columns(pl.col("as_of").cast(pl.Datetime("ns"))) \
        .with_row_index("k").join(ids, how="cross")
    # rows without a value first, then by date and value: a group's last value is its latest (date, value) that has one
    ev = ev.sort(pl.col("value").is_not_null(), "date", "value", nulls_last=False)
    value = pl.col("value")
    parts = []
    for d in dates:
        age = (pl.lit(d).cast(pl.Datetime("ns")) - pl.col("date")).dt.total_days()
        past = ev.lazy().filter(pl.col("date") < d).with_columns(age=age).with_columns(
            *[(pl.col("age") <= w).cast(pl.Int32).alias(f"count_{w}d") for w in WINDOWS],
            *[pl.when(pl.col("age") <= w).then(value).alias(f"v_{w}") for w in WINDOWS])
        aggs = [pl.col(f"count_{w}d").sum() for w in WINDOWS] + [pl.len().cast(pl.Int32).alias("count_all")]
        aggs += [pl.col(f"v_{w}").sum().alias(f"sum_{w}d") for w in WINDOWS] + [value.sum().alias("sum_all")]
        aggs += [pl.col(f"v_{w}").count().alias(f"n_{w}") for w in WINDOWS] + [value.count().alias("n_all")]
        aggs += [value.last().alias("last"), pl.col("age").min().cast(pl.Float32).alias("days_since")]
        parts.append(past.group_by("entity_id", "source", "type").agg(aggs).with_columns(
            *[pl.when(pl.col(f"n_{w}") > 0).then(pl.col(f"sum_{w}{unit}")).alias(f"sum_{w}{unit}")
              for w, unit in [(w, "d") for w in WINDOWS] + [("all", "")]], as_of=pl.lit(d).cast(pl.Datetime("ns"))))
    long = (pl.concat(parts).drop(*[f"n_{w}" for w in WINDOWS], "n_all")
            .with_columns(name=pl.col("source") + "__" + pl.col("type")).drop("source", "type").collect())
    stats = [c for c in long.columns if c not in ("as_of", "entity_id", "name")]
    wide = long.pivot(on="name", index=["as_of", "entity_id"], values=stats, separator="|")
    wide = wide.rename({c: f"{c.split('|', 1)[1]}__{c.split('|', 1)[0]}" for c in wide.columns if "|" in c})
    keep = [c for c in wide.columns if c in ("as_of", "entity_id") or not (
        ("__sum_" in c or c.endswith("__last")) and tuple(c.split("__")[:2]) not in valued)]
    out = grid.join(wide.select(keep), on=["as_of", "entity_id"], how="left").sort("k", "row")
    counts = [c for c in keep if "__count_" in c]
    return out.with_columns(pl.col(counts).fill_null(0)).drop("k", "row")


def as_of_dates(n: int) -> list[pd.Timestamp]:
    return [AS_OF - pd.DateOffset(months=3 * i) for i in range(n)][::-1]


def same(a: pd.DataFrame, b: pd.DataFrame, what: str) -> None:
    """Equal tables: the same columns (any order) of the same types (counts int32, days since float32, the rest float64;
    ids compared as text), rows in the same order, counts exact, sums to 1e-9."""
    assert set(a.columns) == set(b.columns), f"{what}: columns differ: {sorted(set(a.columns) ^ set(b.columns))[:6]}"
    b = b[list(a.columns)]
    features = [c for c in a.columns if c not in ("entity_id", "as_of")]
    differ = {c: (a[c].dtype, b[c].dtype) for c in features if a[c].dtype != b[c].dtype}
    assert not differ, f"{what}: column types differ: {dict(list(differ.items())[:4])}"
    assert (a["as_of"].to_numpy() == b["as_of"].to_numpy()).all(), f"{what}: as_of differs"
    pd.testing.assert_frame_equal(a[features].reset_index(drop=True), b[features].reset_index(drop=True),
                                  check_exact=False, rtol=1e-9, obj=what)


def to_pandas(table) -> pd.DataFrame:
    if isinstance(table, pd.DataFrame):
        return table
    frame = table.to_pandas()
    frame["entity_id"] = frame["entity_id"].astype(str)
    return frame


def check_equal(entities: pd.DataFrame, events: pd.DataFrame, dates: list[pd.Timestamp], impls: list[str]) -> None:
    """Every implementation gives pandas' table before anything is timed."""
    pand = pandas_features(entities, events, dates)
    pand["entity_id"] = pand["entity_id"].astype(str)
    for impl in impls:
        if impl != "pandas":
            other = to_pandas(IMPLS[impl](entities, events, dates))
            other["entity_id"] = other["entity_id"].astype(str)
            same(pand, other, f"{impl} against pandas")


# --- the race --------------------------------------------------------------------------

IMPLS = {"duckdb": duckdb_features, "polars": polars_features, "pandas": pandas_features}


def peak_mb() -> float:
    """This process's peak resident memory since the last reset_peak() (VmHWM)."""
    try:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> None:
    """Start VmHWM again from the current resident size (Linux: write 5 to clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def digest(table) -> dict:
    """What the check compares at full size without keeping the tables: per column, the number of
    missing values and the total (counts exactly, sums to 1e-9)."""
    frame = to_pandas(table)
    out = {}
    for c in frame.columns:
        if c in ("entity_id", "as_of"):
            continue
        v = frame[c].to_numpy(dtype=float, na_value=np.nan)
        out[c] = (int(np.isnan(v).sum()), float(np.nansum(v)), len(v), str(frame[c].dtype))
    sample = frame["entity_id"].astype(str).iloc[:: max(1, len(frame) // 997)]
    out["_ids"] = hashlib.sha256("\n".join(sample).encode()).hexdigest()  # the same in every process
    return out


def same_digest(a: dict, b: dict, what: str) -> None:
    assert a.keys() == b.keys(), f"{what}: columns differ"
    for c in a:
        if c == "_ids":
            assert a[c] == b[c], f"{what}: entity order differs"
            continue
        assert a[c][0] == b[c][0] and a[c][2] == b[c][2], f"{what}: {c}: missing values differ"
        assert a[c][3] == b[c][3], f"{what}: {c}: types differ ({a[c][3]}, {b[c][3]})"
        assert np.isclose(a[c][1], b[c][1], rtol=1e-9, atol=0), f"{what}: {c}: totals {a[c][1]} != {b[c][1]}"


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def write_data(n: int, folder: Path, seed: int = 0, text: bool = False) -> None:
    """The borough as Parquet files: entities.parquet, events.parquet (source and type as
    categories unless `text`)."""
    entities, events = make_data(n, 10 * n, seed=seed)
    if not text:
        events = events.astype({"source": "category", "type": "category"})
    entities.to_parquet(folder / "entities.parquet")
    events.to_parquet(folder / "events.parquet")


def read_data(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_parquet(folder / "entities.parquet"), pd.read_parquet(folder / "events.parquet")


def check_child(folder: str, n_dates: int, impls: list[str]) -> None:
    """Every implementation's whole table equal to pandas' (the check-size borough)."""
    check_equal(*read_data(Path(folder)), as_of_dates(n_dates), impls)
    print(json.dumps({"ok": True}))


def run_child(folder: str, n_dates: int, impl: str, threads: int) -> None:
    """One timed run in this fresh process: read the files, build, report time, CPU, peaks, digest."""
    import pyarrow as pa

    if impl == "duckdb":  # the libraries load before the clock starts
        import riskengine.features  # noqa: F401
    elif impl == "polars":
        import polars  # noqa: F401
    entities, events = read_data(Path(folder))
    pa.default_memory_pool().release_unused()  # what Arrow kept from decoding the files
    read_peak, inputs = peak_mb(), rss_mb()
    dates = as_of_dates(n_dates)
    reset_peak()
    t, c = time.perf_counter(), cpu_seconds()
    table = (IMPLS[impl](entities, events, dates, threads) if impl == "duckdb"
             else IMPLS[impl](entities, events, dates))
    seconds, cpu = time.perf_counter() - t, cpu_seconds() - c
    build_peak = peak_mb()
    print(json.dumps({"seconds": seconds, "cpu": cpu, "inputs_mb": inputs, "read_peak_mb": read_peak,
                      "build_peak_mb": build_peak, "process_peak_mb": max(read_peak, build_peak),
                      "rows": len(table), "digest": digest(table)}))


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS")) / 1024


def _child(args: list[str], threads: int = 1) -> dict:
    env = dict(os.environ, POLARS_MAX_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True, env=env)
    if out.returncode:  # (its progress and any traceback went to stderr as they came)
        raise SystemExit(f"bench child {args} failed")
    return json.loads(out.stdout.strip().splitlines()[-1])


def race(n: int, n_dates: int, threads: list[int], repeat: int, impls: list[str], check_size: int,
         text: bool) -> dict:
    """Check, then the interleaved runs; returns per (impl, threads) the runs' figures."""
    with tempfile.TemporaryDirectory(prefix="bench-features-") as tmp:
        small, big = Path(tmp) / "check", Path(tmp) / "data"
        small.mkdir()
        big.mkdir()
        write_data(min(n, check_size), small, seed=1, text=text)
        _child(["--check", str(small), str(n_dates), ",".join(impls)])
        print(f"  outputs equal on {min(n, check_size):,} entities", file=sys.stderr, flush=True)
        write_data(n, big, text=text)
        runs = [(i, 1) for i in impls if i == "pandas"] + [(i, t) for i in impls if i != "pandas" for t in threads]
        got: dict[tuple[str, int], list[dict]] = {r: [] for r in runs}
        for r in range(repeat):
            for impl, t in runs[r % len(runs):] + runs[:r % len(runs)]:
                m = _child(["--run", str(big), str(n_dates), impl, str(t)], t)
                got[(impl, t)].append(m)
                print(f"  [round {r + 1}] {impl} ({t} thread(s)): {m['seconds']:.1f} s, cpu {m['cpu']:.1f} s, "
                      f"peak {m['process_peak_mb']:,.0f} MiB (inputs {m['inputs_mb']:,.0f} MiB)", file=sys.stderr, flush=True)
    base = got.get(("pandas", 1))
    for key, ms in got.items():
        if base and key[0] != "pandas":
            same_digest(base[0]["digest"], ms[0]["digest"], f"{key[0]} against pandas at full size")
    return got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=1_000_000, help="entities (events: ten times as many)")
    parser.add_argument("--dates", type=int, default=8, help="as-of dates, three months apart")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="threads for DuckDB and polars")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each implementation (median)")
    parser.add_argument("--impls", default="duckdb,polars,pandas", help="comma-separated; pandas is the baseline")
    parser.add_argument("--polars-entities", type=int, default=200_000,
                        help="polars races at this size, in a second round (its best form here peaked at "
                             "4.5 GB at 200k entities, so 1M would not fit the machine); 0: with the others")
    parser.add_argument("--check-size", type=int, default=20_000, help="entities in the full equality check")
    parser.add_argument("--text", action="store_true", help="source and type as plain text, not categories")
    parser.add_argument("--check", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--run", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.check:
        check_child(args.check[0], int(args.check[1]), args.check[2].split(","))
        return
    if args.run:
        run_child(args.run[0], int(args.run[1]), args.run[2], int(args.run[3]))
        return
    impls = args.impls.split(",")
    if "polars" in impls and importlib.util.find_spec("polars") is None:
        impls.remove("polars")
        print("polars is not installed (pip install .[bench]): measured without it")
    rounds = [(args.entities, impls)]
    if "polars" in impls and args.polars_entities and args.polars_entities != args.entities:
        rounds = [(args.entities, [i for i in impls if i != "polars"]), (args.polars_entities, impls)]
    for n, impls_n in rounds:
        print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}; {n:,} entities, {10 * n:,} events, "
              f"{args.dates} as-of dates, source and type as {'text' if args.text else 'categories'}; "
              f"{', '.join(impls_n)}; median of {args.repeat}, taking turns, each run its own process", flush=True)
        got = race(n, args.dates, args.threads, args.repeat, impls_n, args.check_size, args.text)
        base = got.get(("pandas", 1))
        med = {k: {f: statistics.median(m[f] for m in ms) for f in ("seconds", "cpu", "inputs_mb")}
               | {"peak": max(m["process_peak_mb"] for m in ms), "build": max(m["build_peak_mb"] for m in ms)}
               for k, ms in got.items()}
        print(f"{'impl':>7} {'threads':>7} {'seconds':>8} {'cpu s':>7} {'x pandas':>9} {'cpu x':>6} "
              f"{'peak MiB':>8} {'inputs':>7} {'peak x':>7}")
        for (impl, t), m in med.items():
            b = med.get(("pandas", 1))
            cells = ([f"{b['seconds'] / m['seconds']:.2f}", f"{b['cpu'] / m['cpu']:.2f}", f"{b['peak'] / m['peak']:.2f}"]
                     if b else ["", "", ""])
            print(f"{impl:>7} {t:>7} {m['seconds']:>8.2f} {m['cpu']:>7.2f} {cells[0]:>9} {cells[1]:>6} "
                  f"{m['peak']:>8,.0f} {m['inputs_mb']:>7,.0f} {cells[2]:>7}", flush=True)
        rows = next(iter(got.values()))[0]["rows"]
        print(f"(output {rows:,} rows x {len(next(iter(got.values()))[0]['digest']) - 1} features"
              f"{'; pandas runs on one thread, its runs are the baseline at every thread count' if base else ''}.)\n")
    print("Equal outputs: every table equal to pandas' on a check-size borough (the same column types, counts "
          "exact, sums to 1e-9), then per-column types, totals and missing counts at full size.\n"
          "seconds: median wall clock; cpu s: median user + system time of all threads; x pandas: pandas' median "
          "wall time over this one's; cpu x: the same for CPU time. peak MiB: the largest resident peak of the "
          "run's process (reading the files, then the build), all of it, libraries and inputs included; inputs: "
          "resident after reading (median); peak x: pandas' peak over this one's.")


if __name__ == "__main__":
    main()
