"""`build_features`: one row per (entity, as-of date), computed in DuckDB in-process.

Only events dated strictly before the as-of date count; window w covers
as_of - w days <= date < as_of. DuckDB aggregates every (entity, date, source, type)
group in one query; the groups are then spread into columns with one numpy scatter per
SQL slot (measured on a million entities: pivoting into ~60 columns in SQL took 10-15 s).
Counts are int32 (COUNT_DTYPE) and days since the last event float32 (DAYS_DTYPE: whole days,
exact in float32 up to 16 million, NaN where there is none): at a million entities and eight
dates the table is 2.8 GB (2,656 MiB) instead of 4.2 GB with 8 bytes a value.
"""

from __future__ import annotations

import ast
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from riskengine.errors import DataError, RiskEngineError
from riskengine.features._phrases import column_label, default_label
from riskengine.features._phrases import slug as _slug
from riskengine.features._nearby import nearby_part, split_area_events, wants_nearby
from riskengine.features._ready import join_as_of
from riskengine.features._sql import event_query, types_query
from riskengine.progress import Steps
from riskengine.spec import FeaturesSpec

INFO_COLUMNS = ["name", "source", "type", "stat", "window_days", "unit", "label", "categorical", "categories"]
EVENT_STATS = ("count", "sum", "last", "days_since")
_UNITS = {"count": "events", "sum": "value", "last": "value", "days_since": "days"}


@dataclass
class FeatureSet:
    """Features as of one or more dates.

    table : entity_id, as_of, then the features. Rows: as-of dates in ascending order, each
        with the entities in the order of the entities table. Columns: static columns in the
        spec's order; then per (source, type), sorted, its counts (windows ascending, then all
        history), sums (likewise; only where the type has values), last value and days since
        the last event; then the nearby features (per area source and type: counts by radius
        and window, then densities by bandwidth and window); then the given table's columns.
    info : one row per feature column (INFO_COLUMNS), in the table's order.
    """

    table: pd.DataFrame
    info: pd.DataFrame


def feature_columns(info: pd.DataFrame, stats: Sequence[str] | None = None) -> list[str]:
    """The feature column names in table order, optionally only those of some `stats`."""
    rows = info if stats is None else info[info["stat"].isin(list(stats))]
    return list(rows["name"])


def build_features(
    entities: pd.DataFrame,
    events: pd.DataFrame | None,
    as_of: Sequence[dt.date | str] | dt.date | str,
    spec: FeaturesSpec,
    given: pd.DataFrame | None = None,
    progress: bool = False,
    *,
    reference: pd.DataFrame | None = None,
    threads: int | None = None,
) -> FeatureSet:
    """Features for every entity as of every date in `as_of`, from events strictly before it.

    entities: entity_id plus the static columns (and lat, lon for nearby features); events:
    source, entity_id, date, type and optionally value, plus area events (rows without an
    entity_id, with lat and lon) when the spec asks for [features.nearby]. `given` is the spec's ready feature table (entity_id, as_of, features).
    `reference` is the `info` of an earlier FeatureSet (the one a model was trained on): the
    result then has exactly its columns, in its order, with its categories, whatever types
    today's events hold (a type absent today gives zero counts). `threads` caps DuckDB's
    threads (default: every core).
    """
    log = Steps(quiet=not progress, prefix="features")
    events, area = split_area_events(events)  # area events (lat, lon, no entity) feed the nearby features
    dates = _as_of_dates(as_of)
    _check_entities(entities)
    n, k = len(entities), len(dates)
    ref = None if reference is None else _check_reference(reference)
    log(f"{_count(n, 'entity', 'entities')} as of {_count(k, 'date')}")

    take = np.tile(np.arange(n), k)
    keys = pd.DataFrame({"entity_id": entities["entity_id"].iloc[take].reset_index(drop=True),
                         "as_of": np.repeat(np.asarray(dates, dtype="datetime64[ns]"), n)})
    static_info = _static_info(entities, spec, ref)
    parts, infos = [keys, _static_values(entities, static_info, take)], [static_info]
    del take  # (8 bytes a row, not needed beside the table)

    use_events = spec.from_events if ref is None else ref["stat"].isin(EVENT_STATS).any()
    if use_events:
        if events is None:
            raise RiskEngineError("features need an events table (or from_events = false in the spec)")
        _check_events(events)
        con = duckdb.connect(config={"threads": int(threads)} if threads else {})
        try:
            con.register("events_raw", _arrow_events(events))
            plan = _event_info(con, events, spec, ref)
            n_types = len(plan[["source", "type"]].drop_duplicates())
            log(f"{_count(len(events), 'event')} of {_count(n_types, 'type')}: {_count(len(plan), 'event feature')}")
            con.unregister("events_raw")  # (the types are read: the events are encoded in Arrow below)
            parts.append(_event_values(con, entities, events, dates, plan, "value" in events.columns))
        finally:
            con.close()
        infos.append(plan[INFO_COLUMNS])
        log("events aggregated")
    if wants_nearby(spec, ref):
        values, info = nearby_part(entities, keys, area, spec, ref, _slug)
        parts.append(values)
        infos.append(info)
        log(f"{_count(0 if area is None else len(area), 'area event')} nearby: {_count(len(info), 'feature')}")
    if given is not None or spec.table is not None or (ref is not None and (ref["stat"] == "given").any()):
        values, info = _given(entities, dates, spec, given, ref)
        parts.append(values)
        infos.append(info)
        log("ready feature table joined")

    return assemble(parts, infos, ref)


def assemble(parts: list[pd.DataFrame], infos: list[pd.DataFrame], ref: pd.DataFrame | None) -> FeatureSet:
    """The feature table from its parts side by side (keys first), in the reference's order when given."""
    info = pd.concat(infos, ignore_index=True)[INFO_COLUMNS]
    clash = info["name"][info["name"].duplicated() | info["name"].isin(["entity_id", "as_of"])]
    if len(clash):
        raise DataError(f"feature column name(s) used twice: {sorted(set(clash))}; rename the static "
                        "or ready-table column")
    table = pd.concat(parts, axis=1)
    if ref is not None:
        table = table[["entity_id", "as_of", *ref["name"]]]
        info = info.set_index("name").loc[ref["name"]].reset_index()[INFO_COLUMNS]
    return FeatureSet(table=table, info=_info_dtypes(info))


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else many or one + 's'}"


# --- inputs ---------------------------------------------------------------------------


def as_of_dates(as_of) -> list[pd.Timestamp]:
    """The distinct as-of dates, sorted, as midnight timestamps; a RiskEngineError names a bad one."""
    return _as_of_dates(as_of)


def _as_of_dates(as_of) -> list[pd.Timestamp]:
    if isinstance(as_of, (str, dt.date, np.datetime64)):
        as_of = [as_of]
    out = set()
    for value in as_of:
        try:
            stamp = pd.Timestamp(value)
        except (ValueError, TypeError):
            stamp = pd.NaT
        if pd.isna(stamp):
            raise RiskEngineError(f"as-of date {value!r} is not a date; expected YYYY-MM-DD")
        out.add(stamp.tz_localize(None).normalize() if stamp.tzinfo else stamp.normalize())
    if not out:
        raise RiskEngineError("no as-of dates given: features are built as of at least one date")
    return sorted(out)


def _check_entities(entities: pd.DataFrame) -> None:
    if "entity_id" not in entities.columns:
        raise DataError(f"entities table has no 'entity_id' column (columns: {list(entities.columns)})")
    ids = entities["entity_id"]
    if ids.isna().any():
        raise DataError(f"entities table: {int(ids.isna().sum())} row(s) without an entity_id")
    dup = ids[ids.duplicated()]
    if len(dup):
        raise DataError(f"entities table: entity_id {dup.iloc[0]!r} appears more than once "
                        f"({dup.nunique()} duplicated id(s)); entities hold one row per entity")


def _check_events(events: pd.DataFrame) -> None:
    missing = [c for c in ("source", "entity_id", "date", "type") if c not in events.columns]
    if missing:
        raise DataError(f"events table lacks column(s) {missing}; expected source, entity_id, date, type, value")
    date = events["date"]
    if not pd.api.types.is_datetime64_dtype(date):
        raise DataError(f"events column 'date' must hold dates without a time zone (datetime64), got {date.dtype}")
    if "value" in events.columns and not (pd.api.types.is_numeric_dtype(events["value"])
                                          and not pd.api.types.is_bool_dtype(events["value"])):
        raise DataError(f"events column 'value' must be numeric (float64, NaN where absent), got {events['value'].dtype}")


def check_reference(reference: pd.DataFrame) -> pd.DataFrame:
    """A model's feature info made usable as `reference` (also when read back from CSV)."""
    return _check_reference(reference)


def _check_reference(reference: pd.DataFrame) -> pd.DataFrame:
    """A FeatureSet's info, also as read back from CSV (categories as text, flags as strings)."""
    missing = [c for c in INFO_COLUMNS if c not in reference.columns]
    if missing:
        raise RiskEngineError(f"reference feature info lacks column(s) {missing}; pass a FeatureSet's `info`")
    ref = reference[INFO_COLUMNS].reset_index(drop=True)
    ref["window_days"] = pd.to_numeric(ref["window_days"], errors="coerce").astype("Int64")
    ref["categorical"] = ref["categorical"].astype(str).str.lower().isin(["true", "1"])
    ref["categories"] = [ast.literal_eval(c) if isinstance(c, str) else c for c in ref["categories"]]
    return ref


def _categories(values: pd.Series) -> list:
    if isinstance(values.dtype, pd.CategoricalDtype):
        found = list(values.cat.categories)
    else:
        found = list(pd.unique(values.dropna()))
    try:
        return sorted(found)
    except TypeError:
        return sorted(found, key=str)


def _info_rows(names, stat: str, labels: dict, source: str) -> pd.DataFrame:
    return pd.DataFrame({"name": list(names), "source": source, "type": list(names), "stat": stat,
                         "window_days": pd.array([pd.NA] * len(names), dtype="Int64"), "unit": None,
                         "label": [labels.get(c) or column_label(c) for c in names],
                         "categorical": False, "categories": None}, columns=INFO_COLUMNS)


def _info_dtypes(info: pd.DataFrame) -> pd.DataFrame:
    info = info.reset_index(drop=True)
    info["window_days"] = info["window_days"].astype("Int64")
    info["categorical"] = info["categorical"].astype(bool)
    info["categories"] = pd.Series([list(c) if isinstance(c, (list, tuple, np.ndarray)) else None
                                    for c in info["categories"]], dtype=object)
    return info


# --- static columns -------------------------------------------------------------------


def static_info(entities: pd.DataFrame, spec: FeaturesSpec, ref: pd.DataFrame | None) -> pd.DataFrame:
    """The info rows of the static entity columns (categories from `entities` unless `ref` gives them).

    `entities` needs only the static columns; for categorical ones the distinct values suffice."""
    return _static_info(entities, spec, ref)


def _static_info(entities: pd.DataFrame, spec: FeaturesSpec, ref: pd.DataFrame | None) -> pd.DataFrame:
    if ref is not None:
        info = ref[ref["stat"] == "static"]
    else:
        info = _info_rows(spec.static, "static", spec.labels, "entities")
        for i, col in enumerate(spec.static):
            if col in spec.categorical and col in entities.columns:
                info.at[i, "categorical"] = True
                info.at[i, "categories"] = _categories(entities[col])
    missing = [c for c in info["name"] if c not in entities.columns]
    if missing:
        raise DataError(f"entities table lacks static feature column(s) {missing}; "
                        f"it has {[c for c in entities.columns if c != 'entity_id']}")
    return info.reset_index(drop=True)


def _static_values(entities: pd.DataFrame, info: pd.DataFrame, take: np.ndarray) -> pd.DataFrame:
    values = entities[list(info["name"])].iloc[take].reset_index(drop=True)
    for row in info[info["categorical"]].itertuples():
        values[row.name] = pd.Categorical(values[row.name].astype(object), categories=row.categories)
    return values


# --- event features -------------------------------------------------------------------


def _event_info(con, events: pd.DataFrame, spec: FeaturesSpec, ref: pd.DataFrame | None) -> pd.DataFrame:
    """One row per event feature (INFO_COLUMNS plus pair index and SQL slot)."""
    pairs = _event_types(con, events)  # also checks the events, with or without a reference
    return event_plan(pairs, spec, ref)


def event_plan(pairs: pd.DataFrame, spec: FeaturesSpec, ref: pd.DataFrame | None) -> pd.DataFrame:
    """The event features for the (source, type, has_value) `pairs` found in the events, sorted:
    INFO_COLUMNS plus `pair` (the type's number in the SQL) and `slot` (the SQL column holding it).
    With a reference (a model's feature info) exactly its event features. Any engine that runs
    `event_query` spreads its result into columns by this plan."""
    if ref is not None:
        plan = ref[ref["stat"].isin(EVENT_STATS)].reset_index(drop=True)
    else:
        rows, bases = [], set()
        windows = sorted(set(spec.windows))
        for p in pairs.itertuples():
            base = f"{_slug(p.source)}__{_slug(p.type)}"
            if base in bases:  # types differing only in case or punctuation
                base = next(f"{base}_{i}" for i in range(2, len(bases) + 2) if f"{base}_{i}" not in bases)
            bases.add(base)
            label = spec.labels.get(f"{p.source}.{p.type}") or default_label(p.source, p.type)
            stats = [("count", w) for w in windows] + [("count", None)]
            if p.has_value and f"{p.source}.{p.type}" in spec.levels:
                stats.append(("last", None))  # a level (e.g. adults on the register): summing it means nothing
            elif p.has_value:
                stats += [("sum", w) for w in windows] + [("sum", None), ("last", None)]
            stats.append(("days_since", None))
            for stat, w in stats:
                suffix = stat if stat in ("last", "days_since") else f"{stat}_{w}d" if w else f"{stat}_all"
                rows.append({"name": f"{base}__{suffix}", "source": p.source, "type": p.type, "stat": stat,
                             "window_days": w, "unit": _UNITS[stat], "label": label,
                             "categorical": False, "categories": None})
        plan = pd.DataFrame(rows, columns=INFO_COLUMNS)
    plan["window_days"] = plan["window_days"].astype("Int64")
    keys = plan[["source", "type"]].drop_duplicates().reset_index(drop=True)
    plan = plan.merge(keys.reset_index(names="pair"), on=["source", "type"], how="left")
    w = plan["window_days"].astype("string").fillna("all")
    plan["slot"] = np.select([plan["stat"] == "count", plan["stat"] == "sum", plan["stat"] == "last"],
                             ["c_" + w, "s_" + w, "last"], "ds")
    return plan


def _event_types(con, events: pd.DataFrame) -> pd.DataFrame:
    """Every (source, type) in the events and whether it has values; refuses rows without them."""
    return check_event_types(con.sql(types_query("value" in events.columns)).df())


def check_event_types(found: pd.DataFrame) -> pd.DataFrame:
    """`types_query`'s result checked (every event has a source, type, date and entity_id):
    source, type, has_value, one row per type in sorted order."""
    problems = {"a source or type": int((found["source"].isna() | found["type"].isna()).sum()),
                "a date": int(found["no_date"].sum()), "an entity_id": int(found["no_id"].sum())}
    for what, count in problems.items():
        if count:
            raise DataError(f"events table: row(s) without {what}; every event needs source, entity_id, "
                            "date and type (ingest sets such rows aside as rejects)")
    found = found[["source", "type", "has_value"]].reset_index(drop=True)
    found["has_value"] = found["has_value"].astype(bool)
    return found


def _event_values(con, entities: pd.DataFrame, events: pd.DataFrame, dates: list[pd.Timestamp],
                  plan: pd.DataFrame, has_value_column: bool) -> pd.DataFrame:
    """Aggregate each (date, entity, source, type) in DuckDB, then spread the groups into columns."""
    n, k = len(entities), len(dates)
    if plan.empty:
        return pd.DataFrame(index=pd.RangeIndex(n * k))
    pairs = plan[["pair", "source", "type"]].drop_duplicates()
    n_pairs = len(pairs)
    windows = sorted({int(w) for w in plan["window_days"].dropna()})
    con.register("dates_raw", pd.DataFrame({"k": np.arange(k), "as_of": np.asarray(dates, dtype="datetime64[ns]")}))
    valued = plan.loc[plan["stat"].isin(["sum", "last"]), "pair"].unique()
    # Events encoded once as numbers (what `encoded_events_query` gives: rp = entity row * n_pairs
    # + type pair, the day, the value), sorted by rp; the statement then runs over slices of entity
    # rows holding about SLICE_ROWS (event, later as-of date) rows each, each slice a zero-copy
    # range of the codes, so DuckDB holds one slice's groups at a time, and a slice's hash table
    # stays near the cache (measured at 200k entities, 8 dates: all at once 0.9 GB beside the
    # table; slices of 2M rows 0.25 GB and 0.8 of the CPU time).
    # Memory (1M entities, 10M events, 8 dates: a 2.8 GB table): the codes are 16 bytes an event,
    # made with Arrow's hash look-ups rather than a join in DuckDB, whose hash tables, sort and
    # registered copy of the events stayed in its allocator (about 0.5 GB at that size) until the
    # connection closed, i.e. beside the whole table.
    # Each slice's codes are copied into a table of their own, dropped once DuckDB has read it, so
    # the codes shrink as the feature table fills (1M entities: 135 MiB less at the peak).
    rp, day, value = _encode_events(entities, events, pairs, has_value_column)
    todo = [_slice_table(rp, day, value, lo * n_pairs, hi * n_pairs) for lo, hi in _slices(rp, n, n_pairs, k)][::-1]
    del rp, day, value
    pa.default_memory_pool().release_unused()  # the encoding's scratch, before the table is allocated
    slots = _slot_arrays(plan, n_pairs, n * k)
    while todo:
        con.register("event_slice", todo.pop())
        sql = event_query(n_rows=n, n_pairs=n_pairs, windows=windows, with_sums=len(valued) > 0,
                          has_value_column=has_value_column, valued_pairs=valued,
                          events=f"SELECT rp, rp % {n_pairs} AS pair, d, v FROM event_slice")
        # the groups stream out in batches, each spread into the columns before the next is read
        for batch in con.sql(sql).fetch_record_batch(BATCH_ROWS):
            _spread(batch, n_pairs, slots)
        con.unregister("event_slice")
        pa.default_memory_pool().release_unused()  # the slice's batches, which Arrow's pool would keep
    return pd.DataFrame({f.name: slots[f.slot][0][slots[f.slot][1][f.pair]] for f in plan.itertuples()}, copy=False)


def _slice_table(rp: np.ndarray, day: np.ndarray, value: np.ndarray, lo: int, hi: int) -> pa.Table:
    """The codes with lo <= rp < hi as an Arrow table that owns its memory (d: a date, v: NULL for NaN)."""
    i0, i1 = np.searchsorted(rp, [lo, hi])
    return pa.table({"rp": rp[i0:i1].copy(), "d": pa.array(day[i0:i1].copy()).view(pa.date32()),
                     "v": pa.array(value[i0:i1].copy(), from_pandas=True)})


BATCH_ROWS = 250_000
SLICE_ROWS = 500_000  # (at 300k entities, 8 dates: peak 190 MB lower than 2M and 0.9 of its CPU time)


def _encode_events(entities: pd.DataFrame, events: pd.DataFrame, pairs: pd.DataFrame,
                   has_value_column: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The events as numbers, sorted by rp: rp (entity row * n_pairs + pair; int32 when it fits),
    the day (days since 1970, int32) and the value (float64, NaN: none). Exactly the rows and
    values of `encoded_events_query`: events of an entity or a type not in `pairs` are left out,
    ids and types are matched as text, dates are cut to the day."""
    n_pairs = len(pairs)
    ids = _arrow_ids(events["entity_id"])
    row = pc.index_in(ids, value_set=_arrow_ids(entities["entity_id"]).cast(ids.type))
    row = pc.fill_null(row, -1).to_numpy().astype(np.int64)
    lookup = {(str(s), str(t)): int(p) for p, s, t in pairs[["pair", "source", "type"]].itertuples(index=False)}
    src, src_names = _codes(events["source"])
    typ, typ_names = _codes(events["type"])
    table = np.full((max(len(src_names), 1), max(len(typ_names), 1)), -1, np.int64)
    for i, s in enumerate(src_names):
        for j, t in enumerate(typ_names):
            table[i, j] = lookup.get((s, t), -1)
    pair = table[src, typ]
    keep = (row >= 0) & (pair >= 0) & (src >= 0) & (typ >= 0)
    rp = (row * n_pairs + pair)[keep]
    order = np.argsort(rp, kind="stable")
    rp = rp[order].astype(np.int32 if len(entities) * n_pairs < 2**31 else np.int64)
    days = events["date"].to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    day = days[keep][order].astype(np.int64).astype(np.int32)
    value = (events["value"].to_numpy(dtype=np.float64, na_value=np.nan)[keep][order] if has_value_column
             else np.full(len(rp), np.nan))
    return rp, day, value


def _codes(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Each value's number and the distinct values as text (Arrow's dictionary encoding; -1: none)."""
    array = pa.array(column, from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not pa.types.is_dictionary(array.type):
        array = pc.dictionary_encode(array)
    names = [str(v) for v in array.dictionary.to_pylist()]
    return pc.fill_null(array.indices, -1).to_numpy().astype(np.int64), names


def _slices(rp: np.ndarray, n: int, n_pairs: int, k: int) -> list[tuple[int, int]]:
    """Ranges [lo, hi) of entity rows, each with about SLICE_ROWS / k events (events are not
    spread evenly over entities, so the cuts fall at event counts of the sorted codes)."""
    total = len(rp)
    parts = max(1, -(-total * k // SLICE_ROWS))
    if parts == 1:
        return [(0, n)]
    cuts = rp[total * np.arange(1, parts) // parts] // n_pairs + 1
    edges = np.unique(np.concatenate([[0], np.minimum(cuts, n), [n]]))
    return list(zip(edges[:-1].tolist(), edges[1:].tolist()))


COUNT_DTYPE = np.int32  # a count is at most the number of events: 4 bytes hold it (and half the table's memory)
DAYS_DTYPE = np.float32  # days since the last event: whole days (exact in float32 below 2**24), NaN: never


def _slot_dtype(slot: str) -> type:
    """The column type of a SQL slot's features: counts, days since, or values (sums, last)."""
    return COUNT_DTYPE if slot.startswith("c_") else DAYS_DTYPE if slot == "ds" else np.float64


def _slot_arrays(plan: pd.DataFrame, n_pairs: int, size: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per SQL slot (c_90, s_all, last, ...): one array with a row per event type that has the
    slot's feature (zero counts, missing statistics), and each type's row in it (-1: none). Each
    feature column is then a contiguous row of its slot's array, filled without a copy."""
    out, shared = {}, {}
    for slot, rows in plan.groupby("slot", sort=False):
        have = np.sort(rows["pair"].unique())
        if tuple(have) not in shared:
            shared[tuple(have)] = np.full(n_pairs, -1, np.int64)
            shared[tuple(have)][have] = np.arange(len(have))
        where = shared[tuple(have)]
        dtype = _slot_dtype(slot)
        array = (np.zeros((len(have), size), dtype) if dtype == COUNT_DTYPE
                 else np.full((len(have), size), np.nan, dtype))
        out[slot] = (array, where)
    return out


def _spread(batch: pa.RecordBatch, n_pairs: int, slots: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """One batch of the statement's groups into the slot arrays. Only values that differ from the
    arrays' defaults are written (a count above zero, a statistic that is not missing): most
    groups have no event in the shorter windows, and the count-only types' groups carry no sums,
    so most random writes into the table are skipped. Groups of a type without a slot's feature
    are dropped."""
    pos, pair = np.divmod(batch.column("key").to_numpy(), n_pairs)  # pos = k * n + row: the table's row
    targets = {}  # per set of types (one `where` array): each group's position in the slot array, or -1
    for slot, (array, where) in slots.items():
        column = batch.column(slot)
        if column.null_count == len(column):
            continue
        values = column.to_numpy(zero_copy_only=False)
        if id(where) not in targets:
            at = where[pair]
            targets[id(where)] = np.where(at >= 0, at * array.shape[1] + pos, -1)
        target = targets[id(where)]
        write = values != 0 if array.dtype.kind in "iu" else ~np.isnan(values)
        if array.shape[0] < n_pairs:
            write &= target >= 0
        array.reshape(-1)[target[write]] = values[write]


def _arrow_events(events: pd.DataFrame) -> pa.Table:
    """The columns the features read, as Arrow (zero-copy for pandas' Arrow-backed strings)."""
    columns = [c for c in ("source", "entity_id", "date", "type", "value") if c in events.columns]
    try:
        return pa.Table.from_pandas(events[columns], preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(f"events table: a column mixes kinds of values ({exc}); "
                        "source, entity_id and type hold text") from None


def _arrow_ids(ids: pd.Series) -> pa.Array:
    """Entity ids as an Arrow string array."""
    try:
        array = pa.array(ids, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        array = pa.array(ids.astype(str))
    return array if pa.types.is_string(array.type) or pa.types.is_large_string(array.type) else array.cast(pa.string())


# --- the ready feature table ----------------------------------------------------------


def _given(entities: pd.DataFrame, dates: list[pd.Timestamp], spec: FeaturesSpec,
           given: pd.DataFrame | None, ref: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ready table's columns for every (date, entity) of the grid, joined as of each date."""
    keys = pd.DataFrame({"entity_id": np.tile(entities["entity_id"].astype(str).to_numpy(dtype=object), len(dates)),
                         "as_of": np.repeat(np.asarray(dates, dtype="datetime64[ns]"), len(entities))})
    return ready_values(keys, spec, given, ref)


def ready_values(keys: pd.DataFrame, spec: FeaturesSpec, given: pd.DataFrame | None,
                 ref: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ready table's feature columns for each (entity_id, as_of) of `keys`, and their info rows.

    Joined as of each key's date (riskengine.features._ready.join_as_of): the row dated that
    day, else the latest earlier one up to `spec.max_age_days` old, else missing. Columns
    named in `spec.categorical`, or holding text, are categories.
    """
    name = spec.table.describe() if spec.table is not None else "the given feature table"
    if given is None:
        raise RiskEngineError(f"the features spec names a ready feature table ({name}) but none was passed "
                              "as `given`")
    missing = [c for c in ("entity_id", "as_of") if c not in given.columns]
    if missing:
        raise DataError(f"{name}: lacks key column(s) {missing}; a ready feature table is keyed by entity_id and as_of")
    try:
        given_dates = pd.to_datetime(given["as_of"]).dt.normalize()
    except (ValueError, TypeError) as exc:
        raise DataError(f"{name}: column 'as_of' holds values that are not dates ({exc})") from None
    ids = given["entity_id"].astype(str)
    dup = np.flatnonzero(pd.DataFrame({"i": ids, "d": given_dates}).duplicated())
    if len(dup):
        raise DataError(f"{name}: entity {ids.iloc[dup[0]]!r} has more than one row as of "
                        f"{given_dates.iloc[dup[0]].date()}; the table holds one row per entity and date")
    columns = [c for c in given.columns if c not in ("entity_id", "as_of")]
    if ref is not None:
        info = ref[ref["stat"] == "given"].reset_index(drop=True)
        lost = [c for c in info["name"] if c not in given.columns]
        if lost:
            raise DataError(f"{name}: lacks column(s) {lost} that the model's features include")
        columns = list(info["name"])
    else:
        info = _info_rows(columns, "given", spec.labels, "given")
        for i, col in enumerate(columns):
            if col in spec.categorical or not (pd.api.types.is_numeric_dtype(given[col])
                                               or pd.api.types.is_bool_dtype(given[col])):
                info.at[i, "categorical"] = True
                info.at[i, "categories"] = _categories(given[col])
    table = given[columns].assign(entity_id=ids.to_numpy(), as_of=given_dates.to_numpy())
    values = join_as_of(keys, table, columns, spec.max_age_days)
    for r in info[info["categorical"]].itertuples():
        values[r.name] = pd.Categorical(values[r.name].astype(object), categories=r.categories)
    return values.reset_index(drop=True), info
