"""The one-to-one model of a match, its fitted state, and splink's Spark pairs and charts.

Records without a usable key are compared with the register by the kinds of their fields
(`_fields`, `_match`). The m probabilities are estimated by expectation maximisation over the
candidate pairs (`_pairs.one_to_one_em`), with one constraint splink's pairwise EM lacks: a
record names at most one entity. Without it EM settles on "same street" as the match class on
address data, because the parts of an address go together (a postcode is mostly one street)
and pairs on one street far outnumber true matches. With B_e the Bayes factor of candidate e,
N register entries and pi the share of records that have an entity in the register, the E step is

    P(record is e) = pi * B_e / N  /  ((1 - pi) + pi * sum over the record's candidates of B_j / N)

and the M step re-estimates m per comparison level and pi from these probabilities. The
same formula gives the final match probability: one clear candidate gets a probability near
1; two equally good ones (a flat letter left out) share it.

This module keeps what the matching paths share: `MatchModel` (the fitted weights for reports
and the link store), splink's level table, writing m back into splink's model for its charts,
and, on Spark, the candidate pairs' levels read back from splink's predict.
"""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from riskengine.link._pairs import M_FLOOR, Pairs


@dataclass
class MatchModel:
    """What the fitted model says, for reports: weights per comparison level and the match rate."""

    levels: pd.DataFrame  # comparison, level, m, u, match_weight (log2 m/u)
    match_rate: float  # pi: estimated share of distinct addresses that have an entity in the register
    em_iterations: int
    settings: dict  # splink's trained settings (parameters only, no data)
    n_pairs: int  # candidate pairs scored
    n_records: int  # distinct addresses scored
    n_entities: int
    chart_paths: list[Path] = field(default_factory=list)
    best_probabilities: list[float] = field(default_factory=list)  # per distinct address with a candidate
    blocking_rules: list[str] = field(default_factory=list)  # in words, for reports
    trained_levels: pd.DataFrame | None = None  # levels with their comparison-vector values (cvv), to reuse the model


def spark_api(spark):
    """splink's Spark backend on a session riskengine started (or the caller's)."""
    from splink.backends.spark import SparkAPI

    # persist (not parquet files in a checkpoint folder) breaks splink's lineage on a local session
    lineage = "parquet" if not spark.sparkContext._jsc.sc().getCheckpointDir().isEmpty() else "persist"
    return SparkAPI(spark_session=spark, break_lineage_method=lineage,
                    num_partitions_on_repartition=int(spark.conf.get("spark.sql.shuffle.partitions")))


def spark_pairs(linker, comparisons: list[str], register_table: str) -> Pairs:
    """The candidate pairs' levels and tf adjustments from splink on Spark (narrow columns only), in the
    order DuckDB gives them; m and u in the predict are placeholders, the EM and the scores come after."""
    frame = linker.inference.predict(warning_mode="never").as_spark_dataframe()
    keep = [c for c in frame.columns if c in ("uid_l", "uid_r", "source_dataset_l")
            or c.startswith(("gamma_", "mw_tf_adj_"))]
    got = frame.select(*keep).toArrow().to_pandas()
    left_is_register = (got["source_dataset_l"] == register_table).to_numpy()
    got["entity_id"] = np.where(left_is_register, got["uid_l"], got["uid_r"])
    got["record_id"] = np.where(left_is_register, got["uid_r"], got["uid_l"])
    for c in comparisons:
        got[f"tf_{c}"] = got[f"mw_tf_adj_{c}"].fillna(0.0) if f"mw_tf_adj_{c}" in got else 0.0
    got = got.sort_values(["record_id", "entity_id"], kind="stable")  # one order, as on DuckDB
    return Pairs.from_frame(got.assign(**{f"gamma_{c}": got[f"gamma_{c}"].fillna(-1) for c in comparisons}),
                            comparisons)


def save_charts(linker, chart_dir: Path) -> list[Path]:
    """splink's match-weight and m/u charts as standalone pages (the same bytes on a rerun)."""
    chart_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, chart in (
        ("splink_match_weights.html", linker.visualisations.match_weights_chart()),
        ("splink_m_u_parameters.html", linker.visualisations.m_u_parameters_chart()),
    ):
        path = chart_dir / name
        with contextlib.redirect_stdout(io.StringIO()):  # splink prints notebook hints
            chart.save_offline_chart(str(path), overwrite=True)
        # the chart's element id is a random uuid: named after the file instead, so a rerun gives the same bytes
        text = re.sub(r"splink-chart-[0-9a-f]{32}", f"splink-chart-{path.stem}", path.read_text(encoding="utf-8"))
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def _level_table(linker) -> pd.DataFrame:
    """comparison, level label, comparison-vector value, starting m, sampled u."""
    rows = []
    for comparison in linker._settings_obj.comparisons:
        for level in comparison.comparison_levels:
            if level.is_null_level:
                continue
            rows.append({"comparison": comparison.output_column_name, "level": level.label_for_charts,
                         "cvv": level.comparison_vector_value, "m": level.m_probability,
                         "u": level.u_probability})
    out = pd.DataFrame(rows)
    # a level never seen among random pairs keeps a tiny u rather than none
    out["u"] = out["u"].fillna(M_FLOOR).clip(lower=M_FLOOR)
    return out


def _set_m(linker, levels: pd.DataFrame | dict) -> None:
    """Write m values into splink's model (the start of EM; then its estimates, for charts)."""
    if isinstance(levels, dict):
        lookup = levels
    else:
        lookup = {(r.comparison, int(r.cvv)): float(r.m) for r in levels.itertuples()}
    for comparison in linker._settings_obj.comparisons:
        for level in comparison.comparison_levels:
            key = (comparison.output_column_name, level.comparison_vector_value)
            if not level.is_null_level and key in lookup:
                level.m_probability = lookup[key]
