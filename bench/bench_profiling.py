"""Measure: does the open classification recover the synthetic borough's hidden area types, and
how steady is that over k-means seeds and over boroughs? Prints figures, not pass/fail.

For each borough seed it generates a borough, then runs `segment` with several k-means seeds,
printing the supergroups' adjusted Rand index against the hidden types (truth/areas.csv), the
stability figure the page reports, and the seconds taken.

    python bench/bench_profiling.py                      # boroughs 0, 1, 2; k-means seeds 0..4
    python bench/bench_profiling.py --boroughs 0 --seeds 0 1
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--boroughs", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--properties", type=int, default=50_000)
    args = ap.parse_args()
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
