"""The link stage on a small synthetic borough: accuracy against its truth table, and no leaks."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from riskengine.link import link, pseudonymisation_scan, read_borough
from riskengine.spec import LinkSpec

synth = pytest.importorskip("riskengine.synth")


@pytest.fixture(scope="module")
def borough(tmp_path_factory):
    folder = tmp_path_factory.mktemp("borough")
    synth.synth(folder, properties=2500, seed=3)
    return folder


@pytest.fixture(scope="module")
def linked(borough, tmp_path_factory):
    out = tmp_path_factory.mktemp("linked")
    entities, sources, truth = read_borough(borough)
    return link(entities, sources, LinkSpec(), out, truth=truth, allow_ephemeral_key=True), out


def test_linkage_meets_the_bar_on_a_synthetic_borough(linked):
    result, _ = linked
    acc = result.metrics["accuracy"]
    assert acc["overall"]["precision"] >= 0.99 and acc["overall"]["recall"] >= 0.99
    # the hard part alone: rows that came without a usable UPRN
    assert acc["without_exact_key"]["precision"] >= 0.97 and acc["without_exact_key"]["recall"] >= 0.95
    assert result.metrics["provenance"]["probabilistic"] > 0
    assert 0 <= result.metrics["review_share"] < 0.05


def test_golden_table_has_one_row_per_entity_and_counts_its_rows(linked, borough):
    result, _ = linked
    golden = result.golden
    register = pd.read_csv(borough / "entities.csv", dtype=str)
    assert golden["entity_id"].is_unique
    assert set(golden["entity_id"]) == set(register["entity_id"].str.strip())
    linked_rows = sum(int(df["entity_id"].notna().sum()) for df in result.sources.values())
    assert golden["linked_rows"].sum() == linked_rows
    assert golden["account_holder"].dropna().str.startswith("pid_").all()


def test_no_account_holder_name_reaches_any_output_and_a_planted_one_is_found(linked, borough, tmp_path):
    _, out = linked
    names = pd.read_csv(borough / "events" / "council_tax.csv", dtype=str)["account_holder"].dropna().unique()
    # a name written as a forename alone ("Victoria") is also a street's or a ward's, one with an initial
    # ("L Ward") part of ordinary words: the full names are watched
    names = [n for n in names if " " in n and min(len(w) for w in n.replace(",", " ").split()) > 1]
    assert len(names) > 100
    assert pseudonymisation_scan([out], names) == []
    # an MLflow-like artefact folder where someone logged a raw table
    artefacts = tmp_path / "mlruns" / "1" / "abc" / "artifacts"
    artefacts.mkdir(parents=True)
    (artefacts / "sample.json").write_text(json.dumps({"holder": names[7], "entity_id": "1"}))
    leaks = pseudonymisation_scan([out, tmp_path / "mlruns"], names)
    assert [(leak.path.name, leak.identifier) for leak in leaks] == [("sample.json", names[7])]


def test_cli_prints_precision_recall_and_review_share(borough, tmp_path, monkeypatch):
    import riskengine.cli

    monkeypatch.setenv("RISKENGINE_PSEUDONYM_KEY", "a-test-key-0123456789abcdef")
    res = CliRunner().invoke(riskengine.cli.app, ["link", str(borough), "--out", str(tmp_path), "--quiet"])
    assert res.exit_code == 0, res.output
    line = next(x for x in res.output.splitlines() if x.strip().startswith("precision"))
    precision, recall = float(line.split()[1]), float(line.split()[3])
    assert precision >= 0.95 and recall >= 0.95
    assert "clerical review:" in res.output and "environment variable RISKENGINE_PSEUDONYM_KEY" in res.output
    report = json.loads((tmp_path / "link_report.json").read_text())
    assert report["metrics"]["accuracy"]["overall"]["precision"] == precision
