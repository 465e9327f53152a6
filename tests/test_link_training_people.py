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
            claims.append({"entity_id": "", "date": day.date().isoformat(), "type": "claim", **{
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


def test_a_person_register_trains_on_events_linked_by_name_date_and_address(people_run):
    root, truth, trained = people_run
    assert trained.exit_code == 0, trained.output
    summary = json.loads((root / "out" / "people" / "train" / "summary.json").read_text())
    link = summary["link"]
    assert link["address_fields"] == {"given_name": "forename", "surname": "surname", "date_of_birth": "date",
                                      "address_1": "address", "suburb": "locality", "postcode": "postcode"}
    claims = pd.read_parquet(root / "out" / "people" / "train" / "link" / "linked" / "claims.parquet")
    # no claim was rejected for want of an address or an entity id: each waited for linkage
    assert len(claims) == len(truth) and claims["line"].tolist() == truth["line"].tolist()
    got = claims[["line", "entity_id"]].merge(truth, on="line")
    linked = got["entity_id"].notna()
    in_register = got["true_entity_id"].notna()
    # 80% of the claims are by people on the register: nearly all of them found, and found right
    assert linked.mean() == pytest.approx(in_register.mean(), abs=0.05)
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


def test_the_person_register_is_scored_and_the_review_page_named(people_run):
    root, _, trained = people_run
    assert trained.exit_code == 0, trained.output
    link_dir = root / "out" / "people" / "train" / "link"
    review = pd.read_csv(link_dir / "review.csv", dtype=str, keep_default_na=False)
    if len(review):  # the clerk's page beside the file, named on the console, and never in MLflow
        page = (link_dir / "review.html").read_text()
        assert review["record_surname"].iloc[0] in page.upper() or review["record_surname"].iloc[0] in page
        assert "review.html" in trained.output
        assert not list((root / "mlruns").rglob("review.*")) if (root / "mlruns").exists() else True
    assert not [p for p in root.rglob("review.*") if "artifacts" in p.parts]
    scored = CliRunner().invoke(app, ["score", "scoring/people.toml", "--as-of", "2023-06-01", "--quiet"])
    assert scored.exit_code == 0, scored.output
    listed = pd.read_csv(root / "out" / "people" / "2023-06-01" / "list.csv")
    assert len(listed) == 30 and listed["entity_id"].str.startswith("a-").all()


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
