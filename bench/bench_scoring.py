"""Scoring and reasons speed: the compiled scorers against their baselines, as ratios.

    python bench/bench_scoring.py                       # 1M rows scored, 50k explained
    python bench/bench_scoring.py --rows 100000 --explain 5000 --repeat 3

Every figure is a ratio against a baseline measured in this process: the two take turns
(interleaved repetitions) and each time is the median of --repeat runs. Outputs are
checked equal before anything is timed. Models:
  * bench: 300 trees x 31 leaves on 64 features of a synthetic borough (2 categorical, missing values)
  * demo-shaped: 150 trees x 7 leaves, 83 features, 3 categorical (the demo's LightGBM candidate's shape)
  * logistic: the demo-shaped data through the logistic pipeline (imputation, indicators, signed log,
    scaling, one-hot)
Baselines: `Booster.predict(raw_score=True)` and `pred_contrib=True` on the same float matrix and
the same number of threads; for the logistic model, `RiskModel.raw_score` as it was (scikit-learn's
ColumnTransformer and decision_function). The machine may be shared: ratios in one process count,
absolute times do not.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from riskengine.compiled import CompiledTrees
from riskengine.model import RiskModel, contributions


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def race(runs: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median wall seconds of each run, the runs taking turns (order rotated every round)."""
    times: dict[str, list[float]] = {k: [] for k in runs}
    names = list(runs)
    for i in range(repeat):
        for name in names[i % len(names):] + names[:i % len(names)]:
            t = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def make_data(n: int, n_num: int, cats: list[int], seed: int, missing: float = 0.08) -> tuple[pd.DataFrame, np.ndarray]:
    """A feature table like the engine's: counts and sums (skewed, many zeros, some missing), categories."""
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {}
    latent = rng.normal(size=n)
    for j in range(n_num):
        kind = j % 4
        if kind == 0:  # counts
            x = rng.poisson(np.exp(0.3 * latent * (j % 3) - 0.5)).astype(float)
        elif kind == 1:  # sums of values
            x = np.round(rng.gamma(2.0, 50.0, n) * (rng.random(n) < 0.4), 2)
        elif kind == 2:  # days since
            x = np.floor(rng.exponential(400, n))
        else:  # static numbers
            x = rng.integers(1, 8, n).astype(float)
        x[rng.random(n) < missing * (kind == 2 or kind == 1)] = np.nan
        cols[f"f{j:02d}"] = x
    for c, k in enumerate(cats):
        values = rng.integers(0, k, n)
        cat = pd.Categorical.from_codes(values, [f"c{c}_{i}" for i in range(k)])
        cat[rng.random(n) < 0.03] = np.nan
        cols[f"cat{c}"] = cat
    X = pd.DataFrame(cols)
    signal = 0.8 * latent + 0.02 * np.nan_to_num(X["f01"].to_numpy()) ** 0.5 - 0.002 * np.nan_to_num(X["f02"].to_numpy())
    y = (rng.random(n) < 1 / (1 + np.exp(-(signal - 1.5)))).astype(int)
    return X, y


def fit(kind: str, params: dict, n_num: int, cats: list[int], train_rows: int) -> tuple[RiskModel, pd.DataFrame]:
    X, y = make_data(train_rows, n_num, cats, seed=1)
    categories = {c: list(X[c].cat.categories) for c in X.columns if c.startswith("cat")}
    model = RiskModel(kind, params, categories, "none").fit(X, y)
    return model, X


def bench_trees(name: str, model: RiskModel, X: pd.DataFrame, rows_explain: int, repeat: int, out: dict) -> None:
    booster = model.estimator_.booster_
    t = time.perf_counter()
    compiled = CompiledTrees.from_booster(booster)
    print(f"\n[{name}] {booster.num_trees()} trees, {booster.num_feature()} features; compiled in "
          f"{time.perf_counter() - t:.1f} s ({len(compiled.library) / 1e6:.1f} MB library)", flush=True)
    M = np.ascontiguousarray(model.matrix(X))
    assert np.array_equal(compiled.raw_score(M), booster.predict(M, raw_score=True)), "compiled scores differ"
    E = M[:rows_explain]
    lgb_c = booster.predict(E, pred_contrib=True)
    our_c = compiled.contributions(E)
    diff = float(np.abs(lgb_c - our_c).max())
    additive = float(np.abs(our_c.sum(axis=1) - compiled.raw_score(E)).max())
    assert diff < 1e-6 and additive < 1e-9, (diff, additive)
    print(f"checked: scores identical on {len(M):,} rows; contributions within {diff:.1e} of pred_contrib, "
          f"additive to {additive:.1e}", flush=True)
    fig = out.setdefault(name, {"rows": len(M), "explained_rows": len(E), "max_contribution_diff": diff})
    for threads in (1, 2):
        t = race({"Booster.predict": lambda: booster.predict(M, raw_score=True, num_threads=threads),
                  "compiled": lambda: compiled.raw_score(M, threads)}, repeat)
        s = race({"pred_contrib": lambda: booster.predict(E, pred_contrib=True, num_threads=threads),
                  "compiled TreeSHAP": lambda: compiled.contributions(E, threads)}, repeat)
        fig[f"scores_{threads}t"] = {k: round(v, 3) for k, v in t.items()} | {
            "speedup": round(t["Booster.predict"] / t["compiled"], 2)}
        fig[f"reasons_{threads}t"] = {k: round(v, 3) for k, v in s.items()} | {
            "speedup": round(s["pred_contrib"] / s["compiled TreeSHAP"], 2)}
        print(f"  {threads} thread(s): scores {len(M):,} rows  Booster.predict {t['Booster.predict']:.2f} s, "
              f"compiled {t['compiled']:.2f} s -> {fig[f'scores_{threads}t']['speedup']}x | reasons "
              f"{len(E):,} rows  pred_contrib {s['pred_contrib']:.2f} s, compiled {s['compiled TreeSHAP']:.2f} s "
              f"-> {fig[f'reasons_{threads}t']['speedup']}x", flush=True)
    # the engine's whole path from the feature table (float matrix built slice by slice)
    model.compile()
    slow = RiskModel.__new__(RiskModel)
    slow.__dict__.update({k: v for k, v in model.__dict__.items() if k != "fast_"})
    assert np.array_equal(model.raw_score(X), booster.predict(M, raw_score=True))
    t = race({"RiskModel.raw_score before (matrix + Booster.predict)": lambda: slow.raw_score(X),
              "RiskModel.raw_score now (compiled)": lambda: model.raw_score(X)}, repeat)
    base, fast = t.values()
    fig["engine_from_table"] = {k: round(v, 3) for k, v in t.items()} | {"speedup": round(base / fast, 2)}
    print(f"  scoring stage from the feature table (all cores): before {base:.2f} s, now {fast:.2f} s "
          f"-> {base / fast:.2f}x; peak {peak_gb():.1f} GB", flush=True)
    del M


def bench_linear(X: pd.DataFrame, repeat: int, out: dict, train_rows: int) -> None:
    model, _ = fit("logistic_regression", {}, 80, [4, 3, 12], train_rows)
    slow = RiskModel.__new__(RiskModel)
    slow.__dict__.update(model.__dict__)
    model.compile()
    a, b = slow.raw_score(X), model.raw_score(X)
    diff = float(np.abs(a - b).max())
    cs, _ = contributions(slow, X.iloc[:50_000])
    cf, base = contributions(model, X.iloc[:50_000])
    cdiff = float(np.abs(cs - cf).max())
    assert diff < 1e-9 and cdiff < 1e-9, (diff, cdiff)
    print(f"\n[logistic] {len(X):,} rows, {len(model.features_)} features; scores within {diff:.1e}, "
          f"contributions within {cdiff:.1e} of the scikit-learn path", flush=True)
    t = race({"ColumnTransformer + decision_function": lambda: slow.raw_score(X),
              "arrays (LinearScorer)": lambda: model.raw_score(X)}, repeat)
    base_t, fast_t = t.values()
    out["logistic"] = {"rows": len(X), "max_diff": diff, **{k: round(v, 3) for k, v in t.items()},
                       "speedup": round(base_t / fast_t, 2)}
    print(f"  scores: before {base_t:.2f} s, now {fast_t:.2f} s -> {base_t / fast_t:.2f}x", flush=True)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows scored")
    ap.add_argument("--explain", type=int, default=50_000, help="rows explained (exact SHAP)")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved repetitions; each figure is their median")
    ap.add_argument("--train-rows", type=int, default=20_000)
    ap.add_argument("--only", choices=["bench", "demo", "logistic"], nargs="*", default=["bench", "demo", "logistic"])
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    print(f"cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} (other work on the machine slows "
          "wall time; the ratios are measured in one process, interleaved)", flush=True)
    out: dict = {}
    if "bench" in args.only:
        model, _ = fit("lightgbm", {"n_estimators": 300, "num_leaves": 31}, 62, [4, 3], args.train_rows)
        X, _ = make_data(args.rows, 62, [4, 3], seed=3)
        bench_trees("bench 300x31", model, X, args.explain, args.repeat, out)
        del X
    if "demo" in args.only or "logistic" in args.only:
        X, _ = make_data(args.rows, 80, [4, 3, 12], seed=4)
        if "demo" in args.only:
            model, _ = fit("lightgbm", {"n_estimators": 150, "num_leaves": 7}, 80, [4, 3, 12], args.train_rows)
            bench_trees("demo-shaped 150x7", model, X, args.explain, args.repeat, out)
        if "logistic" in args.only:
            bench_linear(X, args.repeat, out, args.train_rows)
    out["peak_gb"] = round(peak_gb(), 2)
    print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
