"""Person matching: rows without a key found among the people of the register by name and date of birth.

For `LinkSpec.match_on = "person"` (entities are people: entity_id, first name, surname,
date of birth, postcode). The raw names are needed to match (a keyed hash of "Jon" says
nothing about "John"), so the order differs from the address path: match on normalised
values in memory, then pseudonymise every person identifier before anything is assembled,
written or returned. Outputs carry tokens only; normalised names never leave this module.

The model is the address path's: splink (DuckDB) blocks, compares, samples u and adjusts
surname agreement by its frequency in the register; m and the match rate are estimated by
the one-to-one EM of `_probabilistic` (a row names at most one person), which also gives the
rival-aware probability that the two thresholds act on, so `upper` and `lower` mean the same
on both paths. Splink's own pairwise EM does not misbehave on people as it does on
addresses (on the tests' 2,000 people and 2,731 unkeyed rows, best candidate at 0.95:
precision 1.0, recall 0.977; the one-to-one EM: precision 0.9996, recall 0.995), but its
probability ignores rival candidates (twins, relatives at one address), so it is not used.
"""

from __future__ import annotations

import hmac
import hashlib
import logging
import re
import time
import unicodedata
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from riskengine.errors import RiskEngineError
from riskengine.link._normalise import normalise_postcodes
from riskengine.link._probabilistic import (
    START_M as ADDRESS_START_M,
    MatchModel,
    _level_table,
    _pairs_table,
    _score,
    _set_m,
    _tf_table,
    one_to_one_em,
)
from riskengine.link._pseudonymise import PseudonymKey, pseudonymise
from riskengine.spec import LinkSpec

FIELDS = ["first_name", "surname", "dob", "postcode"]  # what a person is matched on
COMPARISONS = ["first_name", "surname", "dob", "postcode"]
BLOCKING = [
    "l.dob = r.dob",
    "l.surname_soundex = r.surname_soundex AND l.postcode = r.postcode",
    "l.surname_soundex = r.surname_soundex AND l.dob_year = r.dob_year",
    "l.surname_initial = r.surname_initial AND l.first_initial = r.first_initial AND l.postcode = r.postcode",
    "l.dob_year = r.dob_year AND l.dob_day = r.dob_month AND l.dob_month = r.dob_day",
]
BLOCKING_WORDS = [
    "same date of birth",
    "surname sounds alike (Soundex) and same postcode",
    "surname sounds alike (Soundex) and same birth year",
    "same initials and same postcode",
    "same birth year with day and month swapped",
]
START_M = {
    "first_name": [0.82, 0.05, 0.06, 0.03, 0.02, 0.02],
    "surname": [0.88, 0.06, 0.03, 0.03],
    "dob": [0.9, 0.03, 0.05, 0.02],
    "postcode": ADDRESS_START_M["postcode"],
}
# Common English nicknames and short forms, each to one canonical first name.
NICKNAMES = {
    "WILLIAM": ["BILL", "BILLY", "WILL", "WILLIE", "LIAM"], "ROBERT": ["BOB", "BOBBY", "ROB", "ROBBIE", "BERT"],
    "RICHARD": ["RICK", "RICKY", "DICK", "RICH", "RICHIE"], "JAMES": ["JIM", "JIMMY", "JAMIE"],
    "JOHN": ["JACK", "JOHNNY", "JON"], "MICHAEL": ["MIKE", "MICK", "MICKY", "MIKEY"],
    "THOMAS": ["TOM", "TOMMY"], "CHARLES": ["CHARLIE", "CHAS", "CHUCK"], "EDWARD": ["ED", "EDDIE", "TED", "TEDDY", "NED"],
    "ANTHONY": ["TONY"], "CHRISTOPHER": ["CHRIS", "KIT"], "DANIEL": ["DAN", "DANNY"], "DAVID": ["DAVE", "DAVY"],
    "JOSEPH": ["JOE", "JOEY"], "MATTHEW": ["MATT"], "NICHOLAS": ["NICK", "NICKY"], "PETER": ["PETE"],
    "STEPHEN": ["STEVE", "STEVIE", "STEVEN"], "SAMUEL": ["SAM", "SAMMY"], "BENJAMIN": ["BEN", "BENNY"],
    "ALEXANDER": ["ALEX", "SANDY"], "ANDREW": ["ANDY", "DREW"], "GEOFFREY": ["GEOFF"], "PATRICK": ["PAT", "PADDY"],
    "TIMOTHY": ["TIM"], "KENNETH": ["KEN", "KENNY"], "DOUGLAS": ["DOUG"], "GERALD": ["GERRY"], "LAWRENCE": ["LARRY"],
    "ELIZABETH": ["LIZ", "LIZZIE", "BETH", "BETTY", "ELIZA", "LISA", "BESS"], "MARGARET": ["MAGGIE", "MEG", "PEGGY", "MAGS"],
    "KATHERINE": ["KATE", "KATIE", "KATHY", "KAT", "CATHERINE", "KATHRYN"], "SUSAN": ["SUE", "SUSIE"],
    "JENNIFER": ["JEN", "JENNY"], "REBECCA": ["BECKY", "BECCA"], "VICTORIA": ["VICKY", "TORI"],
    "ALEXANDRA": ["ALEX", "SANDRA"], "DEBORAH": ["DEBBIE", "DEB"], "PATRICIA": ["PAT", "PATTY", "TRISH"],
    "JACQUELINE": ["JACKIE"], "SAMANTHA": ["SAM", "SAMMY"], "CHRISTINE": ["CHRIS", "CHRISSIE"],
    "ABIGAIL": ["ABBY", "ABBIE"], "ELEANOR": ["ELLIE", "NELL"], "JESSICA": ["JESS", "JESSIE"],
}
_CANONICAL = {nick: full for full, nicks in NICKNAMES.items() for nick in nicks}
_DATE_ISO = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})")
_DATE_UK = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s*$")
_SOUNDEX = {c: d for d, letters in {"1": "BFPV", "2": "CGJKQSXZ", "3": "DT", "4": "L", "5": "MN", "6": "R"}.items()
            for c in letters}


def _name(text: object) -> str | None:
    """Upper case letters and single spaces, accents and punctuation gone; apostrophes and hyphens
    join ("O'Brien-Smith" -> "OBRIENSMITH"), so a double-barrelled surname stays one word."""
    if text is None or (not isinstance(text, str) and pd.isna(text)):
        return None
    plain = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode().upper()
    plain = re.sub(r"['`-]", "", plain)
    plain = re.sub(r"[^A-Z]+", " ", plain).strip()
    return plain or None


def soundex(name: str | None) -> str | None:
    """American Soundex of a name ('ROBERT' and 'RUPERT' -> 'R163'): the blocking key for surnames."""
    letters = [c for c in (name or "") if c.isalpha()]
    if not letters:
        return None
    out, last = letters[0], _SOUNDEX.get(letters[0], "")
    for c in letters[1:]:
        code = _SOUNDEX.get(c, "")
        if code and code != last:
            out += code
        if c not in "HW":
            last = code
    return (out + "000")[:4]


def parse_dob(value: object) -> str | None:
    """A date of birth as 'YYYY-MM-DD' from ISO text, UK day-first text or a date; None if unreadable."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if hasattr(value, "year") and hasattr(value, "month") and hasattr(value, "day"):
        y, m, d = value.year, value.month, value.day
    else:
        text = str(value)
        found = _DATE_ISO.match(text)
        if found:
            y, m, d = (int(g) for g in found.groups())
        elif found := _DATE_UK.match(text):
            d, m, y = (int(g) for g in found.groups())
        else:
            return None
    try:
        return pd.Timestamp(year=int(y), month=int(m), day=int(d)).strftime("%Y-%m-%d")
    except ValueError:
        return None


def _per_distinct(values: pd.Series, fn) -> pd.Series:
    codes, distinct = pd.factorize(values.astype("object"))
    mapped = np.array([fn(v) for v in distinct] + [None], dtype=object)
    return pd.Series(mapped[codes], index=values.index, dtype="string")


def name_parts(frame: pd.DataFrame, spec: LinkSpec) -> pd.DataFrame:
    """first_name (first word, nickname to its canonical form in `first_canonical`) and surname."""
    cols = spec.person_name_columns
    if len(cols) == 1:  # one full name: the last word is the surname
        full = _per_distinct(frame[cols[0]], _name)
        words = full.str.split(" ")
        first, surname = words.str[0].where(words.str.len() > 1), words.str[-1]
    else:
        first = _per_distinct(frame[cols[0]], _name).str.split(" ").str[0]
        surname = _per_distinct(frame[cols[-1]], _name)
    out = pd.DataFrame({"first_name": first.astype("string"), "surname": surname.astype("string")}, index=frame.index)
    out["first_canonical"] = out["first_name"].map(lambda v: _CANONICAL.get(v, v), na_action="ignore").astype("string")
    return out


def person_parts(frame: pd.DataFrame, spec: LinkSpec) -> pd.DataFrame:
    """The normalised fields a person is matched on, plus the blocking keys derived from them."""
    out = name_parts(frame, spec)
    out["dob"] = _per_distinct(frame[spec.dob_column], parse_dob) if spec.dob_column in frame.columns \
        else pd.Series(pd.NA, index=frame.index, dtype="string")
    out["postcode"] = normalise_postcodes(frame["postcode"]) if "postcode" in frame.columns \
        else pd.Series(pd.NA, index=frame.index, dtype="string")
    out["dob_year"] = out["dob"].str.slice(0, 4)
    out["dob_month"] = out["dob"].str.slice(5, 7)
    out["dob_day"] = out["dob"].str.slice(8, 10)
    out["surname_soundex"] = _per_distinct(out["surname"], soundex)
    out["surname_initial"] = out["surname"].str.slice(0, 1)
    out["first_initial"] = out["first_name"].str.slice(0, 1)
    return out


def check_people(entities: pd.DataFrame, sources: dict[str, pd.DataFrame], spec: LinkSpec) -> None:
    """Stop early, naming the column, when the register or a source cannot be matched on people."""
    needed = [*spec.person_name_columns, spec.dob_column]
    if not spec.person_name_columns:
        raise RiskEngineError("link.person_name_columns: expected one full-name column or [first name, surname]")
    missing = [c for c in ["entity_id", *needed] if c not in entities.columns]
    if missing:
        raise RiskEngineError(f"entities: missing column {', '.join(repr(m) for m in missing)} for link.match_on = "
                              f"'person'; found {list(entities.columns)}")
    for name, df in sources.items():
        if "line" not in df.columns:
            raise RiskEngineError(f"source '{name}': missing column 'line'; found {list(df.columns)}")
        has_names = all(c in df.columns for c in spec.person_name_columns)
        if "entity_id" not in df.columns and not has_names:
            raise RiskEngineError(f"source '{name}': missing column 'entity_id' or {spec.person_name_columns} "
                                  f"(link.person_name_columns); found {list(df.columns)}")


def _keyed_id(parts: pd.DataFrame, key: PseudonymKey) -> pd.Series:
    """A stable review id per normalised person, keyed (an unkeyed hash of name and dob could be guessed)."""
    cols = parts[FIELDS].astype("string").fillna("")
    joined = cols[FIELDS[0]].str.cat([cols[c] for c in FIELDS[1:]], sep="|")
    distinct = pd.unique(joined.to_numpy())
    ids = pd.Series([hmac.new(key.secret, ("person|" + s).encode(), hashlib.sha256).hexdigest()[:16] for s in distinct],
                    index=distinct)
    return pd.Series(ids.reindex(joined.to_numpy()).to_numpy(), index=parts.index, dtype="string")


def _comparisons():
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    def jw(col: str, at: float) -> str:
        return f"jaro_winkler_similarity({col}_l, {col}_r) >= {at}"

    first = cl.CustomComparison(
        output_column_name="first_name",
        comparison_description="first name",
        comparison_levels=[
            cll.NullLevel("first_name"),
            cll.ExactMatchLevel("first_name").configure(label_for_charts="same first name"),
            cll.ExactMatchLevel("first_canonical").configure(label_for_charts="same name, one a nickname"),
            cll.CustomLevel(jw("first_name", 0.92)).configure(label_for_charts="first name Jaro-Winkler >= 0.92"),
            cll.CustomLevel(jw("first_name", 0.8)).configure(label_for_charts="first name Jaro-Winkler >= 0.8"),
            cll.CustomLevel("first_initial_l = first_initial_r").configure(label_for_charts="same first initial"),
            cll.ElseLevel().configure(label_for_charts="different first names"),
        ],
    ).configure(m_probabilities=START_M["first_name"])
    surname = cl.CustomComparison(
        output_column_name="surname",
        comparison_description="surname",
        comparison_levels=[
            cll.NullLevel("surname"),
            cll.ExactMatchLevel("surname").configure(tf_adjustment_column="surname", label_for_charts="same surname"),
            cll.CustomLevel(jw("surname", 0.92)).configure(label_for_charts="surname Jaro-Winkler >= 0.92"),
            cll.CustomLevel(jw("surname", 0.8)).configure(label_for_charts="surname Jaro-Winkler >= 0.8"),
            cll.ElseLevel().configure(label_for_charts="different surnames"),
        ],
    ).configure(m_probabilities=START_M["surname"])
    two_of_three = ("((dob_year_l = dob_year_r)::int + (dob_month_l = dob_month_r)::int "
                    "+ (dob_day_l = dob_day_r)::int) = 2")
    dob = cl.CustomComparison(
        output_column_name="dob",
        comparison_description="date of birth",
        comparison_levels=[
            cll.NullLevel("dob"),
            cll.ExactMatchLevel("dob").configure(label_for_charts="same date of birth"),
            cll.CustomLevel("dob_year_l = dob_year_r AND dob_day_l = dob_month_r AND dob_month_l = dob_day_r").configure(
                label_for_charts="day and month swapped"),
            cll.CustomLevel(two_of_three).configure(label_for_charts="one of day, month, year differs"),
            cll.ElseLevel().configure(label_for_charts="different dates of birth"),
        ],
    ).configure(m_probabilities=START_M["dob"])
    return [first, surname, dob, cl.PostcodeComparison("postcode").configure(m_probabilities=START_M["postcode"])]


def match_people(register: pd.DataFrame, records: pd.DataFrame, *, seed: int = 0, max_u_pairs: float = 1e6,
                 max_iterations: int = 50) -> tuple[pd.DataFrame, MatchModel, pd.DataFrame]:
    """Score `records` (record_id + person parts) against `register` (entity_id + person parts).

    Returns the best two candidates per record (as `_probabilistic._score`), the model, and
    the agreement of every scored pair's fields in words (record_id, entity_id, agreement_*).
    """
    from splink import Linker, SettingsCreator
    from splink.backends.duckdb import DuckDBAPI

    logging.getLogger("splink").setLevel(logging.ERROR)
    cols = [c for c in register.columns if c != "entity_id"]
    left = register.rename(columns={"entity_id": "uid"})[["uid", *cols]].astype("string")
    right = records.rename(columns={"record_id": "uid"})[["uid", *cols]].astype("string")
    n_entities = max(len(left), 2)
    con = duckdb.connect()
    db = DuckDBAPI(con)
    settings = SettingsCreator(
        link_type="link_only",
        unique_id_column_name="uid",
        probability_two_random_records_match=1.0 / n_entities,
        comparisons=_comparisons(),
        blocking_rules_to_generate_predictions=BLOCKING,
        retain_intermediate_calculation_columns=True,
        retain_matching_columns=True,
    )
    linker = Linker([db.register(left, table_name="a_entities"), db.register(right, table_name="b_records")],
                    settings, log_level=None)
    tf = db.register(_tf_table(left["surname"], "surname"), table_name="tf_lookup_surname")
    linker.table_management.register_term_frequency_lookup(tf, "surname")
    linker.training.estimate_u_using_random_sampling(max_pairs=min(max_u_pairs, max(1e5, 100.0 * n_entities)),
                                                     seed=seed, num_chunks=1)
    pairs = linker.inference.predict(warning_mode="never")
    n_pairs = _pairs_table(con, pairs.physical_name, COMPARISONS)
    gammas = con.execute(f"SELECT record_id, entity_id, {', '.join(f'gamma_{c}' for c in COMPARISONS)} FROM pairs").df()
    levels = _level_table(linker)
    levels, pi, iterations = one_to_one_em(con, levels, n_entities, len(right), max_iterations)
    _set_m(linker, levels)
    scored = _score(con, levels, pi, n_entities)
    model = MatchModel(levels=levels.drop(columns=["cvv"]), match_rate=pi, em_iterations=iterations,
                       settings=linker.misc.save_model_to_json(), n_pairs=n_pairs, n_records=len(right),
                       n_entities=n_entities, blocking_rules=list(BLOCKING_WORDS))
    for c in COMPARISONS:
        mine = levels[levels["comparison"] == c]
        words = dict(zip(mine["cvv"].astype(int), mine["level"]))
        gammas[f"agreement_{c}"] = gammas.pop(f"gamma_{c}").map(lambda v: words.get(int(v), "missing on one side"))
    con.close()
    return scored, model, gammas


def link_people(entities: pd.DataFrame, sources: dict[str, pd.DataFrame], spec: LinkSpec, out_dir: Path | None,
                progress: bool, *, truth: pd.DataFrame | None, allow_ephemeral_key: bool, seed: int):
    """link() for people: keys first, then name and date of birth; pseudonymise; assemble as the address path does."""
    from riskengine.link._exact import attach_keys
    from riskengine.link._link import (LinkResult, _apply_decisions, _assemble, _empty_review, _proposals,
                                       _read_decisions, _say, _unique_register, decide)
    from riskengine.link._metrics import link_metrics
    from riskengine.link._pseudonymise import load_key
    from riskengine.link._quality import quality_report
    from riskengine.link._survivorship import golden_records

    started = time.perf_counter()
    check_people(entities, sources, spec)
    key = load_key(spec, allow_ephemeral_key)
    decisions = _read_decisions(spec.review_decisions)
    identifiers = list(dict.fromkeys([*spec.person_columns, *spec.person_name_columns, spec.dob_column]))

    raw_register = _unique_register(entities)
    frames = {name: df.reset_index(drop=True) for name, df in sources.items()}
    _say(progress, "attaching rows with a usable key")
    states, resolved = attach_keys(frames, raw_register["entity_id"])

    _say(progress, "normalising names and dates of birth")
    todo = []
    for name, df in frames.items():
        need = resolved[name].isna()
        if not need.any() or not all(c in df.columns for c in spec.person_name_columns):
            continue
        sub = df[need]
        todo.append(person_parts(sub, spec).assign(source=name, row=sub.index.to_numpy()))
    records = pd.concat(todo, ignore_index=True) if todo else pd.DataFrame(columns=[*FIELDS, "source", "row"])
    usable = records["surname"].notna() & (records["dob"].notna() | records["first_name"].notna()) if len(records) \
        else pd.Series(dtype=bool)
    records = records[usable].reset_index(drop=True)
    records["review_id"] = _keyed_id(records, key) if len(records) else pd.Series(dtype="string")
    distinct = records.drop_duplicates("review_id").drop(columns=["source", "row"]).reset_index(drop=True)
    distinct = distinct.rename(columns={"review_id": "record_id"})

    model = None
    best = pd.DataFrame(columns=["record_id", "entity_id", "match_probability", "match_weight"])
    candidates = gammas = None
    if len(distinct):
        _say(progress, f"matching {len(distinct):,} distinct people ({len(records):,} rows) with splink")
        register = pd.concat([raw_register[["entity_id"]], person_parts(raw_register, spec)], axis=1)
        candidates, model, gammas = match_people(register, distinct, seed=seed)
        best = candidates[candidates["rank"] == 1]
        model.best_probabilities = best["match_probability"].tolist()

    band = best.set_index("record_id")
    prob = pd.Series(band["match_probability"].reindex(records["review_id"].to_numpy()).to_numpy(), index=records.index)
    cand = pd.Series(band["entity_id"].reindex(records["review_id"].to_numpy()).to_numpy(), index=records.index,
                     dtype="string")
    decision = _apply_decisions(records["review_id"], cand, decisions)
    prov, linked_id = decide(prob, cand, decision, spec)

    _say(progress, "pseudonymising person identifiers")
    register = pseudonymise(raw_register, identifiers, key)
    frames = {name: pseudonymise(df, identifiers, key) for name, df in frames.items()}
    raw_entities = pseudonymise(entities, identifiers, key)

    out_sources = {name: _assemble(df, name, resolved[name], records, prov, prob, linked_id) for name, df in frames.items()}
    review = _review_table(candidates, gammas, records, prov, frames, register, spec) \
        if candidates is not None else _empty_review()
    golden, rules = golden_records(register, out_sources, spec)
    quality = quality_report(register, out_sources, states, raw_entities=raw_entities)
    proposals = _proposals(records, prov, cand, out_sources)
    metrics = link_metrics(out_sources, truth, records, prov, model, proposals)
    metrics["match_on"] = "person"
    metrics["seconds"] = round(time.perf_counter() - started, 1)
    metrics["pseudonymisation_key"] = key.origin
    metrics["pseudonymised_columns"] = sorted({c for df in sources.values() for c in identifiers if c in df.columns}
                                              | {c for c in identifiers if c in entities.columns})
    result = LinkResult(out_sources, review, golden, rules, metrics, quality, model, key.origin)
    if out_dir is not None:
        from riskengine.link._report import write_outputs

        result.paths = write_outputs(result, Path(out_dir), spec)
    return result


def _review_table(candidates: pd.DataFrame, gammas: pd.DataFrame, records: pd.DataFrame,
                  prov: pd.Series, frames: dict[str, pd.DataFrame], register: pd.DataFrame,
                  spec: LinkSpec) -> pd.DataFrame:
    """One line per person in the review band: the row's tokens beside the candidate's, with the
    match weight and the agreement level of each field, so a clerk judges without raw names."""
    from riskengine.link._link import _empty_review, _review_head

    in_band = records[prov.eq("reviewed")]
    if in_band.empty:
        return _empty_review()
    out, best = _review_head(in_band, candidates)
    first = in_band.drop_duplicates("review_id").set_index("review_id")
    shown = [*spec.person_name_columns, spec.dob_column, "postcode"]  # postcode stays raw, as on the address path
    for c in shown:  # the first row's (pseudonymised) values, as they appear in its linked source
        vals = [frames[s].at[r, c] if c in frames[s].columns else pd.NA
                for s, r in zip(first.loc[best.index, "source"], first.loc[best.index, "row"])]
        out[f"record_{c}"] = pd.array(vals, dtype="string")
    out["entity_id"] = best["entity_id"]
    ent = register.set_index("entity_id").reindex(best["entity_id"].to_numpy())
    for c in shown:
        out[f"entity_{c}"] = ent[c].to_numpy() if c in ent.columns else pd.NA
    g = gammas.set_index(["record_id", "entity_id"]).reindex(pd.MultiIndex.from_arrays([best.index, best["entity_id"]]))
    for c in COMPARISONS:
        out[f"agreement_{c}"] = g[f"agreement_{c}"].fillna("").to_numpy()
        if f"mw_{c}" in best.columns:
            out[f"weight_{c}"] = best[f"mw_{c}"].round(2)
    out["decision"] = ""
    return out.reset_index().sort_values(["rows", "match_probability"], ascending=[False, False]).reset_index(drop=True)
