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


def encoded_events_query(*, n_pairs: int, has_value_column: bool) -> str:
    """The DuckDB-dialect SELECT giving each event as numbers: `rp` (entity row * n_pairs + type
    pair), `pair`, `d` (its date) and `v` (its value as a double, or NULL)."""
    value = "CAST(e.value AS DOUBLE)" if has_value_column else "NULL::DOUBLE"
    return f"""
            SELECT ent.row * {n_pairs} + p.pair AS rp, p.pair AS pair, CAST(e.date AS DATE) AS d, {value} AS v
            FROM events_raw e
            JOIN entities_raw ent ON CAST(e.entity_id AS VARCHAR) = ent.entity_id
            JOIN pairs p ON CAST(e.source AS VARCHAR) = p.source AND CAST(e.type AS VARCHAR) = p.type"""


def event_query(*, n_rows: int, n_pairs: int, windows: Sequence[int], with_sums: bool,
                has_value_column: bool, valued_pairs: Sequence[int] | None = None,
                events: str | None = None) -> str:
    """The DuckDB-dialect SELECT computing every event statistic for every as-of date.

    Each event meets each as-of date after it once (the join below), and the groups are the
    (date, entity, type) triples, so the work is about the size of the answer. The latest value
    is `arg_max(vd, d)`, where `vd` is the largest value among the type's events of that entity
    on that day: a tie of dates then gives the same answer whichever row wins, without the
    (date, value) struct comparison per row (15% of the statement's time).

    `valued_pairs`, when given, are the only pairs whose sums and latest values are wanted
    (types with values): their events are aggregated in one branch with every statistic, the
    other types' in a second branch with counts and days since only (sums and `last` NULL).
    Same answer for the pairs listed; the count-only branch carries a third of the aggregate
    states, and the day's largest value is taken over the valued events only (measured: the
    statement in 0.63 of the single branch's CPU time on the bench's borough).

    `events`, when given, is a SELECT with `encoded_events_query`'s columns to read instead of
    encoding `events_raw` (the DuckDB build encodes the events once and runs the statement over
    slices of entities, so that one slice's groups are held at a time).
    """
    # age = whole days from the event to the as-of date (>= 1); window w holds ages 1..w. Written
    # with date_diff rather than date arithmetic, whose result types differ between engines.
    counts = [f"count(*) FILTER (WHERE age <= {w}) AS c_{w}" for w in windows] + ["count(*) AS c_all"]
    sums = []
    if with_sums:
        sums = [f"sum(v) FILTER (WHERE age <= {w}) AS s_{w}" for w in windows] + ["sum(v) AS s_all",
                # the value of the latest event that has one; on a tie of dates, the largest value
                "arg_max(vd, d) FILTER (WHERE v IS NOT NULL) AS last"]
    rows = f"{n_rows * n_pairs}::BIGINT"

    def past(source: str) -> str:  # each event of `source` once per as-of date after it
        return (f"SELECT dt.k * {rows} + x.rp AS key, x.*, date_diff('day', x.d, CAST(dt.as_of AS DATE)) AS age "
                f"FROM {source} x JOIN dates_raw dt ON x.d < CAST(dt.as_of AS DATE)")

    # key numbers a group (as-of date k, entity row, event type pair) densely: one integer to hash
    ev = f"""
        WITH ev AS ({events or encoded_events_query(n_pairs=n_pairs, has_value_column=has_value_column)}
        )"""
    split = with_sums and valued_pairs is not None and set(valued_pairs) != set(range(n_pairs))
    if not split:
        day_max = ", max(v) OVER (PARTITION BY rp, d) AS vd" if with_sums else ""
        return f"""{ev},
        evd AS (SELECT rp, d, v{day_max} FROM ev),
        past AS ({past("evd")})
        SELECT key, {", ".join(counts + sums)}, min(age) AS ds FROM past GROUP BY key"""
    listed = ", ".join(str(int(p)) for p in sorted(set(valued_pairs))) or "-1"
    nulls = [f"NULL::DOUBLE AS s_{w}" for w in windows] + ["NULL::DOUBLE AS s_all", "NULL::DOUBLE AS last"]
    return f"""{ev},
        evd AS (SELECT rp, d, v, max(v) OVER (PARTITION BY rp, d) AS vd FROM ev WHERE pair IN ({listed})),
        evc AS (SELECT rp, d FROM ev WHERE pair NOT IN ({listed})),
        pastv AS ({past("evd")}),
        pastc AS ({past("evc")})
        SELECT key, {", ".join(counts + sums)}, min(age) AS ds FROM pastv GROUP BY key
        UNION ALL
        SELECT key, {", ".join(counts + nulls)}, min(age) AS ds FROM pastc GROUP BY key"""


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
