"""The as-of event aggregation as one SQL statement: the single description of the event features.

DuckDB runs it as written; other engines (Spark) run the same statement translated by
sqlglot, so the feature logic is kept once. The statement reads four tables:
`events_raw(entity_id, source, type, date[, value])`, `entities_raw(entity_id, row)`,
`dates_raw(k, as_of)` and `pairs(pair, source, type)`, and returns one row per
(as-of date, entity, event type) group that has events before its as-of date:
`key = k * n_rows * n_pairs + row * n_pairs + pair` and one column per statistic slot
(`c_<w>`, `c_all`, `s_<w>`, `s_all`, `last`, `ds`).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlglot


def event_query(*, n_rows: int, n_pairs: int, windows: Sequence[int], with_sums: bool,
                has_value_column: bool) -> str:
    """The DuckDB-dialect SELECT computing every event statistic for every as-of date.

    Each event meets each as-of date after it once (the join below), and the groups are the
    (date, entity, type) triples, so the work is about the size of the answer. The latest value
    is `arg_max(vd, d)`, where `vd` is the largest value among the type's events of that entity
    on that day: a tie of dates then gives the same answer whichever row wins, without the
    (date, value) struct comparison per row (15% of the statement's time).
    """
    # age = whole days from the event to the as-of date (>= 1); window w holds ages 1..w. Written
    # with date_diff rather than date arithmetic, whose result types differ between engines.
    aggs = [f"count(*) FILTER (WHERE age <= {w}) AS c_{w}" for w in windows] + ["count(*) AS c_all"]
    if with_sums:
        aggs += [f"sum(v) FILTER (WHERE age <= {w}) AS s_{w}" for w in windows] + ["sum(v) AS s_all"]
        # the value of the latest event that has one; on a tie of dates, the largest value
        aggs.append("arg_max(vd, d) FILTER (WHERE v IS NOT NULL) AS last")
    aggs.append("min(age) AS ds")
    value = "CAST(e.value AS DOUBLE)" if has_value_column else "NULL::DOUBLE"
    day_max = ", max(v) OVER (PARTITION BY rp, d) AS vd" if with_sums else ""
    # key numbers a group (as-of date k, entity row, event type pair) densely: one integer to hash
    return f"""
        WITH ev AS (
            SELECT ent.row * {n_pairs} + p.pair AS rp, CAST(e.date AS DATE) AS d, {value} AS v
            FROM events_raw e
            JOIN entities_raw ent ON CAST(e.entity_id AS VARCHAR) = ent.entity_id
            JOIN pairs p ON CAST(e.source AS VARCHAR) = p.source AND CAST(e.type AS VARCHAR) = p.type
        ),
        evd AS (SELECT rp, d, v{day_max} FROM ev),
        past AS (
            SELECT dt.k * {n_rows * n_pairs}::BIGINT + evd.rp AS key, evd.*,
                   date_diff('day', evd.d, CAST(dt.as_of AS DATE)) AS age
            FROM evd JOIN dates_raw dt ON evd.d < CAST(dt.as_of AS DATE)
        )
        SELECT key, {", ".join(aggs)} FROM past GROUP BY key"""


def types_query(has_value_column: bool) -> str:
    """The DuckDB-dialect SELECT listing every (source, type) of `events_raw`, sorted, with
    whether it has values and how many rows lack a date or an entity_id."""
    value = "value" if has_value_column else "NULL::DOUBLE"
    return f"""
        SELECT CAST(source AS VARCHAR) AS source, CAST(type AS VARCHAR) AS type,
               count({value}) > 0 AS has_value, count(*) - count(date) AS no_date,
               count(*) - count(entity_id) AS no_id
        FROM events_raw GROUP BY CAST(source AS VARCHAR), CAST(type AS VARCHAR) ORDER BY source, type"""


def in_dialect(sql: str, dialect: str) -> str:
    """`sql` (DuckDB dialect) written for another engine, e.g. "spark"."""
    if dialect == "duckdb":
        return sql
    return sqlglot.transpile(sql, read="duckdb", write=dialect, pretty=True)[0]
