"""link(): from many sources that spell places differently to rows that name their entity.

Steps, in order: pseudonymise person identifiers (so raw names never reach anything
downstream, splink included); attach rows with a usable key; read the addresses of the rest by
field kind (the address, its postcode and town, as a link spec would: `address_fields`) and check
they read; score them against the register with splink (`_match.match_prepared`, the link specs'
machinery); apply the two thresholds and any clerical decisions; build golden records; measure.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from riskengine.errors import RiskEngineError
from riskengine.link._decide import (LinkResult, _apply_decisions, _assemble, _empty_review, _proposals,
                                     _read_decisions, _review_head, _say, _unique_register, check_linked_share,
                                     decide)
from riskengine.link._exact import attach_keys
from riskengine.link._metrics import PROVENANCE, link_metrics
from riskengine.link._fields import Field, learn_places
from riskengine.link._job import check_fields, field_quality, prepare_table
from riskengine.link._match import match_prepared
from riskengine.link._normalise import normalise_postcodes
from riskengine.link._pseudonymise import (PseudonymKey, check_decisions_key, keyed_ids, load_key,
                                          person_columns, pseudonymise)
from riskengine.link._quality import quality_report
from riskengine.link._store import LinkStore, row_fingerprints
from riskengine.link._survivorship import golden_records
from riskengine.spec import LinkSpec



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


REGISTER = "register"
ADDRESS = "address"  # the address field's name; its parts are address__flat, address__num, address__street ...
UK_SHARE = 0.5  # postcodes read as UK postcodes in at least this share: compared by their UK parts
# what the review shows of each side, and the prepared column it comes from
SHOWN = {"flat": f"{ADDRESS}__flat", "house_number": f"{ADDRESS}__num", "street": f"{ADDRESS}__street",
         "town": "town", "postcode": "postcode"}


def _with_address_text(entities: pd.DataFrame) -> pd.DataFrame:
    """The register with an `address` text: its own, or one written from its parts (flat, number, street, town)."""
    if "address" in entities.columns:
        return entities
    has = [p for p in ("flat", "house_number", "street") if p in entities.columns]
    if not has:
        raise RiskEngineError("entities: no address columns to match on; expected 'address' or some of "
                              "['flat', 'house_number', 'street', 'town', 'postcode']")
    col = {p: entities[p].astype("string") if p in entities.columns else pd.Series(pd.NA, index=entities.index,
                                                                                    dtype="string")
           for p in ("flat", "house_number", "street", "town")}
    text = ("Flat " + col["flat"] + ", ").fillna("") + col["house_number"].fillna("") + " " + col["street"].fillna("")
    text = text.str.strip() + (", " + col["town"]).fillna("")
    return entities.assign(address=text.str.strip().replace("", pd.NA))


def address_fields(register: pd.DataFrame, sources: dict[str, pd.DataFrame]) -> tuple[list[Field], str]:
    """The fields addresses are matched on, by kind: the address text (`address`), the postcode and the
    register's town (`locality`). The postcode is a `uk_postcode` (compared by its UK parts) only when
    the values read as UK postcodes; otherwise a `postcode` of any country. Returns the fields and a
    sentence saying which postcode kind was chosen and why."""
    tables = {REGISTER: register, **sources}
    address = Field(ADDRESS, "address", {t: "address" for t, df in tables.items() if "address" in df.columns})
    fields = [address]
    with_pc = {t: "postcode" for t, df in tables.items() if "postcode" in df.columns}
    values = pd.concat([df["postcode"].dropna().astype("string").head(20_000) for t, df in tables.items()
                        if t in with_pc], ignore_index=True) if with_pc else pd.Series([], dtype="string")
    values = values[values.str.strip() != ""]
    uk = float(normalise_postcodes(values).notna().mean()) if len(values) else 1.0
    kind = "uk_postcode" if uk >= UK_SHARE else "postcode"
    fields.append(Field("postcode", kind, with_pc))  # a table without the column: the one in its address text
    towns = {t: "town" for t, df in tables.items() if "town" in df.columns}
    fields.append(Field("town", "locality", towns))
    said = (f"postcodes compared as {kind} ({uk:.0%} of {len(values):,} values read as UK postcodes)"
            if len(values) else f"no postcode column: postcodes read from the address text, compared as {kind}")
    return fields, said


def _review_id(records: pd.DataFrame, fields: list[Field], key: PseudonymKey) -> pd.Series:
    """A stable id for a cleaned address, so clerical decisions carry over between runs; keyed,
    so that nobody can find an address's id by hashing a guess."""
    cols = records[[f.name for f in fields]].astype("string").fillna("")
    joined = cols.iloc[:, 0].str.cat([cols[c] for c in cols.columns[1:]], sep="|")
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
    sources_only: bool = False,
) -> LinkResult:
    """Resolve every source row to an entity of the register, or say why not.

    `sources` maps a source name to its rows (columns line, entity_id, address, postcode,
    date, type, value and any others). With `spec.fields` (column -> kind, any kinds) rows
    without a key are matched on those fields, and with `spec.match_on = "person"` the entities
    are people, matched on name, date of birth and postcode by default (_people.py; the link
    store and Spark serve the default address path only).
    `truth` (source, line, true_entity_id) adds precision and recall to the metrics. With `out_dir`, the linked sources, review file, golden table,
    splink charts and the link and quality reports are written there. With `spark` (a
    SparkSession) splink's blocking and comparisons run on Spark (riskengine.spark), same model.
    `sources_only` (what scoring, the backtest and simulation need: they read only the linked
    sources) skips the review table, golden records, quality report and metrics; the link
    store is still updated and link.checks still warn or stop, so rows and their links are exactly
    those of a full run.
    """
    spec = spec or LinkSpec()
    if spec.match_on == "person" or spec.fields:  # by the spec's fields: matched on clear values first,
        # pseudonymised before anything leaves
        from riskengine.link._people import link_people  # imported here: its reports pull in matplotlib

        if sources_only and out_dir is not None:
            raise ValueError("link(sources_only=True) writes no outputs; pass out_dir=None")
        return link_people(entities, sources, spec, out_dir, progress, truth=truth,
                           allow_ephemeral_key=allow_ephemeral_key, seed=seed, sources_only=sources_only)
    started = time.perf_counter()
    _check_inputs(entities, sources)
    key = load_key(spec, allow_ephemeral_key)
    check_decisions_key(key, spec.review_decisions)
    decisions = _read_decisions(spec.review_decisions, out_dir)

    _say(progress, "pseudonymising person identifiers")
    entities = pseudonymise(entities, person_columns(entities, spec), key)
    raw_entities = entities
    entities = _unique_register(entities)
    frames = {name: pseudonymise(df, person_columns(df, spec), key).reset_index(drop=True) for name, df in sources.items()}

    _say(progress, "attaching rows with a usable key")
    states, resolved = attach_keys(frames, entities["entity_id"])

    _say(progress, "reading addresses")
    register = _with_address_text(entities)
    fields, postcode_note = address_fields(register, frames)
    _say(progress, postcode_note)
    learn_places(fields, {REGISTER: register, **frames})
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
                fresh = prepare_table(name, sub[new], fields)
                parts = parts.reindex(columns=fresh.columns)
                parts.loc[new, fresh.columns] = fresh
        else:
            parts = prepare_table(name, sub, fields)
        todo.append(parts.assign(source=name, row=sub.index.to_numpy(), fp=fp.to_numpy()))
    columns = list(prepare_table(REGISTER, register.head(0), fields).columns)
    # loud failures: a field that does not read (a postcode of another shape, addresses without a number or
    # street) warns, or past link.checks stops the run, naming the table and column
    warnings, errors = [], []
    checked = field_quality(REGISTER, register, prepare_table(REGISTER, register, fields), fields)
    for t in todo:
        name = t["source"].iloc[0]
        checked += field_quality(name, frames[name].loc[t["row"].to_numpy()].reset_index(drop=True),
                                 t.reset_index(drop=True), fields)
    # a column a source leaves empty throughout is missing data, not values that failed to read
    check_fields([q for q in checked if q["given"] > 0], spec.checks, warnings, errors, progress,
                 prefix="link.checks.")
    if errors:
        raise RiskEngineError("linkage stopped: " + "; ".join(errors))
    records = pd.concat(todo, ignore_index=True) if todo else pd.DataFrame(columns=[*columns, "source", "row", "fp"])
    all_rows = records[["fp", *columns]]
    records = records[records[ADDRESS].notna()].reset_index(drop=True)  # a number or a street to go on
    records["review_id"] = _review_id(records, fields, key) if len(records) else pd.Series(dtype="string")
    distinct = records.drop_duplicates("review_id")[["review_id", *columns]].reset_index(drop=True)
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
        ent_parts = prepare_table(REGISTER, register, fields).assign(uid=register["entity_id"].to_numpy())
        chart_dir = Path(out_dir) / "charts" if out_dir is not None else None
        matched = match_prepared(ent_parts, to_match.drop(columns=["record_id"]).rename(columns={"review_id": "uid"})
                                 .reset_index(drop=True), fields, method="one_to_one_em", seed=seed,
                                 lower=spec.lower, upper=spec.upper, fixed=store.model if reuse else None,
                                 spark=spark, chart_dir=chart_dir)
        for note_ in matched.notes:
            _say(progress, note_)
        candidates = matched.best.rename(columns={"candidate_id": "entity_id"})
        model = matched.model
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
    unkeyed = len(records)
    share = float(prov.isin(["probabilistic", "reviewed"]).sum()) / unkeyed if unkeyed else 1.0
    check_linked_share(share, unkeyed, spec, warnings, "linked or sent to review")
    for w in warnings:
        _say(True, "[bold yellow]warning:[/] " + w)
    if sources_only:
        if out_dir is not None:
            raise ValueError("link(sources_only=True) writes no outputs; pass out_dir=None")
        return LinkResult(out_sources, _empty_review(), pd.DataFrame(), {}, {"sources_only": True}, {}, model,
                          key.origin)

    # the review lists every address in the band, those matched on an earlier run (the store) too
    listed = candidates[candidates["rank"] == 1] if candidates is not None else None
    if reuse and len(stored):
        listed = pd.concat([stored.assign(rank=1)] + ([listed] if listed is not None and len(listed) else []),
                           ignore_index=True)
    asked = prov.where(decision.eq(""), "decided")  # a record a clerk has decided is not asked again
    if listed is not None and asked.eq("reviewed").any():
        if ent_parts is None:
            ent_parts = prepare_table(REGISTER, register, fields).assign(uid=register["entity_id"].to_numpy())
        review = _review_table(listed, records, asked, ent_parts, frames, register)
    else:
        review = _empty_review()

    _say(progress, "building golden records")
    golden, rules = golden_records(entities, out_sources, spec)
    quality = quality_report(entities, out_sources, states, raw_entities=raw_entities)
    proposals = _proposals(records, prov, cand, out_sources)
    metrics = link_metrics(out_sources, truth, records, prov, model, proposals)
    metrics["seconds"] = round(time.perf_counter() - started, 1)
    metrics["warnings"] = warnings
    metrics["field_quality"] = checked
    metrics["address_fields"] = {f.name: f.kind for f in fields}
    metrics["pseudonymisation_key"] = key.origin
    metrics["pseudonymised_columns"] = sorted({c for df in sources.values() for c in person_columns(df, spec)}
                                              | set(person_columns(raw_entities, spec)))
    result = LinkResult(out_sources, review, golden, rules, metrics, quality, model, key.origin)
    if out_dir is not None:
        from riskengine.link._report import write_outputs

        _say(progress, f"writing outputs to {out_dir}")
        result.paths = write_outputs(result, Path(out_dir), spec)
    return result


def _review_table(candidates: pd.DataFrame, records: pd.DataFrame, prov: pd.Series, ent_parts: pd.DataFrame,
                  frames: dict[str, pd.DataFrame], register: pd.DataFrame) -> pd.DataFrame:
    """One line per address in the review band: the record's address as a source wrote it and its parts,
    beside the candidate's, with weights (for the council's own staff; deleted once decided)."""
    in_band = records[prov.eq("reviewed")]
    if in_band.empty:
        return _empty_review()
    out, best = _review_head(in_band, candidates)
    if best.empty:
        return _empty_review()
    rec = in_band.drop_duplicates("review_id").set_index("review_id")
    ent_rows = ent_parts.drop_duplicates("uid").set_index("uid").reindex(best["entity_id"].to_numpy())
    first = rec.reindex(out.index)
    out["record_address"] = pd.array([frames[s_].at[r, "address"] if isinstance(s_, str) else pd.NA
                                      for s_, r in zip(first["source"], first["row"])], dtype="string")
    out["entity_address"] = pd.array(register.drop_duplicates("entity_id").set_index("entity_id")["address"]
                                     .reindex(best["entity_id"].to_numpy()).to_numpy(), dtype="string")
    for shown, col in SHOWN.items():
        out[f"record_{shown}"] = rec[col].reindex(out.index) if col in rec.columns else pd.NA
    out["entity_id"] = best["entity_id"]
    for shown, col in SHOWN.items():
        out[f"entity_{shown}"] = ent_rows[col].to_numpy() if col in ent_rows.columns else pd.NA
    for c in [c for c in best.columns if c.startswith("mw_")]:
        out[f"weight_{c[3:]}"] = best[c].astype("float64").round(2)
    out["decision"] = ""  # for the clerk: 'match' or 'no match'
    return out.reset_index().sort_values(["rows", "match_probability"], ascending=[False, False]).reset_index(drop=True)
