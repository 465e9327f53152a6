"""The files: list.csv (byte-identical reruns), list.xlsx for printing, list.html offline, scores.parquet;
and the clear errors for a missing model or data that no longer matches it."""

from __future__ import annotations

import json
import re

import numpy as np
import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from riskengine.errors import RiskEngineError
from riskengine.model import RiskModel
from riskengine.scoring import LoadedModel, check_features, score_frames
from riskengine.spec import ScoringExclusions, ScoringExploration, ScoringSpec

AS_OF = pd.Timestamp("2024-06-03")
PURPOSE = {"problem": "Unlicensed HMOs are found late.", "insight": "Which homes look like the HMOs found before.",
           "datasets": "Complaints and council-tax records.", "action": "Give the team a weekly list."}


@pytest.fixture(scope="module")
def borough():
    """Entities with wards and coordinates, a feature table, and a LightGBM model with a categorical feature."""
    rng = np.random.default_rng(1)
    n = 1500
    entities = pd.DataFrame({"entity_id": [f"10{i:07d}" for i in range(n)], "ward": rng.choice([f"Ward {c}" for c in "ABCDEF"], n),
                             "lat": 51.50 + rng.normal(0, 0.02, n), "lon": -0.12 + rng.normal(0, 0.03, n),
                             "owner_name": "never in outputs"})
    table = pd.DataFrame({"entity_id": entities["entity_id"], "as_of": AS_OF,
                          "property_type": pd.Categorical(rng.choice(["flat", "terraced", "detached"], n)),
                          "complaints__noise__count_365d": rng.poisson(1.0, n),
                          "council_tax__account_change__count_1095d": rng.poisson(0.7, n)})
    logit = (0.8 * table["complaints__noise__count_365d"] + 0.6 * table["council_tax__account_change__count_1095d"]
             + (table["property_type"] == "terraced") - 3)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit.astype(float)))).astype(int)
    cats = {"property_type": ["detached", "flat", "terraced"]}
    model = RiskModel("lightgbm", {"n_estimators": 40, "num_leaves": 7, "min_child_samples": 10}, cats)
    model.fit(table.drop(columns=["entity_id", "as_of"]), y)
    model.calibrate(model.raw_score(table), y)
    info = pd.DataFrame({
        "name": ["property_type", "complaints__noise__count_365d", "council_tax__account_change__count_1095d"],
        "source": ["entities", "complaints", "council_tax"], "type": ["property_type", "noise", "account_change"],
        "stat": ["static", "count", "count"], "window_days": pd.array([pd.NA, 365, 1095], dtype="Int64"),
        "unit": [None, "events", "events"], "label": ["property type", "noise complaints", "council-tax account changes"],
        "categorical": [True, False, False], "categories": [cats["property_type"], None, None]})
    events = pd.DataFrame({"source": ["planning"], "entity_id": [entities["entity_id"][0]],
                           "date": [pd.Timestamp("2023-01-01")], "type": ["licence_application"]})
    outcomes = pd.DataFrame({"entity_id": [entities["entity_id"][1]], "date": [pd.Timestamp("2024-01-01")], "outcome": [0.0]})
    loaded = LoadedModel(model, info, "models:/hmo@champion", "3", "train-run")
    return entities, table, events, outcomes, loaded


SPEC = ScoringSpec(pipeline="hmo", capacity=40, quotas={"ward": 9},
                   exclusions=ScoringExclusions(inspected_within_months=12, already_licensed=True),
                   exploration=ScoringExploration(share=0.1, seed=5))


def _run(borough, out, table=None, entities=None):
    ents, tab, events, outcomes, loaded = borough
    return score_frames(SPEC, tab if table is None else table, ents if entities is None else entities, events, outcomes,
                        AS_OF, loaded, out, purpose=PURPOSE, fingerprint="f" * 64)


@pytest.fixture(scope="module")
def result(borough, tmp_path_factory):
    return _run(borough, tmp_path_factory.mktemp("out") / "hmo" / str(AS_OF.date()))


def test_list_csv_has_the_promised_columns_in_rank_order(result):
    df = pd.read_csv(result.paths["list_csv"], dtype={"entity_id": str})
    assert list(df.columns) == ["rank", "entity_id", "score", "probability", "reason_1", "reason_2", "reason_3",
                                "ward", "lat", "lon", "exploration", "inclusion_probability"]
    assert list(df["rank"]) == list(range(1, 41))
    assert df["exploration"].sum() == 4 and not df["exploration"][:36].any()
    assert df.loc[~df["exploration"], "score"].is_monotonic_decreasing
    assert df["ward"].value_counts().max() <= 9 + 4
    assert df.loc[~df["exploration"], "reason_1"].str.contains(r"\(raises the risk( a lot| a little)?\)$").all()
    assert "owner_name" not in df.columns  # only ids, scores, reasons and where


def test_same_inputs_give_a_byte_identical_list(borough, result, tmp_path):
    again = _run(borough, tmp_path / "again")
    assert again.paths["list_csv"].read_bytes() == result.paths["list_csv"].read_bytes()
    ents, tab, *_ = borough
    shuffled = _run(borough, tmp_path / "shuffled", table=tab.sample(frac=1, random_state=2),
                    entities=ents.sample(frac=1, random_state=3))
    assert shuffled.paths["list_csv"].read_bytes() == result.paths["list_csv"].read_bytes()


def test_scores_parquet_has_every_entity_with_its_exclusion_and_place(borough, result):
    ents = borough[0]
    s = pd.read_parquet(result.paths["scores"])
    assert len(s) == len(ents) and set(s["entity_id"]) == set(ents["entity_id"])
    assert {"entity_id", "score", "probability", "excluded", "rank", "exploration"} <= set(s.columns)
    by_id = s.set_index("entity_id")
    assert by_id.at[ents["entity_id"][0], "excluded"] == "already licensed"
    assert by_id.at[ents["entity_id"][1], "excluded"] == "inspected in the last 12 months"
    assert by_id["rank"].notna().sum() == 40 and by_id["exploration"].sum() == 4


def test_xlsx_is_formatted_for_printing(result):
    wb = openpyxl.load_workbook(result.paths["list_xlsx"])
    ws = wb.active
    assert ws.max_row == 41
    assert all(c.font.bold for c in ws[1]) and ws["A1"].value == "Rank"
    assert ws.freeze_panes == "A2"
    assert ws.page_setup.orientation == "landscape"
    assert ws.page_setup.fitToWidth == 1 and ws.page_setup.fitToHeight == 0 and ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.print_title_rows == "$1:$1"
    widths = {ws.cell(1, j).value: ws.column_dimensions[openpyxl.utils.get_column_letter(j)].width for j in range(1, ws.max_column + 1)}
    assert widths["Reason 1"] > widths["Rank"]
    assert ws["B2"].value == result.listed["entity_id"][0]
    assert ws.cell(41, ws.max_column - 1).value == "random (exploration)"


def test_page_is_self_contained_and_shows_purpose_table_and_map(result):
    html = result.paths["list_html"].read_text()
    # nothing is fetched: no external scripts, styles, images or fonts
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "url(http" not in html
    for statement in PURPOSE.values():
        assert statement in html
    assert html.index("Our problem is") < html.index('id="list"')
    assert html.count('class="marker') == 40
    assert html.count("<tr data-rank=") == 40
    assert "data:image/png;base64," in html  # the SHAP summary of the list


def test_json_twin_holds_the_figures_on_the_page(result):
    doc = json.loads(result.paths["list_json"].read_text())
    csv = pd.read_csv(result.paths["list_csv"], dtype={"entity_id": str})
    assert [r["entity_id"] for r in doc["rows"]] == list(csv["entity_id"])
    assert [r["rank"] for r in doc["rows"]] == list(csv["rank"])
    np.testing.assert_allclose([r["probability"] for r in doc["rows"]], csv["probability"], atol=1e-4)
    assert doc["purpose"] == PURPOSE and doc["meta"]["capacity"] == 40
    assert len(doc["map"]["markers"]) == 40 and doc["meta"]["exploration_rows"] == 4
    html = result.paths["list_html"].read_text()
    first = doc["rows"][0]
    assert f"{first['probability'] * 100:.0f}%" in html and first["chance"] in html and first["reasons"][0] in html
    assert "log-odds" not in html and ">score<" not in html  # inspectors read chances and words


def test_features_missing_from_the_data_are_named(borough):
    _, table, _, _, loaded = borough
    with pytest.raises(RiskEngineError, match="council_tax__account_change__count_1095d.*retrain"):
        check_features(table.drop(columns=["council_tax__account_change__count_1095d"]), loaded)
    signed = LoadedModel(loaded.model, loaded.info, loaded.uri, "3", None, [*loaded.model.features_, "epc__lodgement__count_all"])
    with pytest.raises(RiskEngineError, match=r"models:/hmo@champion \(version 3\).*epc__lodgement__count_all"):
        check_features(table, signed)


def test_the_command_reports_a_missing_training_spec_in_one_line(tmp_path, monkeypatch):
    import riskengine.cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "scoring").mkdir()
    (tmp_path / "scoring" / "ghost.toml").write_text('pipeline = "ghost"\n')
    res = CliRunner().invoke(riskengine.cli.app, ["score", "scoring/ghost.toml", "--no-mlflow"])
    assert res.exit_code == 2
    assert "training spec for pipeline 'ghost' not found" in res.output and "Traceback" not in res.output


def test_the_default_as_of_date_is_today_or_the_day_after_the_data_ends():
    from types import SimpleNamespace

    from riskengine.scoring import default_as_of

    data = SimpleNamespace(sources={"complaints": pd.DataFrame({"date": pd.to_datetime(["2024-03-01", "2024-05-30"])})},
                           outcomes=pd.DataFrame({"date": pd.to_datetime(["2024-06-02"])}))
    assert default_as_of(data, today=pd.Timestamp("2025-01-01").date()) == pd.Timestamp("2024-06-03")
    assert default_as_of(data, today=pd.Timestamp("2024-06-01").date()) == pd.Timestamp("2024-06-01")


def test_a_bad_as_of_date_is_named():
    import riskengine.cli

    res = CliRunner().invoke(riskengine.cli.app, ["score", "scoring/hmo.toml", "--as-of", "01/06/2024"])
    assert res.exit_code == 2 and "--as-of expected a date as YYYY-MM-DD" in res.output


def test_the_shap_chart_names_features_in_plain_english():
    from riskengine.scoring._outputs import plain_names

    info = pd.DataFrame({"name": ["housing_benefit__claim__count_all", "complaints__noise__count_365d", "bedrooms"],
                         "stat": ["count", "count", "static"], "window_days": [None, 365, None],
                         "label": ["housing-benefit claims", "noise complaints", "bedrooms"]})
    names = plain_names(["housing_benefit__claim__count_all", "complaints__noise__count_365d", "bedrooms", "other_col"], info)
    assert names["housing_benefit__claim__count_all"] == "housing-benefit claims, all time"
    assert names["complaints__noise__count_365d"] == "noise complaints, last 12 months"
    assert names["bedrooms"] == "bedrooms" and "__" not in names["other_col"]
