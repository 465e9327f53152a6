"""Candidate pairs as arrays: splink's comparison levels in, the one-to-one EM and the rival-aware score out.

splink blocks and computes each pair's comparison level (gamma) and term-frequency
adjustment in the database, exactly as its `predict` would, but without carrying the
compared values (names, addresses) or weights the engine does not use; the result is read
once into numpy (a few bytes a pair) and the EM's iterations and the final score run there.
What used to be a SQL pass with a window over every pair per EM iteration is now a few
vector operations.

With B_e the Bayes factor of candidate e, N register entries and pi the share of records
that have an entity in the register, the E step is

    P(record is e) = pi * B_e / N  /  ((1 - pi) + pi * sum over the record's candidates of B_j / N)

and the M step re-estimates m per comparison level and pi from these probabilities. The
same formula gives the final match probability (see _probabilistic for why the one-to-one
constraint matters on addresses).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

M_FLOOR = 1e-5  # no level is taken to be impossible among true matches
_MAX_LOG2 = 500.0  # 2^500 is finite and a sum of many stays finite


@dataclass
class Pairs:
    """Candidate pairs: codes of the entity and record of each pair, its levels and tf adjustments."""

    ent: np.ndarray  # int32 code per pair into ent_ids
    rec: np.ndarray  # int32 code per pair into rec_ids
    ent_ids: np.ndarray  # code -> the register's uid
    rec_ids: np.ndarray  # code -> the record's uid
    gamma: dict[str, np.ndarray]  # comparison -> int8 level per pair (-1: missing on a side)
    tf: dict[str, np.ndarray]  # comparison -> float32 log2 term-frequency adjustment per pair (0 where none)
    _pattern_cache: tuple | None = field(default=None, repr=False)  # (comparisons, pattern codes, levels): _patterns
    compared: int | None = None  # pairs compared, when `keep` held fewer (None: all are here)

    def __len__(self) -> int:
        return len(self.ent)

    @property
    def tf_total(self) -> np.ndarray:
        out = np.zeros(len(self), dtype=np.float32)
        for v in self.tf.values():
            out += v
        return out

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, comparisons: list[str]) -> "Pairs":
        """From a frame of entity_id, record_id, gamma_<c> and optional tf_<c> columns (tests, small inputs)."""
        ent, ent_ids = pd.factorize(frame["entity_id"])
        rec, rec_ids = pd.factorize(frame["record_id"])
        return cls(ent.astype(np.int32), rec.astype(np.int32), np.asarray(ent_ids), np.asarray(rec_ids),
                   {c: frame[f"gamma_{c}"].to_numpy(np.int8) for c in comparisons},
                   {c: frame[f"tf_{c}"].to_numpy(np.float32) for c in comparisons if f"tf_{c}" in frame.columns})


def comparison_vectors(linker, register_table: str | None, chunks: int = 1, tf_by_comparison: bool = True,
                       keep: Callable[[dict[str, np.ndarray]], np.ndarray] | None = None) -> Pairs:
    """splink's candidate pairs (its blocking rules) with each comparison's level and tf adjustment.

    The SQL is splink's own (blocking, term-frequency lookups, comparison levels, and each
    level's tf adjustment from its u), run without the matching columns and weights that
    `predict` would also write; the table is read into arrays and dropped. With `register_table`
    None (deduplication) a pair's entity_id is its left uid and record_id its right. With `chunks` > 1
    (integer uids only) the records are taken in that many slices, as splink's `predict_chunk`
    does, so the database never holds more than a slice of the pairs with their values. Without
    `tf_by_comparison` the term-frequency adjustments come back summed, as one array (`tf["*"]`).
    `keep` (given a slice's arrays: g_<comparison>, t_<comparison>, entity_id, record_id; returns
    a boolean mask) drops pairs slice by slice, so only the kept ones are ever held together;
    `Pairs.compared` counts them all.
    """
    con = linker._db_api._con
    names = [comp.output_column_name for comp in linker._settings_obj.comparisons]
    parts, text_ids, compared = [], None, 0
    for k in range(1, chunks + 1):
        table = _vectors_table(linker, register_table, (k, chunks) if chunks > 1 else None)
        kinds = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {table.physical_name})").fetchall())
        t_cols = [f"t_{n}" for n in names if f"t_{n}" in kinds]
        if t_cols and not tf_by_comparison:
            t_cols = [f"CAST({' + '.join(t_cols)} AS FLOAT) AS \"t_*\""]
        numeric = all(kinds[c] in ("BIGINT", "INTEGER", "HUGEINT", "UBIGINT") for c in ("entity_id", "record_id"))
        if numeric:
            top = con.execute(f"SELECT max(entity_id), max(record_id), min(entity_id), min(record_id) "
                              f"FROM {table.physical_name}").fetchall()[0]
            small = all(v is None or 0 <= v < 2 ** 31 for v in top)  # uids as 4 bytes, not 8, when they fit
            cast = "INTEGER" if small else "BIGINT"
            arrays = _fetch(con, f"SELECT entity_id::{cast} AS entity_id, record_id::{cast} AS record_id, "
                                 f"{', '.join([f'g_{n}' for n in names] + t_cols)} FROM {table.physical_name} "
                                 "ORDER BY record_id, entity_id")  # the same order every run: same sums, same bytes
        else:  # text uids: coded in the database, only the distinct ids come back as text
            if chunks > 1:
                raise ValueError("comparison_vectors: chunks need integer uids")
            text_ids, arrays = _coded(con, table.physical_name, [f"g_{n}" for n in names] + t_cols)
        table.drop_table_from_database_and_remove_from_cache()
        n = len(next(iter(arrays.values()))) if arrays else 0
        compared += n
        if keep is not None and n:
            mask = keep(arrays)
            arrays = {c: a[mask] for c, a in arrays.items()}
        parts.append(arrays)
    arrays = parts[0] if len(parts) == 1 else {}
    for c in list(parts[0]) if len(parts) > 1 else []:  # column by column: each slice's copy goes once joined
        arrays[c] = np.concatenate([p.pop(c) for p in parts])
    del parts
    if text_ids is None:  # integer uids: codes are the uids less the smallest (ids without a pair cost nothing)
        ent, rec = arrays.pop("entity_id"), arrays.pop("record_id")
        e0, r0 = (int(ent.min()), int(rec.min())) if len(ent) else (0, 0)
        ent_ids = np.arange(e0, int(ent.max()) + 1 if len(ent) else 0)
        rec_ids = np.arange(r0, int(rec.max()) + 1 if len(rec) else 0)
        ent = ent.astype(np.int32, copy=ent.dtype != np.int32 or not ent.flags.writeable)
        rec = rec.astype(np.int32, copy=rec.dtype != np.int32 or not rec.flags.writeable)
        ent -= e0  # in place: no second copy of every pair's ids
        rec -= r0
    else:
        (ent_ids, rec_ids), ent, rec = text_ids, arrays.pop("ent"), arrays.pop("rec")
    gamma = {n: arrays.pop(f"g_{n}") for n in names}
    tf = {n: arrays.pop(f"t_{n}") for n in [*names, "*"] if f"t_{n}" in arrays}
    return Pairs(ent.astype(np.int32), rec.astype(np.int32), ent_ids, rec_ids, gamma, tf, compared=compared)


def _vectors_table(linker, register_table: str | None, right_chunk: tuple[int, int] | None):
    """One slice of the pairs as a table: entity_id, record_id, g_<comparison>, t_<comparison>."""
    from splink.internals.comparison_vector_values import compute_comparison_vector_values_from_id_pairs_sqls
    from splink.internals.pipeline import CTEPipeline
    from splink.internals.vertically_concatenate import enqueue_df_concat_with_tf

    settings = linker._settings_obj
    if right_chunk is None:
        blocked = linker.inference.compute_blocked_pairs_for_predict()
    else:
        blocked, _ = linker.inference._get_or_compute_blocked_pairs_for_predict_chunk(right_chunk=right_chunk)
    pipeline = CTEPipeline([blocked])
    enqueue_df_concat_with_tf(linker, pipeline)
    keep = settings._retain_matching_columns
    settings._retain_matching_columns = False  # levels and tf only: no names or addresses per pair
    try:
        columns = settings._columns_to_select_for_comparison_vector_values
    finally:
        settings._retain_matching_columns = keep
    pipeline.enqueue_list_of_sqls(compute_comparison_vector_values_from_id_pairs_sqls(
        settings._columns_to_select_for_blocking, columns,
        input_tablename_l="__splink__df_concat_with_tf", input_tablename_r="__splink__df_concat_with_tf",
        source_dataset_input_column=settings.column_info_settings.source_dataset_input_column,
        unique_id_input_column=settings.column_info_settings.unique_id_input_column,
        link_type=settings._link_type, sql_dialect_str=linker._sql_dialect_str))
    selects = []
    for comp in settings.comparisons:
        name = comp.output_column_name
        selects.append(f"CAST(coalesce({comp._gamma_column_name}, -1) AS TINYINT) AS g_{name}")
        if comp._has_tf_adjustments:
            cases = "\n".join(lv._tf_adjustment_sql(comp._gamma_column_name, comp.comparison_levels)
                              for lv in comp.comparison_levels)
            selects.append(f"CAST(coalesce(CASE {cases} END, 0) AS FLOAT) AS t_{name}")
    if register_table is None:  # deduplication: a pair is its two records, left and right
        ent, rec = "uid_l", "uid_r"
    else:
        ent = f"CASE WHEN source_dataset_l = '{register_table}' THEN uid_l ELSE uid_r END"
        rec = f"CASE WHEN source_dataset_l = '{register_table}' THEN uid_r ELSE uid_l END"
    pipeline.enqueue_sql(f"""
        SELECT {ent} AS entity_id, {rec} AS record_id,
            {', '.join(selects)}
        FROM __splink__df_comparison_vectors
    """, "__riskengine_pairs")
    table = linker._db_api.sql_pipeline_to_splink_dataframe(pipeline)
    blocked.drop_table_from_database_and_remove_from_cache()
    return table


def _coded(con, table: str, columns: list[str]):
    """Text uids replaced by codes in the database; the distinct ids, and the arrays with ent and rec."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE __riskengine_ent AS
            SELECT entity_id, (row_number() OVER (ORDER BY entity_id) - 1)::BIGINT AS code FROM (SELECT DISTINCT entity_id FROM {table});
        CREATE OR REPLACE TEMP TABLE __riskengine_rec AS
            SELECT record_id, (row_number() OVER (ORDER BY record_id) - 1)::BIGINT AS code FROM (SELECT DISTINCT record_id FROM {table});
    """)
    ent_ids = _plain(con.execute("SELECT entity_id FROM __riskengine_ent ORDER BY code").fetchnumpy()["entity_id"])
    rec_ids = _plain(con.execute("SELECT record_id FROM __riskengine_rec ORDER BY code").fetchnumpy()["record_id"])
    arrays = _fetch(con, f"""
        SELECT e.code AS ent, r.code AS rec, {', '.join(f'p.{c}' for c in columns)}
        FROM {table} p JOIN __riskengine_ent e USING (entity_id) JOIN __riskengine_rec r USING (record_id)
        ORDER BY p.record_id, p.entity_id
    """)
    con.execute("DROP TABLE __riskengine_ent; DROP TABLE __riskengine_rec")
    return (ent_ids, rec_ids), arrays


def _fetch(con, sql: str) -> dict[str, np.ndarray]:
    """A query's columns as plain numpy arrays, through Arrow (no masked copies; the SQL leaves no NULLs)."""
    table = con.sql(sql).to_arrow_table()
    out = {}
    for name in table.column_names:
        out[name] = table.column(name).to_numpy()
        table = table.drop_columns([name])  # each column's Arrow buffers go as soon as it is copied out
    return out


def _plain(a, fill=None) -> np.ndarray:
    """A DuckDB result column as a plain array (masked values filled)."""
    return np.asarray(a.filled(fill) if np.ma.isMaskedArray(a) else a)


def _weight_tables(levels: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per comparison: log2(m/u) indexed by level + 1 (index 0, a missing value, weighs nothing)."""
    out = {}
    for comparison, lv in levels.groupby("comparison", sort=False):
        table = np.zeros(int(lv["cvv"].max()) + 2)
        for r in lv.itertuples():
            table[int(r.cvv) + 1] = math.log2(max(float(r.m), M_FLOOR) / float(r.u))
        out[comparison] = table
    return out


SLICE = 1 << 20  # pairs per slice of the EM's passes: temporaries stay a few MB, whatever the pairs


def _e_step(per_pattern: np.ndarray, pattern: np.ndarray, tf: np.ndarray, rec: np.ndarray, n_records: int,
            pi: float) -> tuple[np.ndarray, float]:
    """Expected matches per pattern and in all, in two passes over slices of the pairs: the
    records' sums of Bayes factors first, then each pair's posterior, added up by pattern."""
    total = np.zeros(n_records)
    for a in range(0, len(pattern), SLICE):
        lw = per_pattern[pattern[a:a + SLICE]] + tf[a:a + SLICE]
        total += np.bincount(rec[a:a + SLICE], weights=np.exp2(np.minimum(lw, _MAX_LOG2)), minlength=n_records)
    denominator = (1 - pi) + pi * total
    by_pattern = np.zeros(len(per_pattern))
    for a in range(0, len(pattern), SLICE):
        lw = per_pattern[pattern[a:a + SLICE]] + tf[a:a + SLICE]
        p = pi * np.exp2(np.minimum(lw, _MAX_LOG2)) / denominator[rec[a:a + SLICE]]
        by_pattern += np.bincount(pattern[a:a + SLICE], weights=p, minlength=len(per_pattern))
    return by_pattern, float(by_pattern.sum())


def _patterns(pairs: Pairs, comparisons: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Each pair's agreement pattern (its levels on every comparison) as a code, and each pattern's
    level per comparison: a few thousand patterns stand for millions of pairs in the EM's sums.
    Computed once per set of pairs (the EM and the score share it)."""
    cached = pairs._pattern_cache
    if cached is not None and cached[0] == comparisons:
        return cached[1], cached[2]
    top = max((int(pairs.gamma[c].max()) + 1 for c in comparisons if len(pairs.gamma[c])), default=1)
    bits = max(1, top.bit_length())
    dtype = np.int32 if bits * len(comparisons) <= 31 else np.int64
    if bits * len(comparisons) > 63:  # too many to pack: the plain row-wise way
        stacked = np.stack([pairs.gamma[c] for c in comparisons], axis=1)
        uniq, code = np.unique(stacked, axis=0, return_inverse=True)
        out = code.reshape(-1).astype(np.int32), {c: uniq[:, i] for i, c in enumerate(comparisons)}
    else:
        key = np.zeros(len(pairs), dtype=dtype)
        for c in comparisons:  # levels + 1, packed side by side
            key <<= bits
            key |= (pairs.gamma[c] + 1).astype(dtype)
        code, uniq = pd.factorize(key)  # a hash table, not a sort of every pair
        del key
        uniq = np.asarray(uniq, dtype=np.int64)
        levels = {}
        for c in reversed(comparisons):
            levels[c] = ((uniq & ((1 << bits) - 1)) - 1).astype(np.int8)
            uniq = uniq >> bits
        out = code.astype(np.int32), levels
    pairs._pattern_cache = (list(comparisons), *out)
    return out


def one_to_one_em(pairs: Pairs, levels: pd.DataFrame, n_entities: int, n_records: int,
                  max_iterations: int = 50, tol: float = 1e-4, held: set[str] | None = None,
                  at_u: np.ndarray | None = None) -> tuple[pd.DataFrame, float, int]:
    """EM for m (per level) and pi over the candidate pairs, each record matching at most one entity.

    Pairs are grouped by agreement pattern: a pair's Bayes factor is its pattern's times its term
    frequencies, and the M step's expected counts are sums per pattern. Comparisons in `held` keep
    their m; only the others and pi are estimated. Levels marked in `at_u` (a mask over `levels`'
    rows) weigh nothing throughout (m = u): evidence another comparison already counts."""
    held = set() if held is None else held
    levels = levels.copy()
    at_u = np.zeros(len(levels), dtype=bool) if at_u is None else np.asarray(at_u, dtype=bool)
    levels.loc[at_u, "m"] = levels.loc[at_u, "u"]
    pi = 0.9
    comparisons = list(levels["comparison"].unique())
    pattern, pattern_levels = _patterns(pairs, comparisons)
    n_patterns = len(next(iter(pattern_levels.values()))) if pattern_levels else 1
    tf = pairs.tf_total
    tf -= np.float32(math.log2(n_entities))  # in place: one array of every pair, not two
    n_codes = len(pairs.rec_ids)
    iteration = 0
    for iteration in range(1, max_iterations + 1):
        per_pattern = np.zeros(n_patterns)
        for comparison, table in _weight_tables(levels).items():
            per_pattern += table[np.clip(pattern_levels[comparison] + 1, 0, len(table) - 1)]
        by_pattern, expected_matches = _e_step(per_pattern, pattern, tf, pairs.rec, n_codes, pi)
        new_pi = float(np.clip(expected_matches / max(n_records, 1), 1e-4, 1 - 1e-6))
        new_m = levels["m"].copy()
        for comparison in comparisons:
            mine = (levels["comparison"] == comparison).to_numpy()
            if comparison in held:
                continue
            cvv = levels.loc[mine, "cvv"].astype(int).to_numpy()
            counts = np.bincount(np.clip(pattern_levels[comparison] + 1, 0, None), weights=by_pattern,
                                 minlength=int(cvv.max()) + 2)
            expected = counts[cvv + 1]
            if expected.sum() <= 0:
                continue
            m = np.clip(expected / expected.sum(), M_FLOOR, None)  # unseen is rare, not impossible
            new_m[mine] = m / m.sum()
        new_m[at_u] = levels.loc[at_u, "u"]
        change = max(abs(new_pi - pi), float((new_m - levels["m"]).abs().max()))
        levels["m"], pi = new_m, new_pi
        if change < tol:
            break
    levels["match_weight"] = np.log2(levels["m"].clip(lower=M_FLOOR) / levels["u"])
    return levels, pi, iteration


def score(pairs: Pairs, levels: pd.DataFrame, pi: float, n_entities: int) -> pd.DataFrame:
    """Each record's best two candidates: record_id, entity_id, rank, match_probability (against
    its rivals), match_weight, runner_up_probability, and mw_<comparison> (that field's weight)
    and gamma_<comparison> (its level)."""
    cols = ["record_id", "entity_id", "rank", "match_probability", "match_weight", "runner_up_probability"]
    if not len(pairs):
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in cols})
    comparisons = list(levels["comparison"].unique())
    pattern, pattern_levels = _patterns(pairs, comparisons)
    per_pattern = np.zeros(len(pattern_levels[comparisons[0]]) if comparisons else 1)
    for comparison, table in _weight_tables(levels).items():
        per_pattern += table[np.clip(pattern_levels[comparison] + 1, 0, len(table) - 1)]
    lw = per_pattern.astype(np.float32)[pattern]
    del pattern
    for v in pairs.tf.values():  # added in place: no temporary of every pair
        lw += v
    lw -= np.float32(math.log2(n_entities))
    total = np.zeros(len(pairs.rec_ids))
    for a in range(0, len(lw), SLICE):  # each record's sum of Bayes factors, for the rival-aware probability
        total += np.bincount(pairs.rec[a:a + SLICE], weights=np.exp2(np.minimum(lw[a:a + SLICE].astype(np.float64),
                                                                                _MAX_LOG2)),
                             minlength=len(pairs.rec_ids))
    denominator = (1 - pi) + pi * total
    ent_rank = np.empty(len(pairs.ent_ids), dtype=np.int32)  # ties broken by entity id, as before
    ent_rank[np.argsort(pairs.ent_ids.astype(str), kind="stable")] = np.arange(len(pairs.ent_ids))
    np.negative(lw, out=lw)  # best first, sorted without a negated copy of every pair's weight
    order = np.lexsort((ent_rank[pairs.ent], lw, pairs.rec))
    np.negative(lw, out=lw)
    rec_sorted = pairs.rec[order]
    firsts = np.flatnonzero(np.r_[True, rec_sorted[1:] != rec_sorted[:-1]])
    has_second = np.r_[firsts[1:], len(order)] - firsts > 1
    top = np.sort(np.r_[firsts, firsts[has_second] + 1])  # positions in `order`: rank 1, then its rank 2
    top_rank = np.where(np.isin(top, firsts), 1, 2)
    top = order[top]
    del order, rec_sorted
    lw_top = lw[top].astype(np.float64)
    p_top = pi * np.exp2(np.minimum(lw_top, _MAX_LOG2)) / denominator[pairs.rec[top]]
    out = pd.DataFrame({"record_id": pairs.rec_ids[pairs.rec[top]], "entity_id": pairs.ent_ids[pairs.ent[top]],
                        "rank": top_rank.astype(np.int64), "match_probability": p_top,
                        "match_weight": lw_top + math.log2(pi / (1 - pi))})
    p = p_top
    runner = np.zeros(len(top))
    second = np.flatnonzero(top_rank == 2)
    runner[second - 1] = p[second]  # the row before a rank 2 is its record's rank 1
    out["runner_up_probability"] = runner
    for comparison, table in _weight_tables(levels).items():
        g = pairs.gamma[comparison][top]
        mw = table[np.clip(g + 1, 0, len(table) - 1)]
        if comparison in pairs.tf:
            mw = mw + pairs.tf[comparison][top]
        out[f"mw_{comparison}"] = mw
        out[f"gamma_{comparison}"] = g  # the level, for the agreement in words
    return out


def weight_at_least(levels: pd.DataFrame, pi: float, floor: float,
                    seen: np.ndarray | None = None) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """A `keep` for comparison_vectors: pairs whose pairwise match probability (prior odds times
    the Bayes factors of its levels and tf adjustments) is at least `floor`. With `seen`, a boolean
    per uid, it also marks every uid that was in any pair (kept or not)."""
    tables = _weight_tables(levels)
    prior = math.log2(pi / (1 - pi))
    cut = math.log2(floor / (1 - floor))

    def keep(a: dict[str, np.ndarray]) -> np.ndarray:
        if seen is not None:
            seen[a["entity_id"]] = True
            seen[a["record_id"]] = True
        mw = np.full(len(a["entity_id"]), prior)
        for comparison, table in tables.items():
            mw += table[np.clip(a[f"g_{comparison}"] + 1, 0, len(table) - 1)]
        for name, t in a.items():
            if name.startswith("t_"):
                mw += t
        return mw >= cut

    return keep


def pairwise(pairs: Pairs, levels: pd.DataFrame, pi: float, floor: float = 1e-3
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    """Deduplication's scores: each pair's own match probability (splink's: prior odds times the
    Bayes factors of its levels and term frequencies), with no one-to-one constraint.

    Returns the pairs at or above `floor` as (left id, right id, probability), sorted by
    probability (highest first), and each record's best two candidates in either direction:
    record_id, candidate_id, rank, match_probability, match_weight, runner_up_probability,
    mw_<comparison> and gamma_<comparison>. Pairs below `floor` are only counted: for most blocked
    pairs (different people sharing a date or a surname) no copy is made past their slice."""
    comparisons = list(levels["comparison"].unique())
    pattern, pattern_levels = _patterns(pairs, comparisons)
    n_patterns = len(pattern_levels[comparisons[0]]) if comparisons else 1
    tables = _weight_tables(levels)
    per_pattern = np.full(n_patterns, math.log2(pi / (1 - pi)))
    for comparison, table in tables.items():
        per_pattern += table[np.clip(pattern_levels[comparison] + 1, 0, len(table) - 1)]
    cut = math.log2(floor / (1 - floor))
    kept, weights = [], []
    for a in range(0, len(pattern), SLICE):
        mw = per_pattern[pattern[a:a + SLICE]]
        for t in pairs.tf.values():
            mw = mw + t[a:a + SLICE]
        idx = np.flatnonzero(mw >= cut)
        kept.append(idx + a)
        weights.append(mw[idx])
    idx = np.concatenate(kept) if kept else np.zeros(0, np.int64)
    mw = np.concatenate(weights) if weights else np.zeros(0)
    p = 1.0 / (1.0 + np.exp2(-np.clip(mw, -_MAX_LOG2, _MAX_LOG2)))
    left, right = pairs.ent_ids[pairs.ent[idx]], pairs.rec_ids[pairs.rec[idx]]
    by_p = np.argsort(-p, kind="stable")
    edges = (left[by_p], right[by_p], p[by_p])

    # best two per record, either way round: a record's candidates are the other side of its pairs
    nodes, codes = np.unique(np.concatenate([left, right]), return_inverse=True)
    node = codes.reshape(-1)
    k = len(idx)
    other = np.r_[node[k:], node[:k]]
    mw2, p2, pos = np.r_[mw, mw], np.r_[p, p], np.r_[idx, idx]
    order = np.lexsort((other, -mw2, node))
    node_sorted = node[order]
    firsts = np.flatnonzero(np.r_[True, node_sorted[1:] != node_sorted[:-1]]) if len(order) else np.zeros(0, np.int64)
    has_second = np.r_[firsts[1:], len(order)] - firsts > 1
    top = np.sort(np.r_[firsts, firsts[has_second] + 1]).astype(np.int64)
    rank = np.where(np.isin(top, firsts), 1, 2)
    top = order[top]
    runner = np.zeros(len(top))
    second = np.flatnonzero(rank == 2)
    runner[second - 1] = p2[top[second]]
    best = pd.DataFrame({"record_id": nodes[node[top]], "candidate_id": nodes[other[top]], "rank": rank.astype(np.int64),
                         "match_probability": p2[top], "match_weight": mw2[top], "runner_up_probability": runner})
    at = pos[top]
    for comparison, table in tables.items():
        g = pairs.gamma[comparison][at]
        best[f"mw_{comparison}"] = table[np.clip(g + 1, 0, len(table) - 1)]
        best[f"gamma_{comparison}"] = g
    return *edges, best
