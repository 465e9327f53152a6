"""Benchmark: nearby counts in DuckDB (riskengine.features) against a plain scikit-learn BallTree.

Prints figures, not pass/fail. A synthetic city (about 30 x 25 km, clustered like a real one):
entities and area events of two types over three years, one as-of date at the end. Both
sides count, for every entity, the area events of each type within each radius (haversine,
metres) dated in each window before the as-of date. The BallTree side builds one tree per
(type, window) over the events in that window and asks it for counts (`count_only=True`)
for every radius. The first run of each is checked equal before anything else is printed;
then the two run in turn (interleaved, order alternating) until each has run `--repeats`
times, and the medians and their ratio are printed; all of it at 1 and at 2 DuckDB threads
(`--threads`; scikit-learn's BallTree counts on one thread either way, so at 2 threads the
ratio says what the second core buys DuckDB against the same baseline).

    python bench/bench_nearby.py                               # 100k entities, 2M area events
    python bench/bench_nearby.py --entities 20000 --events 400000 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd
from sklearn.neighbors import BallTree

import duckdb

import riskengine.features._nearby as nearby_module
from riskengine.features._nearby import EARTH_RADIUS_M, TOLERANCE_M, nearby_info, nearby_values
from riskengine.spec import NearbySpec

AS_OF = pd.Timestamp("2024-04-01")
CENTRE = (41.85, -87.68)
TYPES = [("complaints311", "sanitation", 0.6), ("crime", "burglary", 0.4)]


def make_city(n_entities: int, n_events: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    hubs = rng.uniform([-15_000, -12_500], [15_000, 12_500], size=(60, 2))
    spread = rng.uniform(400, 2_000, 60)

    def points(n: int) -> tuple[np.ndarray, np.ndarray]:
        h = rng.integers(0, 60, n)
        even = rng.random(n) < 0.2
        x = np.where(even, rng.uniform(-15_000, 15_000, n), hubs[h, 0] + rng.normal(0, 1, n) * spread[h])
        y = np.where(even, rng.uniform(-12_500, 12_500, n), hubs[h, 1] + rng.normal(0, 1, n) * spread[h])
        lat = CENTRE[0] + y / 111_195.0
        return lat, CENTRE[1] + x / (111_195.0 * np.cos(np.radians(CENTRE[0])))

    lat, lon = points(n_entities)
    entities = pd.DataFrame({"entity_id": [f"E{i:07d}" for i in range(n_entities)], "lat": lat, "lon": lon})
    lat, lon = points(n_events)
    share = np.array([t[2] for t in TYPES])
    kind = rng.choice(len(TYPES), n_events, p=share / share.sum())
    area = pd.DataFrame({"source": np.array([t[0] for t in TYPES])[kind], "type": np.array([t[1] for t in TYPES])[kind],
                         "date": AS_OF - pd.to_timedelta(rng.integers(-30, 3 * 365, n_events), "D"),  # some after
                         "lat": lat, "lon": lon})
    return entities, area


def duckdb_counts(entities, area, spec: NearbySpec) -> pd.DataFrame:
    info = nearby_info(area, spec, {}, lambda s: s)
    keys = pd.DataFrame({"entity_id": entities["entity_id"], "as_of": AS_OF})
    return nearby_values(entities, keys, area, info)


def balltree_counts(entities, area, spec: NearbySpec) -> pd.DataFrame:
    query = np.radians(entities[["lat", "lon"]].to_numpy())
    out = {}
    for source, type_, _ in TYPES:
        for w in sorted(spec.windows):
            part = area[(area["source"] == source) & (area["type"] == type_) & (area["date"] < AS_OF)
                        & (area["date"] >= AS_OF - pd.Timedelta(days=w))]
            tree = BallTree(np.radians(part[["lat", "lon"]].to_numpy()), metric="haversine")
            for r in sorted(spec.radii_m):
                n = tree.query_radius(query, r=(r + TOLERANCE_M) / EARTH_RADIUS_M, count_only=True)
                out[f"nearby__{source}__{type_}__count_{int(r)}m_{w}d"] = n.astype(float)
    return pd.DataFrame(out)


class _DuckDBThreads:
    """The duckdb module, but every connection opened with `threads` threads (the bench's knob)."""

    def __init__(self, threads: int):
        self.threads = threads

    def __getattr__(self, name):
        return getattr(duckdb, name)

    def connect(self, *args, config=None, **kwargs):
        return duckdb.connect(*args, config={**(config or {}), "threads": self.threads}, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--radii", type=float, nargs="+", default=[250.0, 500.0])
    parser.add_argument("--windows", type=int, nargs="+", default=[90, 365])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="DuckDB threads, one race each")
    args = parser.parse_args()
    spec = NearbySpec(radii_m=args.radii, windows=args.windows, bandwidth_m=[])
    entities, area = make_city(args.entities, args.events)
    print(f"{len(entities):,} entities, {len(area):,} area events of {len(TYPES)} types, as of {AS_OF.date()}; "
          f"radii {args.radii} m, windows {args.windows} days: {len(TYPES) * len(args.radii) * len(args.windows)} counts each")

    for threads in args.threads:
        nearby_module.duckdb = _DuckDBThreads(threads)
        print(f"DuckDB at {threads} thread(s):", flush=True)
        times = {"duckdb": [], "balltree": []}

        def timed(name, fn):
            t0 = time.perf_counter()
            result = fn(entities, area, spec)
            times[name].append(time.perf_counter() - t0)
            print(f"  run {len(times[name])} {name:8s} {times[name][-1]:7.2f} s", flush=True)
            return result

        ours, theirs = timed("duckdb", duckdb_counts), timed("balltree", balltree_counts)  # run 1: checked, and timed
        theirs = theirs[list(ours.columns)]
        mismatched = int((ours.to_numpy() != theirs.to_numpy()).sum())
        print(f"equal outputs: {mismatched == 0} ({mismatched} of {ours.size:,} counts differ); "
              f"mean count per entity {ours.to_numpy().mean():.1f}")
        if mismatched:
            raise SystemExit("the two implementations disagree; timings would mean nothing")

        for i in range(1, args.repeats):  # interleaved, the order alternating
            for name, fn in (("balltree", balltree_counts), ("duckdb", duckdb_counts)) if i % 2 else \
                    (("duckdb", duckdb_counts), ("balltree", balltree_counts)):
                timed(name, fn)
        duck, ball = statistics.median(times["duckdb"]), statistics.median(times["balltree"])
        print(f"median of {args.repeats}: DuckDB {duck:.2f} s, BallTree {ball:.2f} s; "
              f"DuckDB ({threads} thread(s)) is {ball / duck:.2f}x the speed of the BallTree")


if __name__ == "__main__":
    main()
