"""Benchmark: link 1,000,000 source rows against 500,000 properties; print time and peak memory.

A synthetic borough of PROPERTIES homes is generated (not timed), its event sources are
sampled down to ROWS rows in total, and `riskengine.link.link` is timed on them, truth
table included (precision and recall are printed too). Peak memory is the process's
maximum resident set size, which includes DuckDB's allocations.

    python bench/bench_link.py                         # 1,000,000 rows, 500,000 properties
    python bench/bench_link.py --properties 100000 --rows 200000
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PREPARE = """
import sys
from pathlib import Path
import numpy as np
import pandas as pd
from riskengine.synth import synth

folder, properties, rows, seed = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
full = folder / "full"
synth(full, properties=properties, seed=seed)
out = folder / "bench"
(out / "events").mkdir(parents=True, exist_ok=True)
(out / "truth").mkdir(exist_ok=True)
(full / "entities.csv").rename(out / "entities.csv")
sizes = {p.stem: sum(1 for _ in p.open()) - 1 for p in sorted((full / "events").glob("*.csv"))}
total = sum(sizes.values())
rng = np.random.default_rng(seed)
truth = pd.read_parquet(full / "truth" / "links.parquet")
truth["source"] = truth["source"].astype(str)
kept = []
for name, n in sizes.items():
    df = pd.read_csv(full / "events" / f"{name}.csv", dtype=str, keep_default_na=False, na_values=[""])
    take = np.sort(rng.choice(n, size=min(n, round(rows * n / total)), replace=False))
    df.iloc[take].to_csv(out / "events" / f"{name}.csv", index=False)
    t = truth[truth["source"] == name].set_index("line").loc[take + 1].reset_index()
    t["line"] = np.arange(1, len(take) + 1)  # lines of the sampled file
    kept.append(t[["source", "line", "true_entity_id"]])
pd.concat(kept, ignore_index=True).to_parquet(out / "truth" / "links.parquet")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--properties", type=int, default=500_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_link_") as tmp:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", PREPARE, tmp, str(args.properties), str(args.rows), str(args.seed)],
                       check=True)
        print(f"prepared a borough of {args.properties:,} properties in {time.perf_counter() - started:.0f} s (not timed)")

        from riskengine.link import link, read_borough
        from riskengine.spec import LinkSpec

        os.environ.setdefault("RISKENGINE_PSEUDONYM_KEY", "benchmark-key-not-secret-0123456789")
        started = time.perf_counter()
        entities, sources, truth = read_borough(Path(tmp) / "bench")
        read_s = time.perf_counter() - started
        n_rows = sum(len(df) for df in sources.values())
        started = time.perf_counter()
        result = link(entities, sources, LinkSpec(), Path(tmp) / "out", progress=True, truth=truth)
        link_s = time.perf_counter() - started
        peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # Linux: kB

    m = result.metrics
    acc = m["accuracy"]["overall"]
    print(f"link: {n_rows:,} source rows against {len(entities):,} properties")
    print(f"  read CSVs {read_s:.1f} s; link (incl. reports) {link_s:.1f} s = {n_rows / link_s:,.0f} rows/s")
    print(f"  distinct addresses matched {m['distinct_addresses_matched']:,}, candidate pairs {m['candidate_pairs']:,}")
    print(f"  precision {acc['precision']:.4f}  recall {acc['recall']:.4f}  review share {m['review_share']:.4%}")
    print(f"  peak memory (max RSS) {peak_gb:.2f} GB")


if __name__ == "__main__":
    main()
