"""Training's parts one by one: the model as a scikit-learn estimator, the grid, the baselines,
the champion rule with its tie tolerance, cross-fitted calibration, and determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from riskengine.errors import RiskEngineError
from riskengine.model import RiskModel, apply_calibrator, complexity, fit_calibrator
from riskengine.spec import BaselineSpec, ModelSpec, SelectionSpec
from riskengine.training import (
    baseline_scores,
    calibrate_champion,
    choose_champion,
    expand_grid,
)
from riskengine.training._calibration import cross_fitted_probabilities, fold_of


def _data(n=1200, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.poisson(2, n).astype(float),
                      "kind": rng.choice(["flat", "house", "shop"], n)})
    logit = -1.5 + 1.2 * X["a"] + 0.4 * X["b"] + np.where(X["kind"] == "shop", 1.0, 0.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()
    return X, y


CATS = {"kind": ["flat", "house", "shop"]}
SMALL = {"n_estimators": 40, "num_leaves": 7, "min_child_samples": 10}


# -- the estimator ------------------------------------------------------------------------

def test_risk_model_is_a_scikit_learn_estimator():
    params, cats = dict(SMALL), dict(CATS)
    model = RiskModel("lightgbm", params, cats, "isotonic", 3)
    assert model.params is params and model.categories is cats  # stored as given, not copied or rewritten
    assert RiskModel().params is None and RiskModel().categories is None
    assert model.get_params() == {"kind": "lightgbm", "params": params, "categories": cats,
                                  "calibration": "isotonic", "seed": 3}
    with pytest.raises(NotFittedError):
        model.raw_score(pd.DataFrame({"a": [1.0]}))
    X, y = _data()
    model.fit(X, y)
    fresh = clone(model)
    assert fresh.get_params()["params"] == params and not hasattr(fresh, "estimator_")
    fresh.set_params(seed=3).fit(X, y)
    np.testing.assert_array_equal(fresh.raw_score(X), model.raw_score(X))  # same parameters, same model
    learned = [k for k in vars(model) if k not in model.get_params()]
    assert learned and all(k.endswith("_") for k in learned), learned
    assert list(model.classes_) == [0, 1] and model.n_features_in_ == 3
    assert model.predict(X).shape == (len(X),) and set(np.unique(model.predict(X))) <= {0, 1}


@pytest.mark.parametrize("kind", ["lightgbm", "logistic_regression"])
def test_the_model_reads_its_input_the_same_whatever_the_dtypes(kind):
    """Text numbers, categories as text or pandas categories, unseen and missing categories."""
    X, y = _data()
    model = RiskModel(kind, SMALL if kind == "lightgbm" else {"C": 1.0}, CATS).fit(X, y)
    as_text = X.astype({"a": str, "b": str})
    as_category = X.astype({"kind": pd.CategoricalDtype(CATS["kind"])})
    expected = model.raw_score(X)
    np.testing.assert_allclose(model.raw_score(as_text), expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(model.raw_score(as_category), expected)
    odd = pd.DataFrame({"a": [0.5] * 3, "b": [2.0] * 3, "kind": ["castle", None, "shop"]})  # unseen, missing, known
    raw = model.raw_score(odd)
    assert raw[0] == raw[1] != raw[2]  # an unseen category reads as a missing one
    M = model.matrix(odd)
    assert np.isnan(M[:2, 2]).all() and M[2, 2] == 2.0  # the model's own code for "shop"


def test_the_logistic_path_keeps_its_behaviour():
    """Signed-log scaled numbers, one-hot categories: the score follows the true signs."""
    X, y = _data(4000, seed=1)
    model = RiskModel("logistic_regression", {"C": 1.0}, CATS).fit(X, y)
    base = X.head(1).assign(a=0.0, b=2.0, kind="flat")
    higher_a, shop = base.assign(a=1.0), base.assign(kind="shop")
    s0, s1, s2 = (model.raw_score(d)[0] for d in (base, higher_a, shop))
    assert s1 > s0 and s2 > s0
    auc_model = pd.Series(model.raw_score(X)).rank().to_numpy()
    assert np.corrcoef(auc_model, y)[0, 1] > 0.3


def test_complexity_is_defined_once():
    assert complexity("logistic_regression", {"C": 1}) == 0
    assert complexity("lightgbm", {"num_leaves": 7, "n_estimators": 150}) == 1050
    assert complexity("lightgbm", {}) == 31 * 200  # the family's defaults, as fitted
    assert [c.complexity for c in expand_grid([ModelSpec("m", "lightgbm", {}, {"num_leaves": [7]})])] == [7 * 200]


# -- candidates and baselines -------------------------------------------------------------

def test_expand_grid_gives_one_named_candidate_per_combination():
    models = [ModelSpec("lgbm", "lightgbm", {"learning_rate": 0.1, "num_leaves": 3},
                        {"num_leaves": [7, 15], "n_estimators": [100, 200]}),
              ModelSpec("logistic", "logistic_regression", {"C": 1.0})]
    out = expand_grid(models)
    assert [c.name for c in out] == [
        "lgbm[n_estimators=100,num_leaves=7]", "lgbm[n_estimators=100,num_leaves=15]",
        "lgbm[n_estimators=200,num_leaves=7]", "lgbm[n_estimators=200,num_leaves=15]", "logistic"]
    assert out[1].params == {"learning_rate": 0.1, "num_leaves": 15, "n_estimators": 100}  # grid over fixed
    assert out[-1].kind == "logistic_regression" and out[-1].params == {"C": 1.0}
    assert models[0].params == {"learning_rate": 0.1, "num_leaves": 3}  # the spec is left as it was


def test_baseline_scores():
    X = pd.DataFrame({"c1": [1.0, np.nan, 3.0, 0.0], "c2": [0.0, 2.0, np.nan, 0.0]})
    out = baseline_scores(BaselineSpec(["c1", "c2"], random=True), X, seed=4)
    np.testing.assert_array_equal(out["business_as_usual"], [1.0, 2.0, 3.0, 0.0])  # missing counts as none
    np.testing.assert_array_equal(out["random"], baseline_scores(BaselineSpec([], True), X, seed=4)["random"])
    assert not np.array_equal(out["random"], baseline_scores(BaselineSpec([], True), X, seed=5)["random"])
    assert set(baseline_scores(BaselineSpec([], random=False), X, 0)) == set()
    with pytest.raises(RiskEngineError, match="c3"):
        baseline_scores(BaselineSpec(["c1", "c3"]), X, 0)


# -- the champion rule --------------------------------------------------------------------

def _metrics(table: dict[str, list[float]]) -> pd.DataFrame:
    rows = [{"candidate": name, "family": "baseline" if name.startswith("bau") else "model", "split": i,
             "precision_at_k": p} for name, ps in table.items() for i, p in enumerate(ps)]
    return pd.DataFrame(rows)


def test_champion_by_mean_precision_with_ties_going_to_the_simpler():
    m = _metrics({"big": [0.40, 0.42], "small": [0.40, 0.415], "linear": [0.30, 0.30], "bau": [0.9, 0.9]})
    cx = {"big": 100.0, "small": 10.0, "linear": 0.0}
    # within 0.005 of the best mean: tied, and the simpler wins
    assert choose_champion(m, SelectionSpec(tolerance=0.005), cx).champion == "small"
    # no tolerance: the best mean wins; the baseline is never chosen even when it is best
    choice = choose_champion(m, SelectionSpec(tolerance=0.0), cx)
    assert choice.champion == "big" and "bau" not in choice.table.index
    assert "within 0 of the best" in choice.rule_text
    # regret per row: the best learnable candidate in that split minus this one
    assert choice.regret[m.index[(m["candidate"] == "linear") & (m["split"] == 1)]].item() == pytest.approx(0.12)


def test_champion_by_last_split_and_by_worst_regret():
    m = _metrics({"steady": [0.40, 0.60, 0.60, 0.42], "spiky": [0.00, 0.90, 0.90, 0.44], "late": [0.0, 0.0, 0.0, 0.46]})
    cx = {"steady": 1.0, "spiky": 2.0, "late": 3.0}
    assert choose_champion(m, SelectionSpec("mean_precision_at_k", 0.0), cx).champion == "spiky"
    assert choose_champion(m, SelectionSpec("last_precision_at_k", 0.0), cx).champion == "late"
    assert choose_champion(m, SelectionSpec("min_regret", 0.0), cx).champion == "steady"
    # equal complexity and tied: the better criterion breaks the tie
    assert choose_champion(m, SelectionSpec("last_precision_at_k", 0.02), {k: 1.0 for k in cx}).champion == "late"


# -- calibration --------------------------------------------------------------------------

def test_folds_keep_an_entity_together_and_hold_both_classes():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(300), 3)
    y = (rng.random(900) < 0.2).astype(int)
    folds = fold_of(y, groups, 5, seed=1)
    assert set(folds) == set(range(5))
    assert pd.Series(folds).groupby(groups).nunique().max() == 1
    assert all(0 < y[folds == f].sum() < (folds == f).sum() for f in range(5))
    np.testing.assert_array_equal(folds, fold_of(y, groups, 5, seed=1))
    assert (fold_of(np.array([1, 0, 0, 0]), np.arange(4), 5, 0) == -1).all()  # one positive: no folds


def test_each_rows_calibrated_probability_ignores_its_own_fold():
    rng = np.random.default_rng(2)
    raw = rng.normal(size=600)
    y = (rng.random(600) < 1 / (1 + np.exp(-2 * raw))).astype(int)
    folds = np.arange(600) % 3
    for method in ("sigmoid", "isotonic"):
        p = cross_fitted_probabilities(method, raw, y, folds)
        flipped = y.copy()
        flipped[folds == 0] = 1 - flipped[folds == 0]
        q = cross_fitted_probabilities(method, raw, flipped, folds)
        np.testing.assert_array_equal(p[folds == 0], q[folds == 0])  # fold 0's own labels are not used
        assert not np.allclose(p[folds == 1], q[folds == 1])  # but they are used for the others


def test_the_champion_is_calibrated_on_out_of_fold_scores_of_copies_of_itself():
    X, y = _data(1500, seed=3)
    groups = np.arange(len(y)) // 2  # two rows per entity
    champion = RiskModel("lightgbm", SMALL, CATS, "sigmoid", seed=7).fit(X, y)
    cal = calibrate_champion(champion, X, y, groups, n_folds=4, seed=7)
    assert cal.folds == 4 and cal.scheme.startswith("cross-fitted")
    folds = cal.rows["fold"].to_numpy()
    # the scores it was fitted on: a copy of the champion fitted without the fold, scoring the fold
    held = folds == 2
    copy = RiskModel("lightgbm", SMALL, CATS, "none", seed=7).fit(X[~held], y[~held])
    np.testing.assert_array_equal(cal.rows["raw_score"].to_numpy()[held], copy.raw_score(X[held]))
    # the champion's calibrator is the one fitted on all those out-of-fold scores
    direct = apply_calibrator(fit_calibrator("sigmoid", cal.rows["raw_score"], y), champion.raw_score(X))
    np.testing.assert_allclose(champion.predict_proba(X)[:, 1], direct, rtol=0, atol=1e-12)
    # the published calibration is out of sample and near the diagonal on average
    assert abs(cal.rows["probability"].mean() - y.mean()) < 0.02


def test_too_few_positives_leaves_the_champion_uncalibrated():
    X, y = _data(200)
    y = np.zeros_like(y)
    y[:1] = 1
    champion = RiskModel("logistic_regression", {"C": 1.0}, CATS).fit(X, y)
    cal = calibrate_champion(champion, X, y, np.arange(len(y)))
    assert cal.folds == 0 and champion.calibrator_ is None and cal.rows.empty
    raw = champion.raw_score(X)
    np.testing.assert_allclose(champion.predict_proba(X)[:, 1], 1 / (1 + np.exp(-raw)))


# -- determinism --------------------------------------------------------------------------

SPEC = """name = "det"
[purpose]
problem = "p"
insight = "i"
datasets = "d"
action = "a"
[data]
entities = "{d}/entities.csv"
outcomes = "{d}/outcomes.csv"
[data.events]
complaints = "{d}/complaints.csv"
[features]
windows = [90, 365]
static = ["kind"]
categorical = ["kind"]
[labels]
first_as_of = 2021-01-01
every_months = 4
window_days = 120
[splits]
n_splits = 2
[[models]]
name = "lgbm"
type = "lightgbm"
params = {{ n_estimators = 40, num_leaves = 7, min_child_samples = 10 }}
grid = {{ learning_rate = [0.05, 0.1] }}
[[models]]
name = "logistic"
type = "logistic_regression"
[baselines]
business_as_usual = ["complaints__noise__count_365d"]
[metric]
k = 20
"""


def _world(d, n=700, seed=0):
    rng = np.random.default_rng(seed)
    ids = [f"E{i:04d}" for i in range(n)]
    risk = rng.normal(size=n)
    pd.DataFrame({"entity_id": ids, "kind": rng.choice(["a", "b", "c"], n)}).to_csv(d / "entities.csv", index=False)
    start = pd.Timestamp("2020-01-01")
    ev, out = [], []
    for i in range(n):
        for day in rng.integers(0, 4 * 365, rng.poisson(3 * np.exp(0.7 * risk[i]))):
            ev.append((ids[i], str((start + pd.Timedelta(days=int(day))).date()), rng.choice(["noise", "waste"])))
        for day in rng.integers(0, 4 * 365, rng.poisson(1.5)):
            out.append((ids[i], str((start + pd.Timedelta(days=int(day))).date()),
                        int(rng.random() < 1 / (1 + np.exp(-(1.5 * risk[i] - 1))))))
    pd.DataFrame(ev, columns=["entity_id", "date", "type"]).to_csv(d / "complaints.csv", index=False)
    pd.DataFrame(out, columns=["entity_id", "date", "outcome"]).to_csv(d / "outcomes.csv", index=False)


def test_training_twice_gives_the_same_champion_and_the_same_scores(tmp_path):
    from riskengine.ingest import load_data
    from riskengine.prepare import feature_events
    from riskengine.spec import load_spec
    from riskengine.training import fit_pipeline

    _world(tmp_path)
    path = tmp_path / "det.toml"
    path.write_text(SPEC.format(d=tmp_path))
    runs = []
    for _ in range(2):
        spec = load_spec(path, kind="training")
        data = load_data(spec.data)
        runs.append(fit_pipeline(spec, data, feature_events(data, spec.features)))
    a, b = runs
    assert a.candidate.name == b.candidate.name
    pd.testing.assert_frame_equal(a.metrics, b.metrics)
    pd.testing.assert_frame_equal(a.oof, b.oof)
    features = list(a.features.info["name"])
    np.testing.assert_array_equal(a.champion.raw_score(a.table[features]), b.champion.raw_score(b.table[features]))
    np.testing.assert_array_equal(a.champion.predict_proba(a.table)[:, 1], b.champion.predict_proba(b.table)[:, 1])
    pd.testing.assert_frame_equal(a.calibration.rows, b.calibration.rows)
