"""Matching by the spec's fields: rows without a key found among the entities by the kinds of their fields.

For `LinkSpec.match_on = "person"` (entities are people) and for any `[link] fields` (entities
of any kind: people, businesses, places). The fields are the spec's `fields` (column -> kind,
as in a link spec) or, in person mode without them, `person_name_columns` (a forename and a
surname, or one full name), `dob_column` (a date, any format) and `postcode` where present.
Matching is the machinery of link specs (_fields.py, _match.py): splink blocks and compares by
kind (swapped names, nicknames, date typos and swapped day and month, addresses read into
their parts, term frequencies), the one-to-one EM of `_probabilistic` estimates m and the
match rate (a row names at most one entity) and gives the rival-aware probability the two
thresholds act on, so `upper` and `lower` mean the same on every path.

The raw values are needed to match (a keyed hash of "Jon" says nothing about "John"), so the
order differs from the default address path: match on cleaned values in memory, then
pseudonymise every person identifier (`LinkSpec.identifying_columns`) before the linked
sources are assembled, written or returned. The clerical-review file and page alone show
clear values, for the council's own staff; they are deleted when the decisions are read back
(_decide._read_decisions).
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from riskengine.errors import RiskEngineError
from riskengine.link._decide import (LinkResult, _apply_decisions, _assemble, _empty_review, _proposals,
                                     _read_decisions, _review_head, _say, _unique_register, check_linked_share,
                                     decide)
from riskengine.link._exact import attach_keys
from riskengine.link._fields import Field, learn_places
from riskengine.link._job import check_fields, field_quality, prepare_table
from riskengine.link._match import match_prepared
from riskengine.link._metrics import link_metrics
from riskengine.link._pseudonymise import PseudonymKey, check_decisions_key, keyed_ids, load_key, pseudonymise
from riskengine.link._quality import quality_report
from riskengine.link._survivorship import golden_records
from riskengine.spec import LinkField, LinkSpec

REGISTER = "register"
DISTINGUISHING = ("forename", "surname", "full_name", "address", "identifier", "text")


def spec_fields(spec: LinkSpec, tables: dict[str, pd.DataFrame]) -> list[Field]:
    """The fields rows are matched on (the spec's `fields`, or in person mode its name and
    date-of-birth columns), with the column each table holds them in."""
    if spec.fields:
        given = dict(spec.fields)
    else:
        names = spec.person_name_columns
        given = ({names[0]: LinkField("forename"), names[1]: LinkField("surname")} if len(names) == 2
                 else {names[0]: LinkField("full_name")})
        given[spec.dob_column] = LinkField("date")
        if any("postcode" in df.columns for df in tables.values()):
            given["postcode"] = LinkField("postcode")
    fields = []
    for column, lf in given.items():
        f = Field(name=lf.name or column, kind=lf.kind, columns={})
        for t, df in tables.items():
            if column in df.columns:
                f.columns[t] = column
                if lf.format:
                    f.declared[t] = lf.format
        fields.append(f)
    learn_places(fields, tables)  # places named in a locality field are read off the end of an address
    return fields


person_fields = spec_fields  # the name it had when only person mode read `fields`


def check_people(entities: pd.DataFrame, sources: dict[str, pd.DataFrame], spec: LinkSpec) -> None:
    """Stop early, naming the column and the key, when the register or a source cannot be matched."""
    if not spec.person_name_columns and not spec.fields:
        raise RiskEngineError("link.person_name_columns: expected one full-name column or [first name, surname]")
    if spec.fields:
        missing = [c for c in spec.fields if c not in entities.columns]
        if "entity_id" not in entities.columns:
            missing.insert(0, "entity_id")
        if missing:
            said = ", ".join(f"{c!r} (link.fields.{c} = {spec.fields[c].kind!r})" if c in spec.fields else repr(c)
                             for c in missing)
            raise RiskEngineError(f"entities: missing column {said}; every field named in link.fields is "
                                  f"matched against the entities table, which has {list(entities.columns)}")
    else:
        needed = [*spec.person_name_columns, spec.dob_column]
        missing = [c for c in ["entity_id", *needed] if c not in entities.columns]
        if missing:
            raise RiskEngineError(f"entities: missing column {', '.join(repr(m) for m in missing)} for link.match_on = "
                                  f"'person'; found {list(entities.columns)}")
    for name, df in sources.items():
        if "line" not in df.columns:
            raise RiskEngineError(f"source '{name}': missing column 'line'; found {list(df.columns)}")
        wanted = list(spec.fields) if spec.fields else spec.person_name_columns
        has_names = any(c in df.columns for c in spec.fields) if spec.fields else all(c in df.columns for c in wanted)
        if "entity_id" not in df.columns and not has_names:
            raise RiskEngineError(f"source '{name}': missing column 'entity_id' or {wanted} "
                                  f"(link.{'fields' if spec.fields else 'person_name_columns'}); found {list(df.columns)}")
        unlinked = df["entity_id"].isna() if "entity_id" in df.columns else pd.Series(True, index=df.index)
        if spec.fields and unlinked.any() and not has_names:
            raise RiskEngineError(f"source '{name}': {int(unlinked.sum()):,} row(s) without an entity_id and none of "
                                  f"the link.fields columns {wanted} to match them on; found {list(df.columns)}")


def _keyed_id(parts: pd.DataFrame, fields: list[Field], key: PseudonymKey) -> pd.Series:
    """A stable review id per cleaned person, keyed (an unkeyed hash of name and date could be guessed)."""
    cols = parts[[f.name for f in fields]].astype("string").fillna("")
    joined = cols.iloc[:, 0].str.cat([cols[c] for c in cols.columns[1:]], sep="|") if len(cols.columns) > 1 \
        else cols.iloc[:, 0]
    return keyed_ids(joined, key, "person")


def link_people(entities: pd.DataFrame, sources: dict[str, pd.DataFrame], spec: LinkSpec, out_dir: Path | None,
                progress: bool, *, truth: pd.DataFrame | None, allow_ephemeral_key: bool, seed: int,
                sources_only: bool = False):
    """link() by the spec's fields (people, or any entities with `fields`): keys first, then the fields;
    pseudonymise; assemble as the address path does."""
    started = time.perf_counter()
    check_people(entities, sources, spec)
    key = load_key(spec, allow_ephemeral_key)
    check_decisions_key(key, spec.review_decisions)
    decisions = _read_decisions(spec.review_decisions, out_dir)
    frames = {name: df.reset_index(drop=True) for name, df in sources.items()}
    raw_register = _unique_register(entities)
    fields = spec_fields(spec, {REGISTER: raw_register, **frames})
    identifiers = spec.identifying_columns()
    person = spec.match_on == "person"

    _say(progress, "attaching rows with a usable key")
    states, resolved = attach_keys(frames, raw_register["entity_id"])

    _say(progress, f"preparing {', '.join(f'{f.name} ({f.kind})' for f in fields)}")
    todo = []
    for name, df in frames.items():
        need = resolved[name].isna()
        if not need.any() or not any(name in f.columns for f in fields):
            continue
        sub = df[need]
        todo.append(prepare_table(name, sub, fields).assign(source=name, row=sub.index.to_numpy()))
    # loud failures: a field that does not parse (a date format nobody declared) warns, or stops the run
    warnings, errors = [], []
    checked = field_quality(REGISTER, raw_register, prepare_table(REGISTER, raw_register, fields), fields)
    for t in todo:
        name = t["source"].iloc[0]
        checked += field_quality(name, frames[name].loc[t["row"].to_numpy()].reset_index(drop=True),
                                 t.reset_index(drop=True), fields)
    check_fields(checked, spec.checks, warnings, errors, progress, prefix="link.checks.")
    if errors:
        raise RiskEngineError("linkage stopped: " + "; ".join(errors))
    # something to go on: a name for people; for other entities a name, an address, an identifier or a
    # text (a postcode, a date or a town alone cannot tell one entity from its neighbours), else any field
    names = [f.name for f in fields if f.kind in ("forename", "surname", "full_name")]
    if not person:
        names = [f.name for f in fields if f.kind in DISTINGUISHING] or [f.name for f in fields]
    if todo:
        records = pd.concat(todo, ignore_index=True)
        usable = records[names].notna().any(axis=1) if names else pd.Series(True, index=records.index)
        records = records[usable].reset_index(drop=True)
    else:
        records = pd.DataFrame(columns=[f.name for f in fields] + ["source", "row"])
    records["review_id"] = _keyed_id(records, fields, key) if len(records) else pd.Series(dtype="string")
    distinct = records.drop_duplicates("review_id").drop(columns=["source", "row"]).rename(columns={"review_id": "uid"})

    model = matched = None
    candidates = None
    best = pd.DataFrame(columns=["record_id", "entity_id", "match_probability", "match_weight"])
    if len(distinct):
        _say(progress, f"matching {len(distinct):,} distinct {'people' if person else 'records'} "
                       f"({len(records):,} rows) with splink")
        register = prepare_table(REGISTER, raw_register, fields).assign(uid=raw_register["entity_id"].to_numpy())
        matched = match_prepared(register, distinct.reset_index(drop=True), fields, method="one_to_one_em", seed=seed,
                                 lower=spec.lower, upper=spec.upper)
        for note in matched.notes:
            _say(progress, note)
        candidates = matched.best.rename(columns={"candidate_id": "entity_id"})
        model = matched.model
        best = candidates[candidates["rank"] == 1]
        model.best_probabilities = best["match_probability"].tolist()

    band = best.set_index("record_id")
    prob = pd.Series(band["match_probability"].reindex(records["review_id"].to_numpy()).to_numpy(), index=records.index)
    cand = pd.Series(band["entity_id"].reindex(records["review_id"].to_numpy()).to_numpy(), index=records.index,
                     dtype="string")
    decision = _apply_decisions(records["review_id"], cand, decisions)
    prov, linked_id = decide(prob, cand, decision, spec)
    asked = prov.where(decision.eq(""), "decided")  # a record a clerk has decided is not asked again
    review = _review_table(candidates, matched, records, asked, frames, raw_register, fields) \
        if candidates is not None and not sources_only else _empty_review()

    _say(progress, "pseudonymising person identifiers")
    register = pseudonymise(raw_register, identifiers, key)
    frames = {name: pseudonymise(df, identifiers, key) for name, df in frames.items()}
    raw_entities = pseudonymise(entities, identifiers, key)

    out_sources = {name: _assemble(df, name, resolved[name], records, prov, prob, linked_id) for name, df in frames.items()}
    unkeyed = len(records)
    share = float(prov.isin(["probabilistic"]).sum()) / unkeyed if unkeyed else 1.0
    check_linked_share(share, unkeyed, spec, warnings, "linked")
    if sources_only:  # scoring: the linked rows only, as link() gives them on the address path
        for w in warnings:
            _say(True, "[bold yellow]warning:[/] " + w)
        return LinkResult(out_sources, review, pd.DataFrame(), {}, {"sources_only": True}, {}, model, key.origin)
    golden, rules = golden_records(register, out_sources, spec)
    quality = quality_report(register, out_sources, states, raw_entities=raw_entities)
    proposals = _proposals(records, prov, cand, out_sources)
    metrics = link_metrics(out_sources, truth, records, prov, model, proposals)
    for w in warnings:
        _say(True, "[bold yellow]warning:[/] " + w)
    metrics["match_on"] = spec.match_on
    metrics["warnings"] = warnings
    metrics["field_quality"] = checked  # the fields as read (the quality report of the sources is `quality`)
    metrics["fields"] = {f.name: f.kind for f in fields}  # what rows were matched on, by kind
    if person:
        metrics["person_fields"] = metrics["fields"]  # the name the person path's metrics had
    metrics["fields_from"] = "link.fields" if spec.fields else "link.person_name_columns, link.dob_column"
    metrics["date_formats"] = {f"{t}.{f.columns[t]}": fm for f in fields for t, fm in f.formats_used.items()}
    metrics["seconds"] = round(time.perf_counter() - started, 1)
    metrics["pseudonymisation_key"] = key.origin
    metrics["pseudonymised_columns"] = sorted({c for df in sources.values() for c in identifiers if c in df.columns}
                                              | {c for c in identifiers if c in entities.columns})
    result = LinkResult(out_sources, review, golden, rules, metrics, quality, model, key.origin)
    if out_dir is not None:
        from riskengine.link._report import write_outputs

        result.paths = write_outputs(result, Path(out_dir), spec)
    return result


def _review_table(candidates: pd.DataFrame, matched, records: pd.DataFrame, prov: pd.Series,
                  frames: dict[str, pd.DataFrame], register: pd.DataFrame, fields: list[Field]) -> pd.DataFrame:
    """One line per person in the review band: the row's clear values beside the candidate's, with each
    field's agreement level and weight. For the council's own staff only: never logged elsewhere."""
    in_band = records[prov.eq("reviewed")]
    if in_band.empty:
        return _empty_review()
    out, best = _review_head(in_band, candidates)
    first = in_band.drop_duplicates("review_id").set_index("review_id")
    ent = register.set_index("entity_id").reindex(best["entity_id"].to_numpy())
    for f in fields:
        vals = []
        for s, r in zip(first.loc[best.index, "source"], first.loc[best.index, "row"]):
            col = f.columns.get(s)
            vals.append(frames[s].at[r, col] if col is not None else pd.NA)
        out[f"record_{f.name}"] = pd.array(vals, dtype="string")
    out["entity_id"] = best["entity_id"]
    for f in fields:
        col = f.columns.get(REGISTER)
        out[f"entity_{f.name}"] = pd.array(ent[col].to_numpy() if col is not None else [pd.NA] * len(ent),
                                           dtype="string")
    agree = matched.agreement.set_index(["record_id", "candidate_id"]).reindex(
        pd.MultiIndex.from_arrays([best.index, best["entity_id"]]))
    for f in fields:
        out[f"agreement_{f.name}"] = agree[f.name].fillna("").to_numpy() if f.name in agree.columns else ""
        if f"mw_{f.name}" in best.columns:
            out[f"weight_{f.name}"] = best[f"mw_{f.name}"].round(2)
    out["decision"] = ""
    return out.reset_index().sort_values(["rows", "match_probability"], ascending=[False, False]).reset_index(drop=True)
