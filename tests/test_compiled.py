"""Compiled scorers give LightGBM's and scikit-learn's own outputs: scores, SHAP, fall-back."""

from __future__ import annotations

import pickle

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from riskengine.compiled import CompiledTrees, compiler
from riskengine.model import RiskModel, contributions

pytestmark = pytest.mark.skipif(compiler() is None, reason="no C compiler on this machine")


def _data(n: int = 4000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "a": rng.normal(size=n), "b": pd.Categorical(rng.integers(0, 40, n)), "c": rng.normal(size=n),
        "d": rng.integers(0, 3, n).astype(float), "e": pd.Categorical(rng.choice(["x", "y", "z"], n)),
        "f": rng.exponential(size=n)})
    X.loc[rng.random(n) < 0.15, "a"] = np.nan
    X.loc[rng.random(n) < 0.1, "b"] = np.nan
    X.loc[rng.random(n) < 0.3, "d"] = 0.0
    X.loc[rng.random(n) < 0.1, "f"] = np.nan
    signal = X["a"].fillna(1.0) + (X["b"].cat.codes % 3) + X["d"] - (X["e"] == "y") + rng.normal(size=n)
    return X, (signal > 1.5).astype(int).to_numpy()


def _codes(X: pd.DataFrame) -> np.ndarray:
    M = X.copy()
    for c in M.columns:
        if isinstance(M[c].dtype, pd.CategoricalDtype):
            M[c] = M[c].cat.codes.replace(-1, np.nan)
    return M.to_numpy(dtype=float)


@pytest.mark.parametrize("params", [{}, {"zero_as_missing": True}, {"use_missing": False}])
def test_compiled_trees_equal_lightgbm_with_categories_and_missing_values(params):
    X, y = _data()
    booster = lgb.LGBMClassifier(n_estimators=25, num_leaves=15, min_child_samples=5, cat_smooth=1,
                                 min_data_per_group=5, verbose=-1, **params).fit(X, y).booster_
    dump = str(booster.dump_model())
    assert "'decision_type': '=='" in dump  # the model has categorical splits
    M = _codes(X)
    # edge cases: missing and unknown categories, negative codes, magnitudes under LightGBM's zero threshold
    M[:40, 1] = np.nan
    M[40:50, 1] = -1
    M[50:60, 1] = 1000
    M[60:70, 0] = 1e-40
    M[70:80, 3] = -1e-40
    M[80:90, 4] = np.nan
    M[90:95, 1] = -0.5  # read as code 0, as LightGBM truncates toward zero
    M[95:100, 1] = 3.7
    compiled = CompiledTrees.from_booster(booster)
    assert np.abs(compiled.raw_score(M) - booster.predict(M, raw_score=True)).max() <= 1e-9
    # the matrix column-major (as the engine builds it) and a block's worth of rows plus a few
    np.testing.assert_array_equal(compiled.raw_score(np.asfortranarray(M[:203])), compiled.raw_score(M[:203]))
    ours = compiled.contributions(M)
    theirs = booster.predict(M, pred_contrib=True)
    assert np.abs(ours - theirs).max() <= 1e-6
    assert np.abs(ours.sum(axis=1) - booster.predict(M, raw_score=True)).max() <= 1e-9


def test_registered_model_scores_through_compiled_trees_after_a_round_trip():
    X, y = _data(3000, seed=1)
    model = RiskModel("lightgbm", {"n_estimators": 20, "num_leaves": 7}, {"b": list(range(40)), "e": ["x", "y", "z"]})
    model.fit(X, y)
    before, (c_before, b_before) = model.raw_score(X), contributions(model, X)
    model = pickle.loads(pickle.dumps(model.compile()))  # as MLflow stores and loads it
    assert type(model.fast_).__name__ == "TreeScorer"
    X2 = X.astype({"e": object})  # categories arriving as plain strings, as from an MLflow input example
    np.testing.assert_allclose(model.raw_score(X2), before, rtol=0, atol=1e-9)
    contrib, base = contributions(model, X2)
    np.testing.assert_allclose(contrib, c_before, rtol=0, atol=1e-6)
    np.testing.assert_allclose(contrib.sum(axis=1) + base, before, rtol=0, atol=1e-9)


def test_a_changed_booster_is_not_scored_by_a_stale_library():
    X, y = _data(2000, seed=2)
    model = RiskModel("lightgbm", {"n_estimators": 10, "num_leaves": 7}, {"b": list(range(40)), "e": ["x", "y", "z"]})
    model.fit(X, y).compile()
    other = RiskModel("lightgbm", {"n_estimators": 12, "num_leaves": 5}, model.categories).fit(X, 1 - y)
    other.fast_ = model.fast_  # a library compiled from another model
    np.testing.assert_array_equal(other.raw_score(X), other.estimator_.booster_.predict(
        other.matrix(X), raw_score=True))


def test_a_library_built_for_another_processor_falls_back_and_says_so(monkeypatch, capsys):
    import riskengine.compiled._trees as trees

    monkeypatch.setattr(trees, "_WARNED", set())
    X, y = _data(1500, seed=4)
    model = RiskModel("lightgbm", {"n_estimators": 6, "num_leaves": 5}, {"b": list(range(40)), "e": ["x", "y", "z"]})
    model.fit(X, y).compile()
    if trees.cpu_flags() is None:
        pytest.skip("this system does not say which instruction sets its processor has")
    model.fast_.compiled.isa = ["avx_from_the_future"]  # as if registered on a newer machine
    model = pickle.loads(pickle.dumps(model))
    trees._LOADED.pop(model.fast_.compiled.model_hash, None)
    np.testing.assert_array_equal(model.raw_score(X), model.estimator_.booster_.predict(model.matrix(X), raw_score=True))
    err = capsys.readouterr().err
    assert "avx_from_the_future" in err and "Booster.predict" in err


def test_a_library_from_an_older_riskengine_is_not_called_with_new_arguments(monkeypatch, capsys):
    import riskengine.compiled._trees as trees

    monkeypatch.setattr(trees, "_WARNED", set())
    real = trees.c_source
    monkeypatch.setattr(trees, "c_source", lambda f: real(f).replace(f"const int RE_ABI = {trees.ABI};", ""))
    X, y = _data(1500, seed=5)
    model = RiskModel("lightgbm", {"n_estimators": 7, "num_leaves": 5}, {"b": list(range(40)), "e": ["x", "y", "z"]})
    model.fit(X, y).compile()
    np.testing.assert_array_equal(model.raw_score(X), model.estimator_.booster_.predict(model.matrix(X), raw_score=True))
    assert "another version of riskengine" in capsys.readouterr().err


def test_without_a_compiler_scoring_falls_back_and_says_so_once(monkeypatch, capsys):
    import riskengine.compiled._trees as trees

    monkeypatch.setattr(trees, "compiler", lambda: None)
    monkeypatch.setattr(trees, "_WARNED", set())
    X, y = _data(1500, seed=3)
    model = RiskModel("lightgbm", {"n_estimators": 5, "num_leaves": 5}, {"b": list(range(40)), "e": ["x", "y", "z"]})
    model.fit(X, y).compile()
    model.compile()
    assert model.fast_ is None
    assert len(model.raw_score(X)) == len(X)
    err = capsys.readouterr().err
    assert err.count("Booster.predict") == 1 and "no C compiler" in err


def test_linear_arrays_equal_the_scikit_learn_pipeline():
    X, y = _data(3000, seed=4)
    X["empty"] = np.nan  # a column never seen with a value
    model = RiskModel("logistic_regression", {}, {"b": list(range(40)), "e": ["x", "y", "z"]}).fit(X, y)
    before, (c_before, b_before) = model.raw_score(X), contributions(model, X)
    model = pickle.loads(pickle.dumps(model.compile()))
    assert type(model.fast_).__name__ == "LinearScorer"
    X2 = X.astype({"e": object})
    X2.loc[:5, "e"] = "unseen"  # unknown category: scikit-learn's one-hot ignores it; so do the arrays
    slow = RiskModel.__new__(RiskModel)
    slow.__dict__.update({k: v for k, v in model.__dict__.items() if k != "fast_"})
    np.testing.assert_allclose(model.raw_score(X), before, rtol=0, atol=1e-9)
    np.testing.assert_allclose(model.raw_score(X2), slow.raw_score(X2), rtol=0, atol=1e-9)
    contrib, base = contributions(model, X)
    np.testing.assert_allclose(contrib, c_before, rtol=0, atol=1e-9)
    np.testing.assert_allclose(base, b_before, rtol=0, atol=1e-9)
    np.testing.assert_allclose(contrib.sum(axis=1) + base, before, rtol=0, atol=1e-9)


def test_every_entity_gets_its_top_reasons_from_a_compiled_model():
    from riskengine.scoring import reasons_for_all

    X, y = _data(2000, seed=5)
    model = RiskModel("lightgbm", {"n_estimators": 15, "num_leaves": 7}, {"b": list(range(40)), "e": ["x", "y", "z"]})
    model.fit(X, y)
    assert reasons_for_all(model, X) is None  # not compiled: the list alone is explained
    reference = model.estimator_.booster_.predict(model.matrix(X), pred_contrib=True)[:, :-1]
    model.compile()
    top = reasons_for_all(model, X, n=2, chunk_rows=700)
    best = np.argmax(reference, axis=1)
    has = reference.max(axis=1) > 0
    assert (top["top_feature_1"][has].to_numpy() == np.asarray(model.features_)[best[has]]).all()
    np.testing.assert_allclose(top["top_contribution_1"][has], reference.max(axis=1)[has], atol=1e-6)
    assert top["top_feature_1"][~has].isna().all()


def test_treeshap_for_deep_leaves_and_many_rows_equals_pred_contrib_on_any_threads():
    """Rows are explained in blocks that share each leaf's values between rows meeting the same
    conditions; deep leaves (more than 12 distinct features on the path) are computed row by row.
    Both give pred_contrib's values, whatever the number of threads and a last block cut short."""
    from riskengine.compiled._forest import read_forest

    rng = np.random.default_rng(5)
    n = 3001
    X = pd.DataFrame(rng.normal(size=(n, 18)), columns=[f"x{i}" for i in range(18)])
    X["k"] = pd.Categorical(rng.integers(0, 9, n))
    X.loc[rng.random(n) < 0.1, "x3"] = np.nan
    y = (X.iloc[:, :18].sum(axis=1) + rng.normal(size=n) > 0).astype(int)
    booster = lgb.LGBMClassifier(n_estimators=3, num_leaves=250, min_child_samples=2, min_data_per_group=2,
                                 cat_smooth=1, verbose=-1).fit(X, y).booster_
    forest = read_forest(booster)
    depth = np.diff(forest.path_feat_start)
    assert depth.max() > 12 and (depth <= 12).any()  # both kinds of leaves
    M = _codes(X)
    compiled = CompiledTrees.from_booster(booster)
    one, two = compiled.contributions(M, threads=1), compiled.contributions(M, threads=2)
    np.testing.assert_array_equal(one, two)
    assert np.abs(one - booster.predict(M, pred_contrib=True)).max() <= 1e-6
    np.testing.assert_array_equal(compiled.contributions(M[:7], threads=1), one[:7])


def test_a_logistic_model_of_categories_only_fits_and_scores_as_scikit_learn():
    """A ready table of categories alone (no numeric feature) still trains and scores."""
    X, y = _data(2000, seed=6)
    X = X[["b", "e"]]
    model = RiskModel("logistic_regression", {}, {"b": list(range(40)), "e": ["x", "y", "z"]}).fit(X, y)
    before, (c_before, _) = model.raw_score(X), contributions(model, X)
    model.compile()
    assert type(model.fast_).__name__ == "LinearScorer"
    np.testing.assert_allclose(model.raw_score(X), before, rtol=0, atol=1e-9)
    np.testing.assert_allclose(contributions(model, X)[0], c_before, rtol=0, atol=1e-9)
