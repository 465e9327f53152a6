"""The shipped training spec, end to end on a small borough: MLflow run, registered champion,
summary for machines, governance pack; and the truth-based view on the synthetic data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from riskengine.synth import synth
    from riskengine.training import train

    root = tmp_path_factory.mktemp("train_e2e")
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}", "RISKENGINE_PSEUDONYM_KEY": "ab" * 32}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        synth(root / "borough", properties=3000, seed=11, progress=False)
        spec = root / "training" / "hmo.toml"
        spec.parent.mkdir()
        spec.write_text((ROOT / "training" / "hmo.toml").read_text().replace("out/borough/", f"{root / 'borough'}/"))
        result = train(spec, out=root / "out", quiet=True)
        yield root, result
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def test_summary_for_machines_has_the_promised_keys(trained):
    root, result = trained
    summary = json.loads((root / "out" / "summary.json").read_text())
    assert summary["pipeline"] == "hmo" and summary["k"] == 100
    assert summary["model_uri"] == "models:/hmo@champion" and summary["run_id"]
    assert summary["champion"] in summary["candidates"]
    assert set(summary["baselines"]) == {"business_as_usual", "random"}
    for block in (*summary["candidates"].values(), *summary["baselines"].values()):
        assert {"precision_at_k", "recall_at_k", "roc_auc", "per_split"} <= set(block)
        assert len(block["per_split"]) == 4
        assert all(len(s["test_as_of"]) == 10 for s in block["per_split"])
        # worst/best over tie orders: the mean of each split's; the spread over time: lowest/highest split
        per = pd.DataFrame(block["per_split"])
        for key in ("precision_at_k", "precision_at_k_worst", "precision_at_k_best"):
            assert block[key] == pytest.approx(per[key].mean(), abs=1e-6)
        assert block["precision_at_k_lowest_split"] == pytest.approx(per["precision_at_k"].min(), abs=1e-6)
        assert block["precision_at_k_highest_split"] == pytest.approx(per["precision_at_k"].max(), abs=1e-6)
        assert (per["precision_at_k_worst"] <= per["precision_at_k"] + 1e-9).all()
        assert (per["precision_at_k"] <= per["precision_at_k_best"] + 1e-9).all()
    assert {"true_precision_at_k", "bayes_precision_at_k"} <= set(summary["oracle"])
    assert summary["link"]["provenance"]["probabilistic"] > 0  # the messy rows went through linkage


def _features_now(root, result, n=300):
    """Feature rows for some entities as of the last split's test date, built as scoring builds them."""
    from riskengine.features import build_features
    from riskengine.ingest import load_data
    from riskengine.prepare import feature_events, given_features
    from riskengine.spec import load_spec

    spec = load_spec(root / "training" / "hmo.toml")
    data = load_data(spec.data)
    when = pd.Timestamp(result.summary["splits"][-1]["test_as_of"])
    entities = data.entities.sample(n, random_state=0)
    fs = build_features(entities, feature_events(data, spec.features), [when], spec.features,
                        given=given_features(spec.features), reference=result.feature_info)
    return fs.table


def test_champion_is_registered_and_loadable_by_alias(trained):
    """The registered champion, loaded back from the registry two ways, predicts exactly what the
    in-memory champion predicts, from inputs typed as the registry's signature types them."""
    from riskengine.scoring import load_model

    root, result = trained
    store = f"sqlite:///{root / 'mlflow.db'}"
    version = MlflowClient(tracking_uri=store).get_model_version_by_alias("hmo", "champion")
    assert version.run_id == result.run_id and str(version.version) == str(result.summary["model_version"])

    table = _features_now(root, result)
    features = list(result.champion.features_)
    assert features == result.feature_info["name"].tolist()
    expected_raw = result.champion.raw_score(table)
    expected_p = result.champion.predict_proba(table)[:, 1]
    assert expected_p.std() > 0 and ((expected_p > 0) & (expected_p < 1)).all()

    loaded = load_model("hmo")  # scoring's loader: what every stage uses
    assert loaded.version == str(version.version) and loaded.run_id == result.run_id
    np.testing.assert_array_equal(loaded.model.raw_score(table), expected_raw)
    np.testing.assert_allclose(loaded.model.predict_proba(table)[:, 1], expected_p, rtol=0, atol=1e-12)

    # MLflow's own pyfunc path, with the signature's types (categories as text, numbers as doubles)
    mlflow.set_tracking_uri(store)
    pyfunc = mlflow.pyfunc.load_model("models:/hmo@champion")
    X = table[features].copy()
    for col in X.columns:
        if col in result.champion.categories_:
            X[col] = X[col].astype(object).where(X[col].notna(), None).astype(str)
        else:
            X[col] = pd.to_numeric(X[col], errors="coerce").astype("float64")
    out = pyfunc.predict(X)
    np.testing.assert_allclose(out["raw_score"].to_numpy(), expected_raw, rtol=0, atol=1e-9)
    np.testing.assert_allclose(out["probability"].to_numpy(), expected_p, rtol=0, atol=1e-9)


def test_champion_calibration_is_cross_fitted_and_shown_out_of_sample(trained):
    """The calibrator maps the refitted champion's own scores; the published calibration is out of sample."""
    root, result = trained
    cal = result.calibration
    summary = json.loads((root / "out" / "summary.json").read_text())
    assert cal.folds >= 2 and summary["calibration_scheme"].startswith("cross-fitted")
    assert len(cal.rows) == summary["training_rows"]
    # out-of-fold scores come from copies of the champion, so they sit on its scale: their spread
    # is close to the champion's own spread over the same kind of rows
    own = result.champion.raw_score(_features_now(root, result, n=1500))
    assert 0.5 < cal.rows["raw_score"].std() / own.std() < 2.0
    # the calibrated probabilities of the population average to about the labelled base rate
    base_rate = summary["positive_rows"] / summary["training_rows"]
    p = result.champion.probability_from_raw(cal.rows["raw_score"].to_numpy())
    assert abs(p.mean() - base_rate) < 0.02
    # summary.json's calibration table is the out-of-sample one
    from riskengine.training._metrics import calibration_table

    table = calibration_table(cal.rows["label"].to_numpy(), cal.rows["probability"].to_numpy()).round(4)
    assert summary["calibration"] == table.to_dict("records")


def test_candidates_beat_random_and_nested_runs_exist(trained):
    root, result = trained
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("hmo").experiment_id])
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == result.run_id]
    assert {r.info.run_name for r in children} >= {"random", "business_as_usual", result.summary["champion"]}
    parent = next(r for r in runs if r.info.run_id == result.run_id)
    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"plots", "governance", "fingerprints.json", "versions.json", "spec.json"} <= artifacts
    assert parent.data.tags["pipeline"] == "hmo"
    m = result.summary
    assert m["candidates"][m["champion"]]["roc_auc"] > m["baselines"]["random"]["roc_auc"] + 0.1


def test_governance_pack_says_what_governance_needs_to_know(trained):
    root, result = trained
    gov = root / "out" / "governance"
    card = (gov / "model_card.md").read_text()
    # the champion, the list's capacity from the scoring spec and the k models were compared at, both named
    assert result.summary["champion"] in card or "Logistic" in card or "LightGBM" in card
    assert "- **Capacity (entities on each list, from the scoring spec)**: 50" in card
    assert "precision at k = 100 (metric.k, the capacity models are compared at)" in card
    assert "the list itself holds 50 (capacity in scoring/hmo.toml)" in card
    record = (gov / "transparency_record.md").read_text()
    assert result.spec.purpose.problem.lower().rstrip(".") in record.lower() and "homes the team looks at first" in record
    last = json.loads((gov / "last_split" / "bias_report.json").read_text())
    assert {g["attribute"] for g in last["audit"]["groups"]} == {"imd_decile", "segment", "ward"}
    assert last["audit"]["overall"]["flagged"] == min(100, last["audit"]["overall"]["n"])
    selection = (gov / "selection" / "bias_report.html").read_text()
    assert "homes inspected in the year before" in selection


def test_no_personal_identifiers_reach_outputs_or_mlflow(trained):
    from riskengine.link import pseudonymisation_scan

    root, _ = trained
    holders = pd.read_csv(root / "borough" / "events" / "council_tax.csv", dtype=str)["account_holder"].dropna()
    assert (root / "artifacts").is_dir()  # MLflow's artefacts sit beside its database
    # a name written as a forename alone ("Li") or with an initial ("L Ward") is also part of ordinary words
    # ("optional ward"): the full names are watched
    full = [h for h in holders.unique() if min(len(w) for w in h.replace(",", " ").split()) > 1 and " " in h]
    leaks = pseudonymisation_scan([root / "out", root / "artifacts"], full)
    assert leaks == []


def test_backtest_trains_on_the_past_only_and_writes_its_summary(trained, tmp_path, monkeypatch):
    import riskengine.training
    from riskengine.evaluation import backtest

    root, result = trained
    seen = []
    real = riskengine.training.fit_pipeline

    def spy(spec, data, events, *args, **kwargs):
        fitted = real(spec, data, events, *args, **kwargs)
        seen.append((data.outcomes["date"].max(), fitted.table))
        return fitted

    monkeypatch.setattr(riskengine.training, "fit_pipeline", spy)
    start = pd.Timestamp("2025-01-01")
    s = backtest(root / "training" / "hmo.toml", start, "2026-01-01", out_dir=tmp_path)
    # the model was trained once, on outcomes dated before --from only, and every training
    # row's label window closed by then
    assert len(seen) == 1
    latest_outcome, table = seen[0]
    assert latest_outcome < start
    assert (table["as_of"] < start).all() and (table["label_window_end"] <= start).all()
    assert len(table) > 100 and table["label"].sum() > 10
    assert s["n"] > 0 and 0 < s["positives"] <= s["n"]
    assert {"mean", "median", "sd", "p_value"} <= set(s["days_earlier"])
    assert {"actual", "model"} <= set(s["first_half"]) and s["roc_auc"] is not None
    rows = pd.read_csv(tmp_path / "inspections.csv")
    assert len(rows) == s["n"] and sorted(rows["date"]) == sorted(rows["model_date"])
    assert (rows["date"] >= "2025-01-01").all() and (rows["date"] < "2026-01-01").all()
    assert (tmp_path / "summary.json").is_file() and (tmp_path / "found_over_time.png").is_file()


def test_a_ready_feature_table_trains_without_events(trained, tmp_path):
    """The spec's other path: features given as a table keyed by entity_id and as_of."""
    from riskengine.features import build_features
    from riskengine.ingest import load_data
    from riskengine.prepare import feature_events
    from riskengine.spec import load_spec
    from riskengine.training import train
    from riskengine.training._rows import as_of_dates

    root, _ = trained
    spec = load_spec(root / "training" / "hmo.toml")
    data = load_data(spec.data)
    dates = as_of_dates(spec.labels, data.outcomes)
    fs = build_features(data.entities, feature_events(data, spec.features), dates, spec.features)
    keep = ["complaints__noise__count_365d", "council_tax__account_change__count_1095d",
            "electoral_register__surnames__last", "housing_benefit__claim__count_365d"]
    table = fs.table[["entity_id", "as_of", *keep]]
    table.to_parquet(tmp_path / "given.parquet")
    text = (root / "training" / "hmo.toml").read_text()
    text = text.replace('windows = [90, 365, 1095]', f'windows = [90, 365, 1095]\ntable = "{tmp_path / "given.parquet"}"\n'
                        'from_events = false\noutcomes_as_events = false')
    text = text.replace('business_as_usual = ["complaints__noise__count_365d", "complaints__waste__count_365d", '
                        '"complaints__pest__count_365d"]', 'business_as_usual = ["complaints__noise__count_365d"]')
    spec_path = tmp_path / "training" / "given.toml"
    spec_path.parent.mkdir()
    spec_path.write_text(text)
    result = train(spec_path, out=tmp_path / "out", log_mlflow=False, quiet=True)
    given = set(result.feature_info.loc[result.feature_info["stat"] == "given", "name"])
    assert given == set(keep)
    assert set(result.feature_info["stat"]) <= {"given", "static"}
    assert result.summary["candidates"][result.summary["champion"]]["roc_auc"] > 0.55
