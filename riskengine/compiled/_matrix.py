"""A feature table as the float matrix compiled models read: rows x features, C order.

Numbers as float64 (unreadable -> NaN); categorical columns as their code in the model's
category list (unknown or missing -> NaN), which is what LightGBM's pandas path feeds its
trees.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def category_codes(values: pd.Series, categories: list) -> np.ndarray:
    """Codes of `values` in `categories` as floats; NaN where missing or unknown."""
    if isinstance(values.dtype, pd.CategoricalDtype) and list(values.cat.categories) == list(categories):
        codes = values.cat.codes.to_numpy()
    else:
        codes = pd.Categorical(values.astype(object).where(values.notna(), None), categories=categories).codes
    return np.where(codes < 0, np.nan, codes.astype(np.float64))


def numeric_column(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def float_matrix(X: pd.DataFrame, features: list[str], categories: dict[str, list],
                 out: np.ndarray | None = None) -> np.ndarray:
    """X's `features` as a C-ordered float64 matrix (into `out` when given, reusing its memory)."""
    M = np.empty((len(X), len(features)), dtype=np.float64) if out is None else out[:len(X)]
    for j, col in enumerate(features):
        cats = categories.get(col)
        M[:, j] = category_codes(X[col], cats) if cats is not None else numeric_column(X[col])
    return M
