"""Difference in differences: before/after for a treated group against a comparison group.

For when randomising was not possible. The 2x2 table of means gives the estimate
(treated after - treated before) - (comparison after - comparison before); the regression
y ~ treated + after + treated:after gives the same number with HC2 or cluster-robust errors.
With two or more 'before' periods, a joint test of treated x period in the before data checks
the parallel-trends assumption that the causal reading rests on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from riskengine.errors import DataError
from riskengine.evaluation._analyse import LEVEL, fit_ols
from riskengine.evaluation._evidence import result_level
from riskengine.evaluation._io import as_labels, numeric_column, require_columns
from riskengine.evaluation._report import EvaluationReport, before_after_chart, write_report


def _as_set(value) -> set[str]:
    if isinstance(value, (str, int, float)) or value is None:
        value = [value]
    return {str(v) for v in value}


def did(df: pd.DataFrame, group_col: str, treated, period_col: str, after, outcome_col: str,
        cluster_col: str | None = None, out_dir: str | Path | None = None, *,
        higher_is_better: bool = True, source: str = "the table") -> EvaluationReport:
    """Difference-in-differences estimate with its 2x2 table of means and a robust regression SE.

    `treated` and `after` are a value (or values) of `group_col` and `period_col`; every other
    value is the comparison group or the before period. Rows with a missing outcome are dropped.
    """
    require_columns(df, [group_col, period_col, outcome_col, cluster_col], source)
    groups, periods = as_labels(df[group_col]), as_labels(df[period_col])
    treated_set, after_set = _as_set(treated), _as_set(after)
    for col, values, wanted, flag in ((group_col, groups, treated_set, "--treated"),
                                      (period_col, periods, after_set, "--after")):
        missing = wanted - set(values.dropna().unique())
        if missing:
            raise DataError(f"{source}: {flag} value(s) {sorted(missing)} not found in column "
                            f"{col!r}; values present: {', '.join(sorted(values.dropna().unique())[:20])}")
    work = pd.DataFrame({"y": numeric_column(df, outcome_col, source),
                         "treated": groups.isin(treated_set).astype(float).to_numpy(),
                         "after": periods.isin(after_set).astype(float).to_numpy(),
                         "period": periods.to_numpy()})
    if cluster_col is not None:
        work["cluster"] = df[cluster_col].astype(str).to_numpy()
    dropped = int(work["y"].isna().sum())
    work = work[work["y"].notna()]
    cells = work.groupby(["treated", "after"])["y"].agg(["mean", "size"])
    for t in (0.0, 1.0):
        for a in (0.0, 1.0):
            if (t, a) not in cells.index:
                raise DataError(f"{source}: no observed {outcome_col!r} for the "
                                f"{'treated' if t else 'comparison'} group "
                                f"{'after' if a else 'before'}; all four cells are needed")
    means = {name: {"before": float(cells.loc[(t, 0.0), "mean"]), "after": float(cells.loc[(t, 1.0), "mean"]),
                    "n_before": int(cells.loc[(t, 0.0), "size"]), "n_after": int(cells.loc[(t, 1.0), "size"])}
             for name, t in (("treated", 1.0), ("comparison", 0.0))}
    for row in means.values():
        row["change"] = row["after"] - row["before"]
    arithmetic = means["treated"]["change"] - means["comparison"]["change"]
    X = np.column_stack([np.ones(len(work)), work["treated"], work["after"],
                         work["treated"] * work["after"]])
    clusters = None if cluster_col is None else pd.factorize(work["cluster"])[0]
    fit = fit_ols(work["y"].to_numpy(float), X, clusters)
    lo, hi = fit.conf_int(alpha=1 - LEVEL)[3]
    estimate = {"estimate": float(fit.params[3]), "se": float(fit.bse[3]), "ci": [float(lo), float(hi)],
                "p_value": float(fit.pvalues[3]), "arithmetic": arithmetic}
    pretrend = _pretrend(work, clusters)
    significant = estimate["p_value"] < 1 - LEVEL
    evidence = result_level(estimate=estimate["estimate"], significant=significant,
                            higher_is_better=higher_is_better, attrition_ok=True, balance_ok=True,
                            randomised=False, what="the treated group")
    if pretrend is not None and pretrend["p_value"] < 0.05 and evidence["level"] == 3:
        evidence["level"] = 2
        evidence["label"] = "data showing change in the right direction, but not that the list caused it"
    if pretrend is not None:
        evidence["reasons"].append(
            f"Before the change the groups' trends differ with p = {pretrend['p_value']:.3g} "
            + ("(parallel trends doubtful)." if pretrend["p_value"] < 0.05
               else "(no sign against parallel trends).")
        )
    else:
        evidence["reasons"].append("With one before period, parallel trends cannot be checked "
                                   "from the data; argue it from how the groups were chosen.")
    data = {
        "title": "Difference in differences",
        "source": source,
        "group_col": group_col, "treated": sorted(treated_set),
        "period_col": period_col, "after": sorted(after_set),
        "outcome_col": outcome_col, "cluster_col": cluster_col,
        "se_method": "cluster-robust (CR1, t with G - 1 df)" if cluster_col else "HC2 robust",
        "level": LEVEL,
        "n": int(len(work)), "rows_dropped_missing_outcome": dropped,
        "means": means,
        "did": estimate,
        "pretrend": pretrend,
        "higher_is_better": higher_is_better,
        "evidence": evidence,
    }
    table = pd.DataFrame(means).T.rename_axis("group").reset_index()
    report = EvaluationReport(table=table, data=data)
    if out_dir is not None:
        chart = before_after_chart(means, f"treated ({', '.join(sorted(treated_set))})",
                                   "comparison", f"mean {outcome_col}")
        report.files = write_report(data, out_dir, "did_report", "evaluation_did.html",
                                    charts={"means": chart})
    return report


def _pretrend(work: pd.DataFrame, clusters: np.ndarray | None) -> dict | None:
    """Joint Wald test that treated x before-period interactions are zero (needs 2+ before periods)."""
    before = work["after"].to_numpy() == 0
    part = work[before]
    periods = sorted(part["period"].unique())
    if len(periods) < 2:
        return None
    dummies = pd.get_dummies(part["period"], drop_first=True, dtype=float)
    X = np.column_stack([np.ones(len(part)), part["treated"], dummies.to_numpy(),
                         dummies.to_numpy() * part["treated"].to_numpy()[:, None]])
    fit = fit_ols(part["y"].to_numpy(float), X, None if clusters is None else clusters[before])
    k = dummies.shape[1]
    R = np.zeros((k, X.shape[1]))
    R[:, 2 + k:] = np.eye(k)
    test = fit.wald_test(R, scalar=True)
    return {"before_periods": [str(p) for p in periods], "statistic": float(test.statistic),
            "p_value": float(test.pvalue)}
