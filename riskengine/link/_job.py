"""A linkage job on any tables (`kind = "link"` specs): link sources to a register, or deduplicate.

    tables in -> fields prepared by kind -> checks (fields that do not parse) -> splink
    (blocking from the kinds, trained by one-to-one EM or splink's EM) -> checks (rows
    without a candidate, runs that link almost nothing) -> decisions (thresholds, then a
    clerk's) -> links.csv, review.csv + review.html, link_report.html + .json

links.csv has one row per source row: source, row_id, entity_id (with a register) or
cluster_id (without), match_probability, decision (linked / review / unmatched). It holds
ids and probabilities only. The review file and page show the clear values of the rows
under review beside their candidate's: they are for the council's own staff, are never
logged anywhere else, and are deleted when the clerk's decisions are read back (the
decisions themselves are kept as ids in decisions.csv, so later runs apply them too).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from riskengine.errors import RiskEngineError
from riskengine.io import read_file
from riskengine.link._fields import Field, empty_columns, from_address, learn_places, prepare
from riskengine.link._job_report import REVIEW_FILES, write_job_outputs
from riskengine.link._match import Matched, cluster, match_prepared
from riskengine.link._pseudonymise import PseudonymKey, check_decisions_key, keyed_ids, load_key
from riskengine.spec import LinkChecks, LinkJobSpec, LinkTable

REGISTER = "register"
DECISIONS = ("match", "no match")


@dataclass
class JobResult:
    """What run_job returns; `paths` lists every file written."""

    links: pd.DataFrame
    review: pd.DataFrame
    metrics: dict
    warnings: list[str]
    fields: list[Field]
    matched: Matched | None = None
    paths: dict[str, Path] = field(default_factory=dict)


def _say(progress: bool, message: str, warn: bool = False) -> None:
    if progress or warn:
        from rich.console import Console

        tag = "[bold yellow]warning:[/] " if warn else "[dim]link:[/] "
        Console(stderr=True).print(tag + message, highlight=False, soft_wrap=True)


def build_fields(tables: dict[str, LinkTable]) -> list[Field]:
    """One Field per shared field name, with the column each table holds it in."""
    by_name: dict[str, Field] = {}
    for table, spec in tables.items():
        for column, lf in spec.fields.items():
            name = lf.name or column
            f = by_name.setdefault(name, Field(name=name, kind=lf.kind, columns={}))
            if f.kind != lf.kind:
                raise RiskEngineError(f"link spec: field '{name}' is a {f.kind!r} in one table and a {lf.kind!r} in "
                                      f"'{table}' (column {column!r}); one field has one kind")
            f.columns[table] = column
            if lf.format:
                f.declared[table] = lf.format
    return list(by_name.values())


def _check_table(table: str, df: pd.DataFrame, spec: LinkTable, where: str) -> pd.Series:
    """The table's ids (text), after checking its id and field columns exist and ids are unique."""
    missing = [c for c in [spec.id, *spec.fields] if c not in df.columns]
    if missing:
        raise RiskEngineError(f"{where}: missing column {', '.join(repr(m) for m in missing)} named in the link spec "
                              f"(table '{table}'); found {list(df.columns)}")
    ids = df[spec.id].astype("string").str.strip()
    bad = ids.isna() | (ids == "")
    if bad.any():
        raise RiskEngineError(f"{where}: {int(bad.sum())} row(s) without an id in column {spec.id!r} "
                              f"(first at data row {int(np.flatnonzero(bad.to_numpy())[0]) + 1})")
    dup = ids.duplicated()
    if dup.any():
        raise RiskEngineError(f"{where}: id {ids[dup].iloc[0]!r} appears more than once in column {spec.id!r}; "
                              "each row needs its own id")
    return ids


def prepare_table(table: str, df: pd.DataFrame, fields: list[Field]) -> pd.DataFrame:
    """All fields' cleaned columns for one table (missing fields as NULL columns)."""
    filled = from_address(table, df, fields)  # postcodes and places written in the address text
    parts = []
    for f in fields:
        col = f.columns.get(table)
        if f.name in filled:
            parts.append(prepare(filled[f.name], f, table))
        else:
            parts.append(prepare(df[col], f, table) if col is not None else empty_columns(f, df.index))
    return pd.concat(parts, axis=1)


def field_quality(table: str, df: pd.DataFrame, prepared: pd.DataFrame, fields: list[Field]) -> list[dict]:
    """Per field of one table: rows given, rows read, the share NULL after parsing, formats found."""
    out = []
    for f in fields:
        col = f.columns.get(table)
        if col is None:
            continue
        raw = df[col].astype("string").str.strip()
        given = int((raw.notna() & (raw != "")).sum())
        read = int(prepared[f.name].notna().sum())
        n = len(df)
        item = {"table": table, "field": f.name, "column": col, "kind": f.kind, "rows": n, "given": given,
                "read": read, "unreadable": max(given - read, 0),
                "null_share": round(1 - read / n, 4) if n else 0.0}
        if f.kind == "date":
            item["formats"] = f.formats_used.get(table, {})
            item["format_declared"] = f.declared.get(table)
        out.append(item)
    return out


def check_fields(quality: list[dict], checks: LinkChecks, warnings: list[str], errors: list[str],
                 progress: bool = False, prefix: str = "checks.") -> None:
    """Report the date formats found; a field NULL after parsing in most rows warns, past the limit errs."""
    for q in quality:
        if q["kind"] == "date" and not q.get("format_declared") and q["formats"]:
            _say(progress, f"{q['table']}.{q['column']}: dates read as " +
                 ", ".join(f"{k} ({v:.0%})" for k, v in q["formats"].items()))
        msg = (f"{q['table']}.{q['column']} ({q['kind']}): {q['null_share']:.0%} of rows are NULL after parsing "
               f"({q['unreadable']:,} of {q['given']:,} given values could not be read)")
        if q["null_share"] > checks.null_share_error:
            errors.append(msg + f" - above {prefix}null_share_error = {checks.null_share_error}")
        elif q["null_share"] >= checks.null_share_warn:
            warnings.append(msg)


def _group_key(prepared: pd.DataFrame, fields: list[Field], key: PseudonymKey) -> pd.Series:
    """One id per distinct set of cleaned values: identical records are scored once. It is the review
    id a clerk's decision is kept under, so it is keyed (HMAC with the pseudonymisation key): an
    unkeyed hash of cleaned names and dates could be matched by hashing guesses."""
    cols = [f.name for f in fields]
    h = pd.util.hash_pandas_object(prepared[cols].astype("string").fillna("\x00"), index=False).to_numpy()
    return keyed_ids(pd.Series(np.char.mod("%016x", h), index=prepared.index), key, "record")


def _read_decisions(spec: LinkJobSpec, out_dir: Path | None) -> pd.DataFrame:
    """Decisions kept from earlier runs plus the clerk's file; the clerk's file (clear values) and
    the review page are deleted once read, the decisions kept as ids only."""
    kept = pd.DataFrame(columns=["review_id", "candidate_id", "decision"])
    store = out_dir / "decisions.csv" if out_dir is not None else None
    if store is not None and store.is_file():
        kept = pd.read_csv(store, dtype=str, keep_default_na=False)
    path = spec.review_decisions
    if path is None or not Path(path).is_file():
        if path is not None and not Path(path).is_file() and kept.empty:
            raise RiskEngineError(f"{path}: clerical-review decisions file not found (review_decisions)")
        return kept
    path = Path(path)
    df = read_file(path, "clerical-review decisions file", text=True).fillna("")  # a clerk's file: a bad line is named, not a traceback
    missing = [c for c in ("review_id", "candidate_id", "decision") if c not in df.columns]
    if missing:
        raise RiskEngineError(f"{path}: missing column {', '.join(missing)}; the review file's columns review_id, "
                              "candidate_id and decision are needed")
    df["decision"] = df["decision"].str.strip().str.lower()
    df = df[df["decision"] != ""]
    bad = df[~df["decision"].isin(DECISIONS)]
    if len(bad):
        raise RiskEngineError(f"{path}: line {int(bad.index[0]) + 2}, column 'decision': expected 'match' or "
                              f"'no match' (or empty), got {bad['decision'].iloc[0]!r}")
    merged = pd.concat([kept, df[["review_id", "candidate_id", "decision"]]], ignore_index=True)
    merged = merged.drop_duplicates(["review_id", "candidate_id"], keep="last")
    if store is not None:
        store.parent.mkdir(parents=True, exist_ok=True)
        merged.to_csv(store, index=False)
    path.unlink()  # the clerk's copy holds clear values: gone once its decisions are kept
    for name in REVIEW_FILES:
        other = path.parent / name
        if other.is_file():
            other.unlink()
    return merged


def run_job(spec: LinkJobSpec, tables: dict[str, pd.DataFrame], out_dir: Path | None = None, progress: bool = False,
            truth: pd.DataFrame | None = None, where: dict[str, str] | None = None,
            allow_ephemeral_key: bool = False) -> JobResult:
    """Link `tables` (source name -> rows; 'register' -> the register, if the spec has one).

    Review ids are keyed with the pseudonymisation key (`spec.key_env` or `spec.key_file`); without
    one the run stops, unless `allow_ephemeral_key` (then decisions cannot carry over to a later run)."""
    started = time.perf_counter()
    key = load_key(spec, allow_ephemeral_key)
    check_decisions_key(key, spec.review_decisions)
    out_dir = Path(out_dir) if out_dir is not None else None
    where = where or {}
    specs = ({REGISTER: spec.register} if spec.register is not None else {}) | dict(spec.sources)
    fields = build_fields(specs)
    ids = {t: _check_table(t, tables[t], s, where.get(t, f"table '{t}'")) for t, s in specs.items()}
    warnings: list[str] = []
    errors: list[str] = []
    checks = spec.checks

    _say(progress, f"preparing {len(fields)} fields of {len(specs)} tables")
    learn_places(fields, tables)
    prepared = {t: prepare_table(t, tables[t], fields) for t in specs}
    quality = [q for t in specs for q in field_quality(t, tables[t], prepared[t], fields)]
    check_fields(quality, checks, warnings, errors, progress)

    sources = list(spec.sources)
    rec_frames = []
    for t in sources:
        p = prepared[t].copy()
        p["uid"] = _group_key(p, fields, key)
        rec_frames.append(p.assign(source=t, row_id=ids[t].to_numpy()))
    rows = pd.concat(rec_frames, ignore_index=True)
    records = rows.drop_duplicates("uid").drop(columns=["source", "row_id"]).reset_index(drop=True)
    register = None
    if spec.register is not None:
        register = prepared[REGISTER].assign(uid=ids[REGISTER].to_numpy()).reset_index(drop=True)
    matched = None
    if errors:
        metrics = {"rows": int(len(rows)), "seconds": round(time.perf_counter() - started, 1)}
        result = JobResult(pd.DataFrame(), pd.DataFrame(), metrics, warnings + errors, fields)
        _finish(result, spec, out_dir, quality, errors)
    _say(progress, f"matching {len(records):,} distinct records ({len(rows):,} rows)"
         + (f" against {len(register):,} register entries" if register is not None else ", deduplicating"))
    matched = match_prepared(register, records, fields, method=spec.model, lower=spec.lower, upper=spec.upper,
                             seed=spec.seed, max_pairs_per_rule=spec.max_pairs_per_rule)
    for note in matched.notes:
        _say(progress, note)
    decisions = _read_decisions(spec, out_dir)
    if register is not None:
        links, review = _decide_links(rows, matched, decisions, spec)
    else:
        links, review = _decide_clusters(rows, records, matched, decisions, spec)

    review = _with_model(_with_values(review, tables, ids, fields, register is not None), matched, fields)

    # loud failures after matching: rows no rule paired, runs that link almost nothing
    no_cand = rows["uid"].isin(matched.no_candidate)
    by_source = {}
    for t in sources:
        mine = links["source"] == t
        share_nc = float(no_cand[(rows["source"] == t).to_numpy()].mean()) if mine.any() else 0.0
        share_linked = float((links.loc[mine, "decision"] == "linked").mean()) if mine.any() else 0.0
        by_source[t] = {"rows": int(mine.sum()), "without_candidate_share": round(share_nc, 4),
                        "linked_share": round(share_linked, 4),
                        **{d: int((links.loc[mine, "decision"] == d).sum()) for d in ("linked", "review", "unmatched")}}
        if register is not None:  # without a register most rows legitimately have no duplicate
            msg = f"source '{t}': {share_nc:.0%} of rows have no candidate under any blocking rule"
            if share_nc > checks.no_candidate_error:
                errors.append(msg + f" - above checks.no_candidate_error = {checks.no_candidate_error}")
            elif share_nc >= checks.no_candidate_warn:
                warnings.append(msg)
        msg = f"source '{t}': only {share_linked:.1%} of rows linked"
        if share_linked < checks.linked_share_error and checks.linked_share_error > 0:
            errors.append(msg + f" - below checks.linked_share_error = {checks.linked_share_error}")
        elif share_linked < checks.linked_share_warn:
            warnings.append(msg)
    metrics = {
        "mode": "link" if register is not None else "deduplicate",
        "method": matched.method,
        "rows": int(len(rows)),
        "distinct_records": int(len(records)),
        "register_rows": int(len(register)) if register is not None else 0,
        "candidate_pairs": int(matched.model.n_pairs),
        "by_source": by_source,
        "decisions": {d: int((links["decision"] == d).sum()) for d in ("linked", "review", "unmatched")},
        "review_rows": int(len(review)),
        "estimated_match_rate": round(float(matched.model.match_rate), 6),
        "seconds": round(time.perf_counter() - started, 1),
    }
    if truth is not None:
        metrics["accuracy"] = job_accuracy(links, truth, register is not None)
    result = JobResult(links, review, metrics, warnings, fields, matched)
    for w in warnings:
        _say(True, w, warn=True)
    _finish(result, spec, out_dir, quality, errors)
    return result


def _finish(result: JobResult, spec: LinkJobSpec, out_dir: Path | None, quality: list[dict], errors: list[str]) -> None:
    """Write the outputs (so a failed run still leaves its report), then stop on any error."""
    result.metrics["field_quality"] = quality
    result.metrics["warnings"] = list(result.warnings)
    result.metrics["errors"] = list(errors)
    if out_dir is not None:
        result.paths = write_job_outputs(result, spec, out_dir)
    if errors:
        raise RiskEngineError("linkage stopped: " + "; ".join(errors)
                              + (f" (report: {result.paths['report']})" if "report" in result.paths else ""))


def _apply(decisions: pd.DataFrame, review_id: pd.Series, candidate: pd.Series) -> pd.Series:
    if decisions.empty:
        return pd.Series("", index=review_id.index)
    d = decisions.drop_duplicates(["review_id", "candidate_id"], keep="last")
    key = pd.Series(d["decision"].to_numpy(), index=pd.MultiIndex.from_arrays([d["review_id"], d["candidate_id"]]))
    pairs = pd.MultiIndex.from_arrays([review_id.astype(str).to_numpy(), candidate.astype(str).fillna("").to_numpy()])
    return pd.Series(key.reindex(pairs).fillna("").to_numpy(), index=review_id.index)


def _decide_links(rows: pd.DataFrame, matched: Matched, decisions: pd.DataFrame, spec: LinkJobSpec):
    best = matched.best[matched.best["rank"] == 1].set_index("record_id")
    prob = pd.Series(best["match_probability"].reindex(rows["uid"].to_numpy()).to_numpy(), index=rows.index)
    cand = pd.Series(best["candidate_id"].reindex(rows["uid"].to_numpy()).to_numpy(), index=rows.index,
                     dtype="string")
    clerk = _apply(decisions, rows["uid"], cand)
    decision = pd.Series(np.select([prob >= spec.upper, prob >= spec.lower], ["linked", "review"], "unmatched"),
                         index=rows.index)
    decision[clerk.eq("match") & cand.notna()] = "linked"
    decision[clerk.eq("no match")] = "unmatched"
    links = pd.DataFrame({"source": rows["source"].to_numpy(), "row_id": rows["row_id"].to_numpy(),
                          "entity_id": cand.where(decision.eq("linked")).to_numpy(),
                          "match_probability": prob.round(6).to_numpy(), "decision": decision.to_numpy()})
    in_review = decision.eq("review")
    review = pd.DataFrame({"review_id": rows.loc[in_review, "uid"].to_numpy(),
                           "source": rows.loc[in_review, "source"].to_numpy(),
                           "row_id": rows.loc[in_review, "row_id"].to_numpy(),
                           "candidate_table": REGISTER,
                           "candidate_id": cand[in_review].to_numpy(),
                           "match_probability": prob[in_review].round(4).to_numpy()})
    return links, review


def _decide_clusters(rows: pd.DataFrame, records: pd.DataFrame, matched: Matched, decisions: pd.DataFrame,
                     spec: LinkJobSpec):
    pairs = matched.pairs.copy()
    if not decisions.empty:  # a clerk's 'match' joins a pair, 'no match' parts it
        d = decisions.drop_duplicates(["review_id", "candidate_id"], keep="last")
        key = lambda a, b: a.astype(str) + "|" + b.astype(str)  # noqa: E731
        said = pd.Series(d["decision"].to_numpy(), index=key(d["review_id"], d["candidate_id"]).to_numpy())
        k1 = key(pairs["id_l"], pairs["id_r"])
        k2 = key(pairs["id_r"], pairs["id_l"])
        verdict = pd.Series(said.reindex(k1.to_numpy()).fillna(pd.Series(said.reindex(k2.to_numpy()).to_numpy()))
                            .to_numpy(), index=pairs.index)
        pairs = pairs[~verdict.eq("no match")]
        pairs.loc[verdict.eq("match"), "match_probability"] = 1.0
        extra = d[d["decision"] == "match"]
        pairs = pd.concat([pairs, pd.DataFrame({"id_l": extra["review_id"], "id_r": extra["candidate_id"],
                                                "match_probability": 1.0})], ignore_index=True)
        pairs = pairs.drop_duplicates(["id_l", "id_r"])
    cl = cluster(records, pairs, spec.upper)
    cluster_of = cl.reindex(rows["uid"].astype(str).to_numpy())
    size = cluster_of.map(cluster_of.value_counts())
    best = matched.best[matched.best["rank"] == 1].set_index("record_id")
    prob = pd.Series(best["match_probability"].reindex(rows["uid"].to_numpy()).to_numpy(), index=rows.index).fillna(0.0)
    cand = pd.Series(best["candidate_id"].reindex(rows["uid"].to_numpy()).to_numpy(), index=rows.index,
                     dtype="string")
    same = pd.Series(cl.reindex(cand.fillna("").astype(str).to_numpy()).to_numpy(), index=rows.index) \
        .eq(cluster_of.to_numpy())
    decision = pd.Series(np.where(size.to_numpy() > 1, "linked", "unmatched"), index=rows.index)
    review_mask = (prob >= spec.lower) & (prob < spec.upper) & ~same & cand.notna()
    decided = _apply(decisions, rows["uid"], cand).ne("")
    review_mask &= ~decided
    decision[review_mask & decision.eq("unmatched")] = "review"
    links = pd.DataFrame({"source": rows["source"].to_numpy(), "row_id": rows["row_id"].to_numpy(),
                          "cluster_id": cluster_of.to_numpy(), "match_probability": prob.round(6).to_numpy(),
                          "decision": decision.to_numpy()})
    first_row = rows.drop_duplicates("uid").set_index("uid")
    review = pd.DataFrame({"review_id": rows.loc[review_mask, "uid"].to_numpy(),
                           "source": rows.loc[review_mask, "source"].to_numpy(),
                           "row_id": rows.loc[review_mask, "row_id"].to_numpy(),
                           "candidate_table": first_row["source"].reindex(cand[review_mask].to_numpy()).to_numpy(),
                           "candidate_id": cand[review_mask].to_numpy(),
                           "candidate_row_id": first_row["row_id"].reindex(cand[review_mask].to_numpy()).to_numpy(),
                           "match_probability": prob[review_mask].round(4).to_numpy()})
    review = review.drop_duplicates(["review_id", "candidate_id"])
    return links, review


def _with_values(review: pd.DataFrame, tables: dict[str, pd.DataFrame], ids: dict[str, pd.Series],
                 fields: list[Field], with_register: bool) -> pd.DataFrame:
    """The review rows with each field's clear value on both sides, as the tables wrote them, and an
    empty 'decision' column for the clerk."""
    if review.empty:
        return review.assign(decision=pd.Series(dtype="string"))
    out = review.copy()
    index = {t: pd.Series(np.arange(len(i)), index=i.to_numpy()) for t, i in ids.items()}
    cand_table = out["candidate_table"].astype(str)
    cand_row = (out["candidate_id"] if with_register else out["candidate_row_id"]).astype(str)
    for f in fields:  # by table: a lookup per table, not a loop over rows
        rec = pd.Series(pd.NA, index=out.index, dtype="string")
        can = pd.Series(pd.NA, index=out.index, dtype="string")
        for t, df in tables.items():
            col = f.columns.get(t)
            if col is None or t not in index:
                continue
            values = df[col].astype("string").to_numpy()
            for side, table_of, row_of in ((rec, out["source"].astype(str), out["row_id"].astype(str)),
                                           (can, cand_table, cand_row)):
                mine = (table_of == t).to_numpy()
                if mine.any():
                    pos = index[t].reindex(row_of[mine].to_numpy()).to_numpy()
                    ok = ~pd.isna(pos)
                    got = np.full(int(mine.sum()), pd.NA, dtype=object)
                    got[ok] = values[pos[ok].astype(np.int64)]
                    side[mine] = got
        out[f"record_{f.name}"] = rec
        out[f"candidate_{f.name}"] = can
    out["decision"] = ""
    return out.sort_values("match_probability", ascending=False).reset_index(drop=True)


def _with_model(review: pd.DataFrame, matched: Matched, fields: list[Field]) -> pd.DataFrame:
    """Each review row with how the model read each field of the pair: its comparison level in words
    (`agreement_<field>`) and, where scored, its weight (`weight_<field>`), as the training path's
    review shows them; the clerk's page prints them beside the values."""
    if review.empty or matched.agreement is None or matched.agreement.empty:
        return review
    pairs = pd.MultiIndex.from_arrays([review["review_id"].astype(str), review["candidate_id"].astype(str)])
    agree = matched.agreement.assign(record_id=matched.agreement["record_id"].astype(str),
                                     candidate_id=matched.agreement["candidate_id"].astype(str))
    agree = agree.drop_duplicates(["record_id", "candidate_id"]).set_index(["record_id", "candidate_id"]).reindex(pairs)
    best = matched.best.assign(record_id=matched.best["record_id"].astype(str),
                               candidate_id=matched.best["candidate_id"].astype(str))
    best = best.drop_duplicates(["record_id", "candidate_id"]).set_index(["record_id", "candidate_id"]).reindex(pairs)
    out = review.copy()
    for f in fields:
        if f.name in agree.columns:
            out[f"agreement_{f.name}"] = agree[f.name].fillna("").to_numpy()
        if f"mw_{f.name}" in best.columns:
            out[f"weight_{f.name}"] = best[f"mw_{f.name}"].astype("float64").round(2).to_numpy()
    decision = out.pop("decision")
    return out.assign(decision=decision)  # the clerk's column stays last


def job_accuracy(links: pd.DataFrame, truth: pd.DataFrame, with_register: bool) -> dict:
    """Precision, recall and F1: of rows linked to the register (with one), of same-entity pairs (without)."""
    missing = [c for c in ("source", "row_id", "true_id") if c not in truth.columns]
    if missing:
        raise RiskEngineError(f"truth table: missing column {', '.join(missing)}; expected source, row_id, true_id")
    t = truth.assign(source=truth["source"].astype(str), row_id=truth["row_id"].astype(str),
                     true_id=truth["true_id"].astype("string"))
    r = links.assign(row_id=links["row_id"].astype(str)).merge(t[["source", "row_id", "true_id"]],
                                                                on=["source", "row_id"], how="left")
    if with_register:
        linked = r["entity_id"].notna()
        correct = int((linked & (r["entity_id"].astype("string") == r["true_id"]).fillna(False)).sum())
        n_pred, n_true = int(linked.sum()), int(r["true_id"].notna().sum())
    else:
        def pairs(counts: pd.Series) -> int:
            return int((counts * (counts - 1) // 2).sum())

        n_pred = pairs(r.groupby("cluster_id").size())
        n_true = pairs(r.dropna(subset=["true_id"]).groupby("true_id").size())
        correct = pairs(r.dropna(subset=["true_id"]).groupby(["cluster_id", "true_id"]).size())
    precision = correct / n_pred if n_pred else None
    recall = correct / n_true if n_true else None
    f1 = (2 * precision * recall / (precision + recall)) if precision and recall else 0.0
    return {"unit": "rows" if with_register else "pairs of rows", "predicted": n_pred, "true": n_true,
            "correct": correct, "precision": None if precision is None else round(precision, 4),
            "recall": None if recall is None else round(recall, 4), "f1": round(f1, 4)}


def read_job_tables(spec: LinkJobSpec, spec_path: Path | None = None) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Read every table the spec names (paths relative to the working directory, as elsewhere)."""
    from riskengine.ingest import read_table

    tables, where = {}, {}
    specs = ({REGISTER: spec.register} if spec.register is not None else {}) | dict(spec.sources)
    for name, t in specs.items():
        try:
            src = t.source()
        except ValueError as exc:
            raise RiskEngineError(f"{spec_path}: table '{name}': {exc}") from None
        df, fp = read_table(src, [t.id, *t.fields])
        tables[name] = df.drop(columns=[c for c in ("_row", "_line") if c in df.columns])
        where[name] = fp["name"] if isinstance(fp, dict) and "name" in fp else src.describe()
    return tables, where


def read_truth(path: Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise RiskEngineError(f"{path}: truth table not found")
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str, keep_default_na=False,
                                                                              na_values=[""])
