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

Ingest (`--stage ingest`): the same entities and events written as CSV files (one per event
source, as councils export them, with a few rows breaking the data contract: unreadable
dates, unknown entities, repeated rows) plus outcomes and area events. Each round, in turns:
  DuckDB  `riskengine.ingest.load_data` (its in-process cache emptied first): read, validate,
          rejects, everything on this machine;
  Spark   `riskengine.spark.load_data` reading the same paths, every row validated in Spark,
          either every valid row brought here (what `train` reads: the DuckDB backend's tables)
          or, as `score` reads, only the rows the driver needs (events stay in Spark).
The rejects are checked equal (file, row, line, reason) and the tables equal before any
figure is printed.

    nice python bench/bench_spark.py                           # 2M entities, 10 events each, local[2], 3 rounds
    python bench/bench_spark.py --entities 200000 --repeats 1  # a quick look
    flock /work/wt/bench.lock nice -n 5 python bench/bench_spark.py --stage ingest --entities 200000
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


def write_csv_files(root: Path, n_entities: int, n_events: int) -> tuple[object, pd.Timestamp]:
    """The ingest bench's files (see the module notes) and a DataSpec naming them; `today` for the run."""
    from riskengine.spec import DataSpec, Source

    rng = np.random.default_rng(1)
    entities, events = make_data(n_entities, n_events)
    entities["lat"] = np.round(51.45 + rng.uniform(0, 0.1, len(entities)), 6)
    entities["lon"] = np.round(-0.2 + rng.uniform(0, 0.15, len(entities)), 6)
    entities.to_csv(root / "entities.csv", index=False)
    events["date"] = events["date"].dt.strftime("%Y-%m-%d")
    bad = rng.random(len(events))
    events.loc[bad < 0.0005, "date"] = "2023-02-30"  # not a real date
    events.loc[(bad >= 0.0005) & (bad < 0.001), "entity_id"] = "999"  # not in the entities table
    events = pd.concat([events, events.iloc[: max(1, len(events) // 2000)]], ignore_index=True)  # repeated rows
    sources = {}
    for source, rows in events.groupby("source", sort=True):
        path = root / f"{source}.csv"
        rows.drop(columns="source").to_csv(path, index=False)
        sources[source] = Source.from_string(str(path))
    sample = entities.sample(max(10, len(entities) // 100), random_state=0)
    pd.DataFrame({"entity_id": sample["entity_id"], "date": "2024-03-01",
                  "outcome": rng.integers(0, 2, len(sample))}).to_csv(root / "outcomes.csv", index=False)
    m = max(100, len(entities) // 10)
    pd.DataFrame({"lat": np.round(51.45 + rng.uniform(0, 0.1, m), 6), "lon": np.round(-0.2 + rng.uniform(0, 0.15, m), 6),
                  "date": (AS_OF - pd.to_timedelta(rng.integers(1, 700, m), "D")).strftime("%Y-%m-%d"),
                  "type": rng.choice(["burglary", "fly_tipping"], m)}).to_csv(root / "area.csv", index=False)
    spec = DataSpec(entities=Source.from_string(str(root / "entities.csv")), events=sources,
                    outcomes=Source.from_string(str(root / "outcomes.csv")),
                    area_events={"crime": Source.from_string(str(root / "area.csv"))}, max_reject_share=0.05)
    return spec, AS_OF + pd.Timedelta(days=200)


def _same_data(duck, got) -> None:
    """The Spark ingest's tables and rejects are the DuckDB backend's (else the bench stops)."""
    key = ["file", "row", "line", "reason"]
    a = duck.rejects[key].astype(str).sort_values(key).reset_index(drop=True)
    b = got.rejects[key].astype(str).sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(b, a, obj="rejects")
    pd.testing.assert_frame_equal(got.entities, duck.entities, check_dtype=False, obj="entities")
    for name, frame in duck.sources.items():
        pd.testing.assert_frame_equal(got.sources[name][frame.columns], frame, check_dtype=False, obj=name)
    for name, frame in duck.area_events.items():
        pd.testing.assert_frame_equal(got.area_events[name], frame, check_dtype=False, obj=name)
    pd.testing.assert_frame_equal(got.outcomes, duck.outcomes, check_dtype=False, obj="outcomes")


def bench_ingest(args, spark, root: Path) -> None:
    """DuckDB's ingest against Spark's on the same CSV files (see the module notes)."""
    import riskengine.ingest as ingest
    from riskengine.spark import load_data as spark_load

    t0 = time.perf_counter()
    spec, today = write_csv_files(root, args.entities, args.entities * args.events)
    size = sum(f.stat().st_size for f in root.glob("*.csv")) / 1e6
    print(f"ingest: {args.entities:,} entities, {args.entities * args.events:,} events in "
          f"{len(spec.events)} CSV files ({size:,.0f} MB) written in {time.perf_counter() - t0:.1f} s", flush=True)
    times: dict[str, list[float]] = {"duckdb": [], "spark_all": [], "spark_selected": []}
    for round_ in range(args.repeats):
        ingest._VALIDATED.clear()  # its in-process cache would answer the second round
        t0 = time.perf_counter()
        duck = ingest.load_data(spec, today=today.date())
        times["duckdb"].append(time.perf_counter() - t0)
        rows = sum(len(f) for f in duck.sources.values())
        t0 = time.perf_counter()
        got = spark_load(spark, spec, today=today.date())
        times["spark_all"].append(time.perf_counter() - t0)
        if round_ == 0:
            _same_data(duck, got.data)
        del duck, got
        spark.catalog.clearCache()  # else the next read would find this one's cached tables
        t0 = time.perf_counter()
        got = spark_load(spark, spec, today=today.date(), driver_rows=lambda source: [], link_addresses=False)
        assert got.events.count() == rows  # every valid keyed row, held in Spark
        times["spark_selected"].append(time.perf_counter() - t0)
        spark.catalog.clearCache()
        del got
        print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()), flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\ningest: tables and rejects equal; median of {args.repeats} round(s), load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"{'ingest':<46}{'seconds':>9}{'/ DuckDB':>10}")
    print(f"{'DuckDB backend (riskengine.ingest.load_data)':<46}{med['duckdb']:>8.1f}s{1.0:>9.2f}x")
    print(f"{'Spark ' + args.master + ', every row to the driver (train)':<46}{med['spark_all']:>8.1f}s"
          f"{med['spark_all'] / med['duckdb']:>9.2f}x")
    print(f"{'Spark ' + args.master + ', events kept in Spark (score)':<46}{med['spark_selected']:>8.1f}s"
          f"{med['spark_selected'] / med['duckdb']:>9.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entities", type=int, default=2_000_000)
    ap.add_argument("--events", type=int, default=10, help="events per entity")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--driver-memory", default="4g")
    ap.add_argument("--stage", choices=["all", "features", "ingest"], default="all",
                    help="features and scoring, ingest (CSV files read and validated), or both")
    args = ap.parse_args()
    if args.stage == "ingest":
        from riskengine.spark import spark_session

        with tempfile.TemporaryDirectory(prefix="bench_spark_ingest_") as tmp:
            spark = spark_session(args.master, app_name="bench_spark", config={"spark.driver.memory": args.driver_memory})
            bench_ingest(args, spark, Path(tmp))
            spark.stop()
        return

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
        if args.stage == "all":
            ingest_root = root / "ingest"
            ingest_root.mkdir()
            bench_ingest(args, spark, ingest_root)
        spark.stop()


if __name__ == "__main__":
    main()
