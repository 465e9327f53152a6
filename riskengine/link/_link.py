"""link(): from many sources that spell places differently to rows that name their entity.

Steps, in order: pseudonymise person identifiers (so raw names never reach anything
downstream, splink included); attach rows with a usable key; parse and normalise the
addresses of the rest; score them against the register with splink; apply the two
thresholds and any clerical decisions; build golden records; measure.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from riskengine.errors import RiskEngineError
from riskengine.link._decide import (LinkResult, _apply_decisions, _assemble, _empty_review, _proposals,
                                     _read_decisions, _review_head, _say, _unique_register, decide)
from riskengine.link._exact import attach_keys
from riskengine.link._people import link_people
from riskengine.link._metrics import PROVENANCE, link_metrics
from riskengine.link._normalise import PARTS, normalise_parts, parse_addresses
from riskengine.link._probabilistic import COMPARISONS, MatchModel, match_records
from riskengine.link._pseudonymise import (PseudonymKey, check_decisions_key, keyed_ids, load_key,
                                          person_columns, pseudonymise)
from riskengine.link._quality import quality_report
from riskengine.link._store import LinkStore, row_fingerprints
from riskengine.link._survivorship import golden_records
from riskengine.spec import LinkSpec

MAX_LABELS = 20_000  # keyed rows sampled to measure how true pairs agree


def _check_inputs(entities: pd.DataFrame, sources: dict[str, pd.DataFrame]) -> None:
    if "entity_id" not in entities.columns:
        raise RiskEngineError(f"entities: missing column 'entity_id'; found {list(entities.columns)}")
    for name, df in sources.items():
        missing = [c for c in ("line",) if c not in df.columns]
        if "entity_id" not in df.columns and "address" not in df.columns:
            missing.append("entity_id or address")
        if missing:
            raise RiskEngineError(f"source '{name}': missing column {', '.join(repr(m) for m in missing)}; "
                                  f"found {list(df.columns)}")


def entity_parts(entities: pd.DataFrame) -> pd.DataFrame:
    """The register's address parts: its own columns where it has them, parsed from `address` otherwise."""
    towns = entities["town"].dropna().unique() if "town" in entities.columns else []
    has_parts = [p for p in PARTS if p in entities.columns]
    parts = normalise_parts(entities)
    if len(has_parts) < len(PARTS) and "address" in entities.columns:
        parsed = parse_addresses(entities["address"], entities.get("postcode"), towns)
        for p in PARTS:
            if p not in has_parts:
                parts[p] = parsed[p]
    elif not has_parts:
        raise RiskEngineError("entities: no address columns to match on; expected 'address' or "
                              f"some of {PARTS}")
    return pd.concat([entities[["entity_id"]].astype("string"), parts], axis=1)


def _review_id(parts: pd.DataFrame, key: PseudonymKey) -> pd.Series:
    """A stable id for a normalised address, so clerical decisions carry over between runs; keyed,
    so that nobody can find an address's id by hashing a guess."""
    cols = parts[PARTS].astype("string").fillna("")
    joined = cols[PARTS[0]].str.cat([cols[p] for p in PARTS[1:]], sep="|")
    return keyed_ids(joined, key, "address", length=12)


def link(
    entities: pd.DataFrame,
    sources: dict[str, pd.DataFrame],
    spec: LinkSpec | None = None,
    out_dir: Path | None = None,
    progress: bool = False,
    *,
    truth: pd.DataFrame | None = None,
    allow_ephemeral_key: bool = False,
    seed: int = 0,
    spark=None,
) -> LinkResult:
    """Resolve every source row to an entity of the register, or say why not.

    `sources` maps a source name to its rows (columns line, entity_id, address, postcode,
    date, type, value and any others). With `spec.match_on = "person"` the entities are people
    and rows without a key are matched on name, date of birth and postcode instead (_people.py).
    `truth` (source, line, true_entity_id) adds precision and recall to the metrics. With `out_dir`, the linked sources, review file, golden table,
    splink charts and the link and quality reports are written there. With `spark` (a
    SparkSession) splink's blocking and comparisons run on Spark (riskengine.spark), same model.
    """
    spec = spec or LinkSpec()
    if spec.match_on == "person":  # people: matched on raw names first, pseudonymised before anything leaves
        return link_people(entities, sources, spec, out_dir, progress, truth=truth,
                           allow_ephemeral_key=allow_ephemeral_key, seed=seed)
    started = time.perf_counter()
    _check_inputs(entities, sources)
    key = load_key(spec, allow_ephemeral_key)
    check_decisions_key(key, spec.review_decisions)
    decisions = _read_decisions(spec.review_decisions)

    _say(progress, "pseudonymising person identifiers")
    entities = pseudonymise(entities, person_columns(entities, spec), key)
    raw_entities = entities
    entities = _unique_register(entities)
    frames = {name: pseudonymise(df, person_columns(df, spec), key).reset_index(drop=True) for name, df in sources.items()}

    _say(progress, "attaching rows with a usable key")
    states, resolved = attach_keys(frames, entities["entity_id"])

    _say(progress, "normalising addresses")
    towns = entities["town"].dropna().unique() if "town" in entities.columns else []
    store = LinkStore.open(Path(spec.store), entities) if spec.store is not None else None
    todo = []
    for name, df in frames.items():
        need = resolved[name].isna()
        if "address" not in df.columns or not need.any():
            continue
        sub = df[need]
        fp = row_fingerprints(sub) if store is not None else pd.Series(0, index=sub.index, dtype="int64")
        if store is not None and store.usable:  # rows seen before: their parts from the store, unparsed
            parts = store.parts(fp)
            new = ~store.seen(fp)
            if new.any():
                parts.loc[new, PARTS] = parse_addresses(sub.loc[new, "address"], sub.loc[new, "postcode"]
                                                        if "postcode" in sub.columns else None, towns)[PARTS]
        else:
            parts = parse_addresses(sub["address"], sub["postcode"] if "postcode" in sub.columns else None, towns)
        todo.append(parts.assign(source=name, row=sub.index.to_numpy(), fp=fp.to_numpy()))
    records = pd.concat(todo, ignore_index=True) if todo else pd.DataFrame(columns=[*PARTS, "source", "row", "fp"])
    all_rows = records[["fp", *PARTS]]
    usable = records[PARTS].notna().any(axis=1) & (records["house_number"].notna() | records["street"].notna())
    records = records[usable].reset_index(drop=True)
    records["review_id"] = _review_id(records, key) if len(records) else pd.Series(dtype="string")
    distinct = records.drop_duplicates("review_id")[["review_id", *PARTS]].reset_index(drop=True)
    distinct["record_id"] = distinct["review_id"]

    model = None
    best = pd.DataFrame(columns=["record_id", "entity_id", "match_probability", "match_weight"])
    candidates = ent_parts = None
    reuse = store is not None and store.usable
    stored = store.best[store.best["record_id"].isin(distinct["record_id"])] if reuse else best
    to_match = distinct[~distinct["record_id"].isin(stored["record_id"])] if reuse else distinct
    if reuse:
        _say(progress, f"link store: {len(stored):,} of {len(distinct):,} distinct addresses seen before; "
                       f"matching {len(to_match):,} with the stored model")
    if len(to_match):
        _say(progress, f"matching {len(to_match):,} distinct addresses ({len(records):,} rows) with splink")
        ent_parts = entity_parts(entities)
        chart_dir = Path(out_dir) / "charts" if out_dir is not None else None
        labelled = None if reuse else _labelled_addresses(frames, resolved, towns, seed)
        candidates, model = match_records(ent_parts, to_match.reset_index(drop=True), labelled=labelled,
                                          chart_dir=chart_dir, seed=seed, fixed=store.model if reuse else None,
                                          spark=spark)
        best = candidates[candidates["rank"] == 1]
        model.best_probabilities = best["match_probability"].tolist()
    if reuse:
        parts_ = [stored.assign(entity_id=stored["entity_id"].astype("string"))] + ([best] if len(best) else [])
        best = pd.concat(parts_, ignore_index=True)
        best["match_probability"] = best["match_probability"].astype("float64")
    if store is not None and (model is not None or not reuse):
        levels = model.trained_levels if model is not None else store.model["levels"]
        # addresses no blocking rule paired are kept too (no candidate), or every run would match them again
        alone = to_match.loc[~to_match["record_id"].isin(best["record_id"]), ["record_id"]]
        kept = pd.concat([best, alone.assign(entity_id=pd.NA, match_probability=np.nan)], ignore_index=True) \
            if len(alone) else best
        store.save(all_rows, kept, levels, model.match_rate if model is not None else store.model["match_rate"])

    band = best.set_index("record_id")
    prob = pd.Series(band["match_probability"].reindex(records["review_id"].to_numpy()).to_numpy(), index=records.index)
    cand = pd.Series(band["entity_id"].reindex(records["review_id"].to_numpy()).to_numpy(), index=records.index, dtype="string")
    decision = _apply_decisions(records["review_id"], cand, decisions)
    prov, linked_id = decide(prob, cand, decision, spec)

    _say(progress, "assembling linked sources")
    out_sources = {name: _assemble(df, name, resolved[name], records, prov, prob, linked_id) for name, df in frames.items()}

    # the review lists every address in the band, those matched on an earlier run (the store) too
    listed = candidates[candidates["rank"] == 1] if candidates is not None else None
    if reuse and len(stored):
        listed = pd.concat([stored.assign(rank=1)] + ([listed] if listed is not None and len(listed) else []),
                           ignore_index=True)
    if listed is not None and prov.eq("reviewed").any():
        ent_parts = ent_parts if ent_parts is not None else entity_parts(entities)
        review = _review_table(listed, records, prov, ent_parts)
    else:
        review = _empty_review()

    _say(progress, "building golden records")
    golden, rules = golden_records(entities, out_sources, spec)
    quality = quality_report(entities, out_sources, states, raw_entities=raw_entities)
    proposals = _proposals(records, prov, cand, out_sources)
    metrics = link_metrics(out_sources, truth, records, prov, model, proposals)
    metrics["seconds"] = round(time.perf_counter() - started, 1)
    metrics["pseudonymisation_key"] = key.origin
    metrics["pseudonymised_columns"] = sorted({c for df in sources.values() for c in person_columns(df, spec)}
                                              | set(person_columns(raw_entities, spec)))
    result = LinkResult(out_sources, review, golden, rules, metrics, quality, model, key.origin)
    if out_dir is not None:
        from riskengine.link._report import write_outputs

        _say(progress, f"writing outputs to {out_dir}")
        result.paths = write_outputs(result, Path(out_dir), spec)
    return result


def _labelled_addresses(frames: dict[str, pd.DataFrame], resolved: dict[str, pd.Series], towns,
                        seed: int, limit: int = MAX_LABELS) -> pd.DataFrame:
    """Addresses of rows whose key resolved, with that entity: known matches for EM's start."""
    counts = {name: int((resolved[name].notna() & df["address"].notna()).sum())
              for name, df in frames.items() if "address" in df.columns}
    total = sum(counts.values())
    if not total:
        return pd.DataFrame(columns=["record_id", *PARTS, "entity_id"])
    rng = np.random.default_rng(seed)
    keyed = []
    for name, n in counts.items():
        df = frames[name]
        ok = np.flatnonzero((resolved[name].notna() & df["address"].notna()).to_numpy())
        take = ok if total <= limit else rng.choice(ok, size=round(limit * n / total), replace=False)
        keyed.append(pd.DataFrame({
            "address": df["address"].to_numpy()[take],
            "postcode": df["postcode"].to_numpy()[take] if "postcode" in df.columns else pd.NA,
            "entity_id": resolved[name].to_numpy()[take],
        }))
    rows = pd.concat(keyed, ignore_index=True).drop_duplicates()
    parts = parse_addresses(rows["address"], rows["postcode"], towns)
    return parts.assign(entity_id=rows["entity_id"].astype("string").to_numpy(),
                        record_id=[f"label{i}" for i in range(len(rows))]).reset_index(drop=True)


def _review_table(candidates: pd.DataFrame, records: pd.DataFrame, prov: pd.Series,
                  ent_parts: pd.DataFrame) -> pd.DataFrame:
    """One line per address in the review band: the record's parts beside the candidate's, with weights."""
    in_band = records[prov.eq("reviewed")]
    if in_band.empty:
        return _empty_review()
    out, best = _review_head(in_band, candidates)
    if best.empty:
        return _empty_review()
    rec = in_band.drop_duplicates("review_id").set_index("review_id")[PARTS]
    ent = ent_parts.set_index("entity_id")
    for p in PARTS:
        out[f"record_{p}"] = rec[p]
    out["entity_id"] = best["entity_id"]
    ent_rows = ent.reindex(best["entity_id"].to_numpy())
    for p in PARTS:
        out[f"entity_{p}"] = ent_rows[p].to_numpy()
    for c in COMPARISONS:
        if f"mw_{c}" in best.columns:
            out[f"weight_{c}"] = best[f"mw_{c}"].round(2)
    out["decision"] = ""  # for the clerk: 'match' or 'no match'
    return out.reset_index().sort_values(["rows", "match_probability"], ascending=[False, False]).reset_index(drop=True)
