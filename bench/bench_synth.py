"""Benchmark the synthetic borough: 50,000 then 1,000,000 homes, each against writing its files.

Speed figures are ratios against a baseline measured in this process: writing the very tables the
generator wrote (each file read back beforehand, then written again with pandas' own `to_csv` /
`to_parquet`, the JSON as bytes), i.e. the floor any generator of these files pays. The generator
is checked first (two runs with the same seed give byte-identical files); then the generator and the
baseline take turns, each figure the median of --repeat runs, at 1 and 2 threads (numpy's BLAS and
Arrow's pool, which the Parquet writer uses). Also printed: the share of a run spent on the Bayes
ceiling (p_posterior), rows written, peak resident memory and size on disk, and how the large run
scales against the small one. Then, for the small borough, the ceiling itself: precision at k
among the homes a list may hold (not licensed, not inspected in the last 12 months) when ranked by
p_posterior against p_unlicensed_hmo, and p_posterior's calibration. Figures, not pass/fail.

    python bench/bench_synth.py [--large 1000000] [--small 50000] [--repeat 3] [--seed 0] [--as-of 2025-10-01]
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import statistics
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


def _run(n: int, seed: int, out: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    summary = synth(out, properties=n, seed=seed, progress=False)
    seconds = time.perf_counter() - t0
    rows = sum(summary.rows.values())
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"homes": n, "seconds": seconds, "ceiling_s": _CEILING_SECONDS[-1], "rows": rows,
            "peak_mb": _peak_mb(), "disk_mb": size / 2**20, "out": out}


def _tables(folder: Path) -> dict[Path, object]:
    """Every file the generator wrote, held in memory as pandas reads it (text kept as text)."""
    held: dict[Path, object] = {}
    for p in sorted(folder.rglob("*")):
        if not p.is_file():
            continue
        rel = p.relative_to(folder)
        if p.suffix == ".csv":
            held[rel] = pd.read_csv(p, dtype=str, keep_default_na=False)
        elif p.suffix == ".parquet":
            held[rel] = pd.read_parquet(p)
        else:
            held[rel] = p.read_bytes()
    return held


def _write(held: dict[Path, object], out: Path) -> None:
    """The baseline: the same tables written with pandas' writers."""
    shutil.rmtree(out, ignore_errors=True)
    for rel, table in held.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(table, bytes):
            (out / rel).write_bytes(table)
        elif rel.suffix == ".csv":
            table.to_csv(out / rel, index=False)
        else:
            table.to_parquet(out / rel, index=False)


def _same_files(a: Path, b: Path) -> bool:
    names = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file())
    return names == sorted(str(p.relative_to(b)) for p in b.rglob("*") if p.is_file()) and \
        all(filecmp.cmp(a / n, b / n, shallow=False) for n in names)


def race(n: int, seed: int, root: Path, repeat: int, threads: list[int]) -> dict:
    """Check the generator repeats itself, then generator and baseline in turns at each thread count."""
    import pyarrow as pa
    from threadpoolctl import threadpool_limits

    first = _run(n, seed, root / f"check_{n}")
    again = _run(n, seed, root / f"borough_{n}")
    assert _same_files(first["out"], again["out"]), f"{n:,} homes: two runs with seed {seed} differ"
    shutil.rmtree(first["out"])
    held = _tables(again["out"])
    out: dict = {"homes": n, "rows": again["rows"], "disk_mb": again["disk_mb"]}
    for t in threads:
        pa.set_cpu_count(t)
        gen, base, ceil = [], [], []
        with threadpool_limits(t):
            for r in range(repeat):
                for name in (["synth", "write"] if r % 2 == 0 else ["write", "synth"]):
                    if name == "synth":
                        m = _run(n, seed, root / f"borough_{n}")
                        gen.append(m["seconds"])
                        ceil.append(m["ceiling_s"])
                    else:
                        t0 = time.perf_counter()
                        _write(held, root / f"written_{n}")
                        base.append(time.perf_counter() - t0)
        out[t] = {"synth": statistics.median(gen), "write": statistics.median(base), "ceiling": statistics.median(ceil)}
        print(f"  {n:,} homes, {t} thread(s): synth {out[t]['synth']:.2f} s, writing its files {out[t]['write']:.2f} s",
              file=sys.stderr, flush=True)
    pa.set_cpu_count(os.cpu_count() or 1)
    out["peak_mb"] = _peak_mb()
    out["out"] = root / f"borough_{n}"
    return out


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
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each (median)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--as-of", default="2025-10-01", help="date of the ceiling's list (a quarter start)")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        small = race(args.small, args.seed, Path(tmp), args.repeat, args.threads)
        table = ceiling(small["out"], args.as_of, [100, args.small // 100])
        calib = calibration(small["out"])
        shutil.rmtree(small["out"])
        large = race(args.large, args.seed, Path(tmp), args.repeat, args.threads) if args.large else None
    print(f"{'homes':>10} {'threads':>7} {'synth s':>8} {'write s':>8} {'write/synth':>11} {'ceiling share':>13} "
          f"{'rows':>12} {'peak RSS MB':>11} {'disk MB':>8}")
    for r in filter(None, (small, large)):
        for t in args.threads:
            m = r[t]
            print(f"{r['homes']:>10,} {t:>7} {m['synth']:>8.2f} {m['write']:>8.2f} {m['write'] / m['synth']:>11.2f} "
                  f"{m['ceiling'] / m['synth']:>13.2f} {r['rows']:>12,} {r['peak_mb']:>11,.0f} {r['disk_mb']:>8,.0f}")
    print("(write/synth: the time pandas takes to write the same files over the generator's time, medians of "
          f"{args.repeat} taking turns; 1.00 would be a generator that costs no more than writing its output. "
          "Files checked identical over two runs with the same seed first.)")
    if large:
        t = args.threads[0]
        print(f"scale: {large['homes'] / small['homes']:.0f}x the homes took {large[t]['synth'] / small[t]['synth']:.1f}x "
              f"the time, against {large[t]['write'] / small[t]['write']:.1f}x for writing the files ({t} thread(s))")
    a = table.attrs
    print(f"\nthe ceiling at {args.as_of}, {args.small:,} homes, seed {args.seed}: {a['pool']:,} homes on the list "
          f"(not licensed, not inspected in the last 12 months), {a['prevalence']:.3f} of them unlicensed HMOs")
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print("\np_posterior calibration (every home and quarter after the first):")
    print(calib.to_string(float_format=lambda x: f"{x:.4f}"))


if __name__ == "__main__":
    main()
