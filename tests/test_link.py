"""link() end to end on a small hand-built borough: keys, matching, review band, outputs, CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from riskengine.errors import RiskEngineError
from riskengine.link import link, pseudonymisation_scan
from riskengine.spec import LinkSpec

STEMS = ["Ash", "Elm", "Oak", "Mill", "Church", "Station", "Victoria", "Albert", "Nelson", "Park",
         "Kings", "Queens", "Brook", "Fern", "Heath", "Marsh", "Castle", "Abbey", "Wren", "Swan"]
TYPES = [("Street", "St"), ("Road", "Rd"), ("Lane", "Ln"), ("Avenue", "Ave"), ("Close", "Cl")]
NAMES = ["Jane Doe", "Amir Khan", "Olu Adeyemi", "Mary Jones", "Tom Baker", "Wei Chen"]


def make_borough(seed: int = 0, n_streets: int = 60, sources: int = 2, rows: int = 1500):
    """Entities (numbered houses, some split into flats) and messy sources with a truth table."""
    rng = np.random.default_rng(seed)
    ents = []
    uprn = 100000000000
    streets = [(s, t) for s in STEMS for t in TYPES]
    rng.shuffle(streets)
    for k, (stem, (full, short)) in enumerate(streets[:n_streets]):
        district = f"RB{k % 4 + 1}"
        for number in range(1, int(rng.integers(10, 40))):
            postcode = f"{district} {number // 12 + 1}{'ABCDEFGH'[k % 8]}{'JKLMNPQR'[k // 8 % 8]}"
            flats = ["A", "B"] if rng.random() < 0.15 else [None]
            for flat in flats:
                uprn += 1
                ents.append({"entity_id": f"{uprn:012d}", "flat": flat, "house_number": str(number),
                             "street": f"{stem} {full}", "short": f"{stem} {short}", "town": "Rivermouth",
                             "postcode": postcode})
    entities = pd.DataFrame(ents)
    out, truth = {}, []
    for s in range(sources):
        pick = entities.sample(rows, replace=True, random_state=seed + s).reset_index(drop=True)
        text = []
        for r in pick.itertuples():
            street = r.short if rng.random() < 0.4 else r.street
            if rng.random() < 0.1:  # two letters of the name swapped
                i = int(rng.integers(1, len(stem := street.split()[0]) - 1))
                street = stem[:i] + stem[i + 1] + stem[i] + stem[i + 2:] + street[len(stem):]
            if isinstance(r.flat, str):
                premise = f"{r.house_number}{r.flat.lower()}" if rng.random() < 0.5 else f"Flat {r.flat}, {r.house_number}"
            else:
                premise = r.house_number
            line = f"{premise} {street}, Rivermouth"
            text.append(line.upper() if rng.random() < 0.2 else line)
        keyed = rng.random(rows) < 0.5
        df = pd.DataFrame({
            "line": np.arange(1, rows + 1),
            "entity_id": pick["entity_id"].where(keyed).astype("string"),
            "address": text,
            "postcode": pick["postcode"].str.replace(" ", "").where(rng.random(rows) < 0.8).astype("string"),
            "date": (pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 1500, rows), unit="D")).strftime("%Y-%m-%d"),
            "type": "complaint",
            "value": "",
        })
        if s == 0:
            df["account_holder"] = [NAMES[i % len(NAMES)] for i in range(rows)]
        out[f"source{s}"] = df
        truth.append(pd.DataFrame({"source": f"source{s}", "line": df["line"], "true_entity_id": pick["entity_id"]}))
    return entities.drop(columns=["short"]), out, pd.concat(truth, ignore_index=True)


@pytest.fixture(scope="module")
def borough():
    return make_borough()


@pytest.fixture(scope="module")
def linked(borough, tmp_path_factory):
    entities, sources, truth = borough
    out = tmp_path_factory.mktemp("link")
    with pytest.MonkeyPatch.context() as mp:  # no key set: the run uses a throwaway one
        mp.delenv("RISKENGINE_PSEUDONYM_KEY", raising=False)
        return link(entities, sources, LinkSpec(), out, truth=truth, allow_ephemeral_key=True), out


def test_rows_with_a_uprn_link_exactly_and_the_rest_by_address(borough, linked):
    entities, sources, truth = borough
    result, _ = linked
    for name, df in result.sources.items():
        keyed = sources[name]["entity_id"].notna()
        assert (df.loc[keyed, "match_provenance"] == "exact").all()
        assert (df.loc[keyed, "entity_id"] == sources[name].loc[keyed, "entity_id"]).all()
        assert (df.loc[keyed, "match_probability"] == 1.0).all()
        assert set(df.loc[~keyed, "match_provenance"].astype(str)) <= {"probabilistic", "reviewed", "unmatched"}
        assert df["line"].tolist() == sources[name]["line"].tolist()  # same rows, same order
    acc = result.metrics["accuracy"]
    assert acc["overall"]["precision"] >= 0.98 and acc["overall"]["recall"] >= 0.9
    assert acc["without_exact_key"]["precision"] >= 0.97
    assert result.metrics["provenance"]["exact"] == sum(s["entity_id"].notna().sum() for s in sources.values())


def _row(address, postcode=None):
    return pd.DataFrame([{"line": 1, "entity_id": pd.NA, "address": address, "postcode": postcode,
                          "date": "2022-01-01", "type": "complaint", "value": ""}]).astype({"entity_id": "string"})


def test_an_address_two_entities_fit_equally_goes_to_review(borough):
    entities, sources, _ = borough
    # the same street name in another district (as "Church Road" recurs across a borough)
    one = entities[entities["flat"].isna()].iloc[5]
    twin = one.copy()
    twin["entity_id"], twin["postcode"] = "999999999999", "RB9 9ZZ"
    register = pd.concat([entities, twin.to_frame().T], ignore_index=True)
    calls = _row(f"{one.house_number} {one.street}")  # no postcode, no town
    result = link(register, {**sources, "calls": calls}, LinkSpec(lower=0.3), allow_ephemeral_key=True)
    got = result.sources["calls"].iloc[0]
    assert got["match_provenance"] == "reviewed"
    assert pd.isna(got["entity_id"])  # no entity until a clerk decides
    assert 0.3 <= got["match_probability"] < 0.95
    pair = result.review[result.review["review_id"] == got["review_id"]].iloc[0]
    # both records side by side with the weights, and the rival nearly as likely
    assert pair["record_street"] == pair["entity_street"] == one.street.upper()
    assert pair["record_address"] == f"{one.house_number} {one.street}"  # as the source wrote it, for the clerk
    assert pair["entity_id"] in {one.entity_id, "999999999999"}
    assert pair["runner_up_probability"] > 0.3
    assert {"match_weight", "weight_address", "weight_postcode", "decision"} <= set(result.review.columns)
    # a left-out flat letter is not guessed either
    split = entities[entities["flat"].notna()].iloc[0]
    flats = link(entities, {**sources, "calls": _row(f"{split.house_number} {split.street}", split.postcode)},
                 LinkSpec(), allow_ephemeral_key=True)
    assert flats.sources["calls"]["entity_id"].isna().all()


def test_review_band_follows_the_thresholds_and_clerical_decisions(borough, tmp_path, monkeypatch):
    entities, sources, truth = borough
    monkeypatch.setenv("RISKENGINE_PSEUDONYM_KEY", "test-key-0123456789abcdef")  # review ids are keyed: one key
    wide = LinkSpec(lower=0.01, upper=0.9999999)
    first = link(entities, sources, wide)
    reviewed = pd.concat([df[df["match_provenance"] == "reviewed"] for df in first.sources.values()])
    assert len(reviewed) > 0
    assert reviewed["match_probability"].between(0.01, 0.9999999).all()
    assert reviewed["entity_id"].isna().all()
    assert first.metrics["review_share"] == pytest.approx(len(reviewed) / first.metrics["rows"], abs=1e-4)
    assert len(first.review) == first.metrics["review_addresses"]
    # a clerk accepts the first pair and rejects the second
    decisions = first.review[["review_id", "entity_id"]].head(2).assign(decision=["match", "no match"])
    path = tmp_path / "decided.csv"
    decisions.to_csv(path, index=False)
    second = link(entities, sources, LinkSpec(lower=0.01, upper=0.9999999, review_decisions=path))
    rows = pd.concat([df.assign(source=n) for n, df in second.sources.items()])
    accepted = rows[rows["review_id"] == decisions["review_id"].iloc[0]]
    assert len(accepted) and (accepted["entity_id"] == decisions["entity_id"].iloc[0]).all()
    assert (accepted["match_provenance"] == "reviewed").all()
    rejected_id = decisions["review_id"].iloc[1]
    assert rejected_id not in set(rows["review_id"].dropna())
    assert second.metrics["provenance"]["reviewed"] < first.metrics["provenance"]["reviewed"]


def test_bad_decisions_file_names_the_line(borough, tmp_path, monkeypatch):
    entities, sources, _ = borough
    path = tmp_path / "d.csv"
    pd.DataFrame({"review_id": ["x"], "entity_id": ["1"], "decision": ["maybe"]}).to_csv(path, index=False)
    # review ids are keyed: decisions read under a throwaway key could never match, and the file is kept
    monkeypatch.delenv("RISKENGINE_PSEUDONYM_KEY", raising=False)
    with pytest.raises(RiskEngineError, match="not an ephemeral key"):
        link(entities, sources, LinkSpec(review_decisions=path), allow_ephemeral_key=True)
    assert path.is_file()
    monkeypatch.setenv("RISKENGINE_PSEUDONYM_KEY", "test-key-0123456789abcdef")
    with pytest.raises(RiskEngineError, match="line 2.*decision"):
        link(entities, sources, LinkSpec(review_decisions=path))


def test_outputs_carry_no_raw_names_and_the_key_is_required(borough, linked, monkeypatch):
    entities, sources, _ = borough
    result, out = linked
    assert pseudonymisation_scan([out], NAMES) == []
    holders = result.sources["source0"]["account_holder"]
    assert holders.str.startswith("pid_").all()
    assert (result.golden["account_holder"].dropna().str.startswith("pid_")).all()
    assert "ephemeral" in json.loads((out / "link_report.json").read_text())["pseudonymisation"]["key"]
    monkeypatch.delenv("RISKENGINE_PSEUDONYM_KEY", raising=False)
    with pytest.raises(RiskEngineError, match="RISKENGINE_PSEUDONYM_KEY"):
        link(entities, sources, LinkSpec())


def test_reports_and_files_are_written(linked):
    result, out = linked
    for name in ("link_report.html", "link_report.json", "quality_report.html", "quality_report.json",
                 "review.csv", "golden.parquet", "linked/source0.parquet", "charts/splink_match_weights.html",
                 "charts/splink_m_u_parameters.html"):
        assert (out / name).is_file(), name
    html = (out / "link_report.html").read_text()
    assert "http://" not in html and "https://" not in html  # readable offline
    assert "<script src" not in (out / "charts" / "splink_match_weights.html").read_text()  # scripts inlined
    figures = json.loads((out / "link_report.json").read_text())
    assert figures["metrics"]["accuracy"]["overall"]["precision"] == result.metrics["accuracy"]["overall"]["precision"]
    assert {lvl["comparison"] for lvl in figures["model"]["levels"]} >= {"address", "postcode", "town"}
    golden = pd.read_parquet(out / "golden.parquet")
    assert len(golden) == golden["entity_id"].nunique() == len(result.golden)
    quality = json.loads((out / "quality_report.json").read_text())
    s0 = next(s for s in quality["sources"] if s["source"] == "source0")
    assert 0.4 < s0["completeness"]["entity_id (as supplied)"] < 0.6
    assert s0["date_coverage"]["first"] >= "2019-01-01"
    postcode = next(c for c in quality["conflicts"] if c["field"] == "postcode")
    assert postcode["rows_differing_share"] < 0.05


def test_quality_report_counts_invalid_rows(borough):
    entities, sources, _ = borough
    bad = sources["source1"].copy()
    bad.loc[0:9, "date"] = "not a date"
    bad.loc[10:14, "entity_id"] = "12 Smith St"
    bad.loc[15:19, "postcode"] = "nonsense"
    result = link(entities, {"source1": bad}, LinkSpec(), allow_ephemeral_key=True)
    checks = {c["check"]: c for c in result.quality["sources"][0]["validity"]}
    assert checks["date"]["invalid"] == 10
    assert checks["entity_id"]["invalid"] == 5
    assert checks["postcode"]["invalid"] == 5


def test_missing_columns_are_named(borough):
    entities, sources, _ = borough
    with pytest.raises(RiskEngineError, match="source 'x'.*'line'"):
        link(entities, {"x": sources["source0"].drop(columns=["line"])}, allow_ephemeral_key=True)
    with pytest.raises(RiskEngineError, match="entities: missing column 'entity_id'"):
        link(entities.drop(columns=["entity_id"]), sources, allow_ephemeral_key=True)


def test_cli_links_a_borough_folder(borough, tmp_path, monkeypatch):
    import riskengine.cli

    entities, sources, truth = borough
    folder = tmp_path / "borough"
    (folder / "events").mkdir(parents=True)
    (folder / "truth").mkdir()
    entities.to_csv(folder / "entities.csv", index=False)
    for name, df in sources.items():
        df.drop(columns=["line"]).to_csv(folder / "events" / f"{name}.csv", index=False)
    truth.to_parquet(folder / "truth" / "links.parquet")
    runner = CliRunner()
    monkeypatch.delenv("RISKENGINE_PSEUDONYM_KEY", raising=False)
    res = runner.invoke(riskengine.cli.app, ["link", str(folder), "--out", str(tmp_path / "out"), "--quiet"])
    assert res.exit_code == 2 and "RISKENGINE_PSEUDONYM_KEY" in res.output
    monkeypatch.setenv("RISKENGINE_PSEUDONYM_KEY", "test-key-0123456789abcdef")
    res = runner.invoke(riskengine.cli.app, ["link", str(folder), "--out", str(tmp_path / "out"), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "precision" in res.output and "recall" in res.output and "clerical review" in res.output
    assert (tmp_path / "out" / "link_report.html").is_file()
    assert pseudonymisation_scan([tmp_path / "out"], NAMES) == []
    res = runner.invoke(riskengine.cli.app, ["link", str(tmp_path / "nowhere")])
    assert res.exit_code == 2 and "no such folder" in res.output


def test_cli_links_the_data_a_spec_names(borough, tmp_path, monkeypatch):
    import riskengine.cli

    entities, sources, _ = borough
    entities.to_csv(tmp_path / "entities.csv", index=False)
    sources["source0"].drop(columns=["line"]).to_csv(tmp_path / "calls.csv", index=False)
    spec = tmp_path / "borough.toml"
    spec.write_text(
        'kind = "data"\nname = "borough"\n'
        '[purpose]\nproblem = "p"\ninsight = "i"\ndatasets = "d"\naction = "a"\n'
        f'[data]\nentities = "{tmp_path / "entities.csv"}"\n'
        f'[data.events]\ncalls = "{tmp_path / "calls.csv"}"\n'
    )
    monkeypatch.setenv("RISKENGINE_PSEUDONYM_KEY", "test-key-0123456789abcdef")
    res = CliRunner().invoke(riskengine.cli.app, ["link", str(spec), "--out", str(tmp_path / "out"), "--quiet"])
    assert res.exit_code == 0, res.output
    linked = pd.read_parquet(tmp_path / "out" / "linked" / "calls.parquet")
    assert len(linked) == len(sources["source0"]) and linked["line"].tolist() == list(range(1, len(linked) + 1))
    assert linked["entity_id"].notna().mean() > 0.9


def test_link_accepts_typed_frames_as_ingest_hands_them_over(borough):
    entities, sources, truth = borough
    typed = {n: df.assign(date=pd.to_datetime(df["date"]), value=pd.to_numeric(df["value"]).astype("float64"))
             for n, df in sources.items()}
    result = link(entities, typed, LinkSpec(), truth=truth, allow_ephemeral_key=True)
    assert result.metrics["accuracy"]["overall"]["precision"] >= 0.98
    assert result.golden["last_event"].notna().any()
    assert result.quality["sources"][0]["date_coverage"]["first"] is not None
