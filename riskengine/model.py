"""The model every stage scores with: its own input matrix, raw scores, calibrated probabilities.

`RiskModel` is a scikit-learn estimator (`fit`, `predict_proba`, `get_params`, `clone`). It
owns its input: `matrix` is the one place a feature table becomes the numbers the estimator
sees (features in the fitted order, categories as the model's own codes, everything float64),
and `raw_score` the one place rows become scores, in slices so a million rows need one
slice's extra memory. Training, scoring, the backtest and the audit all go through them, so
an MLflow input example that arrives as plain strings scores exactly as the training table did.
"""

from __future__ import annotations

import os
from typing import Any

import lightgbm as lgb
import mlflow.pyfunc
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from riskengine.errors import RiskEngineError

KINDS = ("lightgbm", "logistic_regression")
CALIBRATIONS = ("sigmoid", "isotonic", "none")
# One thread by default: training sets are the labelled rows (thousands), where OpenMP threads
# cost more than they save and, under load, slow fitting tenfold.
LIGHTGBM_DEFAULTS: dict[str, Any] = {
    "n_estimators": 200, "learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 20,
    "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8, "n_jobs": 1, "verbose": -1,
}
CHUNK_ROWS = 250_000  # rows per slice when scoring: bounds the extra memory at any size
THREADED_ROWS = 20_000  # below this, predicting on one thread is quicker than starting the others
IGNORED_COLUMNS = ("entity_id", "as_of")


def complexity(kind: str, params: dict[str, Any] | None) -> float:
    """How complex a configuration is (leaves x trees; 0 for a linear model): ties go to the simpler."""
    if kind == "logistic_regression":
        return 0.0
    p = {**LIGHTGBM_DEFAULTS, **(params or {})}
    return float(p["num_leaves"]) * float(p["n_estimators"])


def _signed_log(x: np.ndarray) -> np.ndarray:
    """sign(x) log(1 + |x|): counts and day gaps on a scale where a linear model does not
    let one extreme value (a 40-year gap, a 30-complaint outlier) dominate the score."""
    return np.sign(x) * np.log1p(np.abs(x))


def make_estimator(kind: str, params: dict[str, Any], numeric: list[int], categorical: list[int], seed: int) -> Any:
    """A fresh, unfitted estimator of the given family, for the float matrix `RiskModel.matrix` builds.

    `numeric` and `categorical` are column positions; categorical columns hold the model's
    category codes (NaN where missing or unknown).
    """
    if kind == "lightgbm":
        return lgb.LGBMClassifier(**{**LIGHTGBM_DEFAULTS, **params, "random_state": seed})
    if kind == "logistic_regression":
        num = make_pipeline(SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                            FunctionTransformer(_signed_log), StandardScaler())
        # a missing or unknown category is its own level (-1), as any other code
        cat = make_pipeline(SimpleImputer(strategy="constant", fill_value=-1.0, keep_empty_features=True),
                            OneHotEncoder(handle_unknown="ignore"))
        prep = ColumnTransformer([("num", num, numeric), ("cat", cat, categorical)])
        return Pipeline([("prep", prep), ("lr", LogisticRegression(**{"max_iter": 2000, **params}))])  # the spec's max_iter wins
    raise RiskEngineError(f"unknown model type '{kind}'; expected one of: {', '.join(KINDS)}")


def fit_calibrator(method: str, raw_score: np.ndarray, y: np.ndarray) -> Any:
    """A map from raw scores to probabilities fitted on (raw score, label) pairs; None for "none"
    or when the labels hold one class only (then the logistic link of the raw score is used)."""
    raw_score = np.asarray(raw_score, dtype=float)
    y = np.asarray(y, dtype=int)
    if method not in CALIBRATIONS:
        raise RiskEngineError(f"unknown calibration '{method}'; expected one of: {', '.join(CALIBRATIONS)}")
    if method == "none" or len(np.unique(y)) < 2:
        return None
    if method == "isotonic":
        return IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(raw_score, y)
    return LogisticRegression(C=1e6).fit(raw_score.reshape(-1, 1), y)


def apply_calibrator(calibrator: Any, raw_score: np.ndarray) -> np.ndarray:
    """The probability a calibrator (or, for None, the logistic link) gives each raw score."""
    raw = np.asarray(raw_score, dtype=float)
    if calibrator is None:
        return 1.0 / (1.0 + np.exp(-raw))
    if isinstance(calibrator, IsotonicRegression):
        return calibrator.predict(raw)
    return calibrator.predict_proba(raw.reshape(-1, 1))[:, 1]


class RiskModel(ClassifierMixin, BaseEstimator):
    """A ranking model with calibrated probabilities, in the scikit-learn estimator API.

    Parameters (stored as given, as scikit-learn requires)
    ----------
    kind : "lightgbm" or "logistic_regression"
    params : estimator parameters (None: the family's defaults)
    categories : categorical feature -> its categories in code order (None: no categorical features)
    calibration : "sigmoid", "isotonic" or "none": how `calibrate` maps raw scores to probabilities
    seed : random seed

    Fitted attributes: `features_` (the feature columns, in order), `categories_`,
    `estimator_`, `calibrator_` (None until `calibrate`), `classes_`, `n_features_in_`,
    `feature_names_in_`; for the linear model also `column_owner_` and `background_mean_`.
    """

    def __init__(self, kind: str = "lightgbm", params: dict[str, Any] | None = None,
                 categories: dict[str, list] | None = None, calibration: str = "sigmoid", seed: int = 0):
        self.kind = kind
        self.params = params
        self.categories = categories
        self.calibration = calibration
        self.seed = seed

    # -- input -------------------------------------------------------------------------
    def _check_columns(self, X: pd.DataFrame) -> None:
        missing = [c for c in self.features_ if c not in X.columns]
        if missing:
            raise RiskEngineError(
                f"the model needs feature column(s) the data does not have: {', '.join(missing[:10])}"
                + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            )

    def matrix(self, X: pd.DataFrame, out: np.ndarray | None = None) -> np.ndarray:
        """The estimator's input for the rows of X: an (n, features) float64 array.

        Features in the fitted order; numbers as they are (text that is not a number -> NaN);
        categories as the model's codes (missing or never seen in training -> NaN). The one
        matrix builder: fitting, scoring and explanations all read what it returns. `out`
        (Fortran order, at least n rows) is filled instead of allocating.
        """
        check_is_fitted(self, "features_")
        self._check_columns(X)
        n = len(X)
        M = out[:n] if out is not None else np.empty((n, len(self.features_)), dtype=np.float64, order="F")
        for j, col in enumerate(self.features_):
            M[:, j] = _column(X[col], self.categories_.get(col))
        return M

    def frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """`matrix` as a DataFrame named by feature, for charts that label features."""
        return pd.DataFrame(self.matrix(X), columns=self.features_, index=X.index)

    # -- fitting -----------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "RiskModel":
        """Fit on the feature columns of X (entity_id and as_of are ignored); no calibration yet."""
        if self.kind not in KINDS:
            raise RiskEngineError(f"unknown model type '{self.kind}'; expected one of: {', '.join(KINDS)}")
        self.features_ = [str(c) for c in X.columns if c not in IGNORED_COLUMNS]
        self.categories_ = {str(k): list(v) for k, v in (self.categories or {}).items()}
        unknown = [c for c in self.categories_ if c not in self.features_]
        if unknown:
            raise RiskEngineError(f"categorical feature(s) not among the columns to fit on: {', '.join(unknown)}")
        self.n_features_in_ = len(self.features_)
        self.feature_names_in_ = np.asarray(self.features_, dtype=object)
        self.classes_ = np.array([0, 1])
        M = self.matrix(X)
        y = np.asarray(y, dtype=int)
        cat_idx = [j for j, c in enumerate(self.features_) if c in self.categories_]
        num_idx = [j for j, c in enumerate(self.features_) if c not in self.categories_]
        self.estimator_ = make_estimator(self.kind, dict(self.params or {}), num_idx, cat_idx, self.seed)
        if self.kind == "lightgbm":
            self.estimator_.fit(M, y, feature_name=self.features_, categorical_feature=cat_idx or "auto")
        else:
            from threadpoolctl import threadpool_limits

            with threadpool_limits(1):  # small problems: BLAS threads cost more than they save (3.6x on 2 cores)
                self.estimator_.fit(M, y)
            self._record_linear_layout(M, num_idx, cat_idx)
        self.calibrator_ = None
        return self

    def _record_linear_layout(self, M: np.ndarray, numeric: list[int], categorical: list[int]) -> None:
        """Which original feature owns each transformed column, and their training means."""
        prep = self.estimator_.named_steps["prep"]
        names = [self.features_[j] for j in numeric]
        owner = list(names)
        if numeric:  # (no numeric feature: the numeric branch was never fitted)
            imputer = prep.named_transformers_["num"].named_steps["simpleimputer"]
            if imputer.indicator_ is not None:
                owner += [names[i] for i in imputer.indicator_.features_]
        if categorical:
            encoder = prep.named_transformers_["cat"].named_steps["onehotencoder"]
            for j, cats in zip(categorical, encoder.categories_):
                owner += [self.features_[j]] * len(cats)
        Z = prep.transform(M)
        Z = Z.toarray() if hasattr(Z, "toarray") else np.asarray(Z)
        self.column_owner_ = owner
        self.background_mean_ = Z.mean(axis=0)

    def calibrate(self, raw_score: np.ndarray, y: np.ndarray) -> "RiskModel":
        """Fit the map from this model's raw scores to probabilities on (raw score, label) pairs.

        The pairs must be scores of this model (or of models trained the same way) on rows it
        was not fitted on; training cross-fits them (`training.calibrate_champion`).
        """
        check_is_fitted(self, "estimator_")
        self.calibrator_ = fit_calibrator(self.calibration, raw_score, y)
        return self

    # -- output ------------------------------------------------------------------------
    def raw_score(self, X: pd.DataFrame, chunk_rows: int = CHUNK_ROWS) -> np.ndarray:
        """The model's own score (log-odds), before calibration: what SHAP values add up to.

        Rows go through `matrix` a slice at a time into one reused buffer, so scoring a
        million rows costs one slice's memory on top of the table; LightGBM predicts each
        slice on every core (for large inputs).
        """
        check_is_fitted(self, "estimator_")
        self._check_columns(X)
        n = len(X)
        out = np.empty(n, dtype=np.float64)
        buffer = np.empty((min(chunk_rows, n), len(self.features_)), dtype=np.float64, order="F")
        threads = (os.cpu_count() or 1) if n >= THREADED_ROWS else 1
        for lo in range(0, n, chunk_rows):
            M = self.matrix(X.iloc[lo:lo + chunk_rows], out=buffer)
            out[lo:lo + len(M)] = self._raw(M, threads)
        return out

    def compile(self) -> "RiskModel":
        """Build the fast scorer (trees compiled to C, or the logistic model as arrays) that
        `raw_score` and `contributions` use from then on; done once, when the model is registered."""
        from riskengine.compiled import compile_model

        self.fast_ = compile_model(self)
        return self

    def _fast(self):
        """The compiled scorer when there is one for this very model (else None)."""
        fast = getattr(self, "fast_", None)
        if fast is None or (self.kind == "lightgbm" and not fast.serves(self.estimator_.booster_)):
            return None
        return fast

    def _raw(self, M: np.ndarray, threads: int = 1) -> np.ndarray:
        """Raw scores for a matrix `matrix` built."""
        fast = self._fast()
        if fast is not None:
            return fast.raw_score(M, threads=threads)
        if self.kind == "lightgbm":
            return self.estimator_.booster_.predict(M, raw_score=True, num_threads=threads)
        return self.estimator_.decision_function(M)

    def probability_from_raw(self, raw: np.ndarray) -> np.ndarray:
        """The calibrated probability for given raw scores of this model."""
        check_is_fitted(self, "estimator_")
        return apply_calibrator(self.calibrator_, raw)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of a positive finding, as an (n, 2) array."""
        p = self.probability_from_raw(self.raw_score(X))
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 where the calibrated probability is at least one half (lists rank; this is for the API)."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    @property
    def is_tree(self) -> bool:
        return self.kind == "lightgbm"


def _column(values: pd.Series, categories: list | None) -> np.ndarray:
    """One feature as floats: numbers as they are (unreadable -> NaN), categories as codes (unknown -> NaN)."""
    if categories is not None:
        if isinstance(values.dtype, pd.CategoricalDtype) and list(values.cat.categories) == list(categories):
            codes = values.cat.codes.to_numpy()
        else:
            codes = pd.Categorical(values.astype(object).where(values.notna(), None), categories=categories).codes
        return np.where(codes < 0, np.nan, codes.astype(np.float64))
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def categories_from_text(X: pd.DataFrame, categories: dict[str, list]) -> pd.DataFrame:
    """X with text values of categorical columns mapped back onto the model's own categories.

    The registered signature carries every category as text (what `mlflow.pyfunc.spark_udf`
    sends), so a model whose categories are numbers (bedrooms 1, 2, 3) would see "3" as an
    unknown category; "3" (and "3.0" for 3.0, "true" for True) is read as the category it spells."""
    out = X
    for col, cats in categories.items():
        if col not in X.columns or all(isinstance(c, str) for c in cats):
            continue
        values = X[col]
        if isinstance(values.dtype, pd.CategoricalDtype) or not (values.dtype == object
                                                                  or pd.api.types.is_string_dtype(values.dtype)):
            continue
        lookup = {}
        for c in cats:
            for text in (str(c), str(c).lower()):
                lookup.setdefault(text, c)
        if out is X:
            out = X.copy()
        out[col] = pd.Series([lookup.get(v, v) if isinstance(v, str) else v for v in values], index=values.index,
                             dtype=object)
    return out


class RiskModelPyfunc(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc wrapper: DataFrame of features in, probability and raw score out."""

    def __init__(self, model: RiskModel, info: pd.DataFrame | None = None):
        self.model = model
        self.info = info  # feature metadata, so scoring can phrase reasons

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:  # noqa: ANN001
        raw = self.model.raw_score(categories_from_text(model_input, self.model.categories_))
        return pd.DataFrame({"probability": self.model.probability_from_raw(raw), "raw_score": raw})


def contributions(model: RiskModel, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Exact additive contributions to the raw score: (n x features, base value per row).

    Trees: LightGBM's TreeSHAP (`pred_contrib`, the tree_path_dependent algorithm).
    Logistic regression: coefficient x (value - training mean) in the model's own space,
    summed back over each feature's columns. Contributions + base = raw_score, exactly.
    """
    M = model.matrix(X)
    fast = model._fast()
    if fast is not None:  # compiled TreeSHAP (equal to pred_contrib, several times faster) or the linear arrays
        return fast.contributions(M)
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
