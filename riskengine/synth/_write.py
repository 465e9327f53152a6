"""Writing the borough out: CSV tables in the data contract, Parquet truth, a manifest.

CSV is written with Arrow in chunks, so a million homes and tens of millions of event rows
stay within a few gigabytes. Nothing here depends on the clock or the machine, so one seed
gives the same bytes in every file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from riskengine.synth._addresses import AddressBook, AddressStyle
from riskengine.synth._events import FIRST_NAMES, SURNAMES, Rows, SourceSpec
from riskengine.synth._keys import derive, uniform
from riskengine.synth._mess import EventMess

CHUNK_ROWS = 1_000_000
CSV_OPTIONS = pacsv.WriteOptions(include_header=True, quoting_style="needed")
EVENT_COLUMNS = ["entity_id", "address", "postcode", "date", "type", "value"]


def days_to_text(days: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int32), pa.date32()).cast(pa.string())


def days_to_timestamp(days: np.ndarray, never: int) -> pa.Array:
    days = np.asarray(days, dtype=np.int64)
    return pa.array((days * 86400).astype("datetime64[s]"), mask=days == never)


def write_csv(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(table, path, CSV_OPTIONS)


def _override(arr: pa.Array, positions: dict[int, str], lo: int, hi: int) -> pa.Array:
    """Replace the entries at absolute output positions [lo, hi) listed in `positions`."""
    local = {p - lo: v for p, v in positions.items() if lo <= p < hi}
    if not local:
        return arr
    repl = np.full(hi - lo, None, dtype=object)
    mask = np.zeros(hi - lo, dtype=bool)
    idx = np.fromiter(local.keys(), dtype=np.int64)
    repl[idx] = list(local.values())
    mask[idx] = True
    return pc.if_else(pa.array(mask), pa.array(repl, pa.string()), arr.cast(pa.string()))


def format_values(value: np.ndarray, kind: str) -> pa.Array:
    """Numbers as a system would print them: empty, whole numbers, or pounds and pence."""
    missing = np.isnan(value)
    if kind == "empty":
        return pa.nulls(len(value), pa.string())
    if kind == "integer":
        return pa.array(np.where(missing, 0, value).astype(np.int64), mask=missing).cast(pa.string())
    pence = np.round(np.where(missing, 0, value) * 100).astype(np.int64)
    pounds = pa.array(pence // 100).cast(pa.string())
    cents = pc.utf8_lpad(pa.array(pence % 100).cast(pa.string()), 2, "0")
    text = pc.binary_join_element_wise(pounds, cents, ".")
    return pc.if_else(pa.array(missing), pa.nulls(len(value), pa.string()), text)


# How a council tax system writes its account holders' names, beside "Naomi Brown" (shares of rows):
# surname first ("Brown, Naomi"), an initial for the forename ("N Brown"), the surname missing ("Naomi").
HOLDER_MESS = {"surname_first": 0.08, "initial": 0.04, "no_surname": 0.02}


def holder_names(keys: np.ndarray) -> pa.Array:
    """Account holders' names, each spelt by its row's key: mostly "Forename Surname", in HOLDER_MESS's
    shares the other ways systems write them (a duplicated row spells its name the same way)."""
    first = pa.array(FIRST_NAMES).take(pa.array((derive(keys, 101) % np.uint64(len(FIRST_NAMES))).astype(np.int64)))
    last = pa.array(SURNAMES).take(pa.array((derive(keys, 102) % np.uint64(len(SURNAMES))).astype(np.int64)))
    u = uniform(keys, 103)
    cut = np.cumsum(list(HOLDER_MESS.values()))
    name = pc.binary_join_element_wise(first, last, " ")
    name = pc.if_else(pa.array(u < cut[0]), pc.binary_join_element_wise(last, first, ", "), name)
    initial = pc.binary_join_element_wise(pc.utf8_slice_codeunits(first, 0, 1), last, " ")
    name = pc.if_else(pa.array((u >= cut[0]) & (u < cut[1])), initial, name)
    return pc.if_else(pa.array((u >= cut[1]) & (u < cut[2])), first, name)


def write_events(
    path: Path,
    spec: SourceSpec,
    rows: Rows,
    has_id: np.ndarray,
    keys: np.ndarray,
    messy: np.ndarray,
    mess: EventMess,
    book: AddressBook,
    uprn_text: pa.Array,
    home_address: tuple[pa.Array, pa.Array] | None,
    messy_style: AddressStyle,
    on_chunk=None,
) -> int:
    """Write one source's CSV in chunks; returns the number of data rows written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    types = pa.array(spec.types)
    order = mess.order
    n_out = len(order)
    names = EVENT_COLUMNS + spec.extra_columns
    schema = pa.schema([(c, pa.string()) for c in names])
    empty_type = set(mess.empty_type.tolist())
    with pacsv.CSVWriter(path, schema, write_options=CSV_OPTIONS) as writer:
        for lo in range(0, max(n_out, 1), CHUNK_ROWS):
            hi = min(lo + CHUNK_ROWS, n_out)
            if hi <= lo:
                break
            src = order[lo:hi]
            prop = rows.prop[src]
            if home_address is None:
                address, postcode = book.render(prop, keys[src], spec.style, messy[src], messy_style)
            else:
                address, postcode = (a.take(pa.array(prop)) for a in home_address)
            ids = pc.if_else(pa.array(has_id[src]), uprn_text.take(pa.array(prop)), pa.nulls(hi - lo, pa.string()))
            typ = types.take(pa.array(rows.type[src].astype(np.int64)))
            local_empty = np.array([p - lo for p in empty_type if lo <= p < hi], dtype=np.int64)
            if len(local_empty):
                mask = np.zeros(hi - lo, dtype=bool)
                mask[local_empty] = True
                typ = pc.if_else(pa.array(mask), pa.nulls(hi - lo, pa.string()), typ)
            columns = [
                _override(ids, mess.ids, lo, hi),
                address,
                postcode,
                _override(days_to_text(rows.day[src]), mess.dates, lo, hi),
                typ,
                _override(format_values(rows.value[src], spec.value), mess.values, lo, hi),
            ]
            if "account_holder" in spec.extra_columns:
                columns.append(holder_names(rows.extra["holder"][src]))
            writer.write_table(pa.table(columns, schema=schema))
            if on_chunk is not None:
                on_chunk(hi - lo)
    return n_out


class PartitionedParquet:
    """A Parquet file written one row group at a time (a fixed schema)."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = pq.ParquetWriter(path, schema, compression="zstd")
        self.schema = schema
        self.rows = 0

    def write(self, columns: list[pa.Array]) -> None:
        self.writer.write_table(pa.table(columns, schema=self.schema))
        self.rows += len(columns[0])

    def close(self) -> None:
        self.writer.close()


def dictionary(indices: np.ndarray, values: pa.Array) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(np.asarray(indices, dtype=np.int32)), values)


def write_manifest(path: Path, manifest: dict) -> None:
    path.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
