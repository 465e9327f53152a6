"""Benchmark the synthetic borough: 50,000 then 1,000,000 homes in one process.

Prints wall time, homes per second, rows written per second, the process's peak resident
memory (ru_maxrss) after each run, the size on disk, and how the large run scales against
the small one. Figures, not pass/fail.

    python bench/bench_synth.py [--large 1000000] [--small 50000] [--seed 0]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from riskengine.synth import synth


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
    return {"homes": n, "seconds": seconds, "rows": rows, "homes_per_s": n / seconds,
            "rows_per_s": rows / seconds, "peak_mb": _peak_mb(), "disk_mb": size / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = [_run(args.small, args.seed, Path(tmp)), _run(args.large, args.seed, Path(tmp))]
    print(f"{'homes':>10} {'seconds':>8} {'rows':>12} {'homes/s':>9} {'rows/s':>10} {'peak RSS MB':>11} {'disk MB':>8}")
    for r in results:
        print(f"{r['homes']:>10,} {r['seconds']:>8.1f} {r['rows']:>12,} {r['homes_per_s']:>9,.0f} "
              f"{r['rows_per_s']:>10,.0f} {r['peak_mb']:>11,.0f} {r['disk_mb']:>8,.0f}")
    small, large = results
    print(f"scale: {large['homes'] / small['homes']:.0f}x the homes took {large['seconds'] / small['seconds']:.1f}x "
          f"the time (per home: {small['homes_per_s'] / large['homes_per_s']:.2f}x as long)")


if __name__ == "__main__":
    main()
