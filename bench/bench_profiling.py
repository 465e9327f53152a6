"""Measure: does the open classification recover the synthetic borough's hidden area types, and
how steady is that over k-means seeds and over boroughs? Prints figures, not pass/fail.

For each borough seed it generates a borough, then runs `segment` with several k-means seeds,
printing the supergroups' adjusted Rand index against the hidden types (truth/areas.csv), the
stability figure the page reports, and the seconds taken.

    python bench/bench_profiling.py                      # boroughs 0, 1, 2; k-means seeds 0..4
    python bench/bench_profiling.py --boroughs 0 --seeds 0 1
    python bench/bench_profiling.py --scale 60000       # a country-sized table: 60,000 areas x 110 counts
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path


def scale(n: int, k: int = 110) -> None:
    """Fit, diagnostics (k = 2..12), stability and assignment on n planted areas of k count columns."""
    import resource

    import numpy as np
    import pandas as pd

    from riskengine.profiling._classify import AreaClassification, agreement, diagnostics, stability

    rng = np.random.default_rng(0)
    types = rng.integers(0, 8, n)
    base = rng.dirichlet(np.ones(k), size=8)
    pop = rng.integers(100, 400, n)
    counts = np.stack([rng.multinomial(p, rng.dirichlet(base[t] * 200)) for p, t in zip(pop, types)])
    df = pd.DataFrame(counts, columns=[f"v{i}" for i in range(k)])
    df.insert(0, "code", [f"E00{i:06d}" for i in range(n)])
    df["pop"] = pop
    df = df.astype(str)  # as read from a CSV: text
    variables = {f"v{i}": "pop" for i in range(k)}
    cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])  # noqa: E731
    t0, c0 = time.perf_counter(), cpu()
    m = AreaClassification(variables, "code", 8, 3, 10, 0).fit(df)
    x = m.prepared_.standardised.to_numpy()
    print(f"{n:,} areas x {k} counts: fit (10 starts) {time.perf_counter() - t0:.1f} s wall, {cpu() - c0:.1f} s CPU; "
          f"ARI against the planted types {agreement(pd.Series(m.supergroup_labels_), pd.Series(types)):.3f}")
    t0, c0 = time.perf_counter(), cpu()
    diagnostics(x, 2, 12, 5, 0)
    print(f"diagnostics k = 2..12 (5 starts each): {time.perf_counter() - t0:.1f} s wall, {cpu() - c0:.1f} s CPU")
    t0, c0 = time.perf_counter(), cpu()
    st = stability(x, m.supergroup_labels_, 8, 10, 0, 2)
    print(f"stability (2 re-runs): {time.perf_counter() - t0:.1f} s wall, {cpu() - c0:.1f} s CPU, ARI {st['mean']:.3f}")
    t0, c0 = time.perf_counter(), cpu()
    m.predict(df)
    print(f"assigning every area again: {time.perf_counter() - t0:.1f} s wall, {cpu() - c0:.1f} s CPU")
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=0, help="only the scale test, with this many areas")
    ap.add_argument("--boroughs", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--properties", type=int, default=50_000)
    args = ap.parse_args()
    if args.scale:
        scale(args.scale)
        return
    from riskengine.profiling import segment
    from riskengine.synth import synth

    spec_text = Path("evaluation/segments.toml").read_text()
    all_ari = []
    for b in args.boroughs:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            synth(tmp / "borough", properties=args.properties, seed=b, progress=False)
            row = []
            for s in args.seeds:
                text = spec_text.replace("out/borough", str(tmp / "borough"))
                text = text.replace('out_dir = "out/segments/borough"', f'out_dir = "{tmp / "seg"}"')
                text = re.sub(r"^seed = \d+", f"seed = {s}", text, flags=re.M)
                (tmp / "spec.toml").write_text(text)
                t0 = time.perf_counter()
                r = segment(tmp / "spec.toml")
                secs = time.perf_counter() - t0
                ari = r.data["truth"]["ari_supergroups"]
                row.append(ari)
                print(f"borough seed {b}, k-means seed {s}: ARI against hidden types {ari:.3f}; "
                      f"stability (mean ARI over {r.data['stability']['runs']} re-runs) "
                      f"{r.data['stability']['mean']:.3f}; {secs:.1f} s")
            all_ari += row
            print(f"borough seed {b}: ARI {min(row):.3f} to {max(row):.3f} over k-means seeds")
    print(f"all: median ARI {statistics.median(all_ari):.3f}, range {min(all_ari):.3f} to {max(all_ari):.3f} "
          f"({len(all_ari)} runs)")


if __name__ == "__main__":
    main()
