"""`synth`: generate a synthetic borough in the data contract, with its hidden truth."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from riskengine.errors import RiskEngineError
from riskengine.progress import bar
from riskengine.synth import _census, _services, _tables, _world, _write
from riskengine.synth._conversion import NEVER, PRIVATE
from riskengine.synth._events import SOURCES

MIN_PROPERTIES = 1_000
DESCRIPTION = (
    "A synthetic borough (about 8 x 6 km, 20 wards, about 200 LSOAs) for the unlicensed-HMO "
    "use case. entities.csv lists every home with its UPRN, address, area codes and recorded "
    "attributes; events/*.csv are what six council systems recorded (complaints, council tax, "
    "electoral register, housing benefit, EPC lodgements, planning and licence applications), "
    "with their own address spellings and some rows lacking a UPRN; outcomes.csv are past "
    "inspections chosen by a complaint-driven business-as-usual policy that over-targets "
    "deprived areas. truth/ holds what no council knows: true tenure, the unobserved factor, "
    "conversion and licence dates, per home and quarter the probability from attributes alone "
    "(p_unlicensed_hmo) and given every record before the date too (p_posterior, the Bayes "
    "ceiling), and the true entity of every event row. Planted problems are counted under each "
    "file's 'planted'. For profiling: census/ holds counts per LSOA (82 columns, three denominators) "
    "drawn from each area's hidden type and the LSOA boundaries; services/ the users of a library, a "
    "leisure centre and a parenting class, with the library's users after an outreach action in the "
    "areas listed; truth/areas.csv and truth/services.json the hidden area types and the true effect."
)


@dataclass
class SynthSummary:
    """What `synth` wrote: paths, row counts and the headline figures of the hidden truth."""

    out_dir: Path
    paths: dict[str, Path]
    rows: dict[str, int]
    prevalence: dict[str, float]
    inspections: int
    inspection_hit_rate: float
    bad_rows: dict[str, int] = field(default_factory=dict)


def _parse_date(value: str | dt.date, name: str) -> int:
    if isinstance(value, dt.date):
        return int(np.datetime64(value, "D").astype(np.int64))
    try:
        return int(np.datetime64(dt.date.fromisoformat(str(value)), "D").astype(np.int64))
    except ValueError:
        raise RiskEngineError(f"synth: '{name}' expected a date YYYY-MM-DD, got {value!r}") from None


def synth(
    out_dir: str | Path,
    properties: int = 50_000,
    seed: int = 0,
    start: str | dt.date | None = None,
    end: str | dt.date | None = None,
    progress: bool = True,
    kind: str = "borough",
    businesses: int = 2_000,
):
    """Generate a synthetic borough of `properties` homes into `out_dir`.

    The event history runs from `start` to `end` (default 2020-01-01 to 2026-06-30). With
    kind="food", a city of `businesses` food businesses instead (riskengine.synth.food; by
    default 2021-01-01 to 2024-06-30).

    Writes entities.csv, events/<source>.csv, outcomes.csv, truth/*.parquet and
    manifest.json (see the module docs of riskengine.synth). The same seed gives the same
    bytes in every file.
    """
    if kind == "food":
        from riskengine.synth.food import synth_food

        return synth_food(out_dir, businesses=businesses, seed=seed, progress=progress,
                          start=start or "2021-01-01", end=end or "2024-06-30")
    if kind != "borough":
        raise RiskEngineError(f"synth: 'kind' expected 'borough' or 'food', got {kind!r}")
    start, end = start or "2020-01-01", end or "2026-06-30"
    if isinstance(properties, bool) or not isinstance(properties, (int, np.integer)) or properties < MIN_PROPERTIES:
        raise RiskEngineError(
            f"synth: 'properties' expected a whole number of at least {MIN_PROPERTIES}, got {properties!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise RiskEngineError(f"synth: 'seed' expected a non-negative whole number, got {seed!r}")
    start_day, end_day = _parse_date(start, "start"), _parse_date(end, "end")
    if end_day - start_day < 365:
        raise RiskEngineError(f"synth: 'end' ({end}) must be at least a year after 'start' ({start})")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise RiskEngineError(f"synth: output '{out}' exists and is not a folder")
    n = int(properties)
    with bar(10 + len(SOURCES), "synth", quiet=not progress) as step:
        world = _world.simulate(n, int(seed), start_day, end_day, step)
        props, borough, book, truth, insp = world.props, world.borough, world.book, world.truth, world.insp
        events, rng = world.events, world.rng
        step("the Bayes ceiling (p_posterior)")
        quarters = _tables.quarter_starts(start_day, end_day)
        p_post = world.posterior(quarters)

        uprn_text = pa.array(props.uprn).cast(pa.string())
        files: dict[str, dict] = {}
        step("writing entities.csv")
        files["entities.csv"] = _tables.write_entities(out, props, borough, book, truth, uprn_text, rng["mess"])
        step("writing outcomes.csv")
        files["outcomes.csv"] = _tables.write_outcomes(out, props, insp, uprn_text, rng["mess"])
        links = _write.PartitionedParquet(
            out / "truth" / "links.parquet",
            pa.schema([("source", pa.dictionary(pa.int32(), pa.string())), ("line", pa.int32()),
                       ("true_entity_id", pa.dictionary(pa.int32(), pa.string()))]),
        )
        source_names = pa.array(list(SOURCES))
        for s_idx, name in enumerate(SOURCES):
            step(f"writing events/{name}.csv")
            rel = f"events/{name}.csv"
            files[rel], true_prop = _tables.write_source(out / rel, SOURCES[name], events.pop(name), book, props,
                                                  uprn_text, rng["format"], rng["mess"], start_day, end_day)
            links.write([
                _write.dictionary(np.full(len(true_prop), s_idx), source_names),
                pa.array(np.arange(1, len(true_prop) + 1, dtype=np.int32)),
                _write.dictionary(true_prop, uprn_text),
            ])
        links.close()

        step("census counts and service users (profiling)")
        census, entries = _census.write(out, borough, props.lsoa, int(seed))
        files.update(entries)
        files.update(_services.write(out, props, borough, book, census, int(seed)))

        step("writing the truth")
        files["truth/properties.parquet"] = {"rows": _tables.write_truth_properties(out, props, truth, uprn_text)}
        p = world.finding_probabilities(quarters)
        files["truth/probabilities.parquet"] = {
            "rows": _tables.write_probabilities(out, truth, p, p_post, quarters, uprn_text)
        }
        files["truth/links.parquet"] = {"rows": links.rows}

        idx = np.arange(n)
        private = truth.tenure == PRIVATE
        at_start, at_end = truth.is_unlicensed_hmo(idx, start_day), truth.is_unlicensed_hmo(idx, end_day)
        conv = truth.conversion_day
        prevalence = {
            "private_rented_share": float(private.mean()),
            "unlicensed_hmo_among_private_rented_at_start": float(at_start[private].mean()),
            "unlicensed_hmo_among_private_rented_at_end": float(at_end[private].mean()),
            "unlicensed_hmo_among_all_homes_at_end": float(at_end.mean()),
            "hmo_conversions_before_start": int((conv < start_day).sum()),
            "hmo_conversions_in_period": int(((conv >= start_day) & (conv != NEVER)).sum()),
        }
        hit_rate = float(insp.truth.mean()) if len(insp.truth) else 0.0
        manifest = {
            "generator": "riskengine.synth",
            "seed": int(seed),
            "properties": n,
            "start": str(np.datetime64(start_day, "D")),
            "end": str(np.datetime64(end_day, "D")),
            "description": DESCRIPTION,
            "files": files,
            "truth": {
                **{k: round(v, 6) if isinstance(v, float) else v for k, v in prevalence.items()},
                "inspections": int(len(insp.prop)),
                "inspection_hit_rate": round(hit_rate, 6),
                "probability_definition": (
                    "p_unlicensed_hmo: P(unlicensed HMO at the date | true attributes and latent factor, "
                    "and whether a licence is held at the date), from the generative model: conversion "
                    "hazard, voluntary licensing and the expected chance that past inspections found it; "
                    "it uses no event data and no inspection results, so a model that reads the records "
                    "can beat it: it is not a ceiling"
                ),
                "posterior_definition": (
                    "p_posterior: P(unlicensed HMO at the date | everything the generator knows except the "
                    "conversion and licensing draws: true attributes, latent factor, every per-home rate, "
                    "visibility and household size, whether a licence is held at the date, every event of "
                    "every source dated before it as generated (before the planted mess) and the inspections "
                    "before it with their recorded outcomes), by Bayes' rule over the conversion day under "
                    "the generative model; the Bayes ceiling for precision at k (use it, not p_unlicensed_hmo)"
                ),
            },
        }
        step("writing manifest.json")
        _write.write_manifest(out / "manifest.json", manifest)
        paths = {rel: out / rel for rel in files} | {"manifest.json": out / "manifest.json"}
    return SynthSummary(
        out_dir=out,
        paths=paths,
        rows={rel: int(entry["rows"]) for rel, entry in files.items()},
        prevalence=prevalence,
        inspections=int(len(insp.prop)),
        inspection_hit_rate=hit_rate,
        bad_rows={rel: int(entry["bad_rows"]) for rel, entry in files.items() if "bad_rows" in entry},
    )
