"""Scoring every entity in Spark with the registered model, and gathering what the list needs.

Scores come from `mlflow.pyfunc.spark_udf` over the registered model version: each executor
loads the model once and scores its partitions through the model's own `raw_score` (the
compiled scorer the registered model carries, or LightGBM's), so a score equals the DuckDB
backend's bit for bit. Every entity's top reasons (models with a compiled scorer) come from
a pandas function over the partitions with the same model. Only the narrow columns (position,
id, score, probability, reasons) and the rows of the list come back to the driver.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from unittest.mock import patch

import numpy as np
import pandas as pd

from riskengine.errors import RiskEngineError
from riskengine.spark._features import POS, SparkFeatureSet, typed_frame


@dataclass
class SparkScores:
    """Every row's score, computed in Spark, on the driver in the feature table's row order."""

    ids: pd.Series
    raw: np.ndarray
    prob: np.ndarray
    everyone: pd.DataFrame | None  # top_feature_i, top_contribution_i per row (compiled models), else None
    rows: Callable[[np.ndarray], pd.DataFrame]  # feature rows at given positions
    columns: list[str]


class _quiet_logger:
    """Within the block, the logger `name` shows errors only."""

    def __init__(self, name: str):
        self.logger = logging.getLogger(name)

    def __enter__(self):
        self.level = self.logger.level
        self.logger.setLevel(logging.ERROR)
        return self

    def __exit__(self, *exc):
        self.logger.setLevel(self.level)
        return False


def model_udf(spark, model_uri: str, input_names: list[str], categories: dict):
    """(the spark_udf of the registered model, the input columns cast to its signature's types)."""
    import mlflow.pyfunc
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, StructField, StructType

    result = StructType([StructField("probability", DoubleType()), StructField("raw_score", DoubleType())])
    quiet = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}  # no download bars on a person's terminal
    try:
        # the environment and MLflow's log level as they were, after; its notes on env_manager and the
        # flavor chosen are not for a person reading the list's progress
        with patch.dict(os.environ, quiet), warnings.catch_warnings(), _quiet_logger("mlflow"):
            warnings.filterwarnings("ignore")
            udf = mlflow.pyfunc.spark_udf(spark, model_uri, result_type=result, env_manager="local")
    except Exception as exc:  # MlflowException: no such model, no such store
        text = str(exc).strip()
        raise RiskEngineError(f"Spark could not load the model {model_uri}: "
                              f"{text.splitlines()[0] if text else type(exc).__name__}") from None
    # the registered signature: categories as text, every number as a double
    inputs = [F.col(c).cast("string" if c in categories else "double").alias(c) for c in input_names]
    return udf, inputs


def score_features(spark, fs: SparkFeatureSet, model_uri: str, model, input_names: list[str] | None = None,
                   reasons_for_all: Callable | None = None, n_reasons: int = 3) -> SparkScores:
    """Score every row of `fs` with the model at `model_uri` (via spark_udf) and gather the scores.

    `model` is the same model loaded on the driver (its features and categories name the
    input; with `reasons_for_all` it also gives every row's top reasons in Spark).
    """
    from pyspark.sql import functions as F

    names = list(input_names or model.features_)
    missing = [c for c in names if c not in fs.table.columns]
    if missing:
        raise RiskEngineError(f"the feature table lacks column(s) the model {model_uri} needs: {', '.join(missing[:10])}")
    table = fs.table.persist()
    udf, inputs = model_udf(spark, model_uri, names, model.categories_)
    scored = table.select(POS, "entity_id", udf(F.struct(*inputs)).alias("s")).select(
        POS, "entity_id", F.col("s.raw_score").alias("raw_score"), F.col("s.probability").alias("probability"))
    if reasons_for_all is not None and getattr(model, "fast_", None) is not None:
        scored = scored.join(_reasons_in_spark(table, model, names, fs, reasons_for_all, n_reasons), POS, "left")
    got = scored.toPandas()
    got = got.sort_values(POS, kind="stable").reset_index(drop=True)
    if len(got) != fs.n_entities * len(fs.dates) or not np.array_equal(got[POS].to_numpy(), np.arange(len(got))):
        raise RiskEngineError(f"Spark returned {len(got):,} scores for {fs.n_entities * len(fs.dates):,} rows")
    reason_cols = [c for c in got.columns if c.startswith(("top_feature_", "top_contribution_"))]
    everyone = None
    if reason_cols:
        everyone = got[reason_cols].copy()
        for c in reason_cols:
            if c.startswith("top_feature_"):
                everyone[c] = everyone[c].astype(object).where(everyone[c].notna(), None)
            else:
                everyone[c] = everyone[c].astype(np.float64)
    return SparkScores(ids=got["entity_id"].astype(str), raw=got["raw_score"].to_numpy(np.float64),
                       prob=got["probability"].to_numpy(np.float64), everyone=everyone, rows=fs.rows,
                       columns=fs.columns)


def _reasons_in_spark(table, model, names: list[str], fs: SparkFeatureSet, reasons_for_all: Callable, n: int):
    """pos and every row's n strongest positive contributions, computed on the executors."""
    from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

    fields = [StructField(POS, LongType())]
    for i in range(1, n + 1):
        fields += [StructField(f"top_feature_{i}", StringType()), StructField(f"top_contribution_{i}", DoubleType())]
    schema = StructType(fields)
    info = fs.info

    def explain(batches):
        for pdf in batches:
            pos = pdf[POS].to_numpy()
            top = reasons_for_all(model, typed_frame(pdf, info), n)
            if top is None:
                continue
            out = pd.DataFrame({POS: pos})
            for i in range(1, n + 1):
                out[f"top_feature_{i}"] = top[f"top_feature_{i}"].to_numpy()
                out[f"top_contribution_{i}"] = top[f"top_contribution_{i}"].to_numpy()
            yield out

    return table.mapInPandas(explain, schema)
