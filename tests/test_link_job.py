"""Linkage jobs on any tables (kind = "link"): field kinds, two-file linkage, deduplication,
loud failures and the clerical review's lifecycle, on synthetic people with known truth."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from riskengine.errors import RiskEngineError
from riskengine.link import pseudonymisation_scan, run_job
from riskengine.link._fields import (Field, blocking_rules, clean_name, infer_date_formats, name_forms, parse_dates,
                                     prepare)
from riskengine.spec import LinkChecks, LinkField, LinkJobSpec, LinkTable, load_spec
from riskengine.synth._people import duplicates, two_files

FIELDS = {"given_name": "forename", "surname": "surname", "date_of_birth": "date", "address_1": "address",
          "suburb": "locality", "postcode": "postcode", "soc_sec_id": "identifier", "state": "exact"}


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    """Review ids are keyed: every job here runs with a key (tests that need none unset it)."""
    monkeypatch.setenv("RISKENGINE_PSEUDONYM_KEY", "a-test-key-0123456789abcdef")


def _prep(values, kind: str, fmt: str | None = None) -> pd.DataFrame:
    f = Field("x", kind, {"t": "x"}, {"t": fmt} if fmt else {})
    return prepare(pd.Series(values, dtype="string"), f, "t")


# ---------------------------------------------------------------------------------------------
# each field kind's parsing
# ---------------------------------------------------------------------------------------------


def test_names_are_cleaned_with_phonetic_keys_and_nicknames():
    assert clean_name("  O'Brien-Smith ") == "OBRIENSMITH" and clean_name("José  María") == "JOSE MARIA"
    assert clean_name("") is None and clean_name(None) is None
    p = _prep(["Bill", "william", None], "forename")
    assert list(p["x"].iloc[:2]) == ["BILL", "WILLIAM"] and pd.isna(p["x"].iloc[2])
    assert "WILLIAM" in name_forms("BILL") and "WILLIAM" in p["x__forms"].iloc[0]
    s = _prep(["Robert", "Rupert"], "surname")
    assert s["x__ph"].iloc[0] == s["x__ph"].iloc[1] == "R163"
    full = _prep(["Smith John", "JOHN SMITH"], "full_name")
    assert full["x__sorted"].iloc[0] == full["x__sorted"].iloc[1] == "JOHN SMITH"


def test_dates_in_any_format_are_inferred_and_reported():
    assert list(infer_date_formats(pd.Series(["19700521", "20011231", "19991103"]))) == ["%Y%m%d"]
    # month-first is recognised because a day-first reading fails on 05/21
    assert list(infer_date_formats(pd.Series(["05/21/1970", "12/31/2001", "01/02/1999"])))[0] == "%m/%d/%Y"
    mixed = pd.Series(["1970-05-21", "21/05/1970", "19700521", "not a date", None])
    formats = infer_date_formats(mixed)
    assert set(formats) == {"%Y-%m-%d", "%d/%m/%Y", "%Y%m%d"}
    parsed = parse_dates(mixed, list(formats))
    assert list(parsed.iloc[:3]) == ["1970-05-21"] * 3 and parsed.iloc[3:].isna().all()
    p = _prep(["03/04/1980", "04/03/1980"], "date", "%m/%d/%Y")  # declared wins over the day-first preference
    assert list(p["x"]) == ["1980-03-04", "1980-04-03"]
    assert p["x__key"].iloc[0] == p["x__key"].iloc[1]  # day and month swapped block together


def test_places_codes_and_numbers_of_any_country():
    pc = _prep(["2000", "90210", "sw1a 1aa", "75008-"], "postcode")
    assert list(pc["x"]) == ["2000", "90210", "SW1A1AA", "75008"]
    uk = _prep(["sw1a1aa", "2000"], "uk_postcode")
    assert uk["x"].iloc[0] == "SW1A 1AA" and pd.isna(uk["x"].iloc[1])  # UK rules only for the UK kind
    a = _prep(["12 Banksia St.", "Flat 3, 45 High Road"], "address")
    assert list(a["x__num"]) == ["45", "12"][::-1] and list(a["x__flat"].fillna("-")) == ["-", "3"]
    assert list(a["x"]) == ["12 BANKSIA STREET", "45 HIGH ROAD FLAT 3"]
    assert list(_prep(["ab-12 3", ""], "identifier")["x"].fillna("-")) == ["AB123", "-"]
    assert list(_prep(["1,5", "2.5"], "number")["x"].fillna(-1)) == [-1, 2.5]
    assert list(_prep([" New  South Wales"], "exact")["x"]) == ["NEW SOUTH WALES"]
    assert list(_prep(["St. Kilda"], "locality")["x"]) == ["ST KILDA"]
    assert list(_prep(["free text, here"], "text")["x"]) == ["FREE TEXT HERE"]


def test_blocking_rules_come_from_the_kinds_including_swapped_names():
    fields = [Field(n, k, {}) for n, k in [("fn", "forename"), ("sn", "surname"), ("dob", "date"), ("id", "identifier")]]
    sql = [r.sql for r in blocking_rules(fields)]
    assert "l.id = r.id" in sql and "l.dob__key = r.dob__key" in sql
    assert "l.fn__ph = r.sn__ph AND l.sn__ph = r.fn__ph" in sql


def test_a_field_kind_outside_the_list_is_a_spec_error(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('kind = "link"\nname = "x"\n[sources.a]\npath = "a.csv"\nid = "id"\nfields = { dob = "birthday" }\n')
    with pytest.raises(RiskEngineError, match="birthday"):
        load_spec(p)


# ---------------------------------------------------------------------------------------------
# two-file linkage and deduplication end to end
# ---------------------------------------------------------------------------------------------


def _write_two_files(tmp_path, n=800, overlap=0.8, seed=4, date_style_b="dmy", extra=""):
    a, b, truth = two_files(n, overlap=overlap, seed=seed, date_style_b=date_style_b)
    a.to_csv(tmp_path / "a.csv", index=False)
    b.to_csv(tmp_path / "b.csv", index=False)
    truth.to_csv(tmp_path / "truth.csv", index=False)
    fields = ", ".join(f'{c} = "{k}"' for c, k in FIELDS.items())
    spec = tmp_path / "people.toml"
    spec.write_text(f"""kind = "link"
name = "people"
truth = "{tmp_path / 'truth.csv'}"
{extra}
[register]
path = "{tmp_path / 'a.csv'}"
id = "rec_id"
fields = {{ {fields} }}

[sources.b]
path = "{tmp_path / 'b.csv'}"
id = "rec_id"
fields = {{ {fields} }}
""")
    return spec, a, b, truth


def test_two_files_link_through_the_cli_with_other_date_formats(tmp_path, monkeypatch):
    import riskengine.cli

    spec, a, b, _ = _write_two_files(tmp_path)
    out = tmp_path / "out"
    res = CliRunner().invoke(riskengine.cli.app, ["link", str(spec), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    links = pd.read_csv(out / "links.csv", dtype=str)
    assert list(links.columns) == ["source", "row_id", "entity_id", "match_probability", "decision"]
    assert len(links) == len(b) and set(links["decision"]) <= {"linked", "review", "unmatched"}
    report = json.loads((out / "link_report.json").read_text())
    acc = report["metrics"]["accuracy"]
    assert acc["precision"] >= 0.97 and acc["recall"] >= 0.93 and acc["f1"] >= 0.95, acc
    formats = {q["table"]: q["formats"] for q in report["metrics"]["field_quality"] if q["kind"] == "date"}
    assert list(formats["register"]) == ["%Y%m%d"] and list(formats["b"])[0] == "%d/%m/%Y"
    assert "F1" in res.output and "precision" in res.output
    # ids and probabilities only: no name of file B reaches links.csv or the report
    names = pd.concat([b["surname"], b["given_name"]]).dropna().unique()
    assert pseudonymisation_scan([out / "links.csv", out / "link_report.json", out / "link_report.html"], names) == []


def test_deduplication_clusters_records_of_one_person():
    df, truth = duplicates(600, seed=5)
    fields = {c: LinkField(k) for c, k in FIELDS.items()}
    spec = LinkJobSpec(name="dedup", sources={"people": LinkTable(id="rec_id", fields=fields)})
    result = run_job(spec, {"people": df}, truth=truth)
    links = result.links
    assert list(links.columns) == ["source", "row_id", "cluster_id", "match_probability", "decision"]
    acc = result.metrics["accuracy"]
    assert acc["precision"] >= 0.97 and acc["recall"] >= 0.93, acc
    assert result.metrics["method"] == "splink_em"
    # a person recorded three or more times ends in one cluster
    merged = links.merge(truth, on=["source", "row_id"])
    big = merged.groupby("true_id").filter(lambda g: len(g) >= 3)
    assert big.groupby("true_id")["cluster_id"].nunique().eq(1).mean() >= 0.9


# ---------------------------------------------------------------------------------------------
# loud failures
# ---------------------------------------------------------------------------------------------


def _job(a, b, fields, **kw):
    f = {c: LinkField(k) if isinstance(k, str) else k for c, k in fields.items()}
    return LinkJobSpec(name="t", register=LinkTable(id="rec_id", fields=f), sources={"b": LinkTable(id="rec_id", fields=f)},
                       **kw)


def test_a_field_that_does_not_parse_stops_the_run_and_names_the_column(tmp_path, capsys):
    a, b, _ = two_files(300, seed=6, date_style_b="ymd")
    fields = dict(FIELDS) | {"date_of_birth": LinkField("date", format="%d/%m/%Y")}  # wrong: they are YYYYMMDD
    with pytest.raises(RiskEngineError, match=r"date_of_birth \(date\): 100% of rows are NULL after parsing"):
        run_job(_job(a, b, fields), {"register": a, "b": b}, tmp_path)
    report = json.loads((tmp_path / "link_report.json").read_text())
    assert any("date_of_birth" in e for e in report["metrics"]["errors"])
    # the same with the error turned off: a warning on the console and in the report, and the run goes on
    spec = _job(a, b, fields, checks=LinkChecks(null_share_error=1.0))
    result = run_job(spec, {"register": a, "b": b}, tmp_path / "2")
    assert any("date_of_birth" in w for w in result.warnings)
    assert "warning:" in capsys.readouterr().err
    assert "date_of_birth" in (tmp_path / "2" / "link_report.html").read_text()


def test_rows_left_without_a_candidate_are_an_error_above_the_threshold():
    a, b, _ = two_files(300, seed=7)
    b = b.copy()
    b.loc[b.index[: int(0.7 * len(b))], "date_of_birth"] = None  # only the date can bring a pair together here
    fields = {"given_name": "forename", "date_of_birth": "date"}
    loose = LinkChecks(null_share_warn=1.0, null_share_error=1.0, linked_share_error=0.0)
    with pytest.raises(RiskEngineError, match=r"no candidate under any blocking rule"):
        run_job(_job(a, b, fields, checks=loose), {"register": a, "b": b})
    ok = LinkChecks(null_share_warn=1.0, null_share_error=1.0, linked_share_error=0.0, no_candidate_error=1.0)
    result = run_job(_job(a, b, fields, checks=ok), {"register": a, "b": b})
    assert any("no candidate" in w for w in result.warnings)
    assert result.metrics["by_source"]["b"]["without_candidate_share"] >= 0.6


def test_a_run_that_links_almost_nothing_is_an_error():
    a, b, _ = two_files(300, overlap=0.0, seed=8)
    with pytest.raises(RiskEngineError, match=r"only 0\.\d% of rows linked"):
        run_job(_job(a, b, FIELDS), {"register": a, "b": b})


# ---------------------------------------------------------------------------------------------
# the clerical review's lifecycle
# ---------------------------------------------------------------------------------------------


def test_review_shows_clear_values_then_is_deleted_when_decisions_are_read(tmp_path):
    a, b, truth = two_files(600, seed=9, date_style_b="dmy")
    out = tmp_path / "out"
    spec = _job(a, b, FIELDS, lower=0.05, upper=0.999)  # a wide band, so that there is something to review
    first = run_job(spec, {"register": a, "b": b}, out, truth=truth)
    review = pd.read_csv(out / "review.csv", dtype=str, keep_default_na=False)
    assert len(review) > 0 and (out / "review.html").is_file()
    row = review.iloc[0]
    src = b.set_index("rec_id").loc[row["row_id"]]
    page = (out / "review.html").read_text()
    assert str(src["soc_sec_id"] or src["address_1"]) in page  # clear values, side by side
    assert {"record_surname", "candidate_surname", "decision"} <= set(review.columns)
    # the clerk decides every row: right ones 'match', wrong ones 'no match'
    t = truth.set_index("row_id")["true_id"].astype(object).where(truth.set_index("row_id")["true_id"].notna(), "")
    review["decision"] = ["match" if t.get(r) == c else "no match" for r, c in zip(review["row_id"], review["candidate_id"])]
    clerk = out / "review.csv"
    review.to_csv(clerk, index=False)
    spec.review_decisions = clerk
    second = run_job(spec, {"register": a, "b": b}, out, truth=truth)
    assert not clerk.exists() and not (out / "review.html").exists()  # clear values gone once read
    assert second.metrics["decisions"]["review"] == 0
    assert second.metrics["accuracy"]["precision"] >= first.metrics["accuracy"]["precision"]
    kept = pd.read_csv(out / "decisions.csv", dtype=str)
    assert list(kept.columns) == ["review_id", "candidate_id", "decision"] and len(kept) == len(review)
    names = pd.concat([b["surname"], b["given_name"], b["address_1"]]).dropna().unique()
    assert pseudonymisation_scan([out / "decisions.csv", out / "links.csv"], names) == []
    # later runs apply the kept decisions without the clerk's file
    spec.review_decisions = None
    third = run_job(spec, {"register": a, "b": b}, out, truth=truth)
    pd.testing.assert_frame_equal(third.links, second.links)


def test_review_ids_are_keyed_so_a_guess_cannot_be_hashed_to_one(monkeypatch):
    a, b, _ = two_files(300, seed=9, date_style_b="dmy")
    spec = _job(a, b, FIELDS, lower=0.05, upper=0.999)
    tables = {"register": a, "b": b}
    one = run_job(spec, tables).review
    assert len(one) and one["review_id"].tolist() == run_job(spec, tables).review["review_id"].tolist()  # stable
    monkeypatch.setenv("RISKENGINE_PSEUDONYM_KEY", "another-key-0123456789abcdef")
    other = run_job(spec, tables).review
    assert set(other["review_id"]).isdisjoint(one["review_id"])  # made with the key, so they change with it
    monkeypatch.delenv("RISKENGINE_PSEUDONYM_KEY")
    with pytest.raises(RiskEngineError, match="RISKENGINE_PSEUDONYM_KEY"):
        run_job(spec, tables)


def test_cli_with_a_truth_table_and_nothing_linked_prints_n_a(tmp_path, monkeypatch):
    """`riskengine link` used to raise TypeError formatting a precision of None (link/cli.py)."""
    import riskengine.cli

    (tmp_path / "events").mkdir()
    pd.DataFrame({"entity_id": [str(100000000000 + i) for i in range(40)],
                  "address": [f"{i + 1} Acacia Avenue" for i in range(40)],
                  "postcode": [f"RB1 {i % 9 + 1}AA" for i in range(40)]}).to_csv(tmp_path / "entities.csv", index=False)
    pd.DataFrame({"date": "2024-01-01", "type": "noise", "address": [f"{i + 500} Nowhere Lane" for i in range(10)]}
                 ).to_csv(tmp_path / "events" / "complaints.csv", index=False)
    pd.DataFrame({"source": "complaints", "line": range(1, 11), "true_entity_id": ""}).to_csv(tmp_path / "truth.csv",
                                                                                              index=False)
    (tmp_path / "data.toml").write_text(f"""kind = "data"
name = "nothing"
[purpose]
problem = "p"
insight = "i"
datasets = "d"
action = "a"
[data]
entities = "{tmp_path / 'entities.csv'}"
[data.events]
complaints = "{tmp_path / 'events' / 'complaints.csv'}"
[link.checks]
linked_share_error = 0  # nothing links, on purpose: a warning, not an error
""")
    monkeypatch.setenv("RISKENGINE_PSEUDONYM_KEY", "a-test-key-0123456789abcdef")
    res = CliRunner().invoke(riskengine.cli.app, ["link", str(tmp_path / "data.toml"), "--out", str(tmp_path / "out"),
                                                  "--truth", str(tmp_path / "truth.csv"), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "precision n/a  recall n/a" in res.output and "unmatched 10" in res.output


def test_splink_em_can_be_chosen_with_a_register():
    a, b, truth = two_files(400, seed=10)
    result = run_job(_job(a, b, FIELDS, model="splink_em"), {"register": a, "b": b}, truth=truth)
    assert result.metrics["method"] == "splink_em"
    assert result.metrics["accuracy"]["f1"] >= 0.9, result.metrics["accuracy"]


def test_deduplication_scores_each_pair_as_splinks_predict_does_without_its_table():
    """The dedup path reads levels in slices and scores pairs in numpy: the probability of every
    pair it keeps equals splink's predict on the same trained model, and no pair above the floor is lost."""
    import duckdb
    from splink import Linker
    from splink.backends.duckdb import DuckDBAPI

    from riskengine.link._fields import blocking_rules
    from riskengine.link._job import build_fields, prepare_table
    from riskengine.link._match import _level_table, _splink_em, splink_settings
    from riskengine.link._pairs import comparison_vectors, pairwise, weight_at_least

    df, _ = duplicates(400, seed=7)
    fl = build_fields({"people": LinkTable(id="rec_id", fields={c: LinkField(k) for c, k in FIELDS.items()})})
    prepared = prepare_table("people", df, fl).assign(uid=np.arange(len(df), dtype=np.int64))
    rules = blocking_rules(fl)
    db = DuckDBAPI(duckdb.connect())
    linker = Linker([db.register(prepared, table_name="people")],
                    splink_settings(fl, [r.sql for r in rules], dedupe=True, n_entities=len(df), keep_columns=True),
                    log_level=None)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e5, seed=0)
    _splink_em(linker, rules, len(df), True, patterns=True, fields=fl)
    theirs = linker.inference.predict().as_pandas_dataframe()[["uid_l", "uid_r", "match_probability"]]
    levels = _level_table(linker)
    pi = float(linker._settings_obj._probability_two_random_records_match)
    seen = np.zeros(len(df), dtype=bool)
    pairs = comparison_vectors(linker, None, chunks=3, tf_by_comparison=False,
                               keep=weight_at_least(levels, pi, 1e-3, seen))
    left, right, prob, best = pairwise(pairs, levels, pi, floor=1e-3)
    assert pairs.compared == len(theirs) and len(pairs) < len(theirs)  # every pair compared, few kept
    assert seen.sum() == len(np.union1d(theirs["uid_l"], theirs["uid_r"]))
    ours = pd.DataFrame({"uid_l": left, "uid_r": right, "ours": prob})
    both = theirs[theirs["match_probability"] >= 1e-3].merge(ours, on=["uid_l", "uid_r"], how="outer")
    assert both["ours"].notna().all() and both["match_probability"].notna().all()
    assert np.allclose(both["ours"], both["match_probability"], atol=1e-5)
    # each record's best candidate, either way round, is its most likely pair
    top = best[best["rank"] == 1].set_index("record_id")["match_probability"]
    either = pd.concat([ours.rename(columns={"uid_l": "r"})[["r", "ours"]], ours.rename(columns={"uid_r": "r"})[["r", "ours"]]])
    assert np.allclose(top.sort_index(), either.groupby("r")["ours"].max().sort_index())


def test_swapped_names_count_once_in_deduplication():
    """A swap is seen by both name comparisons; counted twice it outweighed a different date of birth."""
    from riskengine.link._fields import Field
    from riskengine.link._match import SWAPPED, _swap_counted_once

    levels = pd.DataFrame({"comparison": ["first", "first", "last", "last"], "level": ["same forename", SWAPPED] * 2,
                           "cvv": [2, 1, 2, 1], "m": [0.8, 0.05, 0.8, 0.05], "u": [0.02, 1e-5, 0.01, 1e-5]})
    fields = [Field("first", "forename", {}), Field("last", "surname", {})]
    out = _swap_counted_once(levels, fields)
    weight = (out["m"] / out["u"]).map(lambda x: round(float(np.log2(x)), 6))
    assert weight.tolist()[1] == 0.0 and weight.tolist()[3] > 12  # once, on the surname
    assert out.loc[[0, 2, 3], "m"].tolist() == [0.8, 0.8, 0.05]
    assert _swap_counted_once(levels, fields[:1])["m"].tolist() == levels["m"].tolist()  # no surname, no swap level to share


# ---------------------------------------------------------------------------------------------
# blocking at scale: a rule over the pair limit is narrowed, not dropped
# ---------------------------------------------------------------------------------------------


def _crowded(n: int = 2000, renamed: int = 30, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """People born on 40 dates (the date alone pairs ~110,000 of 4,000,000 pairs); in the second file
    the first `renamed` rows have other names, so only the date alone brings them to their match."""
    rng = np.random.default_rng(seed)
    syllables = ["ka", "to", "mi", "ra", "ne", "su", "lo", "pe", "di", "go", "ha", "ji", "bu", "fe", "zo", "wa"]
    name = lambda: "".join(rng.choice(syllables, 3)).capitalize()
    dates = pd.date_range("1970-01-01", periods=40, freq="17D").strftime("%Y-%m-%d")
    a = pd.DataFrame({"rec_id": [f"a{i}" for i in range(n)], "given_name": [name() for _ in range(n)],
                      "surname": [name() + "son" for _ in range(n)], "date_of_birth": rng.choice(dates, n),
                      "region": rng.choice([f"R{i}" for i in range(10)], n)})
    b = a.assign(rec_id=[f"b{i}" for i in range(n)])
    b.loc[b.index[:renamed], "given_name"] = "Xavierqz"
    b.loc[b.index[:renamed], "surname"] = [f"Quuxley{i}" for i in range(renamed)]
    return a, b


def test_a_blocking_rule_over_the_pair_limit_is_narrowed_so_its_rows_still_get_candidates(tmp_path):
    a, b = _crowded()
    loose = LinkChecks(linked_share_error=0.0, no_candidate_error=1.0)
    fields = {"given_name": "forename", "surname": "surname", "date_of_birth": "date", "region": "exact"}
    result = run_job(_job(a, b, fields, checks=loose, max_pairs_per_rule=60_000), {"register": a, "b": b}, tmp_path)
    assert "narrowed from 109,534 pairs" in (tmp_path / "link_report.html").read_text()
    rule = next(x for x in result.matched.blocking if x["sql"].startswith("l.date_of_birth__key"))
    assert rule["used"] and rule["pairs_before"] > 60_000 >= rule["pairs"] and "narrowed by region" in rule["rule"]
    assert "AND l.region = r.region" in rule["sql"]
    assert any("narrowed by region" in n for n in result.matched.notes)
    # the renamed rows, which only the date alone pairs, still get candidates
    assert result.metrics["by_source"]["b"]["without_candidate_share"] == 0.0
    assert len(result.matched.no_candidate) == 0
    # with no other field's key to narrow it by, the rule is dropped and said so: those rows lose their candidates
    fields.pop("region")
    result = run_job(_job(a, b, fields, checks=loose, max_pairs_per_rule=60_000), {"register": a, "b": b})
    assert any("dropped" in n and "date_of_birth" in n for n in result.matched.notes)
    assert result.metrics["by_source"]["b"]["without_candidate_share"] == pytest.approx(30 / 2000)


def test_swapped_names_count_once_when_linking_to_a_register():
    """Linking (one-to-one EM) as deduplicating: the surname's swapped level weighs, the forename's is m = u."""
    from riskengine.link._match import SWAPPED

    a, b, _ = two_files(400, seed=3)
    result = run_job(_job(a, b, FIELDS), {"register": a, "b": b})
    levels = result.matched.model.levels.set_index(["comparison", "level"])
    fore, sur = levels.loc[("given_name", SWAPPED)], levels.loc[("surname", SWAPPED)]
    assert fore["m"] == pytest.approx(fore["u"]) and fore["match_weight"] == pytest.approx(0.0, abs=1e-9)
    assert sur["m"] > sur["u"]
