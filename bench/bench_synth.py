"""Benchmark the synthetic borough: 50,000 then 1,000,000 homes in one process.

Prints wall time, the part of it spent on the Bayes ceiling (p_posterior), homes per second,
rows written per second, the process's peak resident memory (ru_maxrss) after each run, the
size on disk, and how the large run scales against the small one. Then, for the small
borough, the ceiling itself: precision at k among the homes a list may hold (not licensed,
not inspected in the last 12 months) when ranked by p_posterior against p_unlicensed_hmo,
and p_posterior's calibration. Figures, not pass/fail.

    python bench/bench_synth.py [--large 1000000] [--small 50000] [--seed 0] [--as-of 2025-10-01]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from riskengine.synth import _world, synth

_CEILING_SECONDS: list[float] = []
_posterior = _world.World.posterior


def _timed_posterior(self, days):
    """World.posterior, timed: the share of a run the ceiling costs."""
    t0 = time.perf_counter()
    out = _posterior(self, days)
    _CEILING_SECONDS.append(time.perf_counter() - t0)
    return out


_world.World.posterior = _timed_posterior


def _peak_mb() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage / 1024 if sys.platform != "darwin" else usage / 2**20  # KiB on Linux, bytes on macOS


def _run(n: int, seed: int, root: Path) -> dict:
    out = root / f"borough_{n}"
    t0 = time.perf_counter()
    summary = synth(out, properties=n, seed=seed, progress=False)
    seconds = time.perf_counter() - t0
    rows = sum(summary.rows.values())
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"homes": n, "seconds": seconds, "ceiling_s": _CEILING_SECONDS[-1], "rows": rows,
            "homes_per_s": n / seconds, "rows_per_s": rows / seconds, "peak_mb": _peak_mb(),
            "disk_mb": size / 2**20, "out": out}


def ceiling(out: Path, as_of: str, ks: list[int]) -> pd.DataFrame:
    """Precision at each k on the list at `as_of`, ranked by each probability (realised and expected)."""
    day = pd.Timestamp(as_of)
    probs = pd.read_parquet(out / "truth" / "probabilities.parquet")
    probs = probs[probs["date"] == day].assign(entity_id=lambda d: d["entity_id"].astype(str)).set_index("entity_id")
    if probs.empty:
        raise SystemExit(f"no truth rows at {as_of}: pick a quarter start within the period")
    homes = pd.read_parquet(out / "truth" / "properties.parquet", columns=["entity_id", "licensed_date"])
    licensed = homes.set_index(homes["entity_id"].astype(str))["licensed_date"].reindex(probs.index) <= day
    visits = pd.read_csv(out / "outcomes.csv", dtype=str, usecols=["entity_id", "date"])
    when = pd.to_datetime(visits["date"], errors="coerce")
    recent = visits.loc[(when >= day - pd.DateOffset(months=12)) & (when < day), "entity_id"].unique()
    pool = probs[~licensed.to_numpy() & ~probs.index.isin(recent)]
    rows = []
    for k in ks:
        for by in ["p_posterior", "p_unlicensed_hmo"]:
            top = pool.sort_values(by, ascending=False, kind="stable").head(k)
            rows.append({"k": k, "ranked by": by, "realised": top["is_unlicensed_hmo"].mean(),
                         "expected (p_posterior)": top["p_posterior"].mean(),
                         "expected (p_unlicensed_hmo)": top["p_unlicensed_hmo"].mean()})
    table = pd.DataFrame(rows)
    table.attrs.update(homes=len(probs), pool=len(pool), prevalence=pool["is_unlicensed_hmo"].mean())
    return table


def calibration(out: Path) -> pd.DataFrame:
    """Mean p_posterior against the realised share, by bin, over every home and quarter after the first."""
    probs = pd.read_parquet(out / "truth" / "probabilities.parquet",
                            columns=["date", "p_posterior", "is_unlicensed_hmo"])
    probs = probs[probs["date"] > probs["date"].min()]
    edges = [0, 0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 0.98, 1.0001]
    bins = pd.cut(probs["p_posterior"], edges, right=False)
    return probs.groupby(bins, observed=True).agg(rows=("p_posterior", "size"), mean_p=("p_posterior", "mean"),
                                                  realised=("is_unlicensed_hmo", "mean"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--as-of", default="2025-10-01", help="date of the ceiling's list (a quarter start)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small = _run(args.small, args.seed, Path(tmp))
        table = ceiling(small["out"], args.as_of, [100, args.small // 100])
        calib = calibration(small["out"])
        large = _run(args.large, args.seed, Path(tmp))
    print(f"{'homes':>10} {'seconds':>8} {'ceiling s':>9} {'rows':>12} {'homes/s':>9} {'rows/s':>10} "
          f"{'peak RSS MB':>11} {'disk MB':>8}")
    for r in (small, large):
        print(f"{r['homes']:>10,} {r['seconds']:>8.1f} {r['ceiling_s']:>9.1f} {r['rows']:>12,} "
              f"{r['homes_per_s']:>9,.0f} {r['rows_per_s']:>10,.0f} {r['peak_mb']:>11,.0f} {r['disk_mb']:>8,.0f}")
    print(f"scale: {large['homes'] / small['homes']:.0f}x the homes took {large['seconds'] / small['seconds']:.1f}x "
          f"the time (per home: {small['homes_per_s'] / large['homes_per_s']:.2f}x as long)")
    a = table.attrs
    print(f"\nthe ceiling at {args.as_of}, {args.small:,} homes, seed {args.seed}: {a['pool']:,} homes on the list "
          f"(not licensed, not inspected in the last 12 months), {a['prevalence']:.3f} of them unlicensed HMOs")
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print("\np_posterior calibration (every home and quarter after the first):")
    print(calib.to_string(float_format=lambda x: f"{x:.4f}"))


if __name__ == "__main__":
    main()
