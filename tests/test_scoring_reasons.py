"""Reasons: exact SHAP contributions (checked three ways) turned into plain-English phrases."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import shap

from riskengine.features import build_features, describe
from riskengine.model import RiskModel
from riskengine.scoring import explain, strength, top_reasons
from riskengine.spec import FeaturesSpec

AS_OF = "2024-06-01"


@pytest.fixture(scope="module")
def features():
    """A small borough's real feature table and metadata, with labels driven by noise complaints."""
    rng = np.random.default_rng(0)
    n, m = 600, 6000
    ents = pd.DataFrame({"entity_id": [f"E{i:04d}" for i in range(n)],
                         "property_type": rng.choice(["flat", "terraced", "detached"], n),
                         "bedrooms": rng.integers(1, 7, n)})
    ev = pd.DataFrame({"source": rng.choice(["complaints", "council_tax"], m), "entity_id": rng.choice(ents["entity_id"], m),
                       "date": pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 880, m), unit="D")})
    ev["type"] = np.where(ev["source"] == "complaints", rng.choice(["noise", "waste"], m), "account_change")
    ev["value"] = np.nan
    spec = FeaturesSpec(windows=[90, 365], static=["property_type", "bedrooms"], categorical=["property_type"],
                        labels={"council_tax.account_change": "council-tax account changes"})
    fs = build_features(ents, ev, [AS_OF], spec)
    t = fs.table
    logit = 0.6 * t["complaints__noise__count_365d"] + (t["property_type"] == "terraced") * 1.0 - 2.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logit.astype(float)))).astype(int)
    return fs, y


def _fit(fs, y, kind="lightgbm", params=None):
    cats = {r.name: list(r.categories) for r in fs.info.itertuples() if r.categorical}
    features = fs.table.drop(columns=["entity_id", "as_of"])
    return RiskModel(kind, params or {"n_estimators": 60, "num_leaves": 7, "min_child_samples": 5}, cats).fit(features, y)


def test_tree_contributions_plus_base_equal_the_raw_score(features):
    fs, y = features
    model = _fit(fs, y)
    contrib, base = explain(model, fs.table)
    assert contrib.shape == (len(fs.table), len(model.features_))
    np.testing.assert_allclose(contrib.sum(axis=1) + base, model.raw_score(fs.table), rtol=0, atol=1e-9)


def test_lightgbm_contributions_equal_shap_tree_explainer(features):
    fs, y = features
    model = _fit(fs, y)
    rows = fs.table.iloc[:80]
    contrib, base = explain(model, rows)
    explainer = shap.TreeExplainer(model.estimator_)  # tree_path_dependent: no background data
    values = explainer.shap_values(model.matrix(rows))
    values = values[1] if isinstance(values, list) else values
    np.testing.assert_allclose(contrib, values, rtol=0, atol=1e-9)
    np.testing.assert_allclose(base, np.ravel(explainer.expected_value)[-1], rtol=0, atol=1e-9)


def _tree_value(node: dict, x: np.ndarray, known: set[int]) -> float:
    """E[tree(x) | x_S] the tree_path_dependent way: unknown features follow both branches by cover."""
    if "leaf_value" in node:
        return node["leaf_value"]
    f = node["split_feature"]
    left, right = node["left_child"], node["right_child"]
    if f in known:
        v = x[f]
        if node["decision_type"] == "==":
            go_left = not math.isnan(v) and int(v) in {int(c) for c in str(node["threshold"]).split("||")}
        elif math.isnan(v):
            go_left = node["default_left"]
        else:
            go_left = v <= node["threshold"]
        return _tree_value(left if go_left else right, x, known)

    def cover(n):
        return n.get("internal_count", n.get("leaf_count"))

    cl, cr = cover(left), cover(right)
    return (cl * _tree_value(left, x, known) + cr * _tree_value(right, x, known)) / (cl + cr)


def test_lightgbm_contributions_equal_brute_force_shapley_values():
    """An independent check of exact TreeSHAP: every coalition of a four-feature model, summed by hand."""
    rng = np.random.default_rng(3)
    n = 400
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.integers(0, 5, n).astype(float),
                      "kind": rng.choice(["x", "y", "z"], n), "c": rng.normal(size=n)})
    y = ((X["a"] > 0) & (X["kind"] != "y") | (X["b"] > 3)).astype(int).to_numpy()
    model = RiskModel("lightgbm", {"n_estimators": 15, "num_leaves": 5, "min_child_samples": 5},
                      {"kind": ["x", "y", "z"]}).fit(X, y)
    rows = X.iloc[:12]
    contrib, base = explain(model, rows)
    M = model.matrix(rows)  # category codes as floats, as the booster sees them
    trees = [t["tree_structure"] for t in model.estimator_.booster_.dump_model()["tree_info"]]
    p = M.shape[1]

    def v(x, known):
        return sum(_tree_value(t, x, known) for t in trees)

    for r, x in enumerate(M):
        phi = np.zeros(p)
        for i in range(p):
            others = [j for j in range(p) if j != i]
            for size in range(p):
                w = math.factorial(size) * math.factorial(p - size - 1) / math.factorial(p)
                for S in itertools.combinations(others, size):
                    phi[i] += w * (v(x, set(S) | {i}) - v(x, set(S)))
        np.testing.assert_allclose(contrib[r], phi, atol=1e-9)
        assert base[r] == pytest.approx(v(x, set()), abs=1e-9)


def test_logistic_contributions_are_additive_and_equal_shap_linear_explainer(features):
    fs, y = features
    model = _fit(fs, y, "logistic_regression", {"C": 1.0})
    rows = fs.table.iloc[:50]
    contrib, base = explain(model, rows)
    np.testing.assert_allclose(contrib.sum(axis=1) + base, model.raw_score(rows), atol=1e-9)
    prep, lr = model.estimator_.named_steps["prep"], model.estimator_.named_steps["lr"]
    Z = prep.transform(model.matrix(rows))
    Z = Z.toarray() if hasattr(Z, "toarray") else np.asarray(Z)
    explainer = shap.LinearExplainer(lr, shap.maskers.Independent(model.background_mean_[None, :], max_samples=1))
    per_column = explainer.shap_values(Z)
    owner = np.asarray(model.column_owner_)
    by_feature = np.column_stack([per_column[:, owner == f].sum(axis=1) for f in model.features_])
    np.testing.assert_allclose(contrib, by_feature, atol=1e-9)


def test_top_reason_is_the_largest_positive_contribution_and_phrases_follow_the_metadata(features):
    fs, y = features
    model = _fit(fs, y)
    X = fs.table.iloc[:100].reset_index(drop=True)
    contrib, _ = explain(model, X)
    out = top_reasons(contrib, X, model.features_, fs.info, n=3)
    info = fs.info.set_index("name")
    checked = 0
    for r in range(len(X)):
        positive = [(contrib[r, j], model.features_[j]) for j in range(len(model.features_)) if contrib[r, j] > 0]
        positive.sort(key=lambda t: -t[0])
        for i in range(3):
            col = f"reason_{i + 1}"
            if i >= len(positive):
                assert out.at[r, col] == "" and out.at[r, f"{col}_feature"] == ""
                continue
            c, name = positive[i]
            assert out.at[r, f"{col}_feature"] == name
            assert out.at[r, f"{col}_contribution"] == pytest.approx(c)
            expected = describe(info.loc[name].to_dict() | {"name": name}, X.at[r, name])
            assert out.at[r, col] == f"{expected} ({strength(c)})"
            assert "log-odds" not in out.at[r, col]
            checked += 1
    assert checked > 150
    # the strongest signal in the data shows up as a reason, worded from the metadata
    noise = out["reason_1"][out["reason_1_feature"].str.startswith("complaints__noise__count")]
    assert noise.str.contains(r"noise complaints? in the last (?:3|12) months \(raises the risk", regex=True).any()


def test_a_row_with_no_positive_contribution_has_no_reasons():
    contrib = np.array([[-0.5, -0.1, 0.0], [0.3, -0.2, 0.1]])
    X = pd.DataFrame({"a": [1, 2], "b": [3, 4], "c": [5, 6]})
    out = top_reasons(contrib, X, ["a", "b", "c"], None, n=3, describe=lambda row, v: "unused")
    assert list(out.iloc[0][["reason_1", "reason_2", "reason_3"]]) == ["", "", ""]
    assert out.at[1, "reason_1"] == "a: 2 (raises the risk a little)" and out.at[1, "reason_2"] == "c: 6 (raises the risk a little)"
    assert out.at[1, "reason_3"] == ""
    assert out.at[1, "reason_1_contribution"] == pytest.approx(0.3)  # the size stays for analysts


def test_strength_in_words_follows_the_change_in_odds():
    assert strength(1.2) == "raises the risk a lot"  # odds more than triple
    assert strength(0.7) == "raises the risk"  # odds about double
    assert strength(0.1) == "raises the risk a little"


def test_scoring_in_slices_gives_exactly_the_models_raw_score(features):
    """One matrix builder: slices, text that should be numbers, unknown and missing categories
    all score as LightGBM's own pandas path scores the same rows."""
    fs, y = features
    model = _fit(fs, y)
    table = fs.table.copy()
    table["property_type"] = table["property_type"].astype(object)
    table.loc[0, "property_type"] = "houseboat"  # a category the model never saw
    table.loc[1, "property_type"] = None
    table["bedrooms"] = table["bedrooms"].astype(str)  # numbers that arrive as text
    table.loc[2, "bedrooms"] = "n/a"
    # an independent reference: the booster on a pandas frame with the model's categories
    ref = table[model.features_].copy()
    for col, cats in model.categories_.items():
        ref[col] = pd.Categorical(ref[col].astype(object).where(ref[col].notna(), None), categories=cats).codes
        ref[col] = ref[col].where(ref[col] >= 0).astype(float)
    ref["bedrooms"] = pd.to_numeric(ref["bedrooms"], errors="coerce")
    expected = model.estimator_.booster_.predict(ref.astype(float), raw_score=True)
    np.testing.assert_array_equal(model.raw_score(table, chunk_rows=97), expected)
    np.testing.assert_array_equal(model.raw_score(table), expected)
    assert np.isnan(model.matrix(table.iloc[:2])[:, model.features_.index("property_type")]).all()
    with pytest.raises(Exception, match="complaints__noise__count_90d"):
        model.raw_score(fs.table.drop(columns=["complaints__noise__count_90d"]))
