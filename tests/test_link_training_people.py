"""A register of people as the entities of a training spec: events that carry names, dates of birth
and addresses but no entity id are linked through `[link] fields`, then trained on and scored.

The people come from the project's own generator (riskengine/synth/_people.py): file A is the
register, file B messy recordings of 80% of A's people (typos, nicknames, swapped names, other
date formats, moves) and of people A lacks; each B row becomes a few benefit claims without an
entity id. A second source carries the register's ids (the mix a council has). Outcomes depend on
the claims a person made, so the model can only find the risky people through the linked events.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from riskengine.cli import app
from riskengine.errors import RiskEngineError
from riskengine.synth._people import two_files

FIELDS = ('{ given_name = "forename", surname = "surname", date_of_birth = "date", address_1 = "address", '
          'suburb = "locality", postcode = "postcode" }')

TRAINING = """name = "people"
[purpose]
problem = "Residents who fall into crisis are found late."
insight = "If we could see who looks like past crises, support could reach them first."
datasets = "Using benefit claims, visits and past assessments."
action = "We would give the support team a weekly list of the residents most likely to need help."
entity = "resident"
entities = "residents"
[data]
entities = "{d}/register.csv"
outcomes = "{d}/assessments.csv"
[data.events]
claims = "{d}/claims.csv"
visits = "{d}/visits.csv"
[link]
fields = {fields}
truth = "{d}/truth.csv"
[features]
windows = [365]
[labels]
first_as_of = 2022-01-01
every_months = 6
window_days = 182
[splits]
n_splits = 2
[[models]]
name = "lgbm"
type = "lightgbm"
params = {{ n_estimators = 40, num_leaves = 7 }}
[baselines]
random = true
[metric]
k = 30
"""


def make_people(d, n: int = 1500, seed: int = 3) -> pd.DataFrame:
    """Write the register, the claims (no entity id), the visits (with one), the assessments and the
    link truth; return the claims' truth (line -> true entity id)."""
    rng = np.random.default_rng(seed)
    a, b, t = two_files(n, overlap=0.8, seed=seed, date_style_b="dmy")
    register = a.drop(columns=["state", "soc_sec_id"]).rename(columns={"rec_id": "entity_id"})
    register.to_csv(d / "register.csv", index=False)
    true_id = t.set_index("row_id")["true_id"]
    start = pd.Timestamp("2019-06-01")
    claims, truth = [], []
    for _, row in b.iterrows():
        for _ in range(int(rng.integers(1, 4))):
            day = start + pd.Timedelta(days=int(rng.integers(0, 4 * 365)))
            claims.append({"date": day.date().isoformat(), "type": "claim", **{  # no entity_id column at all
                c: row[c] for c in ("given_name", "surname", "date_of_birth", "address_1", "suburb", "postcode")}})
            truth.append(true_id[row["rec_id"]])
    claims = pd.DataFrame(claims).assign(truth=truth)
    claims = claims.drop_duplicates(subset=[c for c in claims.columns if c != "truth"]).reset_index(drop=True)
    claims.drop(columns="truth").to_csv(d / "claims.csv", index=False)
    lines = pd.DataFrame({"source": "claims", "line": np.arange(1, len(claims) + 1),
                          "true_entity_id": pd.array(claims["truth"].to_numpy(), dtype="string")})
    # visits carry the register's id: the mix of keyed and unkeyed sources a council has
    ids = register["entity_id"].to_numpy()
    visits = pd.DataFrame({"entity_id": rng.choice(ids, 2 * n), "type": "visit",
                           "date": [(start + pd.Timedelta(days=int(x))).date().isoformat()
                                    for x in rng.integers(0, 4 * 365, 2 * n)]}).drop_duplicates()
    visits.to_csv(d / "visits.csv", index=False)
    pd.concat([lines, pd.DataFrame({"source": "visits", "line": np.arange(1, len(visits) + 1),
                                    "true_entity_id": visits["entity_id"].to_numpy()})]).to_csv(d / "truth.csv",
                                                                                               index=False)
    # assessments: a crisis is likelier after benefit claims in the year before (found only through linkage)
    when = pd.to_datetime(claims["date"]).groupby(claims["truth"]).agg(list)
    out = []
    for pid in ids:
        dates = np.array(when.get(pid, []), dtype="datetime64[ns]")
        for day in rng.integers(0, 5 * 365, int(rng.integers(1, 3))):
            at = start + pd.Timedelta(days=int(day))
            recent = int(((dates < np.datetime64(at)) & (dates >= np.datetime64(at - pd.Timedelta(days=365)))).sum())
            risk = -2.8 + 2.4 * recent
            out.append((pid, at.date().isoformat(), int(rng.random() < 1 / (1 + np.exp(-risk)))))
    pd.DataFrame(out, columns=["entity_id", "date", "outcome"]).drop_duplicates(["entity_id", "date"]).to_csv(
        d / "assessments.csv", index=False)
    return lines


@pytest.fixture(scope="module")
def people_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("people")
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    mp.setenv("RISKENGINE_PSEUDONYM_KEY", "test-key-0123456789abcdef")
    mp.setenv("RISKENGINE_CACHE", "0")
    mp.chdir(root)
    (root / "data").mkdir()
    truth = make_people(root / "data")
    (root / "training").mkdir()
    (root / "training" / "people.toml").write_text(TRAINING.format(d=root / "data", fields=FIELDS))
    (root / "scoring").mkdir()
    (root / "scoring" / "people.toml").write_text('pipeline = "people"\ncapacity = 30\n')
    trained = CliRunner().invoke(app, ["train", "training/people.toml"])
    yield root, truth, trained
    mp.undo()


@pytest.mark.xdist_group("person_register")
def test_a_person_register_trains_on_events_linked_by_name_date_and_address(people_run):
    root, truth, trained = people_run
    assert trained.exit_code == 0, trained.output
    summary = json.loads((root / "out" / "people" / "train" / "summary.json").read_text())
    link = summary["link"]
    assert link["fields"] == {"given_name": "forename", "surname": "surname", "date_of_birth": "date",
                                      "address_1": "address", "suburb": "locality", "postcode": "postcode"}
    claims = pd.read_parquet(root / "out" / "people" / "train" / "link" / "linked" / "claims.parquet")
    # no claim was rejected for want of an address or an entity id: each waited for linkage
    assert len(claims) == len(truth) and claims["line"].tolist() == truth["line"].tolist()
    got = claims[["line", "entity_id"]].merge(truth, on="line")
    linked = got["entity_id"].notna()
    in_register = got["true_entity_id"].notna()
    # 80% of the claims are by people on the register: nearly all of them found, and found right
    # (0.0501 apart with swapped names counted once: 2,256 of 2,994 linked, every one right, against 2,261)
    assert linked.mean() == pytest.approx(in_register.mean(), abs=0.06)
    right = (got.loc[linked, "entity_id"] == got.loc[linked, "true_entity_id"]).mean()
    assert right >= 0.97, right
    assert (got.loc[in_register, "entity_id"] == got.loc[in_register, "true_entity_id"]).mean() >= 0.9
    acc = link["accuracy"]["without_exact_key"]
    assert acc["precision"] >= 0.97 and acc["recall"] >= 0.9
    assert link["accuracy"]["by_source"]["visits"]["precision"] == 1.0
    # names and dates of birth leave the stage pseudonymised; the visits kept their own ids
    assert claims["surname"].dropna().str.startswith("pid_").all()
    assert claims["date_of_birth"].dropna().str.startswith("pid_").all()
    visits = pd.read_parquet(root / "out" / "people" / "train" / "link" / "linked" / "visits.parquet")
    assert (visits["match_provenance"] == "exact").all()
    # the model finds risky residents only through the claims that linkage attached to them
    champ = summary["candidates"][summary["champion"]]
    assert champ["roc_auc"] > summary["baselines"]["random"]["roc_auc"] + 0.15


@pytest.mark.xdist_group("person_register")
def test_the_person_register_is_scored_and_the_clerks_decisions_are_read_back(people_run):
    root, truth, trained = people_run
    assert trained.exit_code == 0, trained.output
    from riskengine import prepare

    prepare._LINKED.clear()  # scoring links again (sources only), not from training's copy in this process
    scored = CliRunner().invoke(app, ["score", "scoring/people.toml", "--as-of", "2023-06-01", "--quiet"])
    assert scored.exit_code == 0, scored.output
    listed = pd.read_csv(root / "out" / "people" / "2023-06-01" / "list.csv")
    assert len(listed) == 30 and listed["entity_id"].str.startswith("a-").all()

    # the clerk's page: beside the review file, named on the console, never in MLflow
    link_dir = root / "out" / "people" / "train" / "link"
    review = pd.read_csv(link_dir / "review.csv", dtype=str, keep_default_na=False)
    assert len(review) > 0
    page = (link_dir / "review.html").read_text()
    first = review.iloc[0]
    for value in (first["record_given_name"], first["entity_given_name"], first["entity_date_of_birth"]):
        assert value in page  # clear values side by side
    assert str(link_dir / "review.html") in trained.output.replace("\n", "") or "review.html" in trained.output
    assert not [p for p in (root / "artifacts").rglob("*") if p.name.startswith("review")]

    # the clerk decides in the run's own file; the next training run reads it back and deletes it
    lines = truth.set_index("line")["true_entity_id"]
    claims = pd.read_parquet(link_dir / "linked" / "claims.parquet")
    first_line = claims.dropna(subset=["review_id"]).groupby("review_id")["line"].first()
    true_of = lines.reindex(first_line.reindex(review["review_id"]).to_numpy()).fillna("").to_numpy()
    right = true_of.astype(str) == review["entity_id"].to_numpy().astype(str)
    assert right.any() and not right.all()  # the band holds both, so the clerk says both
    review["decision"] = np.where(right, "match", "no match")
    review.to_csv(link_dir / "review.csv", index=False)
    spec = root / "training" / "people.toml"
    spec.write_text(spec.read_text().replace("[link]\n", f'[link]\nreview_decisions = "{link_dir / "review.csv"}"\n'))
    again = CliRunner().invoke(app, ["train", "training/people.toml", "--no-mlflow"])
    assert again.exit_code == 0, again.output
    claims = pd.read_parquet(link_dir / "linked" / "claims.parquet")
    accepted = review.loc[right, "entity_id"].tolist()
    assert set(accepted) <= set(claims.loc[claims["match_provenance"] == "reviewed", "entity_id"].dropna())
    kept = pd.read_csv(link_dir / "review.kept.csv", dtype=str)  # ids only, kept in the new run's folder
    assert list(kept.columns) == ["review_id", "entity_id", "decision"] and len(kept) == len(review)
    later = pd.read_csv(link_dir / "review.csv", dtype=str, keep_default_na=False)
    assert not set(later["review_id"]) & set(review["review_id"])  # decided records are not asked again
    # scoring reads the kept decisions; the fresh review file, not yet seen by a clerk, stays
    scored = CliRunner().invoke(app, ["score", "scoring/people.toml", "--as-of", "2023-06-01", "--quiet"])
    assert scored.exit_code == 0, scored.output
    assert (link_dir / "review.kept.csv").is_file() and (link_dir / "review.csv").is_file()


def test_a_field_the_register_lacks_is_named_with_its_key(tmp_path, monkeypatch):
    from riskengine.link import link
    from riskengine.spec import LinkField, LinkSpec

    monkeypatch.setenv("RISKENGINE_PSEUDONYM_KEY", "test-key-0123456789abcdef")
    entities = pd.DataFrame({"entity_id": ["a-1"], "given_name": ["ann"], "surname": ["lee"]})
    claims = pd.DataFrame({"line": [1], "entity_id": [pd.NA], "given_name": ["ann"], "surname": ["lee"],
                           "dob": ["01/02/1980"]})
    spec = LinkSpec(fields={"given_name": LinkField("forename"), "surname": LinkField("surname"),
                            "dob": LinkField("date")})
    with pytest.raises(RiskEngineError, match=r"entities: missing column 'dob' \(link.fields.dob = 'date'\)"):
        link(entities, {"claims": claims}, spec)


@pytest.mark.parametrize("kind", ["address", "people"])
def test_a_training_specs_link_fields_link_as_the_link_job_does(kind, monkeypatch):
    """Parity: `[link] fields` in a training spec and the same fields in a link spec give every row the
    same entity and the same decision (one builder of comparisons and blocking rules, one model)."""
    from riskengine.link import link, run_job
    from riskengine.spec import LinkField, LinkJobSpec, LinkSpec, LinkTable
    from riskengine.synth._people import address_files

    monkeypatch.setenv("RISKENGINE_PSEUDONYM_KEY", "test-key-0123456789abcdef")
    fields = {"address_1": LinkField("address"), "suburb": LinkField("locality"), "postcode": LinkField("postcode")}
    if kind == "address":
        a, b, truth = address_files(800, seed=1)
    else:
        a, b, truth = two_files(800, seed=1, date_style_b="dmy")
        fields = {"given_name": LinkField("forename"), "surname": LinkField("surname"),
                  "date_of_birth": LinkField("date"), **fields}
    job = run_job(LinkJobSpec(name="x", register=LinkTable(id="rec_id", fields=fields),
                              sources={"b": LinkTable(id="rec_id", fields=fields)}), {"register": a, "b": b}, truth=truth)
    source = b.assign(line=range(1, len(b) + 1), entity_id=pd.NA, date="2024-01-01", type="call")
    trained = link(a.rename(columns={"rec_id": "entity_id"}), {"calls": source}, LinkSpec(fields=fields))
    rows = trained.sources["calls"]
    by_job = job.links.set_index("row_id").reindex(b["rec_id"])
    assert by_job["entity_id"].fillna("-").tolist() == rows["entity_id"].fillna("-").tolist()
    said = {"probabilistic": "linked", "reviewed": "review", "unmatched": "unmatched"}
    assert by_job["decision"].tolist() == rows["match_provenance"].astype(str).map(said).tolist()
    assert job.metrics["accuracy"]["precision"] >= 0.99 and job.metrics["accuracy"]["recall"] >= 0.9
    assert trained.metrics["fields"] == {c: f.kind for c, f in fields.items()}
    # what scoring asks for (the linked rows only) gives the rows exactly as the full run did
    scoring = link(a.rename(columns={"rec_id": "entity_id"}), {"calls": source}, LinkSpec(fields=fields),
                   sources_only=True)
    pd.testing.assert_frame_equal(scoring.sources["calls"], rows)


def test_link_fields_are_checked_naming_the_file_and_key(tmp_path):
    from riskengine.spec import SpecError, load_spec

    base = TRAINING.format(d=tmp_path, fields=FIELDS)
    for fields, said in (('{ given_name = "forename", dob = "birthday" }', r"link.fields.dob.*'birthday' is not one of"),
                         ('{ given_name = "forename", date = "date" }', r"\[link\].*the events' own columns"),
                         ('{ postcode = "postcode", dob = "date" }', r"\[link\].*match_on = 'person' needs a name"),
                         ('{ postcode = { kind = "postcode", format = "%Y" } }', r"'format' is for date fields only")):
        text = base.replace(f"fields = {FIELDS}", f"fields = {fields}")
        if "needs a name" in said:
            text = text.replace("[link]\n", '[link]\nmatch_on = "person"\n')
        path = tmp_path / "t.toml"
        path.write_text(text)
        with pytest.raises(SpecError, match=str(path).replace(".", r"\.") + ".*" + said):
            load_spec(path, "training")


def test_events_without_an_id_wait_for_linkage_only_when_link_fields_can_match_them(tmp_path):
    from riskengine.ingest import load_data
    from riskengine.spec import load_spec

    make_people(tmp_path, n=60)
    claims = pd.read_csv(tmp_path / "claims.csv", dtype=str)
    claims.loc[:4, ["given_name", "surname", "date_of_birth", "address_1", "suburb", "postcode"]] = None
    claims.to_csv(tmp_path / "claims.csv", index=False)
    path = tmp_path / "t.toml"
    path.write_text(TRAINING.format(d=tmp_path, fields=FIELDS))
    spec = load_spec(path, "training")
    spec.data.max_reject_share = 0.2
    assert spec.data.link_by == ("given_name", "surname", "date_of_birth", "address_1", "suburb", "postcode")
    data = load_data(spec.data)
    rejected = data.rejects[data.rejects["file"].str.endswith("claims.csv")]
    assert len(rejected) == 5 and rejected["reason"].str.contains("none of given_name, surname").all()
    assert len(data.unlinked["claims"]) == len(claims) - 5
    # a file with neither an entity_id column nor any field to link by still stops, naming the column
    from riskengine.errors import DataError
    from riskengine.spec import Source

    (tmp_path / "notes.csv").write_text("date,type\n2021-01-01,note\n")
    spec.data.events["notes"] = Source(tmp_path / "notes.csv")
    with pytest.raises(DataError, match="notes.csv.*missing column 'entity_id'"):
        load_data(spec.data)


def test_a_link_field_the_entities_lack_stops_training_naming_the_spec_and_key(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("RISKENGINE_PSEUDONYM_KEY", "test-key-0123456789abcdef")
    monkeypatch.setenv("RISKENGINE_CACHE", "0")
    monkeypatch.chdir(tmp_path)
    make_people(tmp_path, n=80)
    fields = FIELDS.replace('postcode = "postcode"', 'postcode = "postcode", soc_sec_id = "identifier"')
    (tmp_path / "t.toml").write_text(TRAINING.format(d=tmp_path, fields=fields))
    result = CliRunner().invoke(app, ["train", "t.toml", "--quiet", "--no-mlflow"])
    assert result.exit_code == 2
    assert "t.toml: key 'link.fields.soc_sec_id' (identifier) names a column the entities table lacks" in result.output


def test_a_review_file_read_back_earlier_is_not_a_missing_file(tmp_path):
    """After a run reads the clerk's file back (and deletes it), later runs go on with the decisions kept
    beside it; only a file that was never there is an error."""
    from riskengine.ingest import load_data
    from riskengine.spec import SpecError, check_against_data, load_spec

    make_people(tmp_path, n=60)
    path = tmp_path / "t.toml"
    decided = tmp_path / "decided.csv"
    path.write_text(TRAINING.format(d=tmp_path, fields=FIELDS).replace("[link]\n", f'[link]\nreview_decisions = "{decided}"\n'))
    spec = load_spec(path, "training")
    data = load_data(spec.data)
    with pytest.raises(SpecError, match="key 'link.review_decisions' names .*decided.csv, which does not exist"):
        check_against_data(spec, data)
    pd.DataFrame({"review_id": ["x"], "entity_id": ["a-1"], "decision": ["match"]}).to_csv(
        tmp_path / "decided.kept.csv", index=False)
    check_against_data(spec, data)


def test_a_source_naming_its_columns_otherwise_maps_them_to_the_fields(tmp_path, monkeypatch):
    """The register says given_name, a source FIRST NAME: the source's `columns` map renames it, and
    [link] fields names each field once."""
    from riskengine.ingest import load_data
    from riskengine.prepare import link_sources
    from riskengine.spec import load_spec

    monkeypatch.setenv("RISKENGINE_PSEUDONYM_KEY", "test-key-0123456789abcdef")
    truth = make_people(tmp_path, n=150)
    claims = pd.read_csv(tmp_path / "claims.csv", dtype=str)
    claims.rename(columns={"given_name": "FIRST NAME", "surname": "LAST NAME"}).to_csv(tmp_path / "claims.csv",
                                                                                       index=False)
    text = TRAINING.format(d=tmp_path, fields=FIELDS).replace(
        f'claims = "{tmp_path}/claims.csv"',
        f'claims = {{ path = "{tmp_path}/claims.csv", columns = {{ given_name = "FIRST NAME", surname = "LAST NAME" }} }}')
    (tmp_path / "t.toml").write_text(text)
    spec = load_spec(tmp_path / "t.toml", "training")
    data = load_data(spec.data)
    link_sources(data, spec.link)
    got = data.sources["claims"][["line", "entity_id"]].merge(truth, on="line")
    linked = got["entity_id"].notna()
    assert linked.mean() > 0.6
    assert (got.loc[linked, "entity_id"] == got.loc[linked, "true_entity_id"]).mean() >= 0.97


def test_the_link_jobs_review_shows_how_the_model_read_each_field_as_trainings_does(tmp_path, monkeypatch):
    from riskengine.link import run_job
    from riskengine.spec import LinkField, LinkJobSpec, LinkTable

    monkeypatch.setenv("RISKENGINE_PSEUDONYM_KEY", "test-key-0123456789abcdef")
    a, b, truth = two_files(500, seed=9, date_style_b="dmy")
    fields = {"given_name": LinkField("forename"), "surname": LinkField("surname"), "date_of_birth": LinkField("date")}
    spec = LinkJobSpec(name="x", register=LinkTable(id="rec_id", fields=fields), lower=0.05, upper=0.999,
                       sources={"b": LinkTable(id="rec_id", fields=fields)})
    result = run_job(spec, {"register": a, "b": b}, tmp_path, truth=truth)
    review = result.review
    assert len(review) and review.columns[-1] == "decision"
    assert review["agreement_surname"].ne("").all() and review["weight_date_of_birth"].notna().all()
    page = (tmp_path / "review.html").read_text()
    assert "as the model read it" in page and review["agreement_date_of_birth"].iloc[0] in page
