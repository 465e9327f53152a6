"""Measure: does the open classification recover the synthetic borough's hidden area types, and
how steady is that over k-means seeds and over boroughs? Prints figures, not pass/fail.

For each borough seed it generates a borough, then runs `segment` with several k-means seeds,
printing the supergroups' adjusted Rand index against the hidden types (truth/areas.csv) and the
stability figure the page reports (quality, not speed). Speed is `--scale`: the classification's
fit and assignment on a country-sized table, each as a ratio against the same steps written
directly in pandas and scikit-learn, measured in this process (partitions checked equal first,
taking turns, medians of --repeat, at 1 and 2 threads).

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


def plain_fit(df, cols: list[str], k: int, groups: int, n_init: int, seed: int):
    """The baseline: the same classification written directly with pandas and scikit-learn
    (text to numbers, percentages of the denominator, median imputation, IHS, range
    standardisation clipped to [-0.5, 1.5], k-means for the supergroups, then for the groups in
    each), without the engine's checks, rejects, notes and stable numbering."""
    import numpy as np
    import pandas as pd
    from sklearn.cluster import KMeans

    num = df[cols + ["pop"]].apply(pd.to_numeric)
    pct = (100 * num[cols]).div(num["pop"].where(num["pop"] > 0), axis=0)
    t = np.arcsinh(pct.fillna(pct.median()))
    lo, hi = t.min(), t.max()
    x = ((t - lo) / (hi - lo).where(lambda v: v > 0)).fillna(0.0).clip(-0.5, 1.5).to_numpy()
    top = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(x).labels_
    group = np.zeros(len(x), dtype=int)
    for s in range(k):
        members = np.flatnonzero(top == s)
        if len(members) >= groups * 6:
            group[members] = KMeans(n_clusters=groups, n_init=n_init, random_state=seed).fit(x[members]).labels_
    return x, top, group


def plain_assign(df, cols: list[str], medians, lo, hi, centres, group_centres):
    """The baseline for placing areas: the same preparation with the fitted medians and bounds, then
    the nearest supergroup centre and the nearest group centre in it, in numpy."""
    import numpy as np
    import pandas as pd

    num = df[cols + ["pop"]].apply(pd.to_numeric)
    pct = (100 * num[cols]).div(num["pop"].where(num["pop"] > 0), axis=0)
    t = np.arcsinh(pct.fillna(medians))
    x = ((t - lo) / (hi - lo).where(lambda v: v > 0)).fillna(0.0).clip(-0.5, 1.5).to_numpy()
    sg = ((x[:, None, :] - centres[None]) ** 2).sum(-1).argmin(1)
    gr = np.zeros(len(x), dtype=int)
    for s in np.unique(sg):
        mine = sg == s
        gr[mine] = ((x[mine][:, None, :] - group_centres[s][None]) ** 2).sum(-1).argmin(1)
    return sg, gr


def scale(n: int, k: int = 110, repeat: int = 3, threads: tuple[int, ...] = (1, 2)) -> None:
    """The classification's fit and assignment on n planted areas of k count columns (read as
    text), each against the same steps written directly in pandas and scikit-learn (`plain_fit`,
    `plain_assign`): the partitions are checked equal first, then the two take turns, each figure
    the median of `repeat`, at each number of threads (scikit-learn's OpenMP and BLAS)."""
    import resource

    import numpy as np
    import pandas as pd
    from sklearn.metrics import adjusted_rand_score
    from threadpoolctl import threadpool_limits

    from riskengine.profiling._classify import AreaClassification, agreement

    rng = np.random.default_rng(0)
    types = rng.integers(0, 8, n)
    base = rng.dirichlet(np.ones(k), size=8)
    pop = rng.integers(100, 400, n)
    counts = np.stack([rng.multinomial(p, rng.dirichlet(base[t] * 200)) for p, t in zip(pop, types)])
    df = pd.DataFrame(counts, columns=[f"v{i}" for i in range(k)])
    df.insert(0, "code", [f"E00{i:06d}" for i in range(n)])
    df["pop"] = pop
    df = df.astype(str)  # as read from a CSV: text
    cols = [f"v{i}" for i in range(k)]
    variables = {c: "pop" for c in cols}

    def engine():
        return AreaClassification(variables, "code", 8, 3, 10, 0).fit(df)

    m = engine()  # the check, before anything is timed
    x, top, group = plain_fit(df, cols, 8, 3, 10, 0)
    same_x = float(np.abs(m.prepared_.standardised.to_numpy() - x).max())
    ari_top = adjusted_rand_score(m.supergroup_labels_, top)
    ari_all = adjusted_rand_score(m.supergroup_labels_ * 10 + m.group_labels_, top * 10 + group)
    assert same_x == 0.0 and ari_top == 1.0 and ari_all == 1.0, (same_x, ari_top, ari_all)
    lo, hi = m.bounds_
    placed = m.predict(df)
    sg, gr = plain_assign(df, cols, m.medians_, lo, hi, m.supergroup_centres_, m.group_centres_)
    assert (placed["supergroup"].astype(int).to_numpy() - 1 == sg).all()
    assert list(placed["group"]) == [f"{s + 1}{chr(97 + g)}" for s, g in zip(sg, gr)]
    print(f"{n:,} areas x {k} counts (text); the same partitions as plain pandas + scikit-learn (standardised "
          f"table identical, ARI 1.000 for supergroups and groups; assignment identical); ARI against the "
          f"planted types {agreement(pd.Series(m.supergroup_labels_), pd.Series(types)):.3f}")
    cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])  # noqa: E731
    runs = {"fit": {"engine": engine, "plain": lambda: plain_fit(df, cols, 8, 3, 10, 0)},
            "assign": {"engine": lambda: m.predict(df),
                       "plain": lambda: plain_assign(df, cols, m.medians_, lo, hi, m.supergroup_centres_,
                                                     m.group_centres_)}}
    print(f"{'step':>7} {'threads':>7} {'engine s':>9} {'plain s':>8} {'engine cpu':>10} {'plain cpu':>9} "
          f"{'plain/engine':>12} {'cpu':>5}")
    for t in threads:
        for step, pair in runs.items():
            wall = {name: [] for name in pair}
            cpus = {name: [] for name in pair}
            names = list(pair)
            with threadpool_limits(t):
                for r in range(repeat):
                    for name in names[r % 2:] + names[:r % 2]:
                        t0, c0 = time.perf_counter(), cpu()
                        pair[name]()
                        wall[name].append(time.perf_counter() - t0)
                        cpus[name].append(cpu() - c0)
            w = {name: statistics.median(v) for name, v in wall.items()}
            c = {name: statistics.median(v) for name, v in cpus.items()}
            print(f"{step:>7} {t:>7} {w['engine']:>9.2f} {w['plain']:>8.2f} {c['engine']:>10.2f} {c['plain']:>9.2f} "
                  f"{w['plain'] / w['engine']:>12.2f} {c['plain'] / c['engine']:>5.2f}", flush=True)
    print(f"(medians of {repeat}, taking turns; plain/engine above 1: the engine is faster; load average "
          f"{__import__('os').getloadavg()[0]:.1f}; peak memory "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=0, help="only the scale test, with this many areas")
    ap.add_argument("--boroughs", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--properties", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=3, help="--scale: timed runs of each (median)")
    args = ap.parse_args()
    if args.scale:
        scale(args.scale, repeat=args.repeat)
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
                r = segment(tmp / "spec.toml")
                ari = r.data["truth"]["ari_supergroups"]
                row.append(ari)
                print(f"borough seed {b}, k-means seed {s}: ARI against hidden types {ari:.3f}; "
                      f"stability (mean ARI over {r.data['stability']['runs']} re-runs) "
                      f"{r.data['stability']['mean']:.3f}")
            all_ari += row
            print(f"borough seed {b}: ARI {min(row):.3f} to {max(row):.3f} over k-means seeds")
    print(f"all: median ARI {statistics.median(all_ari):.3f}, range {min(all_ari):.3f} to {max(all_ari):.3f} "
          f"({len(all_ari)} runs)")


if __name__ == "__main__":
    main()
