"""Matching prepared records with splink, for any fields: blocking, training, scoring, clustering.

Two ways to train, chosen per run:

- `one_to_one_em` (with a register): splink blocks, compares, samples u and adjusts for term
  frequencies; m and the match rate come from the one-to-one EM of `_pairs` (a record names
  at most one register entry), whose probability also weighs a candidate against its rivals.
  splink's SQL computes each pair's levels in slices; the EM and the score run in numpy.
- `splink_em`: splink's own EM (two training rounds, each blocking on the fields a rule is
  made from, so the others are free to be learnt) and splink's pairwise match probability;
  the only choice without a register. Deduplicating, the rounds run over agreement-pattern
  counts, the levels are read in slices as for the one-to-one EM, each pair is scored in
  numpy and only pairs above a small floor are kept; records are clustered into entities
  (splink's connected components) at the upper threshold.

Blocking rules come from the field kinds (`_fields.blocking_rules`); any rule that would
make more candidate pairs than `max_pairs_per_rule` (the count is a cheap GROUP BY) is
narrowed before splink sees it, by another field's key (`narrow`), until it is under the
limit (the rules over it share one limit), and reported; a rule no key narrows enough is
dropped. Every record left without a candidate is counted.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from riskengine.link._fields import BlockingRule, Field, blocking_rules, comparison, held_comparisons, narrowing_keys
from riskengine.link._pairs import comparison_vectors, one_to_one_em, pairwise, score, weight_at_least
from riskengine.link._probabilistic import MatchModel, _level_table, _set_m, save_charts, spark_api, spark_pairs

REGISTER_TABLE, RECORDS_TABLE = "a_entities", "b_records"
# candidate pairs compared in one go: more are taken in slices of the records (memory stays flat)
CHUNK_PAIRS = int(os.environ.get("RISKENGINE_LINK_CHUNK_PAIRS", 1_000_000))


@dataclass
class Matched:
    """What match_prepared found."""

    best: pd.DataFrame  # record_id, candidate_id, rank (1, 2), match_probability, match_weight, runner_up_probability
    model: MatchModel
    blocking: list[dict]  # per rule: words, sql, pairs counted, used
    no_candidate: pd.Index  # records that no used blocking rule paired with anything
    agreement: pd.DataFrame  # record_id, candidate_id, one column per field: the level's words (best candidates only)
    pairs: pd.DataFrame | None = None  # deduplication: id_l, id_r, match_probability (pairs at or above `lower`)
    clusters: pd.DataFrame | None = None  # deduplication: record_id, cluster_id
    method: str = "one_to_one_em"
    notes: list[str] = field(default_factory=list)


def _count_pairs(con: duckdb.DuckDBPyConnection, rule: BlockingRule, dedupe: bool) -> int:
    """Candidate pairs a rule makes, counted by key without making them."""
    lk = ", ".join(f"{c} AS k{i}" for i, c in enumerate(rule.left))
    rk = ", ".join(f"{c} AS k{i}" for i, c in enumerate(rule.right))
    notnull_l = " AND ".join(f"{c} IS NOT NULL" for c in rule.left)
    notnull_r = " AND ".join(f"{c} IS NOT NULL" for c in rule.right)
    ks = ", ".join(f"k{i}" for i in range(len(rule.left)))
    left = REGISTER_TABLE if not dedupe else RECORDS_TABLE
    n = con.execute(f"""
        WITH l AS (SELECT {ks}, count(*) AS n FROM (SELECT {lk} FROM {left} WHERE {notnull_l}) GROUP BY ALL),
             r AS (SELECT {ks}, count(*) AS n FROM (SELECT {rk} FROM {RECORDS_TABLE} WHERE {notnull_r}) GROUP BY ALL)
        SELECT coalesce(sum(l.n * r.n), 0) FROM l JOIN r USING ({ks})
    """).fetchall()[0][0]
    return int(n // 2) if dedupe and rule.left == rule.right else int(n)


def _narrowing_counts(con: duckdb.DuckDBPyConnection, rule: BlockingRule, keys: list[str], dedupe: bool,
                      tables: tuple[str, str]) -> dict[str, int]:
    """Candidate pairs `rule` would make between `tables` with each of `keys` added (on both sides),
    counted in one query."""
    ks = [f"k{i}" for i in range(len(rule.left))]

    def side(table: str, cols: list[str]) -> str:
        sel = ", ".join(f"{c} AS {k}" for c, k in zip(cols, ks))
        notnull = " AND ".join(f"{c} IS NOT NULL" for c in cols)
        return " UNION ALL ".join(f"SELECT {sel}, {i} AS g, CAST({key} AS VARCHAR) AS v FROM {table} "
                                  f"WHERE {notnull} AND {key} IS NOT NULL" for i, key in enumerate(keys))

    on = ", ".join(ks + ["g", "v"])
    got = dict(con.execute(f"""
        WITH l AS (SELECT {on}, count(*) AS n FROM ({side(tables[0], rule.left)}) GROUP BY ALL),
             r AS (SELECT {on}, count(*) AS n FROM ({side(tables[1], rule.right)}) GROUP BY ALL)
        SELECT g, sum(l.n * r.n) FROM l JOIN r USING ({on}) GROUP BY g
    """).fetchall())
    half = dedupe and rule.left == rule.right
    return {k: int(got.get(i, 0)) // (2 if half else 1) for i, k in enumerate(keys)}


def _conditions(rule: BlockingRule) -> frozenset:
    return frozenset(zip(rule.left, rule.right))


SAMPLE_ROWS = 200_000  # rows of each table a narrowing key is chosen on (its pairs counted, then scaled)


def _samples(con: duckdb.DuckDBPyConnection, columns: list[str], dedupe: bool, seed: int) -> tuple[tuple[str, str], float]:
    """Tables of at most SAMPLE_ROWS rows of each side (the columns blocking reads) and the factor that
    scales a pair count between them to the whole tables."""
    names, scale = [], 1.0
    for table in ([RECORDS_TABLE] if dedupe else [REGISTER_TABLE, RECORDS_TABLE]):
        n = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        share = min(1.0, SAMPLE_ROWS / max(n, 1))
        cols = ", ".join(dict.fromkeys(columns))
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table}__sample AS SELECT {cols} FROM {table} "
                    f"WHERE hash(uid + {int(seed)}) % 1000000 < {int(share * 1_000_000)}")
        got = con.execute(f"SELECT count(*) FROM {table}__sample").fetchall()[0][0]
        scale *= (n / max(got, 1)) ** (2 if dedupe else 1)
        names.append(f"{table}__sample")
    return (names[0], names[-1]), scale


def narrow(con: duckdb.DuckDBPyConnection, rule: BlockingRule, pairs: int, keys: list[str], target: int,
           taken: list[BlockingRule], dedupe: bool, max_keys: int = 3,
           sample: tuple[tuple[str, str], float] | None = None, limit: int = 0) -> tuple[BlockingRule | None, int]:
    """`rule` with keys added (on both sides) until it makes at most `target` candidate pairs, so a rule
    over the limit still brings its candidates rather than none: of the keys that bring it under,
    the one that keeps most pairs; when none does, the one that cuts most, and again (`max_keys` at
    most). A key that cuts nothing (part of the rule's own field), or that would make the rule a
    narrower copy of one in `taken` (its pairs all found already), is not used. With `sample` (tables
    and scale, `_samples`) the keys are compared on the samples and the chosen rule counted in full.
    When no key brings it under `target`, the narrowest rule reached is taken if it is under `limit`
    (the limit of one rule); (None, pairs) when not."""
    tables, scale = sample or ((REGISTER_TABLE if not dedupe else RECORDS_TABLE, RECORDS_TABLE), 1.0)
    current, n = rule, pairs
    fallback: tuple[BlockingRule | None, int] = (None, pairs)
    for _ in range(max_keys):
        options = []
        for k in keys:
            if k in current.left or k in current.right:
                continue
            plus = BlockingRule(current.left + [k], current.right + [k], f"{current.words}, narrowed by {k}")
            if not any(_conditions(t) <= _conditions(plus) for t in taken):
                options.append(plus)
        if not options:
            break
        counts = _narrowing_counts(con, current, [o.left[-1] for o in options], dedupe, tables)
        cuts = [(round(counts[o.left[-1]] * scale), o) for o in options if 0 < counts[o.left[-1]] * scale < 0.9 * n]
        if not cuts:
            break
        fits = [c for c in cuts if c[0] <= target]
        got, current = max(fits, key=lambda c: c[0]) if fits else min(cuts, key=lambda c: c[0])
        n = _count_pairs(con, current, dedupe) if sample else got
        if 0 < n <= target:
            return current, n
        if 0 < n <= limit and fallback[0] is None:
            fallback = (current, n)
    return fallback


def _cast(frame: pd.DataFrame):
    """The prepared columns as an Arrow table for DuckDB: text stays Arrow strings, with no copy into
    Python objects (lists and numbers stay as they are)."""
    import pyarrow as pa

    return pa.Table.from_pandas(frame, preserve_index=False)


def _not_about_max_pairs(record: logging.LogRecord) -> bool:
    return "default value for `max_pairs`" not in record.getMessage()


def _quiet_chosen_u_pairs() -> None:
    """Drop splink's advice to raise `max_pairs` from its default: the engine sizes the u sample
    itself (100 pairs per entity, 1e6 at most), which lands on splink's default of 1e6 for any
    register of 10,000 entities or more, and the advice then misleads the user."""
    log = logging.getLogger("splink.internals.linker_components.training")
    if _not_about_max_pairs not in log.filters:
        log.addFilter(_not_about_max_pairs)


def _duckdb_u(frames: list, fields: list[Field], rules: list[str], dedupe: bool, n_entities: int,
              u_pairs: float, seed: int):
    """A DuckDB linker over the same tables and settings as the DuckDB backend's, u sampled as that
    backend samples it. The Spark backend takes its u from here: splink's sampler draws rows with each
    engine's own random sample, so Spark's u, then the weights and now and then a link, would differ.
    The sample is small (at most `u_pairs` pairs of rows already in this process)."""
    from splink import Linker
    from splink.backends.duckdb import DuckDBAPI

    db = DuckDBAPI(duckdb.connect())
    tables = [db.register(_cast(frame), table_name=name) for frame, name in frames]
    settings = splink_settings(fields, rules, dedupe=dedupe, n_entities=n_entities, keep_columns=False,
                               dialect="duckdb")
    sampler = Linker(tables, settings, log_level=None)
    sampler.training.estimate_u_using_random_sampling(max_pairs=u_pairs, seed=seed)
    return sampler


def _copy_u(source, target) -> None:
    """Each level's u (by comparison and comparison-vector value) from one linker's model into another's."""
    u = {(c.output_column_name, lv.comparison_vector_value): lv for c in source._settings_obj.comparisons
         for lv in c.comparison_levels if not lv.is_null_level}
    for comparison_ in target._settings_obj.comparisons:
        for level in comparison_.comparison_levels:
            if not level.is_null_level:
                got = u[(comparison_.output_column_name, level.comparison_vector_value)]
                level._u_probability = got._u_probability  # as the sampler set it ("not observed" too)
                level._trained_u_probabilities = list(got._trained_u_probabilities)  # for splink's charts


def match_prepared(
    register: pd.DataFrame | None,
    records: pd.DataFrame,
    fields: list[Field],
    *,
    method: str = "auto",
    lower: float = 0.5,
    upper: float = 0.95,
    seed: int = 0,
    max_pairs_per_rule: int = 0,
    fixed: dict | None = None,
    max_u_pairs: float = 1e6,
    spark=None,
    chart_dir: Path | None = None,
) -> Matched:
    """Score `records` (uid + prepared columns) against `register` (same columns), or among
    themselves when `register` is None. `fixed` (levels, match_rate) skips training.

    With `spark` (a SparkSession, register only) splink blocks, compares and samples u on Spark; the
    pairs' levels come back here for the one-to-one EM and the scores, as on DuckDB. With `chart_dir`,
    splink's match-weight and m/u charts are saved there."""
    from splink import Linker
    from splink.backends.duckdb import DuckDBAPI

    logging.getLogger("splink").setLevel(logging.WARNING)  # splink's own warnings stay visible
    _quiet_chosen_u_pairs()
    dedupe = register is None
    if method == "auto":
        method = "splink_em" if dedupe else "one_to_one_em"
    if dedupe and method == "one_to_one_em":
        method = "splink_em"  # one-to-one needs a register to be one-to-one with
    if spark is not None and (dedupe or method != "one_to_one_em"):
        raise ValueError("match_prepared on Spark: linking to a register with the one-to-one EM only")
    con = duckdb.connect()
    db = DuckDBAPI(con) if spark is None else spark_api(spark)
    # splink sees integer uids (register first, then records): cheaper to block, join and read back
    ids = np.concatenate([register["uid"].astype(str).to_numpy(dtype=object) if not dedupe else np.array([], object),
                          records["uid"].astype(str).to_numpy(dtype=object)])
    offset = 0 if dedupe else len(register)
    tables = []
    frames = ([] if dedupe else [(register.assign(uid=np.arange(offset, dtype=np.int64)), REGISTER_TABLE)]) \
        + [(records.assign(uid=np.arange(len(records), dtype=np.int64) + offset), RECORDS_TABLE)]
    for frame, name in frames:
        if spark is None:
            tables.append(db.register(_cast(frame), table_name=name))
        else:  # Spark compares; DuckDB still counts each blocking rule's pairs (a GROUP BY on the keys)
            con.register(name, _cast(frame))
            spark.catalog.dropTempView(name)  # a session's earlier linkage left its views: splink refuses the name
            tables.append(db.register(frame.reset_index(drop=True), table_name=name))
    n_left = len(records) if dedupe else len(register)
    n_right = len(records)
    cap = max_pairs_per_rule or max(100_000, 20 * (n_left + n_right))

    rules = blocking_rules(fields)
    counted = [(r, _count_pairs(con, r, dedupe)) for r in rules]
    used = [r for r, n in counted if 0 < n <= cap]
    over = [(r, n) for r, n in counted if n > cap]
    # a rule over the limit is narrowed by another field's key until under it (the rules over it share
    # one limit, so the candidate pairs stay bounded): the rows only it would pair still get candidates
    target = max(1, cap // max(len(over), 1))
    keys = narrowing_keys(fields)
    sample = None
    if over:
        columns = ["uid"] + keys + [c for r, _ in over for c in r.left + r.right]
        sample = _samples(con, columns, dedupe, seed)
    blocking, notes = [], []
    for r, n in counted:
        entry = {"rule": r.words, "sql": r.sql, "pairs": n, "used": 0 < n <= cap}
        if n > cap:
            narrowed, got = narrow(con, r, n, keys, target, used, dedupe, sample=sample, limit=cap)
            if narrowed is not None:
                used.append(narrowed)
                entry.update(used=True, rule=narrowed.words, sql=narrowed.sql, pairs=got, pairs_before=n)
                notes.append(f"blocking rule '{r.words}' narrowed by {narrowed.left[-1]}: {n:,} candidate pairs "
                             f"-> {got:,} (limit {cap:,}, shared by the {len(over)} rule{'s' if len(over) > 1 else ''} over it)")
            else:
                notes.append(f"blocking rule '{r.words}' dropped: {n:,} candidate pairs (limit {cap:,}) and no "
                             "other field's key brings it under")
        blocking.append(entry)
    if not used:
        used = [min(rules, key=lambda r: next(b["pairs"] for b in blocking if b["sql"] == r.sql))] if rules else []
    n_entities = max(n_left, 2)
    settings = splink_settings(fields, [r.sql for r in used], dedupe=dedupe, n_entities=n_entities,
                               keep_columns=(method != "one_to_one_em" and not dedupe) or spark is not None,
                               dialect="duckdb" if spark is None else "spark")
    linker = Linker(tables, settings, log_level=None)
    if not dedupe:  # an address's term frequency counted in the register, where each place is listed once
        for f in fields:  # (counted in the records too, a place would count twice and weigh half)
            if f.kind == "address":
                share = register[f.name].dropna().value_counts(normalize=True)
                tf = pd.DataFrame({f.name: share.index.astype(str), f"tf_{f.name}": share.to_numpy()})
                if spark is not None:
                    spark.catalog.dropTempView(f"tf_lookup_{f.name}")
                linker.table_management.register_term_frequency_lookup(
                    db.register(tf, table_name=f"tf_lookup_{f.name}"), f.name)
    if fixed is None:
        u_pairs = min(max_u_pairs, max(1e5, 100.0 * n_entities))
        if spark is None:
            linker.training.estimate_u_using_random_sampling(max_pairs=u_pairs, seed=seed)  # in chunks, as splink does
        else:  # the DuckDB backend's sample (each engine's sampler draws other rows): the same u, the same links
            _copy_u(_duckdb_u(frames, fields, [r.sql for r in used], dedupe, n_entities, u_pairs, seed), linker)
    else:
        _set_mu(linker, fixed["levels"])
    names = [f.name for f in fields]
    levels = _level_table(linker)
    out_pairs = clusters = None
    if method == "one_to_one_em":
        # splink's comparison levels as arrays; the EM and the score in numpy (no predict table of every pair)
        estimated = sum(b["pairs"] for b in blocking if b["sql"] in {r.sql for r in used})
        if spark is None:
            cand = comparison_vectors(linker, REGISTER_TABLE, chunks=max(1, math.ceil(estimated / CHUNK_PAIRS)),
                                      tf_by_comparison=False)
        else:
            cand = spark_pairs(linker, names, REGISTER_TABLE)
            cand.ent_ids, cand.rec_ids = cand.ent_ids.astype(np.int64), cand.rec_ids.astype(np.int64)
            cand.tf = {"*": cand.tf_total}  # summed, as DuckDB's are read (tf_by_comparison=False)
        cand.ent_ids, cand.rec_ids = ids[cand.ent_ids], ids[cand.rec_ids]
        n_pairs = len(cand)
        covered = set(cand.rec_ids[np.bincount(cand.rec, minlength=len(cand.rec_ids)) > 0].tolist())
        if fixed is None:
            start = levels.copy()
            # swapped names counted once, as deduplication does: the surname's level weighs, the forename's not
            at_u = _swap_levels(levels, fields)
            levels, pi, iterations = one_to_one_em(cand, levels, n_entities, n_right, held=held_comparisons(fields),
                                                   at_u=at_u)
            implausible = _implausible(levels, fields)
            if implausible:  # EM took another class (people of one suburb) for the matches: keep the prior m
                notes.append("EM's estimates were implausible (true matches would disagree on "
                             f"{', '.join(implausible)}): the starting m values were kept and only the match "
                             "rate estimated")
                levels, pi, iterations = one_to_one_em(cand, start, n_entities, n_right,
                                                       held={f.name for f in fields}, at_u=at_u)
        else:
            levels, pi, iterations = _fixed_levels(levels, fixed), float(fixed["match_rate"]), 0
        _set_m(linker, levels)
        best = score(cand, levels, pi, n_entities).rename(columns={"entity_id": "candidate_id"})
        del cand
        agreement = _agreement_in_words(best, levels, names)
        best = best.drop(columns=[f"gamma_{c}" for c in names], errors="ignore")
    elif dedupe:
        # splink's EM over agreement-pattern counts; its comparison levels in slices as arrays; each
        # pair's probability in numpy (no predict table of every pair with its values); clustering
        if fixed is None:
            _splink_em(linker, used, n_right, dedupe, patterns=True, fields=fields)
        levels = _swap_counted_once(_level_table(linker), fields)
        levels["match_weight"] = np.log2(levels["m"].clip(lower=1e-5) / levels["u"])
        pi = float(linker._settings_obj._probability_two_random_records_match)
        iterations = 0
        estimated = sum(b["pairs"] for b in blocking if b["sql"] in {r.sql for r in used})
        floor = min(lower, 1e-3)  # pairs less likely than this are counted, scored and dropped slice by slice
        seen = np.zeros(len(ids), dtype=bool)
        cand = comparison_vectors(linker, None, chunks=max(1, math.ceil(estimated / CHUNK_PAIRS)),
                                  tf_by_comparison=False, keep=weight_at_least(levels, pi, floor, seen))
        n_pairs = cand.compared
        covered = set(ids[seen].tolist())
        id_l, id_r, prob, best = pairwise(cand, levels, pi, floor=floor)
        del cand
        keep = prob >= lower
        out_pairs = pd.DataFrame({"id_l": ids[id_l[keep]], "id_r": ids[id_r[keep]], "match_probability": prob[keep]})
        best = best.assign(record_id=ids[best["record_id"].to_numpy(np.int64)],
                           candidate_id=ids[best["candidate_id"].to_numpy(np.int64)])
        agreement = _agreement_in_words(best, levels, names)
        best = best.drop(columns=[f"gamma_{c}" for c in names], errors="ignore")
    else:
        if fixed is None:
            _splink_em(linker, used, n_right, dedupe, fields=fields)
        pairs = linker.inference.predict(warning_mode="auto")
        n_pairs = _dedupe_pairs(con, pairs.physical_name, names, oriented=not dedupe)
        covered = set(ids[r[0]] for r in con.execute(
            "SELECT DISTINCT record_id FROM pairs UNION SELECT DISTINCT entity_id FROM pairs" if dedupe
            else "SELECT DISTINCT record_id FROM pairs").fetchall())
        levels = _level_table(linker)
        levels["match_weight"] = np.log2(levels["m"].clip(lower=1e-5) / levels["u"])
        pi = float(linker._settings_obj._probability_two_random_records_match)
        iterations = 0
        best = _best_by_splink(con, both_ways=dedupe).rename(columns={"entity_id": "candidate_id"})
        agreement = _agreement(con, best, levels, names)
        best = best.assign(record_id=ids[best["record_id"].to_numpy(np.int64)],
                           candidate_id=ids[best["candidate_id"].to_numpy(np.int64)])
        agreement = agreement.assign(record_id=ids[agreement["record_id"].to_numpy(np.int64)],
                                     candidate_id=ids[agreement["candidate_id"].to_numpy(np.int64)])
        if dedupe:
            out_pairs = con.execute(f"SELECT entity_id AS id_l, record_id AS id_r, match_probability FROM pairs "
                                    f"WHERE match_probability >= {lower}").df()
            out_pairs = out_pairs.assign(id_l=ids[out_pairs["id_l"].to_numpy(np.int64)],
                                         id_r=ids[out_pairs["id_r"].to_numpy(np.int64)])
        con.execute("DROP TABLE IF EXISTS pairs")
    no_candidate = pd.Index(records["uid"][~records["uid"].isin(covered)].astype(str))
    model = MatchModel(levels=levels.drop(columns=["cvv"], errors="ignore"), match_rate=pi, em_iterations=iterations,
                       settings=linker.misc.save_model_to_json(), n_pairs=n_pairs, n_records=n_right,
                       n_entities=n_left, blocking_rules=[r.words for r in used])
    model.trained_levels = levels  # with cvv: what a later run needs to score without training
    if chart_dir is not None:
        model.chart_paths = save_charts(linker, Path(chart_dir))
    con.close()
    return Matched(best=best, model=model, blocking=blocking, no_candidate=no_candidate, agreement=agreement,
                   pairs=out_pairs, clusters=clusters, method=method, notes=notes)


def splink_settings(fields: list[Field], rules: list[str], *, dedupe: bool, n_entities: int,
                    keep_columns: bool = True, dialect: str = "duckdb"):
    """splink's settings for these fields: the comparisons their kinds make, the blocking rules, the
    prior match rate. The one place they are built, whichever backend (DuckDB, Spark) runs them.

    `keep_columns`: splink's predict keeps the compared values and levels (gamma_*) per pair, which
    reading its pairs needs; the one-to-one EM reads levels without predict and does not. `dialect`:
    the engine the comparisons' own SQL is written for ("duckdb", or "spark" with splink's jar)."""
    from splink import SettingsCreator

    return SettingsCreator(
        link_type="dedupe_only" if dedupe else "link_only",
        unique_id_column_name="uid",
        probability_two_random_records_match=(1.0 / n_entities) if not dedupe else min(0.5, 1.0 / n_entities),
        comparisons=[comparison(f, fields, dialect) for f in fields],
        blocking_rules_to_generate_predictions=list(rules),
        retain_intermediate_calculation_columns=keep_columns,
        retain_matching_columns=keep_columns,  # splink keeps the comparison levels (gamma_*) only with it
    )


def _agreement_in_words(best: pd.DataFrame, levels: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """For each record's best candidate: how each field agreed, in words (from its levels)."""
    top = best[best["rank"] == 1]
    out = pd.DataFrame({"record_id": top["record_id"].to_numpy(), "candidate_id": top["candidate_id"].to_numpy()})
    for c in names:
        lv = levels[levels["comparison"] == c]
        words = dict(zip(lv["cvv"].astype(int), lv["level"].astype(str)))
        g = pd.Series(top[f"gamma_{c}"].to_numpy() if f"gamma_{c}" in top.columns else [], dtype="float64")  # no pairs: none
        out[c] = g.map(words).fillna("missing on one side").to_numpy()
    return out


def _splink_em(linker, used: list[BlockingRule], n_records: int, dedupe: bool, patterns: bool = False,
               fields: list[Field] | None = None) -> None:
    """splink's EM: two rounds, each on a blocking rule that leaves other fields free to be learnt.

    A round blocks on the compared columns themselves (a rule on a derived key, such as a date's
    day-and-month key or a name's Soundex, is trained as equality of the fields it is made from):
    splink leaves out of a round only the comparisons whose columns the rule names, and a rule on
    a key it cannot see through would have it learn that agreeing on the date marks a match among
    pairs that all share one. With `patterns`, each round's iterations run over the counts of
    agreement patterns (splink's `estimate_without_term_frequencies`): one pass over the round's
    pairs, not one per iteration."""
    proportion = float(min(1.0, 200_000 / max(n_records, 1)))
    rounds = sorted(used, key=lambda r: len(r.left))[:2] if len(used) > 1 else used
    for r in rounds:
        sql = _training_sql(r, fields) if fields is not None else r.sql
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                sql, record_sample_proportion=proportion, estimate_without_term_frequencies=patterns)
        except Exception as exc:  # a round whose rule fixes every comparison learns nothing: say so, go on
            logging.getLogger("riskengine.link").warning("splink EM round on %s skipped: %s", r.words, exc)


SWAPPED = "forename and surname swapped"


def _swap_counted_once(levels: pd.DataFrame, fields: list[Field]) -> pd.DataFrame:
    """Swapped names are one piece of evidence seen by two comparisons (the forename's and the
    surname's): the surname's level keeps its weight, the forename's weighs nothing (m = u).
    Counted twice, two people of one name written both ways round, of another date and address,
    were put in one cluster."""
    out = levels.copy()
    mine = _swap_levels(out, fields)
    out.loc[mine, "m"] = out.loc[mine, "u"]
    return out


def _swap_levels(levels: pd.DataFrame, fields: list[Field]) -> np.ndarray:
    """The forenames' swapped-names levels (a mask over `levels`' rows), when a surname is compared too."""
    fore = {f.name for f in fields if f.kind == "forename"}
    if not any(f.kind == "surname" for f in fields):
        return np.zeros(len(levels), dtype=bool)
    return (levels["comparison"].isin(fore) & (levels["level"] == SWAPPED)).to_numpy()


def _training_sql(rule: BlockingRule, fields: list[Field]) -> str:
    """A blocking rule as a training rule on the fields its keys come from (`name__key` -> `name`);
    the rule as it is when it pairs different columns (swapped names) or names no field."""
    names = {f.name for f in fields}
    base = list(dict.fromkeys(c.split("__")[0] for c in rule.left))
    if rule.left != rule.right or not set(base) <= names:
        return rule.sql
    return " AND ".join(f"l.{b} = r.{b}" for b in base)


def _dedupe_pairs(con, table: str, comparisons: list[str], oriented: bool = False) -> int:
    """splink's pairs as `pairs` with its probability: entity_id = left uid, record_id = right uid, or,
    `oriented` (linking to a register), entity_id from the register and record_id from the records."""
    ent = f"CASE WHEN source_dataset_l = '{REGISTER_TABLE}' THEN uid_l ELSE uid_r END" if oriented else "uid_l"
    rec = f"CASE WHEN source_dataset_l = '{REGISTER_TABLE}' THEN uid_r ELSE uid_l END" if oriented else "uid_r"
    con.execute(f"""
        CREATE TEMP TABLE pairs AS
        SELECT {ent} AS entity_id, {rec} AS record_id, match_probability, match_weight,
            {', '.join(f'gamma_{c}' for c in comparisons)}
        FROM {table}
    """)
    return int(con.execute("SELECT count(*) FROM pairs").fetchall()[0][0])


def _best_by_splink(con, both_ways: bool) -> pd.DataFrame:
    """Each record's best two candidates by splink's pairwise probability (deduplication: both directions)."""
    other = ("UNION ALL SELECT entity_id AS record_id, record_id AS entity_id, match_probability, match_weight "
             "FROM pairs") if both_ways else ""
    return con.execute(f"""
        WITH both_ways AS (
            SELECT record_id, entity_id, match_probability, match_weight FROM pairs
            {other}
        ), r AS (
            SELECT *, row_number() OVER (PARTITION BY record_id ORDER BY match_probability DESC, entity_id) AS rank
            FROM both_ways
        )
        SELECT *, coalesce(lead(match_probability) OVER (PARTITION BY record_id ORDER BY rank), 0)
            AS runner_up_probability
        FROM r QUALIFY rank <= 2 ORDER BY record_id, rank
    """).df()


def _agreement(con, best: pd.DataFrame, levels: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """For each record's best candidate: how each field agreed, in words (a SQL join, not a per-pair map)."""
    top = best.loc[best["rank"] == 1, ["record_id", "candidate_id"]]
    con.register("__top", top)
    cases = []
    for c in names:
        lv = levels[levels["comparison"] == c]
        whens = " ".join(f"WHEN {int(v)} THEN '{str(w).replace(chr(39), chr(39) * 2)}'"
                         for v, w in zip(lv["cvv"], lv["level"]))
        cases.append(f"CASE p.gamma_{c} {whens} ELSE 'missing on one side' END AS {c}")
    out = con.execute(f"""
        SELECT t.record_id, t.candidate_id, {', '.join(cases)}
        FROM __top t JOIN pairs p ON p.record_id = t.record_id AND p.entity_id = t.candidate_id
        UNION ALL
        SELECT t.record_id, t.candidate_id, {', '.join(cases)}
        FROM __top t JOIN pairs p ON p.entity_id = t.record_id AND p.record_id = t.candidate_id
    """).df()
    con.unregister("__top")
    return out.drop_duplicates(["record_id", "candidate_id"])


STRONG = {"forename", "surname", "full_name", "date", "identifier"}


def _implausible(levels: pd.DataFrame, fields: list[Field]) -> list[str]:
    """Identifying fields on whose exact agreement EM's matches are rarer than random pairs."""
    out = []
    for f in fields:
        if f.kind not in STRONG:
            continue
        lv = levels[levels["comparison"] == f.name].sort_values("cvv", ascending=False)
        if len(lv) and lv["m"].iloc[0] < lv["u"].iloc[0]:
            out.append(f.name)
    return out


def _set_mu(linker, levels: pd.DataFrame) -> None:
    """Write stored m and u into splink's model (a run that reuses a trained model)."""
    lookup = {(r.comparison, int(r.cvv)): (float(r.m), float(r.u)) for r in levels.itertuples()}
    for comparison_ in linker._settings_obj.comparisons:
        for level in comparison_.comparison_levels:
            key = (comparison_.output_column_name, level.comparison_vector_value)
            if not level.is_null_level and key in lookup:
                level.m_probability, level.u_probability = lookup[key]


def _fixed_levels(levels: pd.DataFrame, fixed: dict) -> pd.DataFrame:
    stored = fixed["levels"].set_index(["comparison", "cvv"])
    out = levels.copy()
    key = pd.MultiIndex.from_arrays([out["comparison"], out["cvv"].astype(int)])
    out["m"] = stored["m"].reindex(key).to_numpy()
    out["u"] = stored["u"].reindex(key).to_numpy()
    out["match_weight"] = np.log2(out["m"].clip(lower=1e-5) / out["u"])
    return out


def cluster(records: pd.DataFrame, pairs: pd.DataFrame, threshold: float) -> pd.Series:
    """Connected components of the pairs at or above `threshold` (splink's clustering); uid -> cluster_id."""
    from splink.backends.duckdb import DuckDBAPI
    from splink.clustering import cluster_pairwise_predictions_at_threshold

    con = duckdb.connect()
    db = DuckDBAPI(con)
    nodes = pd.DataFrame({"uid": records["uid"].astype(str).to_numpy()})
    edges = pairs.rename(columns={"id_l": "uid_l", "id_r": "uid_r"})[["uid_l", "uid_r", "match_probability"]]
    if edges.empty:
        con.close()
        return pd.Series(nodes["uid"].to_numpy(), index=nodes["uid"].to_numpy())
    out = cluster_pairwise_predictions_at_threshold(nodes, edges, db, node_id_column_name="uid",
                                                    threshold_match_probability=threshold).as_pandas_dataframe()
    con.close()
    return pd.Series(out["cluster_id"].astype(str).to_numpy(), index=out["uid"].astype(str).to_numpy())


def log2_odds(p: float) -> float:
    p = min(max(p, 1e-12), 1 - 1e-12)
    return math.log2(p / (1 - p))
