"""Probabilistic address matching with splink (DuckDB backend).

Records without a usable key are compared with the entity register on normalised address
parts. Splink does the blocking (same postcode; same street and house number; for records
without a postcode, same number and street type), the comparison vectors, the u probabilities (random sampling over all pairs), the term-frequency
adjustments and the charts.

Street and house number are compared together (a street is "similar" at Jaro-Winkler 0.9
or more, or with one letter dropped, added or swapped): on one street a number names one
property, so agreement on both is worth far more than the two agreements counted apart. An exact
(street, number) agreement is weighted by how many register entries share it, a street
agreement by how many properties the street has (term frequencies counted in the register,
where each place is listed once).

The m probabilities are estimated by expectation maximisation over the candidate pairs,
with one constraint splink's pairwise EM lacks: a record names at most one entity. Without
it EM settles on "same street" as the match class, because the parts of an address go
together (a postcode is mostly one street) and pairs on one street far outnumber true
matches. With B_e the Bayes factor of candidate e, N register entries and pi the share of
records that have an entity in the register, the E step is

    P(record is e) = pi * B_e / N  /  ((1 - pi) + pi * sum over the record's candidates of B_j / N)

and the M step re-estimates m per comparison level and pi from these probabilities. The
same formula gives the final match probability: one clear candidate gets a probability near
1; two equally good ones (a flat letter left out) share it.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from riskengine.link._normalise import PARTS
from riskengine.link._pairs import M_FLOOR, Pairs, comparison_vectors, one_to_one_em, score

COMPARISONS = ["flat", "street_number", "postcode", "town"]
# Which pairs are scored at all: same postcode; same street and number; and, for records
# without a postcode, same number and street type ("ROAD", "TERRACE") with the street name
# beginning or ending alike (its first two letters, or the last two before the type): one
# dropped or swapped letter cannot spoil both ends of a name, so a misspelt street with
# nothing else to go on still meets its entity.
_NO_POSTCODE = "(l.postcode IS NULL OR r.postcode IS NULL) AND l.house_number = r.house_number AND l.street_type = r.street_type"
BLOCKING = [
    "l.postcode = r.postcode",
    "l.street = r.street AND l.house_number = r.house_number",
    f"{_NO_POSTCODE} AND l.street_head = r.street_head",
    f"{_NO_POSTCODE} AND l.street_tail = r.street_tail",
]
BLOCKING_WORDS = ["same postcode", "same street and house number",
                  "no postcode: same house number and street type, street name beginning or ending alike"]
# Where EM starts: a true pair mostly agrees, now and then with a slip.
START_M = {
    "flat": [0.6, 0.38, 0.015, 0.005],
    "street_number": [0.85, 0.05, 0.04, 0.02, 0.03, 0.01],
    "postcode": [0.85, 0.05, 0.04, 0.03, 0.03],
    "town": [0.95, 0.05],
}
# Comparisons whose m EM cannot learn, so they keep their start (measured on labelled pairs
# when there are enough). The flat letter is one: a record for Flat A is a candidate of
# Flat A and Flat B alike, and any split of belief between "same flat" and "different
# flats" among true pairs fits such data equally well.
HELD = {"flat"}
MIN_LABELS = 50  # labelled pairs needed before their agreement rates replace START_M


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
    blocking_rules: list[str] = field(default_factory=lambda: list(BLOCKING_WORDS))  # in words, for reports
    trained_levels: pd.DataFrame | None = None  # levels with their comparison-vector values (cvv), to reuse the model


class _FlatHasNoNullLevel(logging.Filter):
    """Drops one splink warning that does not apply: "no flat on either side" is a level with its own
    weight (two houses), not a missing value, so the flat comparison has no null level on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "No null level found for comparison flat" not in record.getMessage()


# the string similarities by engine: DuckDB's own functions, and on Spark the UDFs of splink's jar
_SIMILARITY = {"duckdb": ("jaro_winkler_similarity", "damerau_levenshtein"),
               "spark": ("jaro_winkler", "damerau_levenshtein")}


def _comparisons(dialect: str = "duckdb"):
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    jw, dl = _SIMILARITY[dialect]
    similar = f"({jw}(street_l, street_r) >= 0.9 OR {dl}(street_l, street_r) <= 1)"
    same_number = "house_number_l = house_number_r"
    flat = cl.CustomComparison(
        output_column_name="flat",
        comparison_description="flat or sub-building",
        comparison_levels=[
            cll.CustomLevel("flat_l IS NULL AND flat_r IS NULL").configure(label_for_charts="no flat on either side"),
            cll.ExactMatchLevel("flat").configure(label_for_charts="same flat"),
            cll.CustomLevel("flat_l IS NULL OR flat_r IS NULL").configure(label_for_charts="flat on one side only"),
            cll.ElseLevel().configure(label_for_charts="different flats"),
        ],
    ).configure(m_probabilities=START_M["flat"])
    street_number = cl.CustomComparison(
        output_column_name="street_number",
        comparison_description="street and house number",
        comparison_levels=[
            cll.NullLevel("street"),
            cll.ExactMatchLevel("street_number").configure(
                tf_adjustment_column="street_number", label_for_charts="same street and number"
            ),
            cll.CustomLevel(f"{similar} AND {same_number}").configure(label_for_charts="similar street, same number"),
            cll.ExactMatchLevel("street").configure(
                tf_adjustment_column="street", label_for_charts="same street, other or no number"
            ),
            cll.CustomLevel(similar).configure(label_for_charts="similar street, other or no number"),
            cll.CustomLevel(same_number).configure(label_for_charts="other street, same number"),
            cll.ElseLevel().configure(label_for_charts="other street and number"),
        ],
    ).configure(m_probabilities=START_M["street_number"])
    return [
        flat,
        street_number,
        cl.PostcodeComparison("postcode").configure(m_probabilities=START_M["postcode"]),
        cl.ExactMatch("town").configure(m_probabilities=START_M["town"]),
    ]


def _with_keys(frame: pd.DataFrame, id_col: str, label: str | None = None) -> pd.DataFrame:
    """splink's input: uid, the parts, street_number, and `label` (the known entity, if any)."""
    out = frame[[id_col, *PARTS]].rename(columns={id_col: "uid"}).astype("string")
    out["street_number"] = out["street"] + " | " + out["house_number"]
    words = out["street"].str.rsplit(" ", n=1)
    out["street_type"] = words.str[-1]
    out["street_head"] = out["street"].str.slice(0, 2)
    out["street_tail"] = words.str[0].str.slice(-2)
    out["label"] = frame[label].astype("string").to_numpy() if label else pd.Series(pd.NA, index=out.index, dtype="string")
    return out


def _tf_table(values: pd.Series, name: str) -> pd.DataFrame:
    """Term frequencies counted in the register only (records would count one place twice)."""
    share = values.dropna().value_counts(normalize=True)
    return pd.DataFrame({name: share.index.astype(str), f"tf_{name}": share.to_numpy()})


def match_records(
    entities: pd.DataFrame,
    records: pd.DataFrame,
    *,
    labelled: pd.DataFrame | None = None,
    chart_dir: Path | None = None,
    seed: int = 0,
    max_u_pairs: float = 1e6,
    max_iterations: int = 50,
    fixed: dict | None = None,
    spark=None,
) -> tuple[pd.DataFrame, MatchModel]:
    """Score `records` (record_id + PARTS) against `entities` (entity_id + PARTS).

    `labelled` (record_id, PARTS, entity_id: addresses of rows whose UPRN is known) gives
    EM its starting m: how often true pairs agree, level by level, measured.

    Returns each record's best two candidates: record_id, entity_id, rank, match_weight
    (log2 of the pair's posterior odds), match_probability (against the rivals),
    runner_up_probability, and one weight column per comparison (mw_<comparison>).

    With `spark` (a SparkSession) splink runs on Spark (SparkAPI): blocking, the comparison
    vectors of every candidate pair and u sampling there; the candidate pairs' comparison
    levels then come here, where the one-to-one EM and the scoring run as on DuckDB.
    """
    from splink import Linker, SettingsCreator
    from splink.backends.duckdb import DuckDBAPI

    splink_log = logging.getLogger("splink")
    splink_log.setLevel(logging.WARNING)  # splink's own warnings stay visible, as in person mode
    settings_log = logging.getLogger("splink.internals.settings")  # filters act where a record is made
    if not any(isinstance(f, _FlatHasNoNullLevel) for f in settings_log.filters):
        settings_log.addFilter(_FlatHasNoNullLevel())
    left, right = _with_keys(entities, "entity_id", "entity_id"), _with_keys(records, "record_id")
    n_entities = max(len(left), 2)

    con = duckdb.connect()
    if spark is None:
        db = DuckDBAPI(con)
    else:
        db = spark_api(spark)
    t_ent = db.register(left, table_name="a_entities")
    t_rec = db.register(right, table_name="b_records")
    settings = SettingsCreator(
        link_type="link_only",
        unique_id_column_name="uid",
        probability_two_random_records_match=1.0 / n_entities,
        comparisons=_comparisons("duckdb" if spark is None else "spark"),
        blocking_rules_to_generate_predictions=BLOCKING,
        retain_intermediate_calculation_columns=True,
        retain_matching_columns=True,  # keeps the comparison levels (gamma_*) the EM counts
    )
    linker = Linker([t_ent, t_rec], settings, log_level=None)
    for col in ("street_number", "street"):
        tf = db.register(_tf_table(left[col], col), table_name=f"tf_lookup_{col}")
        linker.table_management.register_term_frequency_lookup(tf, col)
    if fixed is None:
        # a level as rare as one register entry (u ~ 1/N) is seen ~100 times in 100 N pairs
        u_pairs = min(max_u_pairs, max(1e5, 100.0 * n_entities))
        linker.training.estimate_u_using_random_sampling(max_pairs=u_pairs, seed=seed, num_chunks=1)
        start = _m_from_labels(db, t_ent, settings, labelled) if labelled is not None and len(labelled) >= MIN_LABELS \
            else None
        if start:
            _set_m(linker, start)
    if spark is None:  # each candidate pair's comparison levels as arrays (splink's SQL, no predict table)
        pairs = comparison_vectors(linker, "a_entities")
    else:  # the pairs' levels (narrow) come to this process for the EM and the scores
        pairs = spark_pairs(linker, COMPARISONS, "a_entities")
    n_pairs = len(pairs)
    if fixed is None:
        levels = _level_table(linker)
        levels, pi, iterations = one_to_one_em(pairs, levels, n_entities, len(right), max_iterations, held=HELD)
    else:  # the link store's model: score new records exactly as the run that trained it would have
        levels, pi, iterations = fixed["levels"].copy(), float(fixed["match_rate"]), 0
        levels["match_weight"] = np.log2(levels["m"].clip(lower=M_FLOOR) / levels["u"])
    _set_m(linker, levels)
    scored = score(pairs, levels, pi, n_entities)
    scored = scored.drop(columns=[c for c in scored.columns if c.startswith("gamma_")])
    del pairs
    model = MatchModel(
        levels=levels.drop(columns=["cvv"]),
        match_rate=pi,
        em_iterations=iterations,
        settings=linker.misc.save_model_to_json(),
        n_pairs=n_pairs,
        n_records=len(right),
        n_entities=n_entities,
    )
    model.trained_levels = levels  # with the comparison-vector values: what the link store keeps
    if chart_dir is not None:
        model.chart_paths = save_charts(linker, chart_dir)
    con.close()
    return scored, model


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


def _m_from_labels(db, t_ent, settings, labelled: pd.DataFrame) -> dict[tuple[str, int], float]:
    """m per level, counted on pairs known to match (a row's address and its UPRN's entity)."""
    from splink import Linker

    table = db.register(_with_keys(labelled, "record_id", "entity_id"), table_name="c_labelled")
    trainer = Linker([t_ent, table], copy.deepcopy(settings), log_level=None)
    trainer.training.estimate_m_from_label_column("label")
    out = {}
    for comparison in trainer._settings_obj.comparisons:
        for level in comparison.comparison_levels:
            if level.is_null_level:
                continue
            seen = level._trained_m_median if level._has_estimated_m_values else None
            out[(comparison.output_column_name, level.comparison_vector_value)] = seen or 0.0
    # one pseudo-pair per level (Laplace): a level never seen among the labelled pairs is rare, not impossible
    n = len(labelled)
    for comparison in {c for c, _ in out}:
        keys = [k for k in out if k[0] == comparison]
        total = sum(out[k] for k in keys) * n + len(keys)
        for k in keys:
            out[k] = (out[k] * n + 1.0) / total
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
