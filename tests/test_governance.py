"""Model card and transparency record: the sections, the facts as given, nothing invented."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest
from markupsafe import escape

from riskengine.audit import audit
from riskengine.audit import _format as fmt
from riskengine.audit.governance import (
    TO_COMPLETE,
    RunFacts,
    model_card,
    transparency_record,
    write_governance_pack,
)
from riskengine.errors import RiskEngineError
from riskengine.spec import Purpose

PURPOSE = Purpose(
    problem="Unlicensed HMOs go unseen.",
    insight="which homes are likely to be HMOs",
    datasets="complaints, council tax and the electoral register",
    action="inspect those homes first",
)


@pytest.fixture(scope="module")
def audits():
    rng = np.random.default_rng(3)
    n = 2000
    df = pd.DataFrame({"area": rng.choice(["deprived", "other"], size=n, p=[0.4, 0.6]),
                       "y": (rng.random(n) < 0.1).astype(int)})
    df["model"] = df["y"] * 0.6 + rng.random(n)
    df["bau"] = rng.random(n) + (df["area"] == "deprived") * 0.3
    champion = audit(df, "model", "y", ["area"], top_k=200, n_boot=100, name="the model")
    baseline = audit(df, "bau", "y", ["area"], top_k=200, n_boot=100, name="business as usual")
    return champion, baseline


def _facts(audits, **extra) -> RunFacts:
    champion, baseline = audits
    metrics = pd.DataFrame({
        "test_as_of": [dt.date(2023, 1, 1), dt.date(2023, 7, 1)],
        "precision_at_k": [0.41, 1 / 3],
        "recall_at_k": [0.2, 0.25],
    })
    return RunFacts(
        pipeline="hmo",
        purpose=PURPOSE,
        intended_use="Rank homes for proactive HMO licensing inspections.",
        users=["HMO licensing officers", "private sector housing manager"],
        datasets=[{"name": "entities.csv", "sha256": "0123abcd" * 8, "rows": 12000, "table": "entities"}],
        features={"complaints.noise_365d": "noise complaints in the last year | any kind"},
        metrics=metrics,
        audit=champion,
        baseline_audit=baseline,
        limitations=["Trained on three years of inspections only."],
        model_name="hmo-risk",
        model_version="4",
        created=dt.date(2024, 5, 1),
        organisation="Rivermouth Borough Council",
        **extra,
    )


MODEL_CARD_SECTIONS = [
    "Model details", "Intended use", "Intended users", "Out-of-scope uses", "Factors", "Metrics",
    "Training data", "Features", "Quantitative analysis: performance over time",
    "Quantitative analysis: fairness", "Ethical considerations", "Limitations", "Caveats and recommendations",
]


def test_model_card_has_the_model_card_sections_in_order(audits, tmp_path):
    paths = write_governance_pack(_facts(audits), tmp_path)
    md = paths["model_card_md"].read_text()
    headings = re.findall(r"^## (.+)$", md, flags=re.M)
    assert headings == MODEL_CARD_SECTIONS
    assert "- **Our problem is**: Unlicensed HMOs go unseen." in md
    assert "| 2023-07-01 | 0.3333 | 0.2500 |" in md  # metrics over time, dates and 4 decimals
    assert "0123abcd" * 8 in md  # the data's fingerprint
    assert "noise complaints in the last year \\| any kind" in md  # a pipe in a value does not break the table
    assert "Trained on three years of inspections only." in md


def test_fairness_figures_are_the_bias_report_figures(audits):
    champion, _ = audits
    card = model_card(_facts(audits))
    fairness = next(s for s in card.sections if s.title == "Quantitative analysis: fairness")
    table = next(b for b in fairness.blocks if b["kind"] == "table")
    published = {g["group"]: g for g in champion.to_dict()["groups"]}
    row = next(r for r in table["rows"] if r[1] == "deprived")
    g = published["deprived"]
    assert row[2] == str(g["n"])
    assert row[3] == f"{fmt.pct(g['selection_rate'])} (×{fmt.ratio(g['selection_rate_ratio'])})"
    items = [i for b in fairness.blocks if b["kind"] == "items" for i in b["items"]]
    assert any("the model is fairer than business as usual" in i for i in items)
    assert all(f in items for f in champion.findings)


def test_missing_facts_are_marked_and_counted_never_invented(audits, tmp_path):
    record = transparency_record(_facts(audits))
    fields = {f["label"]: f for s in record.sections for b in s.blocks if b["kind"] == "fields" for f in b["fields"]}
    assert fields["1.1 Organisation"]["value"] == "Rivermouth Borough Council"
    assert fields["1.2 Team"]["value"] == TO_COMPLETE and fields["1.2 Team"]["missing"]
    assert fields["2.4 Previous process"]["missing"]
    before = record.to_complete
    filled = transparency_record(_facts(audits, team="Private sector housing", previous_process="Complaints first"))
    assert filled.to_complete == before - 2
    md = write_governance_pack(_facts(audits), tmp_path)["transparency_record_md"].read_text()
    assert f"> {before} facts still to be completed by the owner" in md


def test_transparency_record_has_tier_1_and_tier_2(audits, tmp_path):
    paths = write_governance_pack(_facts(audits, capacity=200, risks=[("Over-inspection of deprived areas.",
                                                                       "Audit against business as usual.")]), tmp_path)
    md = paths["transparency_record_md"].read_text()
    headings = re.findall(r"^## (.+)$", md, flags=re.M)
    assert headings[0] == "Tier 1: summary"
    assert [h.split(".")[0] for h in headings[1:6]] == [f"Tier 2 · {i}" for i in (1, 2, 3, 4, 4)]
    for label in ("1.1 Organisation", "1.3 Senior responsible owner", "2.3 Benefits", "3.4 Human decisions and review",
                  "3.6 Appeals and review", "4.2 Phase", "4.8 Model architecture", "Data sharing agreements",
                  "5.1 Impact assessments"):
        assert f"**{label}" in md, label
    assert ("Our problem is unlicensed HMOs go unseen. If we could see which homes are likely to be HMOs, "
            "we would inspect those homes first.") in md
    assert "(the 200 highest scores, the team's capacity)" in md
    assert "| Over-inspection of deprived areas. | Audit against business as usual. |" in md
    assert "- **Sensitive attributes audited**: area" in md


def test_html_says_what_the_markdown_says(audits, tmp_path):
    facts = _facts(audits, team="<script>alert(1)</script>")
    paths = write_governance_pack(facts, tmp_path)
    for stem in ("model_card", "transparency_record"):
        md = paths[f"{stem}_md"].read_text()
        page = paths[f"{stem}_html"].read_text()
        for heading in re.findall(r"^## (.+)$", md, flags=re.M):
            assert f"<h2>{escape(_plain(heading))}</h2>" in page
        for label, value in re.findall(r"^- \*\*(.+?)\*\*: (.+)$", md, flags=re.M):
            assert f"<dt>{escape(_plain(label))}</dt>" in page and str(escape(_plain(value))) in page, label
        assert "<script>" not in md and "&lt;script&gt;" in md  # Markdown escapes the payload too
    assert "<script>alert" not in paths["transparency_record_html"].read_text()


def _plain(markdown_text: str) -> str:
    """What an escaped Markdown value says: backslash escapes and entities undone."""
    import html

    return html.unescape(re.sub(r"\\(.)", r"\1", markdown_text))


def test_facts_are_checked():
    with pytest.raises(RiskEngineError, match="Purpose"):
        RunFacts(pipeline="x", purpose="find HMOs", intended_use="", users=[])
    with pytest.raises(RiskEngineError, match="needs at least a 'name'"):
        RunFacts(pipeline="x", purpose=PURPOSE, intended_use="", users=[], datasets=[{"rows": 3}])
