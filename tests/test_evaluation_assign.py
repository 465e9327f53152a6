"""Stratified randomisation: reproducible from the seed, balanced within strata; units from spec or list."""

import textwrap

import numpy as np
import pandas as pd
import pytest

from riskengine.errors import DataError, SpecError
from riskengine.evaluation import assign_arms, design_trial, risk_bands
from riskengine.spec import load_spec

SPEC = textwrap.dedent("""
    kind = "evaluation"
    name = "hmo"
    pipeline = "hmo"
    [purpose]
    problem = "p"
    insight = "i"
    datasets = "d"
    action = "a"
    [design]
    baseline_rate = 0.10
    effect = 0.03
    seed = 7
    unit = "officer-weeks"
    n_officers = 5
    n_weeks = 9
    cluster_size = 10
    icc = 0.02
    strata = ["officer"]
""")


def write_spec(tmp_path, extra="", text=SPEC):
    path = tmp_path / "evaluation" / "trial.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text + textwrap.dedent(extra))
    return path


def scored_list(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"entity_id": [f"00{i:06d}" for i in range(n)], "score": rng.random(n),
                         "ward": rng.choice(["W1", "W2", "W3", "W4"], n),
                         "complaints": rng.poisson(2, n)})


def units(n=300, seed=1):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"unit_id": [f"u{i:04d}" for i in range(n)],
                         "band": rng.integers(1, 6, n), "ward": rng.choice(list("ABCDEFG"), n)})


def test_same_seed_same_assignment_whatever_the_row_order():
    u = units()
    first = assign_arms(u, arms=["model", "bau"], control="bau", ratio=1.0, strata=["band", "ward"], seed=11)
    shuffled = u.sample(frac=1.0, random_state=3)
    again = assign_arms(shuffled, arms=["model", "bau"], control="bau", ratio=1.0, strata=["band", "ward"], seed=11)
    pd.testing.assert_frame_equal(first, again)
    other = assign_arms(u, arms=["model", "bau"], control="bau", ratio=1.0, strata=["band", "ward"], seed=12)
    assert (other["arm"] != first["arm"]).any()


def test_arms_balanced_within_every_stratum_and_overall():
    out = assign_arms(units(), arms=["model", "bau"], control="bau", ratio=1.0,
                      strata=["band", "ward"], seed=5)
    counts = out.groupby(["stratum", "arm"]).size().unstack(fill_value=0)
    assert (counts["model"] - counts["bau"]).abs().max() <= 1
    assert abs((out["arm"] == "model").sum() - (out["arm"] == "bau").sum()) <= 1


def test_allocation_ratio_and_three_arms():
    out = assign_arms(units(600), arms=["model", "bau"], control="bau", ratio=2.0, strata=["band"], seed=1)
    for _, g in out.groupby("stratum"):
        assert abs((g["arm"] == "model").sum() - 2 * len(g) / 3) < 1
    three = assign_arms(units(600), arms=["a", "b", "bau"], control="bau", ratio=1.0, strata=["ward"], seed=2)
    counts = three.groupby(["stratum", "arm"]).size().unstack(fill_value=0)
    assert (counts.max(axis=1) - counts.min(axis=1)).max() <= 1
    assert three["arm"].value_counts().max() - three["arm"].value_counts().min() <= 1


def test_risk_band_one_holds_the_highest_scores_in_equal_bands():
    scores = pd.Series(np.random.default_rng(0).random(100))
    bands = risk_bands(scores, 5)
    assert bands.value_counts().tolist() == [20] * 5
    assert scores[bands == 1].min() > scores[bands == 2].max()


def test_design_from_spec_numbers_blocks_officer_weeks_by_officer(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    report = design_trial(spec, out_dir=tmp_path / "out")
    a = report.table
    assert len(a) == 5 * 9 and a["unit_id"].is_unique
    per_officer = a.groupby("officer")["arm"].value_counts().unstack()
    assert ((per_officer["model"] - per_officer["bau"]).abs() <= 1).all()
    assert report.data["power"]["units_available"] == 45
    assert report.data["evidence"]["level"] == 3
    saved = pd.read_csv(tmp_path / "out" / "assignment.csv")
    assert saved["arm"].tolist() == a["arm"].tolist()
    html = (tmp_path / "out" / "trial_design.html").read_text()
    assert "Hypothesis" in html and "Level 3" in html and "1,769" in html


def test_design_with_a_list_stratifies_entities_by_risk_band_and_ward(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    lst = scored_list()
    report = design_trial(spec, lst, out_dir=tmp_path / "out")
    a = report.table
    assert report.data["unit"] == "entities" and report.data["strata"] == ["risk_band", "ward"]
    assert set(a["entity_id"]) == set(lst["entity_id"])
    counts = a.groupby(["risk_band", "ward", "arm"]).size().unstack(fill_value=0)
    assert (counts["model"] - counts["bau"]).abs().max() <= 1
    assert report.data["power"]["design_effect"] == 1.0
    smd = {row["variable"]: row["smd"]["model"] for row in report.data["balance"]}
    assert abs(smd["score"]) < 0.1 and "complaints" in smd
    saved = pd.read_csv(tmp_path / "out" / "assignment.csv", dtype={"entity_id": str})
    assert "complaints" not in saved.columns  # the list's other columns stay out of the file
    assert saved["entity_id"].tolist() == a["entity_id"].tolist()
    assert design_trial(spec, lst.iloc[::-1]).table["arm"].tolist() == a["arm"].tolist()


def test_list_top_k_and_ward_units(tmp_path):
    spec = load_spec(write_spec(tmp_path, "top_k = 100\nlist_unit = \"wards\"\nlist_strata = [\"risk_band\"]\nn_bands = 2\n"))
    report = design_trial(spec, scored_list())
    assert report.data["unit"] == "wards" and len(report.table) == 4
    assert report.table["n_listed"].sum() == 100
    assert report.data["power"]["cluster_size"] == 10


def test_unit_entities_without_a_list_is_a_spec_error(tmp_path):
    spec = load_spec(write_spec(tmp_path, text=SPEC.replace('"officer-weeks"', '"entities"').replace('strata = ["officer"]', "")))
    with pytest.raises(SpecError, match="design.unit"):
        design_trial(spec)


def test_list_without_the_ward_column_names_file_and_column(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    with pytest.raises(DataError, match=r"mylist.csv: no column 'ward'"):
        design_trial(spec, scored_list().drop(columns="ward"), list_name="mylist.csv")


def test_spec_errors_name_the_file_and_the_key(tmp_path):
    with pytest.raises(SpecError, match=r"trial.toml: unknown key 'design.icc_typo'"):
        load_spec(write_spec(tmp_path, "icc_typo = 0.1\n"))
    bad = SPEC.replace('strata = ["officer"]', 'strata = ["ward"]')
    with pytest.raises(SpecError, match=r"trial.toml: \[design\]: 'strata' \['ward'\] cannot be used"):
        load_spec(write_spec(tmp_path, text=bad))
    with pytest.raises(SpecError, match="baseline_rate"):
        load_spec(write_spec(tmp_path, text=SPEC.replace("baseline_rate = 0.10", "baseline_rate = 0.99")))


def test_shipped_hmo_spec_loads():
    from pathlib import Path

    spec = load_spec(Path(__file__).parents[1] / "evaluation" / "hmo.toml")
    assert spec.kind == "evaluation" and spec.pipeline == "hmo" and spec.model_alias == "champion"
    assert spec.design.n_officers * spec.design.n_weeks >= 418
