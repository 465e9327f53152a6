"""Analysis of a randomised trial: each arm against control, unadjusted and regression-adjusted.

The unadjusted estimate is OLS of the outcome on an arm indicator, i.e. the difference in
means, with HC2 robust errors (which reduce to sqrt(s1^2/n1 + s0^2/n0)) or cluster-robust
errors by the unit of randomisation. The adjusted estimate adds strata fixed effects and
covariates centred and interacted with the arm (Lin's estimator; with a pre-period outcome
or the risk score as covariate this is CUPED).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.stats import norm
from statsmodels.stats.multitest import multipletests

from riskengine.errors import DataError
from riskengine.evaluation._balance import SMD_PROBLEM, balance_table
from riskengine.evaluation._evidence import (MAX_ATTRITION, MAX_DIFFERENTIAL_ATTRITION,
                                             result_level, unknown_design_level)
from riskengine.evaluation._io import as_labels, numeric_column, require_columns
from riskengine.evaluation._report import EvaluationReport, interval_chart, write_report

LEVEL = 0.95
CONTROL_NAMES = ("control", "bau", "business as usual", "0", "false", "c")


def fit_ols(y: np.ndarray, X: np.ndarray, clusters: np.ndarray | None = None):
    """OLS with HC2 errors, or cluster-robust errors (t with G - 1 df) when clusters are given."""
    model = sm.OLS(y, X)
    if clusters is None:
        return model.fit(cov_type="HC2")
    return model.fit(cov_type="cluster", cov_kwds={"groups": clusters}, use_t=True)


def _choose_control(arms: list[str], control: str | None, where: str, col: str) -> str:
    if control is not None:
        if str(control) not in arms:
            raise DataError(f"{where}: control value {control!r} not found in column {col!r}; "
                            f"values present: {', '.join(arms)}")
        return str(control)
    named = [a for a in arms if a.lower() in CONTROL_NAMES]
    if len(named) == 1:
        return named[0]
    raise DataError(f"{where}: cannot tell which value of {col!r} is the control; "
                    f"pass --control (values present: {', '.join(arms)})")


def _design_matrix(part: pd.DataFrame, arm: str, strata_col: str | None,
                   covariates: list[str]) -> tuple[np.ndarray, list[str]]:
    """[1, D, strata dummies, centred covariates, D x centred covariates]."""
    d = (part["_arm"] == arm).to_numpy(float)
    cols = [np.ones(len(part)), d]
    names = ["const", "arm"]
    if strata_col is not None:
        dummies = pd.get_dummies(part[strata_col].astype(str), drop_first=True, dtype=float)
        for name in dummies.columns:
            cols.append(dummies[name].to_numpy())
            names.append(f"stratum[{name}]")
    for cov in covariates:
        x = part[cov].to_numpy(float)
        if np.isnan(x).any():
            missing = np.isnan(x)
            x = np.where(missing, np.nanmean(x) if (~missing).any() else 0.0, x)
            m = missing.astype(float) - missing.mean()
            cols += [m, d * m]
            names += [f"{cov}_missing", f"arm:{cov}_missing"]
        xc = x - x.mean()
        if xc.std() == 0:
            continue
        cols += [xc, d * xc]
        names += [cov, f"arm:{cov}"]
    return np.column_stack(cols), names


def _effect(part: pd.DataFrame, arm: str, clusters: np.ndarray | None, binary: bool) -> dict:
    """Difference in means with robust SE; for 0/1 outcomes also the risk ratio (delta method)."""
    y = part["_y"].to_numpy(float)
    d = (part["_arm"] == arm).to_numpy(float)
    fit = fit_ols(y, np.column_stack([np.ones(len(y)), d]), clusters)
    lo, hi = fit.conf_int(alpha=1 - LEVEL)[1]
    out = {"estimate": float(fit.params[1]), "se": float(fit.bse[1]), "ci": [float(lo), float(hi)],
           "p_value": float(fit.pvalues[1]),
           "mean_arm": float(y[d == 1].mean()), "mean_control": float(y[d == 0].mean())}
    if binary:
        out["risk_difference"] = out["estimate"]
        out.update(_risk_ratio(y, d, clusters))
    return out


def _risk_ratio(y: np.ndarray, d: np.ndarray, clusters: np.ndarray | None) -> dict:
    cells = fit_ols(y, np.column_stack([1 - d, d]), clusters)
    p0, p1 = cells.params
    if p0 <= 0 or p1 <= 0:
        return {"risk_ratio": None, "risk_ratio_ci": [None, None]}
    v = cells.cov_params()
    se_log = math.sqrt(v[1, 1] / p1**2 + v[0, 0] / p0**2 - 2 * v[0, 1] / (p0 * p1))
    z = norm.ppf(0.5 + LEVEL / 2)
    rr = p1 / p0
    return {"risk_ratio": float(rr),
            "risk_ratio_ci": [float(rr * math.exp(-z * se_log)), float(rr * math.exp(z * se_log))]}


def _adjusted(part: pd.DataFrame, arm: str, clusters: np.ndarray | None,
              strata_col: str | None, covariates: list[str]) -> dict:
    """Strata fixed effects + Lin-adjusted covariates; strata holding only one arm are left out."""
    dropped = 0
    if strata_col is not None:
        both = part.groupby(strata_col)["_arm"].transform(lambda s: s.nunique() > 1)
        dropped = int((~both).sum())
        keep = both.to_numpy()
        part = part[keep]
        clusters = None if clusters is None else clusters[keep]
    if len(part) == 0 or part["_arm"].nunique() < 2:
        return {"adjusted_estimate": None, "adjusted_se": None, "adjusted_ci": [None, None],
                "adjusted_p_value": None, "adjusted_rows_dropped": dropped}
    X, _ = _design_matrix(part, arm, strata_col, covariates)
    fit = fit_ols(part["_y"].to_numpy(float), X, clusters)
    lo, hi = fit.conf_int(alpha=1 - LEVEL)[1]
    return {"adjusted_estimate": float(fit.params[1]), "adjusted_se": float(fit.bse[1]),
            "adjusted_ci": [float(lo), float(hi)], "adjusted_p_value": float(fit.pvalues[1]),
            "adjusted_rows_dropped": dropped}


def _attrition(df: pd.DataFrame, arms: list[str], control: str, cluster_col: str | None) -> dict:
    """Units assigned and lost by arm (a cluster is lost when none of its outcomes is observed)."""
    observed = df["_y"].notna()
    if cluster_col is not None:
        units = df.groupby(cluster_col).agg(arm=("_arm", "first"), seen=("_y", lambda s: s.notna().any()))
    else:
        units = pd.DataFrame({"arm": df["_arm"], "seen": observed})
    rows = []
    for arm in arms:
        u = units[units["arm"] == arm]
        rows.append({"arm": arm, "assigned": int(len(u)), "observed": int(u["seen"].sum()),
                     "attrition": float(1 - u["seen"].mean()) if len(u) else None})
    overall = float(1 - units["seen"].mean()) if len(units) else 0.0
    by_arm = {r["arm"]: r["attrition"] or 0.0 for r in rows}
    differential = max((abs(by_arm[a] - by_arm[control]) for a in arms if a != control), default=0.0)
    return {"unit": "cluster" if cluster_col else "row", "by_arm": rows, "overall": overall,
            "differential": differential,
            "low": overall <= MAX_ATTRITION and differential <= MAX_DIFFERENTIAL_ATTRITION}


def analyse_trial(df: pd.DataFrame, treatment_col: str, outcome_col: str, control=None,
                  strata_col: str | None = None, cluster_col: str | None = None,
                  covariate_cols=(), out_dir: str | Path | None = None, *,
                  higher_is_better: bool = True, source: str = "the trial table",
                  title: str | None = None, purpose: dict | None = None,
                  randomised: bool | None = None) -> EvaluationReport:
    """Estimate each arm's effect against control, with balance, attrition and evidence level.

    Rows with a missing outcome count as attrition (by cluster when `cluster_col` is given).
    `randomised`: True when the arms are known to have been assigned at random (a design
    from `design_trial`); None (unknown) or False award no standard of evidence.
    Returns the effects table; with `out_dir` writes trial_report.html and trial_report.json.
    """
    covariates = list(covariate_cols)
    require_columns(df, [treatment_col, outcome_col, strata_col, cluster_col, *covariates], source)
    work = pd.DataFrame(index=df.index)
    work["_arm"] = as_labels(df[treatment_col])
    if work["_arm"].isna().any():
        row = int(np.flatnonzero(work["_arm"].isna().to_numpy())[0])
        raise DataError(f"{source}: row {row + 1} has no value in treatment column {treatment_col!r}")
    work["_y"] = numeric_column(df, outcome_col, source)
    for cov in covariates:
        work[cov] = numeric_column(df, cov, source)
    if strata_col is not None:
        work[strata_col] = df[strata_col].astype(str)
    if cluster_col is not None:
        work[cluster_col] = df[cluster_col].astype(str)
    arms_all = sorted(work["_arm"].unique())
    if len(arms_all) < 2:
        raise DataError(f"{source}: column {treatment_col!r} needs two or more arms; found {arms_all}")
    control = _choose_control(arms_all, control, source, treatment_col)
    arms = [control] + [a for a in arms_all if a != control]
    attrition = _attrition(work, arms, control, cluster_col)
    seen = work[work["_y"].notna()]
    y_values = set(np.unique(seen["_y"]))
    binary = y_values <= {0.0, 1.0}
    effects = []
    for arm in arms[1:]:
        part = seen[seen["_arm"].isin([arm, control])]
        n_arm, n_control = int((part["_arm"] == arm).sum()), int((part["_arm"] == control).sum())
        if n_arm < 2 or n_control < 2:
            raise DataError(f"{source}: arm {arm!r} and control {control!r} need at least two "
                            f"observed outcomes each; found {n_arm} and {n_control}")
        clusters = None if cluster_col is None else pd.factorize(part[cluster_col])[0]
        row = {"arm": arm, "n_arm": n_arm, "n_control": n_control}
        if cluster_col is not None:
            row["clusters_arm"] = int(part.loc[part["_arm"] == arm, cluster_col].nunique())
            row["clusters_control"] = int(part.loc[part["_arm"] == control, cluster_col].nunique())
        row.update(_effect(part, arm, clusters, binary))
        row.update(_adjusted(part, arm, clusters, strata_col, covariates))
        effects.append(row)
    if len(effects) > 1:
        holm = multipletests([e["p_value"] for e in effects], method="holm")[1]
        for e, p in zip(effects, holm):
            e["p_value_holm"] = float(p)
    balance = balance_table(seen, "_arm", control, covariates + ([strata_col] if strata_col else []))
    adjusted_for = set(covariates) | ({strata_col} if strata_col else set())
    balance_ok = all(r["max_abs_smd"] <= SMD_PROBLEM or r["variable"].split(" = ")[0] in adjusted_for
                     for r in balance)
    best = max(effects, key=lambda e: e["estimate"] if higher_is_better else -e["estimate"])
    p_best = best.get("p_value_holm", best["p_value"])
    if randomised:
        evidence = result_level(estimate=best["estimate"], significant=p_best < 1 - LEVEL,
                                higher_is_better=higher_is_better, attrition_ok=attrition["low"],
                                balance_ok=balance_ok, randomised=True, what=f"arm {best['arm']!r}")
    else:
        evidence = unknown_design_level()
    data = {
        "title": title or "Trial analysis",
        "purpose": purpose,
        "source": source,
        "treatment_col": treatment_col,
        "outcome_col": outcome_col,
        "control": control,
        "arms": arms,
        "strata_col": strata_col,
        "cluster_col": cluster_col,
        "covariates": covariates,
        "outcome_type": "binary" if binary else "continuous",
        "higher_is_better": higher_is_better,
        "se_method": "cluster-robust (CR1, t with G - 1 df)" if cluster_col else "HC2 robust",
        "level": LEVEL,
        "n_rows": int(len(work)),
        "n_observed": int(len(seen)),
        "effects": effects,
        "attrition": attrition,
        "balance": balance,
        "evidence": evidence,
        "notes": [],
    }
    report = EvaluationReport(table=pd.DataFrame(effects), data=data)
    if out_dir is not None:
        report.files = _write(report, out_dir)
    return report


def _write(report: EvaluationReport, out_dir: str | Path) -> dict[str, Path]:
    data = report.data
    effects = data["effects"]
    chart = interval_chart(
        [f"{e['arm']} vs {data['control']}" for e in effects], [e["estimate"] for e in effects],
        [e["ci"][0] for e in effects], [e["ci"][1] for e in effects], reference=0.0,
        xlabel=f"difference in mean {data['outcome_col']} (95% interval)")
    return write_report(data, out_dir, "trial_report", "evaluation_trial.html",
                        charts={"effects": chart})


UNIT_KEYS = (("entity_id",), ("officer", "week"), ("ward",), ("week",))


def join_outcomes(assignment: pd.DataFrame, outcomes: pd.DataFrame, *, assignment_source: str,
                  outcomes_source: str) -> tuple[pd.DataFrame, list[str], int]:
    """Outcomes joined onto the assignment by unit; assigned units with no outcome stay (attrition).

    The join key is 'unit_id' when the outcomes have it, else the unit's own columns
    (entity_id; officer and week; ward; or week). Returns the table, the key and the number of
    outcome rows whose unit is not in the assignment (left out).
    """
    require_columns(assignment, ["unit_id", "arm"], assignment_source)
    keys = ["unit_id"] if "unit_id" in outcomes.columns else next(
        (list(k) for k in UNIT_KEYS if set(k) <= set(assignment.columns) and set(k) <= set(outcomes.columns)),
        None)
    if keys is None:
        wanted = " or ".join("+".join(k) for k in UNIT_KEYS if set(k) <= set(assignment.columns))
        raise DataError(f"{outcomes_source}: cannot match outcomes to units; add a 'unit_id' column "
                        f"or {wanted or 'the unit columns'} as in {assignment_source}")
    left, right = assignment.copy(), outcomes.copy()
    for k in keys:
        left[k], right[k] = as_labels(left[k]), as_labels(right[k])
    extra = [c for c in left.columns if c in right.columns and c not in keys]
    right = right.drop(columns=extra)
    known = right.set_index(keys).index.isin(left.set_index(keys).index)
    merged = left.merge(right[known], on=keys, how="left", validate="one_to_many")
    return merged, keys, int((~known).sum())


def analyse_from_spec(spec, outcomes: pd.DataFrame, assignment: pd.DataFrame,
                      out_dir: str | Path | None = None, *, outcomes_source: str = "the outcomes",
                      assignment_source: str = "the assignment") -> EvaluationReport:
    """Analyse a trial designed from `spec`: join outcomes to the assignment, cluster by unit."""
    merged, keys, unknown = join_outcomes(assignment, outcomes, assignment_source=assignment_source,
                                          outcomes_source=outcomes_source)
    require_columns(merged, [spec.analysis.outcome_col, *spec.analysis.covariates],
                    f"{outcomes_source} joined to {assignment_source}")
    individual = keys == ["entity_id"] or ("entity_id" in assignment.columns and keys == ["unit_id"])
    strata = "stratum" if "stratum" in merged and merged["stratum"].nunique() > 1 else None
    report = analyse_trial(
        merged, "arm", spec.analysis.outcome_col, control=spec.design.control, strata_col=strata,
        cluster_col=None if individual else "unit_id", covariate_cols=spec.analysis.covariates,
        out_dir=None, higher_is_better=spec.analysis.higher_is_better,
        source=f"{outcomes_source} joined to {assignment_source}",
        title=f"Trial analysis: {spec.name}", purpose=dataclasses.asdict(spec.purpose),
        randomised=True,  # the assignment file comes from the spec's randomised design
    )
    if unknown:
        report.data["notes"].append(f"{unknown} outcome rows belong to no assigned unit and were left out.")
    if out_dir is not None:
        report.files = _write(report, out_dir)
    return report
