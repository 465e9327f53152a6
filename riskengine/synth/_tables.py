"""Building each output file: entities, outcomes, the event sources and the truth tables."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from riskengine.synth import _areas, _mess, _streets
from riskengine.synth._addresses import AddressStyle
from riskengine.synth._conversion import NEVER, PRIVATE, TENURES
from riskengine.synth._events import Rows
from riskengine.synth._keys import derive, random_keys
from riskengine.synth._write import (
    PartitionedParquet,
    days_to_text,
    days_to_timestamp,
    dictionary,
    holder_names,
    write_csv,
    write_events,
)


def write_source(path, spec, rows: Rows, book, props, uprn_text, f, mess_rng, start_day, end_day):
    """Spell, break and write one event source; returns its manifest entry and each row's true home."""
    n = len(props)
    rows = rows.take(np.lexsort((rows.type, rows.prop, rows.day)))
    repeat = np.r_[False, (rows.day[1:] == rows.day[:-1]) & (rows.prop[1:] == rows.prop[:-1])
                   & (rows.type[1:] == rows.type[:-1])]
    rows = rows.take(np.flatnonzero(~repeat))  # one event of a kind per home and day
    home_unmatched = f.random(n) < spec.missing_per_home
    has_id = ~(home_unmatched[rows.prop] | (f.random(len(rows)) < spec.missing_per_row))
    messy_style = spec.style.noisier(1.6, floor=0.03)
    if spec.per_row_address:
        keys, home_address = random_keys(f, len(rows)), None
    else:
        home_keys = derive(np.arange(n, dtype=np.uint64), int(f.integers(0, 2**62)))
        keys = home_keys[rows.prop]
        home_address = book.render(np.arange(n), home_keys, spec.style, home_unmatched, messy_style)
    # rows without a UPRN from different homes can read alike: keep one of each
    alike = _lookalikes(rows, has_id, keys, book, spec, home_address, messy_style)
    if alike.any():
        keep = np.flatnonzero(~alike)
        rows, has_id, keys = rows.take(keep), has_id[keep], keys[keep]
    mess = _mess.plan_event_mess(mess_rng, len(rows), has_id, rows.prop, props.uprn[rows.prop], start_day, end_day)
    written = write_events(path, spec, rows, has_id, keys, ~has_id, mess, book, uprn_text, home_address, messy_style)
    missing = int((~has_id[mess.order]).sum())
    entry = file_entry(written, {"missing_entity_id": missing, **mess.counts}, mess.bad_rows)
    entry["note"] = "rows without entity_id carry an address: awaiting linkage, not rejects"
    return entry, rows.prop[mess.order]


def _lookalikes(rows, has_id, keys, book, spec, home_address, messy_style) -> np.ndarray:
    """Rows without an id that would be written identically to an earlier such row."""
    idx = np.flatnonzero(~has_id)
    alike = np.zeros(len(rows), dtype=bool)
    if len(idx) < 2:
        return alike
    if home_address is None:
        address, postcode = book.render(rows.prop[idx], keys[idx], spec.style, np.ones(len(idx), bool), messy_style)
    else:
        address, postcode = (a.take(pa.array(rows.prop[idx])) for a in home_address)
    cols = {"a": address, "p": postcode, "d": pa.array(rows.day[idx]), "t": pa.array(rows.type[idx]),
            "v": pa.array(rows.value[idx])}
    if "holder" in rows.extra:
        cols["h"] = holder_names(rows.extra["holder"][idx])
    alike[idx] = pa.table(cols).to_pandas().duplicated().to_numpy()
    return alike


def file_entry(rows: int, planted: dict, bad: int) -> dict:
    return {"rows": int(rows), "planted": planted, "bad_rows": int(bad),
            "bad_share": round(bad / rows, 6) if rows else 0.0}


def write_entities(out, props, borough, book, truth, uprn_text, rng) -> dict:
    """entities.csv: one canonical row per home, plus a few repeated UPRNs and missing coordinates."""
    n = len(props)
    mess = _mess.entity_mess(rng, n)
    reps = np.ones(n, dtype=np.int64)
    reps[mess["duplicate"]] = 2
    order = np.repeat(np.arange(n), reps)
    second = np.r_[False, order[1:] == order[:-1]]
    retyped = second & np.isin(order, mess["retyped"])
    canon, _ = book.render(order, np.zeros(len(order), np.uint64))
    keys = derive(order.astype(np.uint64), 7)
    alt, _ = book.render(order, keys, AddressStyle(abbreviate=0.8, no_commas=0.5, upper=0.5, flat_inline=0.5))
    address = pc.if_else(pa.array(retyped), alt, canon)
    lat, lon = _areas.to_latlon(props.xy[order])
    no_xy = np.isin(order, mess["no_coordinates"])
    seg_names = pa.array(_areas.SEGMENTS)
    table = pa.table({
        "entity_id": uprn_text.take(pa.array(order)),
        "flat": book.flat_labels(order),
        "house_number": pa.array(props.number[order]),
        "street": book.street_names(order),
        "town": book.town_names(order),
        "postcode": book.postcode.take(pa.array(order)),
        "address": address,
        "lat": pa.array(lat, mask=no_xy),
        "lon": pa.array(lon, mask=no_xy),
        "ward": pa.array(borough.ward_names).take(pa.array(props.ward[order])),
        "lsoa": pa.array(borough.lsoa_codes).take(pa.array(props.lsoa[order])),
        "imd_decile": pa.array(borough.lsoa_decile[props.lsoa[order]].astype(np.int64)),
        "segment": seg_names.take(pa.array(borough.lsoa_segment[props.lsoa[order]].astype(np.int64))),
        "property_type": pa.array(_streets.PROPERTY_TYPES).take(pa.array(props.property_type[order].astype(np.int64))),
        "tenure": pa.array(TENURES).take(pa.array(truth.tenure_recorded[order].astype(np.int64))),
        "bedrooms": pa.array(props.bedrooms[order].astype(np.int64)),
        "year_built": pa.array(props.year_built[order].astype(np.int64)),
    })
    write_csv(table, out / "entities.csv")
    planted = {"duplicate_entity_id": int(len(mess["duplicate"])),
               "duplicate_entity_id_retyped": int(retyped.sum()),
               "missing_coordinates": int(no_xy.sum())}
    return file_entry(len(order), planted, len(mess["duplicate"]) + int(no_xy.sum()))


def write_outcomes(out, props, insp, uprn_text, rng) -> dict:
    """outcomes.csv: past inspections as recorded, with a few unknown ids and bad outcome values."""
    m = len(insp.prop)
    mess = _mess.outcome_mess(rng, m)
    ids = uprn_text.take(pa.array(insp.prop))
    unknown = np.zeros(m, dtype=bool)
    unknown[mess["unknown_entity_id"]] = True
    fake = props.uprn.max() + rng.integers(1_000, 1_000_000, size=m)
    ids = pc.if_else(pa.array(unknown), pa.array(fake).cast(pa.string()), ids)
    outcome = np.asarray(insp.outcome).astype(str).astype(object)
    outcome[mess["bad_outcome"]] = mess["bad_outcome_text"]
    table = pa.table({
        "entity_id": ids,
        "date": days_to_text(insp.day),
        "outcome": pa.array(outcome, pa.string()),
    })
    write_csv(table, out / "outcomes.csv")
    planted = {"unknown_entity_id": int(unknown.sum()), "bad_outcome": int(len(mess["bad_outcome"]))}
    return file_entry(m, planted, int(unknown.sum()) + len(mess["bad_outcome"]))


def write_truth_properties(out, props, truth, uprn_text) -> int:
    """truth/properties.parquet: true tenure, latent factor, hazard, conversion and licence dates."""
    table = pa.table({
        "entity_id": uprn_text,
        "is_private_rented_true": pa.array(truth.tenure == PRIVATE),
        "tenure_true": dictionary(truth.tenure, pa.array(TENURES)),
        "latent": pa.array(truth.latent.astype(np.float32)),
        "hazard_per_year": pa.array(truth.hazard.astype(np.float32)),
        "conversion_date": days_to_timestamp(truth.conversion_day, NEVER),
        "licensed_date": days_to_timestamp(truth.licensed_day, NEVER),
    })
    (out / "truth").mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out / "truth" / "properties.parquet", compression="zstd")
    return len(props)


def quarter_starts(start: int, end: int) -> list[int]:
    """Day numbers of the first days of quarters (1 Jan, 1 Apr, 1 Jul, 1 Oct) within the period."""
    m = np.datetime64(start, "D").astype("datetime64[M]")
    out = []
    while True:
        day = int(m.astype("datetime64[D]").astype(np.int64))
        if day > end:
            return out
        if day >= start and (m.astype(int) % 3) == 0:
            out.append(day)
        m = m + 1


def write_probabilities(out, truth, p, p_post, quarters, uprn_text, chunk: int = 40_000) -> int:
    """One row per home and quarter start, home by home (each row group carries only its own ids).

    `p` is p_unlicensed_hmo (attributes only), `p_post` p_posterior (the Bayes ceiling given the
    records too); both are (quarters x homes).
    """
    n = len(truth.tenure)
    q = len(quarters)
    p = np.ascontiguousarray(p.T)
    p_post = np.ascontiguousarray(p_post.T)
    y = np.stack([truth.is_unlicensed_hmo(np.arange(n), day) for day in quarters], axis=1).astype(np.int8)
    dates = (np.array(quarters, dtype=np.int64) * 86400).astype("datetime64[s]")
    writer = PartitionedParquet(
        out / "truth" / "probabilities.parquet",
        pa.schema([("entity_id", pa.dictionary(pa.int32(), pa.string())), ("date", pa.timestamp("s")),
                   ("p_unlicensed_hmo", pa.float32()), ("p_posterior", pa.float32()),
                   ("is_unlicensed_hmo", pa.int8())]),
    )
    for lo in range(0, n, chunk):
        m = min(chunk, n - lo)
        writer.write([
            dictionary(np.repeat(np.arange(m), q), uprn_text.slice(lo, m)),
            pa.array(np.tile(dates, m)),
            pa.array(p[lo : lo + m].ravel()),
            pa.array(p_post[lo : lo + m].ravel()),
            pa.array(y[lo : lo + m].ravel()),
        ])
    writer.close()
    return writer.rows
