"""Balance of baseline covariates between arms: means (or shares) and standardised differences."""

from __future__ import annotations

import numpy as np
import pandas as pd

MAX_LEVELS = 12  # categorical columns with more levels are left out of the table
SMD_CAUTION = 0.1
SMD_PROBLEM = 0.25


def _smd(x_arm: pd.Series, x_control: pd.Series) -> float:
    """Standardised mean difference with the pooled (average) variance of the two groups."""
    pooled = np.sqrt((x_arm.var(ddof=1) + x_control.var(ddof=1)) / 2)
    diff = x_arm.mean() - x_control.mean()
    if not np.isfinite(pooled) or pooled == 0:
        return 0.0 if diff == 0 or not np.isfinite(diff) else float("inf")
    return float(diff / pooled)


def balance_table(df: pd.DataFrame, arm_col: str, control: str, columns: list[str]) -> list[dict]:
    """One row per covariate (or per level of a categorical one): value by arm, SMD against control.

    Numeric columns give means; text columns with few levels give the share of each level.
    """
    arms = [control] + sorted(a for a in df[arm_col].unique() if a != control)
    rows = []
    for col in columns:
        if col not in df.columns:
            continue
        values = df[col]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            rows.append(_row(df, arm_col, arms, col, values.astype(float), "mean"))
        else:
            levels = values.astype(str).unique()
            if len(levels) > MAX_LEVELS:
                continue
            for level in sorted(levels):
                rows.append(_row(df, arm_col, arms, f"{col} = {level}",
                                 (values.astype(str) == level).astype(float), "share"))
    return rows


def _row(df: pd.DataFrame, arm_col: str, arms: list[str], name: str, x: pd.Series, kind: str) -> dict:
    control = arms[0]
    x_control = x[df[arm_col] == control].dropna()
    by_arm = {a: float(x[df[arm_col] == a].mean()) for a in arms}
    smd = {a: _smd(x[df[arm_col] == a].dropna(), x_control) for a in arms[1:]}
    worst = max((abs(v) for v in smd.values()), default=0.0)
    flag = "ok" if worst <= SMD_CAUTION else ("caution" if worst <= SMD_PROBLEM else "imbalanced")
    return {"variable": name, "kind": kind, "by_arm": by_arm, "smd": smd, "max_abs_smd": worst,
            "flag": flag}
