"""Information governance: the draft DPIA and agreement from a spec, the DPIA gate, retention clean-up."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import riskengine.cli
from riskengine.errors import SpecError
from riskengine.infogov import (
    check_dpia,
    clean_expired,
    expired_outputs,
    information_governance_pack,
    scan_sources,
    scan_table,
)
from riskengine.link import pseudonymisation_scan
from riskengine.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
GOVERNANCE = """
[governance]
controller = "Synthetic Borough Council"
owners = { entities = "Land and property gazetteer team", complaints = "Environmental health", council_tax = "Revenues" }
retention_days = { lists = 90, link = 30 }
"""


@pytest.fixture(scope="module")
def borough(tmp_path_factory) -> Path:
    from riskengine.synth import synth

    folder = tmp_path_factory.mktemp("ig") / "borough"
    synth(folder, properties=1500, seed=5, progress=False)
    return folder


def _shipped() -> str:
    """training/hmo.toml without its own [governance] table (the last one in the file)."""
    return 'kind = "training"\n' + (ROOT / "training" / "hmo.toml").read_text().split("\n[governance]")[0]


def _spec(tmp: Path, borough: Path, extra: str = GOVERNANCE) -> Path:
    text = _shipped().replace("out/borough", str(borough))
    path = tmp / "hmo.toml"
    path.write_text(text + extra)
    return path


def _all_text(folder: Path) -> str:
    return "\n".join(p.read_text() for p in folder.iterdir() if p.suffix in {".md", ".html", ".json"})


def test_a_personal_column_added_to_a_source_appears_in_the_dpia_without_its_values(tmp_path, borough):
    copy = tmp_path / "borough"
    for p in borough.rglob("*"):
        if p.is_file():
            (copy / p.relative_to(borough)).parent.mkdir(parents=True, exist_ok=True)
            (copy / p.relative_to(borough)).write_bytes(p.read_bytes())
    complaints = pd.read_csv(copy / "events" / "complaints.csv", dtype=str)
    emails = [f"resident{i}.x{i * 7}@example.org" for i in range(len(complaints))]
    complaints["reply_to"] = emails  # named neutrally: only its content says it is personal
    complaints["caller_mobile"] = "07700 900" + complaints.index.astype(str).str.zfill(3).str[-3:]
    complaints.to_csv(copy / "events" / "complaints.csv", index=False)
    spec = load_spec(_spec(tmp_path, copy))

    paths = information_governance_pack(spec, tmp_path / "ig")

    md = paths["dpia_md"].read_text()
    assert re.search(r"\| complaints \| reply_to \| email address \| content \(\d+% ", md)
    assert "| complaints | caller_mobile | phone number | column name |" in md
    assert "read but not used: remove it from the extract" in md  # neither column is needed
    twin = json.loads(paths["dpia_json"].read_text())
    found = {(s["name"], c["column"]) for s in twin["sources"] for c in s["personal_columns"]}
    assert {("complaints", "reply_to"), ("complaints", "caller_mobile"), ("council_tax", "account_holder")} <= found
    text = _all_text(tmp_path / "ig")
    assert not any(e in text for e in emails[:200])
    assert "07700 900" not in text


def test_the_drafts_carry_no_personal_values_only_names_and_counts(tmp_path, borough):
    spec = load_spec(_spec(tmp_path, borough))
    sources = scan_sources(spec)
    paths = information_governance_pack(spec, tmp_path / "ig", sources=sources)
    assert {"dpia_md", "dpia_html", "dpia_json", "data_sharing_agreement_md", "data_sharing_agreement_html"} <= set(paths)

    holders = pd.read_csv(borough / "events" / "council_tax.csv", dtype=str)["account_holder"].dropna().unique()
    addresses = pd.read_csv(borough / "entities.csv", dtype=str)["address"].dropna().unique()
    assert pseudonymisation_scan([tmp_path / "ig"], list(holders) + list(addresses)) == []
    rows = {s.name: s.rows for s in sources}
    assert rows["entities"] == len(pd.read_csv(borough / "entities.csv"))
    md = paths["dpia_md"].read_text()
    assert f"| entities | Land and property gazetteer team |" in md
    assert f"{rows['council_tax']:,}" in md  # volumes are counts from the data
    dsa = paths["data_sharing_agreement_md"].read_text()
    assert "Synthetic Borough Council" in dsa and "Revenues" in dsa
    assert "electoral_register" in dsa.split("Sources whose owner is not named")[1].splitlines()[0]
    assert "| lists |" in md and "90 days" in md


def test_both_drafts_are_versioned_with_the_spec_hash(tmp_path, borough):
    spec_a = load_spec(_spec(tmp_path, borough))
    (tmp_path / "b").mkdir()
    spec_b = load_spec(_spec(tmp_path / "b", borough, GOVERNANCE.replace("lists = 90", "lists = 91")))
    a = information_governance_pack(spec_a, tmp_path / "a")
    b = information_governance_pack(spec_b, tmp_path / "b_out")
    hash_a = json.loads(a["dpia_json"].read_text())["spec_sha256"]
    hash_b = json.loads(b["dpia_json"].read_text())["spec_sha256"]
    assert hash_a != hash_b
    for key in ("dpia_md", "data_sharing_agreement_md"):
        assert hash_a[:16] in a[key].read_text()


def test_a_required_unsigned_dpia_stops_training_before_any_work(tmp_path):
    spec_path = tmp_path / "t.toml"
    text = _shipped().replace("out/borough", str(tmp_path / "nowhere"))
    spec_path.write_text(text + '\n[governance]\nrequire_dpia = true\ndpia_reference = "DPIA-7"\n')
    from riskengine.training import train

    with pytest.raises(SpecError, match=r"require_dpia = true but no signed DPIA.*governance\.dpia_signed_by"):
        train(spec_path, out=tmp_path / "o", log_mlflow=False, quiet=True)  # the data do not even exist
    signed = text + ('\n[governance]\nrequire_dpia = true\ndpia_reference = "DPIA-7"\n'
                     'dpia_signed_by = "Data Protection Officer"\ndpia_signed_on = 2026-11-01\n')
    spec_path.write_text(signed)
    check_dpia(load_spec(spec_path))  # recorded: no error


def test_governance_keys_are_checked(tmp_path):
    text = _shipped()
    path = tmp_path / "t.toml"
    path.write_text(text + "\n[governance]\nretention_days = { lists = 30, everything = 5 }\n")
    with pytest.raises(SpecError, match=r"t\.toml.*unknown output kind.*everything"):
        load_spec(path)
    path.write_text(text + "\n[governance]\nrequire_dpai = true\n")
    with pytest.raises(SpecError, match="require_dpai"):
        check_dpia(load_spec(path))


def _age(path: Path, days: float, now: dt.datetime) -> None:
    stamp = (now - dt.timedelta(days=days)).timestamp()
    for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.utime(p, (stamp, stamp))


def test_retention_clean_up_removes_only_expired_outputs_and_records_it(tmp_path):
    now = dt.datetime(2026, 11, 29, 12, 0)
    root = tmp_path / "out" / "hmo"
    layout = {"2026-05-04": 200, "2026-11-23": 6, "train/link": 45, "train/summary.json": 200,
              "validate": 400, "backtest": 400}
    for rel, days in layout.items():
        path = root / rel
        if path.suffix:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("{}")
        else:
            path.mkdir(parents=True)
            (path / "list.csv").write_text("entity_id\n1\n")
        _age(path, days, now)
    spec = load_spec(_spec(tmp_path, tmp_path / "borough"))  # lists 90 days, link 30; nothing else set

    listed = expired_outputs(spec, tmp_path / "out", now=now)
    assert sorted((e.kind, e.path.relative_to(root).as_posix()) for e in listed) == [
        ("link", "train/link"), ("lists", "2026-05-04")]
    assert clean_expired(spec, tmp_path / "out", now=now, dry_run=True) and (root / "2026-05-04").exists()

    removed = clean_expired(spec, tmp_path / "out", now=now)
    assert len(removed) == 2
    assert not (root / "2026-05-04").exists() and not (root / "train" / "link").exists()
    for kept in ("2026-11-23", "train/summary.json", "validate", "backtest"):  # young, or no period set
        assert (root / kept).exists(), kept
    log = [json.loads(line) for line in (root / "retention_log.jsonl").read_text().splitlines()]
    assert sorted((r["kind"], r["retention_days"]) for r in log) == [("link", 30), ("lists", 90)]
    assert clean_expired(spec, tmp_path / "out", now=now) == []


def test_scan_finds_special_category_and_free_text_by_name_and_content():
    df = pd.DataFrame({
        "entity_id": ["1", "2", "3"],
        "ethnic_group": ["a", "b", "c"],
        "officer_notes": ["tenant said the landlord visits every week and collects cash rent"] * 3,
        "ref": ["AB 12 34 56 C", "CD123456A", "JK 65 43 21 B"],
        "rooms": ["3", "4", "5"],
    })
    kinds = {f.column: (f.kind, f.special) for f in scan_table("visits", df)}
    assert kinds == {"ethnic_group": ("special category: ethnicity", True),
                     "officer_notes": ("free text", False),
                     "ref": ("national identifier", False)}


def test_governance_and_clean_commands(tmp_path, borough, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = _spec(tmp_path, borough)
    res = CliRunner().invoke(riskengine.cli.app, ["governance", str(spec), "--out", "ig"])
    assert res.exit_code == 0, res.output
    assert "council_tax.account_holder: name (by column name)" in res.output
    assert "question(s) left for the data protection officer" in res.output
    assert (tmp_path / "ig" / "dpia.html").is_file()
    res = CliRunner().invoke(riskengine.cli.app, ["clean", str(spec), "--expired"])
    assert res.exit_code == 0 and "0 output(s) removed" in res.output
    res = CliRunner().invoke(riskengine.cli.app, ["clean", str(ROOT / "scoring" / "hmo.toml")])
    assert res.exit_code == 2 and "give the training (or data) spec" in res.output


def test_the_risk_register_carries_what_the_last_run_measured(tmp_path, borough):
    from riskengine.infogov import measured_from_summary

    summary = {"link": {"rows": 10_000, "provenance": {"exact": 8_000, "probabilistic": 1_900, "unmatched": 100},
                        "review_share_of_unkeyed": 0.01}}
    measured = measured_from_summary(summary)
    assert (measured.link_rows, measured.link_unmatched, measured.link_review) == (2_000, 100, 20)
    spec = load_spec(_spec(tmp_path, borough))
    md = information_governance_pack(spec, tmp_path / "ig", measured)["dpia_md"].read_text()
    assert "2,000 source rows needed linkage; 100 (5.0%) stayed unmatched; 20 went to clerical review" in md
