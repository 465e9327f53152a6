"""The model a pipeline registers: features in a fixed order, category codes, estimator, calibration.

`RiskModel` follows the scikit-learn estimator API (`fit`, `predict_proba`). It keeps the
category-to-code mapping itself, so training, scoring and the MLflow registry see the same
codes whatever the input's dtypes (an MLflow input example arrives as plain strings).
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import mlflow.pyfunc
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from riskengine.errors import RiskEngineError


def _signed_log(x: np.ndarray) -> np.ndarray:
    """sign(x) log(1 + |x|): counts and day gaps on a scale where a linear model does not
    let one extreme value (a 40-year gap, a 30-complaint outlier) dominate the score."""
    return np.sign(x) * np.log1p(np.abs(x))


def _as_text(df: pd.DataFrame) -> pd.DataFrame:
    """Categories as plain strings for one-hot encoding ("missing" where absent)."""
    return df.astype(object).where(df.notna(), "missing").astype(str)


def make_estimator(kind: str, params: dict[str, Any], numeric: list[str], categorical: list[str], seed: int) -> Any:
    """A fresh, unfitted estimator of the given family."""
    if kind == "lightgbm":
        # One thread by default: training sets are the labelled rows (thousands), where OpenMP
        # threads cost more than they save and, under load, slow fitting tenfold.
        defaults = {"n_estimators": 200, "learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 20,
                    "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8, "n_jobs": 1, "verbose": -1}
        return lgb.LGBMClassifier(**{**defaults, **params, "random_state": seed})
    if kind == "logistic_regression":
        num = make_pipeline(SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                            FunctionTransformer(_signed_log), StandardScaler())
        cat = make_pipeline(FunctionTransformer(_as_text), OneHotEncoder(handle_unknown="ignore"))
        prep = ColumnTransformer([("num", num, numeric), ("cat", cat, categorical)])
        return Pipeline([("prep", prep), ("lr", LogisticRegression(max_iter=2000, **params))])
    raise RiskEngineError(f"unknown model type '{kind}'; expected 'lightgbm' or 'logistic_regression'")


class RiskModel:
    """A fitted ranking model with calibrated probabilities.

    Parameters
    ----------
    kind : "lightgbm" or "logistic_regression"
    params : estimator parameters
    categories : categorical feature -> its categories in code order
    calibration : "sigmoid", "isotonic" or "none"
    seed : random seed
    """

    def __init__(self, kind: str = "lightgbm", params: dict[str, Any] | None = None,
                 categories: dict[str, list] | None = None, calibration: str = "sigmoid", seed: int = 0):
        self.kind = kind
        self.params = params or {}
        self.categories = categories or {}
        self.calibration = calibration
        self.seed = seed

    # -- input -------------------------------------------------------------------------
    def _matrix(self, X: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.features_ if c not in X.columns]
        if missing:
            raise RiskEngineError(
                f"the model needs feature column(s) the data does not have: {', '.join(missing[:10])}"
                + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            )
        M = X[self.features_].copy()
        for col, cats in self.categories.items():
            M[col] = pd.Categorical(M[col].astype(object).where(M[col].notna(), None), categories=cats)
        for col in self.features_:
            if col not in self.categories and M[col].dtype != "float64":
                M[col] = pd.to_numeric(M[col], errors="coerce").astype("float64")
        return M

    # -- fitting -----------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "RiskModel":
        """Fit the estimator on the feature columns of X (entity_id and as_of are ignored)."""
        self.features_ = [c for c in X.columns if c not in ("entity_id", "as_of")]
        M = self._matrix(X)
        numeric = [c for c in self.features_ if c not in self.categories]
        self.estimator_ = make_estimator(self.kind, self.params, numeric, list(self.categories), self.seed)
        self.estimator_.fit(M, np.asarray(y, dtype=int))
        self.calibrator_ = None
        if self.kind == "logistic_regression":
            self._record_linear_layout(M, numeric)
        return self

    def _record_linear_layout(self, M: pd.DataFrame, numeric: list[str]) -> None:
        """Which original feature owns each transformed column, and their training means."""
        prep = self.estimator_.named_steps["prep"]
        imputer = prep.named_transformers_["num"].named_steps["simpleimputer"]
        owner = list(numeric)
        if imputer.indicator_ is not None:
            owner += [numeric[i] for i in imputer.indicator_.features_]
        if self.categories:
            encoder = prep.named_transformers_["cat"].named_steps["onehotencoder"]
            for name, cats in zip(self.categories, encoder.categories_):
                owner += [name] * len(cats)
        Z = prep.transform(M)
        Z = Z.toarray() if hasattr(Z, "toarray") else np.asarray(Z)
        self.column_owner_ = owner
        self.background_mean_ = Z.mean(axis=0)

    def calibrate(self, raw_score: np.ndarray, y: np.ndarray) -> "RiskModel":
        """Map raw scores to probabilities, fitted on out-of-time predictions."""
        raw_score = np.asarray(raw_score, dtype=float)
        y = np.asarray(y, dtype=int)
        if self.calibration == "none" or len(np.unique(y)) < 2:
            self.calibrator_ = None
        elif self.calibration == "isotonic":
            self.calibrator_ = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(raw_score, y)
        else:
            self.calibrator_ = LogisticRegression(C=1e6).fit(raw_score.reshape(-1, 1), y)
        return self

    # -- output ------------------------------------------------------------------------
    def raw_score(self, X: pd.DataFrame) -> np.ndarray:
        """The model's own score (log-odds), before calibration: what SHAP values add up to."""
        M = self._matrix(X)
        if self.kind == "lightgbm":
            return self.estimator_.predict(M, raw_score=True)
        return self.estimator_.decision_function(M)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of a positive finding, as an (n, 2) array."""
        p = self.probability_from_raw(self.raw_score(X))
        return np.column_stack([1 - p, p])

    def probability_from_raw(self, raw: np.ndarray) -> np.ndarray:
        """The calibrated probability for given raw scores."""
        raw = np.asarray(raw, dtype=float)
        if self.calibrator_ is None:
            return 1.0 / (1.0 + np.exp(-raw))
        if isinstance(self.calibrator_, IsotonicRegression):
            return self.calibrator_.predict(raw)
        return self.calibrator_.predict_proba(raw.reshape(-1, 1))[:, 1]

    @property
    def is_tree(self) -> bool:
        return self.kind == "lightgbm"

    @property
    def complexity(self) -> float:
        """Used to break ties toward the simpler model."""
        if self.kind == "logistic_regression":
            return 0.0
        p = {**self.estimator_.get_params(), **self.params} if hasattr(self, "estimator_") else self.params
        return float(p.get("num_leaves", 31)) * float(p.get("n_estimators", 100))


class RiskModelPyfunc(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc wrapper: DataFrame of features in, probability and raw score out."""

    def __init__(self, model: RiskModel, info: pd.DataFrame | None = None):
        self.model = model
        self.info = info  # feature metadata, so scoring can phrase reasons

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:  # noqa: ANN001
        raw = self.model.raw_score(model_input)
        prob = self.model.predict_proba(model_input)[:, 1]
        return pd.DataFrame({"probability": prob, "raw_score": raw})


def contributions(model: RiskModel, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Exact additive contributions to the raw score: (n x features, base value per row).

    Trees: LightGBM's TreeSHAP (`pred_contrib`, the tree_path_dependent algorithm).
    Logistic regression: coefficient x (value - training mean) in the model's own space,
    summed back over each feature's columns. Contributions + base = raw_score, exactly.
    """
    M = model._matrix(X)
    if model.is_tree:
        contrib = model.estimator_.booster_.predict(M, pred_contrib=True)
        return contrib[:, :-1], contrib[:, -1]
    prep = model.estimator_.named_steps["prep"]
    lr = model.estimator_.named_steps["lr"]
    Z = prep.transform(M)
    Z = Z.toarray() if hasattr(Z, "toarray") else np.asarray(Z)
    coef = lr.coef_[0]
    zbar = model.background_mean_
    parts = coef * (Z - zbar)
    owner = np.asarray(model.column_owner_)
    out = np.zeros((len(X), len(model.features_)))
    for j, name in enumerate(model.features_):
        out[:, j] = parts[:, owner == name].sum(axis=1)
    base = np.full(len(X), lr.intercept_[0] + coef @ zbar)
    return out, base
