"""Benchmark: the Spark backend (local[N]) against the DuckDB backend, features and scoring.

Prints figures, not pass/fail. The data is bench_features.py's synthetic borough at scale
(entities with UPRN-like ids, `--events` events per entity from ten (source, type) pairs),
written once to Parquet. A LightGBM model (150 trees of 7 leaves, compiled, as `train`
registers it) is fitted on a sample and registered in a throw-away MLflow store.

Each round, in one process, the two backends take turns:
  DuckDB  read the Parquet files into pandas, `features.build_features` (one as-of date, the
          model's columns), `RiskModel.raw_score` for every entity;
  Spark   `spark.build_features` reading the same Parquet paths itself, materialised and
          cached (features), then `spark.score_features` (mlflow.pyfunc.spark_udf over the
          registered model, scores gathered to the driver in row order).
The scores are checked equal (bit for bit) before any figure is printed. Times are the
median of `--repeats` rounds; Spark's session start is timed once, apart.

    nice python bench/bench_spark.py                           # 2M entities, 10 events each, local[2], 3 rounds
    python bench/bench_spark.py --entities 200000 --repeats 1  # a quick look
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
warnings.filterwarnings("ignore")

from bench_features import AS_OF, WINDOWS, make_data  # noqa: E402


def _vmhwm_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def register_model(root: Path, entities: pd.DataFrame, events: pd.DataFrame, spec) -> tuple[str, object, pd.DataFrame]:
    """A compiled LightGBM model fitted on 20,000 entities, registered as models:/bench/1."""
    import mlflow
    from mlflow.models import infer_signature

    from riskengine.features import build_features
    from riskengine.model import RiskModel, RiskModelPyfunc

    rng = np.random.default_rng(0)
    sample = entities.sample(min(20_000, len(entities)), random_state=0)
    fs = build_features(sample, events[events["entity_id"].isin(sample["entity_id"])], [AS_OF], spec)
    t = fs.table
    logit = (0.4 * np.log1p(t["complaints__noise__count_365d"]) + 0.3 * np.log1p(t["housing_benefit__claim__count_all"])
             + 0.2 * (t["property_type"] == "flat") - 2.0)
    y = (rng.random(len(t)) < 1 / (1 + np.exp(-logit))).astype(int)
    model = RiskModel("lightgbm", params={"n_estimators": 150, "num_leaves": 7},
                      categories={"property_type": list(fs.info.set_index("name").at["property_type", "categories"])})
    model.fit(t, y)
    model.calibrate(model.raw_score(t), y)
    model.compile()
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    mlflow.set_registry_uri(f"sqlite:///{root / 'mlflow.db'}")
    example = t[model.features_].head(5).copy()
    for col in example.columns:
        example[col] = (example[col].astype(object).astype(str) if col in model.categories_
                        else pd.to_numeric(example[col]).astype("float64"))
    wrapper = RiskModelPyfunc(model, fs.info)
    exp = mlflow.set_experiment("bench_spark")
    with mlflow.start_run(experiment_id=exp.experiment_id):
        mlflow.pyfunc.log_model(name="model", python_model=wrapper, input_example=example,
                                signature=infer_signature(example, wrapper.predict(None, example)),
                                pip_requirements=["lightgbm", "scikit-learn", "pandas"], registered_model_name="bench")
    return "models:/bench/1", model, fs.info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entities", type=int, default=2_000_000)
    ap.add_argument("--events", type=int, default=10, help="events per entity")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--driver-memory", default="4g")
    args = ap.parse_args()

    from riskengine.features import build_features
    from riskengine.spark import build_features as spark_features
    from riskengine.spark import score_features, spark_session
    from riskengine.spec import FeaturesSpec

    spec = FeaturesSpec(windows=WINDOWS, static=["property_type", "bedrooms"], categorical=["property_type"])
    with tempfile.TemporaryDirectory(prefix="bench_spark_") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        entities, events = make_data(args.entities, args.entities * args.events)
        entities.to_parquet(root / "entities.parquet", index=False)
        # dates as microsecond timestamps: Spark does not read Parquet's nanosecond ones
        events.to_parquet(root / "events.parquet", index=False, row_group_size=1_000_000, coerce_timestamps="us",
                          allow_truncated_timestamps=True)
        print(f"{args.entities:,} entities, {len(events):,} events written to Parquet in {time.perf_counter() - t0:.1f} s")
        uri, model, info = register_model(root, entities, events, spec)
        del entities, events

        t0 = time.perf_counter()
        spark = spark_session(args.master, app_name="bench_spark", config={"spark.driver.memory": args.driver_memory})
        started = time.perf_counter() - t0
        print(f"Spark {spark.version} on {spark.sparkContext.master}: session started in {started:.1f} s")

        times: dict[str, list[float]] = {k: [] for k in ("duck_read", "duck_features", "duck_score",
                                                         "spark_features", "spark_score")}
        for round_ in range(args.repeats):
            t0 = time.perf_counter()
            entities = pd.read_parquet(root / "entities.parquet")
            events = pd.read_parquet(root / "events.parquet")
            t1 = time.perf_counter()
            fs = build_features(entities, events, [AS_OF], spec, reference=info)
            t2 = time.perf_counter()
            raw = model.raw_score(fs.table)
            t3 = time.perf_counter()
            times["duck_read"].append(t1 - t0)
            times["duck_features"].append(t2 - t1)
            times["duck_score"].append(t3 - t2)
            n_rows = len(fs.table)
            del fs, entities, events

            t0 = time.perf_counter()
            sfs = spark_features(spark, str(root / "entities.parquet"), str(root / "events.parquet"), [AS_OF], spec,
                                 reference=info)
            sfs.table = sfs.table.persist()
            assert sfs.table.count() == n_rows
            t1 = time.perf_counter()
            scored = score_features(spark, sfs, uri, model)
            t2 = time.perf_counter()
            sfs.table.unpersist()
            times["spark_features"].append(t1 - t0)
            times["spark_score"].append(t2 - t1)
            if not np.array_equal(scored.raw, raw):
                bad = int((scored.raw != raw).sum())
                raise SystemExit(f"Spark's scores differ from DuckDB's on {bad:,} of {len(raw):,} rows")
            print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()), flush=True)

        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"\nscores equal bit for bit on all {n_rows:,} rows in every round")
        print(f"median of {args.repeats} round(s); DuckDB backend peak memory (this process) {_vmhwm_mb():,.0f} MB")
        print(f"{'stage':<34}{'DuckDB':>10}{'Spark ' + args.master:>18}{'Spark / DuckDB':>16}")
        duck_f = med["duck_read"] + med["duck_features"]
        rows = [("features (incl. reading Parquet)", duck_f, med["spark_features"]),
                ("scoring every entity", med["duck_score"], med["spark_score"]),
                ("features + scoring", duck_f + med["duck_score"], med["spark_features"] + med["spark_score"])]
        for name, d, s in rows:
            print(f"{name:<34}{d:>9.1f}s{s:>17.1f}s{s / d:>15.2f}x")
        print(f"(DuckDB's Parquet read alone: {med['duck_read']:.1f} s; Spark's session start, once: {started:.1f} s; "
              f"load average {os.getloadavg()[0]:.1f})")
        spark.stop()


if __name__ == "__main__":
    main()
