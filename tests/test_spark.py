"""The Spark backend gives the DuckDB backend's features, scores and list (riskengine.spark).

The Spark tests run on one local[2] session (the `spark` fixture in conftest.py) and skip,
saying why, when Java 17+ or pyspark is missing. The borough and its champion are the
scoring end-to-end tests' (built once per run, shared through a file lock).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_scoring_e2e import WEEK1, _score, _scoring_spec, store, world  # noqa: F401  (fixtures)

from riskengine.errors import RiskEngineError, SpecError
from riskengine.spec import FeaturesSpec, Source

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.xdist_group("spark")  # one worker, one JVM (make test runs --dist loadgroup)


def _borough_inputs(root: Path):
    from riskengine.ingest import load_data
    from riskengine.prepare import feature_events
    from riskengine.spec import load_spec

    tspec = load_spec(root / "training" / "hmo.toml")
    data = load_data(tspec.data)
    return tspec, data.entities, feature_events(data, tspec.features)


def _same(spark_fs, duck_fs) -> None:
    got = spark_fs.to_pandas()
    pd.testing.assert_frame_equal(got.info, duck_fs.info)
    assert list(got.table.columns) == list(duck_fs.table.columns)
    for col in duck_fs.table.columns:  # each column with its values and its type (ids aside: text either way)
        a, b = duck_fs.table[col], got.table[col]
        pd.testing.assert_series_equal(b, a, check_dtype=col != "entity_id", obj=col)


def test_features_on_spark_equal_duckdbs_on_the_borough(spark, store):
    from riskengine.features import build_features
    from riskengine.spark import build_features as spark_features

    tspec, entities, events = _borough_inputs(store)
    dates = ["2024-01-01", WEEK1]  # a grid of two as-of dates: rows in date, then entity order
    duck = build_features(entities, events, dates, tspec.features)
    on_spark = spark_features(spark, entities, events, dates, tspec.features)
    assert on_spark.table.count() == 2 * len(entities)
    _same(on_spark, duck)  # (with a model's columns as the reference: the scoring test below)
    # a few rows fetched by position are the DuckDB table's rows at those positions
    rows = on_spark.rows(np.array([len(entities) + 7, 3, 0]))
    expected = duck.table.iloc[[len(entities) + 7, 3, 0]].reset_index(drop=True)
    pd.testing.assert_frame_equal(rows.drop(columns="entity_id"), expected.drop(columns="entity_id"))


def test_train_on_spark_hands_over_duckdbs_training_table(spark, store):
    """Training stays here; with the Spark backend its labelled rows' features come from Spark, unchanged."""
    import copy

    from riskengine.ingest import load_data
    from riskengine.prepare import feature_events
    from riskengine.spec import load_spec
    from riskengine.training._train import as_of_dates, build_training_table

    tspec = load_spec(store / "training" / "hmo.toml")
    data = load_data(tspec.data)
    events = feature_events(data, tspec.features)
    dates = as_of_dates(tspec.labels, data.outcomes)
    duck, duck_fs = build_training_table(tspec, data, events, dates)
    on_spark = copy.deepcopy(tspec)
    on_spark.engine = tspec.engine.overridden("spark", "local[2]")
    table, fs = build_training_table(on_spark, data, events, dates)
    assert len(table) == len(duck) > 100 and table["label"].sum() == duck["label"].sum()
    pd.testing.assert_frame_equal(fs.info, duck_fs.info)
    for col in duck.columns:
        pd.testing.assert_series_equal(table[col], duck[col], check_dtype=col != "entity_id", obj=col)
    # each outcome a row at its own date (the case framing): its features from Spark too
    tspec.labels.rows = on_spark.labels.rows = "cases"
    duck, duck_fs = build_training_table(tspec, data, events, dates)
    table, fs = build_training_table(on_spark, data, events, dates)
    assert len(table) == len(duck) > 100
    pd.testing.assert_frame_equal(fs.info, duck_fs.info)
    for col in duck.columns:
        pd.testing.assert_series_equal(table[col], duck[col], check_dtype=col != "entity_id", obj=col)


def _edge_tables():
    """Events on the boundaries: on the as-of date (never counts), exactly w days before
    (inside window w), w + 1 days before (outside), two values on one day (the larger is
    'last'), a missing value, a level type, and an entity with no events at all."""
    as_of = pd.Timestamp("2024-04-01")
    d = lambda days: as_of - pd.Timedelta(days=days)  # noqa: E731
    entities = pd.DataFrame({"entity_id": ["a", "b", "c"], "kind": ["flat", "house", None], "rooms": [2, 5, 3]})
    rows = [("s", "a", as_of, "x", 1.0), ("s", "a", d(30), "x", 2.0), ("s", "a", d(31), "x", 4.0),
            ("s", "a", d(1), "x", np.nan), ("s", "b", d(5), "x", 7.0), ("s", "b", d(5), "x", 3.0),
            ("s", "b", d(400), "y", np.nan), ("r", "a", d(10), "adults", 3.0), ("r", "a", d(200), "adults", 5.0),
            ("s", "b", as_of + pd.Timedelta(days=3), "y", np.nan)]
    events = pd.DataFrame(rows, columns=["source", "entity_id", "date", "type", "value"])
    spec = FeaturesSpec(windows=[30, 365], static=["kind", "rooms"], categorical=["kind"], levels=["r.adults"])
    return entities, events, as_of, spec


def test_the_as_of_rule_windows_levels_and_ties_are_duckdbs(spark):
    from riskengine.features import build_features
    from riskengine.spark import build_features as spark_features

    entities, events, as_of, spec = _edge_tables()
    duck = build_features(entities, events, [as_of, as_of + pd.Timedelta(days=10)], spec)
    on_spark = spark_features(spark, entities, events, [as_of, as_of + pd.Timedelta(days=10)], spec)
    _same(on_spark, duck)
    t = on_spark.to_pandas().table.set_index(["entity_id", "as_of"])
    a, b, c = ((e, as_of) for e in "abc")
    assert t.at[a, "s__x__count_30d"] == 2 and t.at[a, "s__x__count_all"] == 3  # not the event on the as-of date
    assert t.at[a, "s__x__sum_30d"] == 2.0 and t.at[a, "s__x__last"] == 2.0  # the latest event with a value
    assert t.at[b, "s__x__last"] == 7.0 and t.at[b, "s__x__days_since"] == 5  # a tie of dates: the larger value
    assert t.at[a, "r__adults__last"] == 3.0 and "r__adults__sum_all" not in t.columns  # a level is not summed
    assert t.at[c, "s__x__count_all"] == 0 and np.isnan(t.at[c, "s__x__days_since"])  # no events at all
    assert pd.isna(t.at[c, "kind"]) and list(t["kind"].cat.categories) == ["flat", "house"]
    # an event 3 days after the first as-of date counts only as of the second
    assert t.at[b, "s__y__count_all"] == 1 and t.at[("b", as_of + pd.Timedelta(days=10)), "s__y__count_all"] == 2


def test_a_ready_feature_table_is_joined_as_duckdb_joins_it(spark):
    """The row dated that day, else the latest earlier one up to max_age_days old; never a later one."""
    from riskengine.features import build_features
    from riskengine.spark import build_features as spark_features

    entities, events, as_of, spec = _edge_tables()
    spec.table, spec.max_age_days, spec.categorical = Source.from_string("ready.csv"), 30, ["kind", "grade"]
    d = lambda days: as_of - pd.Timedelta(days=days)  # noqa: E731
    given = pd.DataFrame({"entity_id": ["a", "a", "b", "c", "c"], "as_of": [d(0), d(10), d(31), d(-1), d(5)],
                          "score": [1.0, 2.0, 3.0, 4.0, np.nan], "grade": ["x", "y", "x", "z", None]})
    dates = [as_of, as_of + pd.Timedelta(days=3)]
    duck = build_features(entities, events, dates, spec, given=given)
    on_spark = spark_features(spark, entities, events, dates, spec, given=given)
    _same(on_spark, duck)
    t = on_spark.to_pandas().table.set_index(["entity_id", "as_of"])
    assert t.at[("a", as_of), "score"] == 1.0 and np.isnan(t.at[("b", as_of), "score"])  # b's row is 31 days old
    assert t.at[("c", as_of), "grade"] is None or pd.isna(t.at[("c", as_of), "grade"])  # c's later row is not used


def test_tables_are_read_from_parquet_and_csv_paths(spark, tmp_path):
    from riskengine.features import build_features
    from riskengine.spark import build_features as spark_features

    entities, events, as_of, spec = _edge_tables()
    entities.to_parquet(tmp_path / "entities.parquet", index=False)
    out = events.assign(date=events["date"].dt.strftime("%Y-%m-%d"))
    out.to_csv(tmp_path / "events.csv", index=False)
    on_spark = spark_features(spark, str(tmp_path / "entities.parquet"), str(tmp_path / "events.csv"), [as_of], spec)
    _same(on_spark, build_features(entities, events, [as_of], spec))
    with pytest.raises(RiskEngineError, match=r"events table .*nowhere\.parquet: Spark could not read it"):
        spark_features(spark, entities, str(tmp_path / "nowhere.parquet"), [as_of], spec)


def test_score_on_spark_writes_the_duckdb_backends_list_byte_for_byte(spark, store, tmp_path):
    spec = _scoring_spec(store, store / "training" / "hmo.toml")
    res = _score(spec, "--as-of", WEEK1, "--no-mlflow", "--out", str(tmp_path / "spark"),
                 "--backend", "spark", "--spark-master", "local[2]")
    assert res.exit_code == 0, res.output
    duck, mine = store / "out" / "hmo" / WEEK1, tmp_path / "spark"
    for name in ("list.csv", "alerts.csv", "list.json"):
        assert (mine / name).read_bytes() == (duck / name).read_bytes(), name
    # every entity's score, probability, exclusion and top reasons (computed in Spark) are the same
    pd.testing.assert_frame_equal(pd.read_parquet(mine / "scores.parquet"), pd.read_parquet(duck / "scores.parquet"))
    pd.testing.assert_frame_equal(pd.read_parquet(mine / "features_sample.parquet"),
                                  pd.read_parquet(duck / "features_sample.parquet"), check_dtype=False)
    run = json.loads((mine / "run.json").read_text())
    assert run["backend"] == "spark (local[2])" and run["entities_scored"] == len(pd.read_parquet(mine / "scores.parquet"))


def test_the_engine_keys_are_checked_on_load(tmp_path):
    from riskengine.scoring import load_scoring_spec

    base = 'pipeline = "hmo"\n'
    for text, message in [('[engine]\nbackend = "dask"\n', r"engine\.backend.*'duckdb', 'spark'"),
                          ('[engine]\nspark_master = "local[2]"\n', r"spark_master.*only with engine\.backend = \"spark\""),
                          ('[engine]\nbackend = "spark"\nspark_master = " "\n', r"spark_master.*empty")]:
        path = tmp_path / "scoring" / "hmo.toml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(base + text)
        with pytest.raises(SpecError, match=message) as err:
            load_scoring_spec(path)
        assert str(path) in str(err.value)
    path.write_text(base + '[engine]\nbackend = "spark"\nspark_master = "local[2]"\n')
    engine = load_scoring_spec(path).engine
    assert (engine.backend, engine.spark_master) == ("spark", "local[2]")


def test_spark_options_on_the_command_line_are_checked(store):
    spec = _scoring_spec(store, store / "training" / "hmo.toml")
    res = _score(spec, "--no-mlflow", "--spark-master", "local[2]")
    assert res.exit_code == 2 and "--spark-master is used only with the Spark backend" in res.output
    res = _score(spec, "--no-mlflow", "--backend", "polars")
    assert res.exit_code == 2 and "--backend expected one of duckdb, spark" in res.output


def test_no_java_is_one_clear_error(monkeypatch, tmp_path):
    from riskengine.spark import why_no_spark

    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-java"))
    assert "no Java found" in why_no_spark()
    fake = tmp_path / "old" / "bin"
    fake.mkdir(parents=True)
    (fake / "java").write_text('#!/bin/sh\necho \'openjdk version "11.0.2" 2019-01-15\' >&2\n')
    (fake / "java").chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(fake.parent))
    assert "Java 11 found; PySpark 4 needs Java 17 or newer" in why_no_spark()


def test_pyspark_is_imported_only_by_the_spark_backend():
    """The DuckDB path and `riskengine --help` never load pyspark (other libraries may probe it)."""
    for path in (ROOT / "riskengine").rglob("*.py"):
        if "spark" in path.relative_to(ROOT / "riskengine").parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] == "pyspark" for n in names), f"{path} imports pyspark"
    code = "import sys; from riskengine.cli import app; print(any(m.startswith('pyspark') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


# --- linkage: splink on Spark ------------------------------------------------------------


@pytest.fixture(scope="module")
def small_borough(tmp_path_factory):
    from riskengine.synth import synth

    folder = tmp_path_factory.mktemp("spark_borough")
    synth(folder, properties=1000, seed=5, progress=False)
    return folder


def _same_links(duck, on_spark) -> int:
    """The rows both linkages read, after checking that each row got the same entity (or none) on both."""
    assert on_spark.model.n_pairs == duck.model.n_pairs > 0
    pd.testing.assert_frame_equal(on_spark.model.levels, duck.model.levels, rtol=1e-6)  # the EM's sums: last digits
    rows = 0
    for name, frame in duck.sources.items():
        a, b = frame["entity_id"].fillna("-"), on_spark.sources[name]["entity_id"].fillna("-")
        assert (a == b).all(), f"{name}: {int((a != b).sum())} row(s) linked differently"
        rows += len(a)
    return rows


def test_linkage_on_spark_gives_duckdbs_links(spark, small_borough, monkeypatch):
    """splink on Spark (blocking, comparisons) with u from DuckDB's sample and the EM here: the same
    model, every row linked to the same entity as on DuckDB."""
    from riskengine.link import link, read_borough
    from riskengine.spec import LinkSpec

    monkeypatch.setenv("RISKENGINE_PSEUDONYM_KEY", "devkey-not-secret")
    entities, sources, truth = read_borough(small_borough)
    duck = link(entities, sources, LinkSpec(), truth=truth)
    on_spark = link(entities, sources, LinkSpec(), truth=truth, spark=spark)
    assert _same_links(duck, on_spark) > 10_000
    acc = on_spark.metrics["accuracy"]["overall"]
    assert acc["precision"] >= 0.99 and acc["recall"] >= 0.99


@pytest.mark.slow
def test_linkage_trained_on_spark_gives_duckdbs_links(spark, tmp_path, monkeypatch):
    """The same on a 2,500-home borough (38,717 rows; before u came from one sample, one row was apart)."""
    from riskengine.link import link, read_borough
    from riskengine.spec import LinkSpec
    from riskengine.synth import synth

    monkeypatch.setenv("RISKENGINE_PSEUDONYM_KEY", "devkey-not-secret")
    synth(tmp_path, properties=2500, seed=3, progress=False)
    entities, sources, truth = read_borough(tmp_path)
    duck = link(entities, sources, LinkSpec(), truth=truth)
    on_spark = link(entities, sources, LinkSpec(), truth=truth, spark=spark)
    assert _same_links(duck, on_spark) > 30_000
    for acc in (duck.metrics["accuracy"]["overall"], on_spark.metrics["accuracy"]["overall"]):
        assert acc["precision"] >= 0.99 and acc["recall"] >= 0.99


# --- reading and validating [data] in Spark (the command line's path with --backend spark) ---


def _messy_folder(root: Path) -> Path:
    """A small data set breaking each of ingest's rules once or twice, as CSV and Parquet files."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "entities.csv").write_text(
        "entity_id,address,lat,lon,ward\n"
        "E1,1 High St,51.5,-0.1,north\n E2 ,2 High St,51.6,-0.2,south\nE3,3 High St,abc,-0.1,north\n"
        "E4,4 High St,\"51,5\",inf,south\nE5,5 High St,95,-0.1,north\n,6 High St,51.5,-0.1,south\n"
        "E1,1 High St again,51.5,-0.1,north\nE7,7 High St,,,south\n12,12 High St,51.5,-0.1,north\n")
    (root / "complaints.csv").write_text(
        "entity_id,date,type,value,address\n"
        "E1,2023-01-05,noise,1,\nE2,2023/01/05,noise,2,\nE2,2023-02-30,noise,,\nE7,2999-01-01,noise,,\n"
        "E7,1900-06-01,noise,,\nE1,2023-03-01T10:30:00+05:00,,1e400,\nE1,2023-03-02,noise,\"51,5\",\n"
        "E9,2023-03-03,noise,,\n,2023-03-04,noise,,\n,2023-03-05,noise,,9 Low Rd\n"
        "E1,2023-01-05,noise,1,\nE1 ,2023-01-05,noise,1,\nE2,2023-04-01,odour,abc,\nE2,,noise,,\n"
        "E2,2023-04-02 08:00,odour,2.5,\nE7,2023-04-03,noise,-1,\n")
    pd.DataFrame({"entity_id": [12.0, 2.5, np.nan, 7.0], "date": pd.to_datetime(["2023-05-01", "2023-05-02", "2023-05-03",
                                                                                 "2023-05-04"]).astype("datetime64[us]"),
                  "type": ["claim", "claim", "claim", " "], "value": [3.0, np.nan, 1.0, 2.0],
                  "address": [None, None, "8 Low Rd", None]}).to_parquet(root / "benefits.parquet", index=False)
    (root / "outcomes.csv").write_text("entity_id,date,outcome\nE1,2023-06-01,1\nE2,2023-06-01,2\nE9,2023-06-01,0\n"
                                       "E7,2023-06-01,x\nE7,2023-06-02,0\n")
    # area events: quoted notes spanning lines (later rows keep their line numbers), a blank line, a doubled quote
    (root / "crime.csv").write_text(
        "lat,lon,date,type,note\n51.5,-0.1,2023-01-05,burglary,\"door forced,\nrear\"\n95,-0.1,2023-01-05,burglary,\n\n"
        ",-0.1,2023-01-05,burglary,\n51.5,x,2023-01-05,burglary,\"said \"\"broken\"\"\"\n51.5,-0.1,2023-13-40,burglary,\n"
        "51.5,-0.1,2023-01-06,,\"two\n\nbreaks\"\n51.5,-0.1,2023-01-05,burglary,\"door forced,\nrear\"\n"
        "\"51,5\",-0.1,2023-01-07,theft,\n51.4, -0.2 ,2023-01-08, theft ,\n51.45,-0.15,2999-01-08,theft,\n")
    return root


def _messy_spec(root: Path, uri: bool):
    from riskengine.spec import DataSpec, Source

    where = (lambda name: Source.from_string((root / name).as_uri())) if uri else \
        (lambda name: Source.from_string(str(root / name)))
    return DataSpec(entities=where("entities.csv"), events={"complaints": where("complaints.csv"),
                                                            "benefits": where("benefits.parquet")},
                    outcomes=where("outcomes.csv"), area_events={"crime": where("crime.csv")}, max_reject_share=1.0)


def test_spark_reads_and_validates_data_by_ingests_rules(spark, tmp_path):
    """file:// URIs in the spec, read by Spark: the same good rows and the same rejects, reason for reason."""
    from riskengine.ingest import load_data
    from riskengine.spark import load_data as load_on_spark

    root = _messy_folder(tmp_path / "data")
    today = "2024-01-01"
    duck = load_data(_messy_spec(root, uri=False), today=pd.Timestamp(today).date())
    got = load_on_spark(spark, _messy_spec(root, uri=True), today=pd.Timestamp(today).date())
    assert got.driver_rows == "all" and len(duck.rejects) >= 20
    key = ["row", "line", "column", "reason", "record"]
    for file in duck.rejects["file"].unique():  # named by the spec: the path, or the URI as written
        a = duck.rejects[duck.rejects["file"] == file][key].reset_index(drop=True)
        b = got.data.rejects[got.data.rejects["file"].str.endswith(Path(file).name)][key].reset_index(drop=True)
        pd.testing.assert_frame_equal(b.astype(str), a.astype(str), obj=file)
    pd.testing.assert_frame_equal(got.data.entities, duck.entities, check_dtype=False)
    for name, frame in duck.sources.items():
        pd.testing.assert_frame_equal(got.data.sources[name][frame.columns], frame, check_dtype=False, obj=name)
    pd.testing.assert_frame_equal(got.data.outcomes, duck.outcomes, check_dtype=False)
    crime = duck.rejects[duck.rejects["file"].str.endswith("crime.csv")]
    assert list(crime["line"]) == [4, 6, 7, 8, 9, 12, 14, 16]  # after a value spanning lines or a blank line
    pd.testing.assert_frame_equal(got.data.area_events["crime"], duck.area_events["crime"], check_dtype=False)
    assert got.area.count() == len(duck.area_events["crime"]) == 2
    events = got.events.toPandas()  # the keyed rows the features read, held in Spark
    assert len(events) == len(duck.events) == 4
    assert sorted(events["entity_id"] + events["date"].astype(str)) == \
        sorted(duck.events["entity_id"] + duck.events["date"].dt.strftime("%Y-%m-%d"))
    # a folder of Parquet parts (as Spark writes them) reads as its one file does
    assert "12" in set(got.data.sources["benefits"]["entity_id"])  # a whole number read from Parquet is the id "12"
    # a folder of Parquet parts (as Spark writes them) is one source, its rows numbered
    from riskengine.spark._ingest import read_source
    from riskengine.spec import Source

    spark.read.parquet(str(root / "benefits.parquet")).repartition(2).write.parquet(str(root / "benefits_parts"))
    parts, fingerprint, columns = read_source(spark, Source.from_string((root / "benefits_parts").as_uri()),
                                              ["entity_id", "date", "type"])
    assert sorted(r["_row"] for r in parts.select("_row").collect()) == [1, 2, 3, 4]
    assert fingerprint["sha256"].startswith("spark-xxhash64-sum:") and columns == list(pd.read_parquet(
        root / "benefits.parquet").columns)


def test_spark_data_errors_name_the_file_and_column(spark, tmp_path):
    from riskengine.errors import DataError
    from riskengine.spark import load_data as load_on_spark
    from riskengine.spec import Source

    root = _messy_folder(tmp_path / "data")
    (root / "bad.csv").write_text("entity_id,when,type\nE1,2023-01-01,noise\n")
    spec = _messy_spec(root, uri=True)
    spec.events["complaints"] = Source.from_string((root / "bad.csv").as_uri())
    with pytest.raises(DataError, match=r"bad\.csv: missing column 'date'; found 'entity_id', 'when', 'type'"):
        load_on_spark(spark, spec)
    import dataclasses

    from riskengine.ingest import load_data

    spec.events = {"complaints": dataclasses.replace(spec.events["complaints"], columns={"date": "when"})}
    got = load_on_spark(spark, spec, today=pd.Timestamp("2024-01-01").date()).data.sources["complaints"]
    duck = load_data(spec, today=pd.Timestamp("2024-01-01").date()).sources["complaints"]  # the file's names mapped
    pd.testing.assert_frame_equal(got[duck.columns], duck, check_dtype=False)
    spec = _messy_spec(root, uri=True)
    spec.max_reject_share = 0.05
    with pytest.raises(DataError, match=r"entities\.csv: 5 of 9 rows \(55\.6%\) break the data contract") as err:
        load_on_spark(spark, spec, today=pd.Timestamp("2024-01-01").date())
    assert len(err.value.rejects) == 5


def test_uris_in_specs_are_kept_and_duckdb_says_which_it_reads(tmp_path):
    from riskengine.errors import DataError
    from riskengine.ingest import read_table
    from riskengine.spec import DataSpec, Source, from_mapping

    spec = from_mapping(DataSpec, {"entities": "s3a://council/entities.parquet",
                                   "events": {"c": {"path": "hdfs:///warehouse/events/", "date_format": "%d/%m/%Y"}}},
                        file="x.toml")
    assert str(spec.entities.path) == "s3a://council/entities.parquet"  # not folded to s3a:/council
    assert str(spec.events["c"].path) == "hdfs:///warehouse/events/"
    with pytest.raises(DataError, match=r"s3a://council/entities\.parquet: a s3a:// URI is read by the Spark backend"):
        read_table(spec.entities)
    (tmp_path / "e.csv").write_text("entity_id\nE1\n")
    frame, _ = read_table(Source.from_string((tmp_path / "e.csv").as_uri()))
    assert list(frame["entity_id"]) == ["E1"]


def test_numeric_categories_survive_the_text_signature():
    """The registered signature (and spark_udf) carries categories as text; a model trained on
    numeric categories scores "3" as the category 3, not as an unknown one."""
    from riskengine.model import RiskModel, RiskModelPyfunc

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"bedrooms": rng.integers(1, 5, 400), "x": rng.normal(size=400)})
    y = ((X["bedrooms"] >= 3) ^ (rng.random(400) < 0.1)).astype(int).to_numpy()
    model = RiskModel("lightgbm", {"n_estimators": 20, "min_child_samples": 5}, {"bedrooms": [1, 2, 3, 4]},
                      calibration="none").fit(X, y)
    wrapper = RiskModelPyfunc(model)
    as_numbers = wrapper.predict(None, X)
    as_text = wrapper.predict(None, X.assign(bedrooms=X["bedrooms"].astype(str)))  # what the signature sends
    np.testing.assert_array_equal(as_text["raw_score"], as_numbers["raw_score"])
    unknown = wrapper.predict(None, X.assign(bedrooms="9"))
    assert not np.array_equal(unknown["raw_score"], as_numbers["raw_score"])  # the test can tell them apart


# --- nearby (area event) features, area events read in Spark, cases at their own dates -------


def _city():
    """test_nearby's city (60 businesses, one without coordinates, 1,500 area events of two types)
    with a few entity events, and a spec asking for counts and densities over two windows."""
    from test_nearby import SPEC, area_rows, city

    entities, area = city(1)
    rng = np.random.default_rng(2)
    own = pd.DataFrame({"source": "inspections", "entity_id": rng.choice(entities["entity_id"], 200),
                        "date": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 400, 200), "D"),
                        "type": "visit", "value": rng.integers(0, 3, 200).astype(float)})
    events = pd.concat([own, area_rows(area)], ignore_index=True)
    return entities, events, SPEC


def test_nearby_features_on_spark_equal_duckdbs(spark):
    """Counts within each radius and Gaussian densities, strictly before each as-of date, as DuckDB
    builds them; an entity without coordinates gets missing values; a model's reference keeps its
    columns when a type has no area events today."""
    from riskengine.features import build_features
    from riskengine.spark import build_features as spark_features

    entities, events, spec = _city()
    dates = ["2024-05-01", "2024-09-15", "2025-01-20"]
    duck = build_features(entities, events, dates, spec)
    on_spark = spark_features(spark, entities, events, dates, spec)
    _same(on_spark, duck)
    names = [n for n in duck.info["name"] if n.startswith("nearby__")]
    assert len(names) == 12 and duck.table[names].sum().min() > 0  # the test sees real counts
    got = on_spark.to_pandas().table
    assert got.loc[got["entity_id"] == "B005", names].isna().all(axis=None)  # no coordinates: missing, not 0
    fewer = events[~((events["type"] == "garbage") & events["entity_id"].isna())]
    _same(spark_features(spark, entities, fewer, dates[:1], spec, reference=duck.info),
          build_features(entities, fewer, dates[:1], spec, reference=duck.info))


def test_cases_at_their_own_dates_on_spark_equal_duckdbs(spark):
    """A work queue's rows, each as of its own date: events moved forward in Spark, nearby features
    and the ready table joined as of each case's date, as riskengine.features.build_case_features."""
    import copy

    from riskengine.features import build_case_features
    from riskengine.spark import build_case_features as spark_case_features

    entities, events, spec = _city()
    spec = copy.deepcopy(spec)
    spec.table, spec.max_age_days = Source.from_string("ready.csv"), 60
    cases = pd.DataFrame({"entity_id": ["B001", "B002", "B002", "B010", "B005", "B001"],
                          "as_of": pd.to_datetime(["2024-03-10", "2024-06-01", "2024-11-20", "2024-06-01",
                                                   "2024-07-07", "2024-03-10"])})
    given = pd.DataFrame({"entity_id": ["B001", "B002", "B010"], "as_of": pd.to_datetime(["2024-03-10", "2024-04-01",
                                                                                        "2024-06-02"]),
                          "grade": [1.0, 2.0, 3.0]})
    duck = build_case_features(entities, events, cases, spec, given=given)
    got = spark_case_features(spark, entities, events, cases, spec, given=given)
    assert len(duck.table) == 5 and duck.table["inspections__visit__count_all"].gt(0).any()
    _same(got, duck)
    _same(spark_case_features(spark, entities, events, cases, spec, given=given, reference=duck.info),
          build_case_features(entities, events, cases, spec, given=given, reference=duck.info))
