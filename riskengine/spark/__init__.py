"""The Spark backend: features, scoring and linkage on a Spark cluster, with the DuckDB backend's results.

Chosen with `[engine] backend = "spark"` in a spec or `--backend spark` on the command line;
`[engine] spark_master` / `--spark-master` say where (e.g. "local[2]", "yarn"). Nothing here is
imported until used, so the DuckDB path and `riskengine --help` never load pyspark.

    spark = spark_session("local[2]")
    fs = build_features(spark, entities, events, ["2024-04-01"], spec.features)   # a Spark DataFrame + info
    fs.to_pandas()                                     # equal to riskengine.features.build_features(...)
    score_features(spark, fs, "models:/hmo/3", model)  # every row's score via mlflow.pyfunc.spark_udf
    build_case_features(spark, entities, events, queue, spec.features)  # each row as of its own date

Linkage on Spark is riskengine.link's own `link(..., spark=session)` (splink's SparkAPI).
"""

import warnings

from riskengine._lazy import lazy_names

# Choosing Spark brings pyspark's pandas layer along (mlflow, splink); it warns about the pandas
# version on every import although riskengine uses none of it. Set here, so only Spark runs filter it.
warnings.filterwarnings("ignore", message=".*PySpark does not yet fully support pandas.*", category=FutureWarning)

_WHERE = {
    "spark_session": "_session", "why_no_spark": "_session", "java_version": "_session",
    "build_features": "_features", "build_case_features": "_features", "SparkFeatureSet": "_features",
    "features_for_rows": "_features",
    "read_table": "_tables",
    "load_data": "_ingest", "load_data_or_write_rejects": "_ingest", "SparkData": "_ingest",
    "write_rejects_parquet": "_ingest",
    "score_features": "_score", "SparkScores": "_score",
}
__all__ = list(_WHERE)
__getattr__, __dir__ = lazy_names(__name__, _WHERE)
