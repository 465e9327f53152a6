"""The fitted logistic pipeline as arrays: scores and contributions without scikit-learn's
ColumnTransformer.

The pipeline is: median imputation with missing-value indicators, sign(x) log(1 + |x|),
standard scaling, one-hot categories, logistic regression. Its score is linear in the
transformed columns, so each numeric feature folds into `a * slog(x or median) + b` (plus
an indicator term when it was ever missing in training) and each categorical feature into
a look-up table by category code. Rows are taken in slices, the numeric features as one matrix.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskengine.compiled._matrix import category_codes, float_matrix

SLICE = 65_536  # rows at a time: bounds the temporary arrays


def _slog(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


class LinearScorer:
    """Score and explain a fitted `RiskModel` of kind logistic_regression from arrays."""

    def __init__(self, model) -> None:
        prep = model.estimator_.named_steps["prep"]
        lr = model.estimator_.named_steps["lr"]
        coef = lr.coef_[0].astype(np.float64)
        numeric = [c for c in model.features_ if c not in model.categories]
        num = prep.named_transformers_["num"] if numeric else None
        self.features = list(model.features_)
        self.categories = dict(model.categories)
        self.numeric = numeric
        self.num_pos = np.asarray([self.features.index(c) for c in numeric], dtype=int)
        self.intercept = float(lr.intercept_[0])
        zbar = np.asarray(model.background_mean_, dtype=np.float64)
        self.base = float(self.intercept + coef @ zbar)
        p = len(numeric)
        if numeric:
            imputer = num.named_steps["simpleimputer"]
            scaler = num.named_steps["standardscaler"]
            mean = scaler.mean_ if scaler.mean_ is not None else np.zeros(len(coef))
            scale = scaler.scale_ if scaler.scale_ is not None else np.ones(len(coef))
            ind = [] if imputer.indicator_ is None else list(imputer.indicator_.features_)
            width = p + len(ind)
            k = coef[:width] / scale[:width]  # per transformed column: score = k * (slog - mean)
            self.median = np.asarray(imputer.statistics_, dtype=np.float64)
            self.num_k, self.num_mean = k[:p], mean[:p]
            self.num_zbar = zbar[:p] * scale[:p] + mean[:p]  # training mean of slog(x), undoing the scaling
            self.ind_feature = np.asarray(ind, dtype=int)
            self.ind_k, self.ind_mean = k[p:width], mean[p:width]
            self.ind_zbar = zbar[p:width] * scale[p:width] + mean[p:width]
            offset = width
        else:
            self.median = np.zeros(0)
            self.ind_feature = np.zeros(0, dtype=int)
            offset = 0
        # categorical: one-hot column per category string; a row's code -> its coefficient
        self.cat_table: dict[str, np.ndarray] = {}
        self.cat_zbar: dict[str, float] = {}
        if self.categories:
            encoder = prep.named_transformers_["cat"].named_steps["onehotencoder"]
            for name, seen in zip(self.categories, encoder.categories_):
                seen = [str(s) for s in seen]
                cols = coef[offset:offset + len(seen)]
                where = {s: i for i, s in enumerate(seen)}
                cats = [str(c) for c in self.categories[name]] + ["missing"]  # last: code -1 (missing or unknown)
                self.cat_table[name] = np.array([cols[where[c]] if c in where else 0.0 for c in cats])
                self.cat_zbar[name] = float(cols @ zbar[offset:offset + len(seen)])
                offset += len(seen)

    # -- pieces ------------------------------------------------------------------------
    def _codes(self, values: pd.Series, name: str) -> np.ndarray:
        codes = category_codes(values, self.categories[name])
        return np.where(np.isnan(codes), len(self.categories[name]), codes).astype(np.intp)

    def _numeric(self, X: pd.DataFrame, buffer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """slog of the imputed numeric features, and the missing flags of those with an indicator."""
        M = float_matrix(X, self.numeric, {}, out=buffer)
        missing = np.isnan(M)
        np.copyto(M, self.median, where=missing)
        return _slog(M), missing[:, self.ind_feature]

    def _contrib_slice(self, X: pd.DataFrame, out_raw: np.ndarray | None, contrib: np.ndarray | None,
                       buffer: np.ndarray) -> None:
        one = np.log1p(1.0)  # slog of an indicator that is set
        if out_raw is not None:
            acc = np.full(len(X), self.intercept)
            if self.numeric:
                S, flags = self._numeric(X, buffer)
                acc += S @ self.num_k - self.num_k @ self.num_mean
                if len(self.ind_feature):
                    acc += flags @ (self.ind_k * one) - self.ind_k @ self.ind_mean
            for name, table in self.cat_table.items():
                acc += table[self._codes(X[name], name)]
            out_raw[:] = acc
        if contrib is not None:
            if self.numeric:
                S, flags = self._numeric(X, buffer)
                C = (S - self.num_zbar) * self.num_k
                if len(self.ind_feature):
                    C[:, self.ind_feature] += (flags * one - self.ind_zbar) * self.ind_k
                contrib[:, self.num_pos] = C
            for name, table in self.cat_table.items():
                contrib[:, self.features.index(name)] = table[self._codes(X[name], name)] - self.cat_zbar[name]

    def _buffer(self, n: int) -> np.ndarray:
        return np.empty((min(n, SLICE), len(self.numeric)), order="F")  # filled column by column

    # -- public ------------------------------------------------------------------------
    def raw_score(self, X: pd.DataFrame) -> np.ndarray:
        """The logistic regression's decision function (log-odds), equal to scikit-learn's to ~1e-12."""
        out = np.empty(len(X))
        buffer = self._buffer(len(X))
        for lo in range(0, len(X), SLICE):
            self._contrib_slice(X.iloc[lo:lo + SLICE], out[lo:lo + SLICE], None, buffer)
        return out

    def contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Exact linear contributions (coefficient x (value - training mean), per feature) and the base."""
        contrib = np.zeros((len(X), len(self.features)))
        buffer = self._buffer(len(X))
        for lo in range(0, len(X), SLICE):
            self._contrib_slice(X.iloc[lo:lo + SLICE], None, contrib[lo:lo + SLICE], buffer)
        return contrib, np.full(len(X), self.base)
