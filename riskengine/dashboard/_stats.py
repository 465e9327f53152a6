"""The statistics the dashboard shows: proportions with intervals, the inverse-probability prevalence, PSI.

Each function takes plain numbers or tables and returns plain numbers, so the figures can be
checked by hand (the tests do) and reused by the simulation that measures their coverage.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

PSI_EPSILON = 1e-4  # a share of zero in either distribution counts as this, so the log stays finite


def rate(positives: float, n: float, alpha: float = 0.05) -> tuple[float | None, float | None, float | None]:
    """A proportion with its Wilson interval; (None, None, None) when nothing was observed."""
    if n <= 0:
        return None, None, None
    lo, hi = proportion_confint(positives, n, alpha=alpha, method="wilson")
    return positives / n, float(lo), float(hi)


def rate_ratio(pos_a: int, n_a: int, pos_b: int, n_b: int, alpha: float = 0.05) -> tuple[float | None, float | None, float | None]:
    """Hit rate of A over hit rate of B with a log-scale (Katz) interval; None where undefined."""
    if min(n_a, n_b) <= 0 or pos_b == 0 or pos_a == 0:
        return None, None, None
    lo, hi = confint_proportions_2indep(pos_a, n_a, pos_b, n_b, compare="ratio", method="log", alpha=alpha)
    return (pos_a / n_a) / (pos_b / n_b), float(lo), float(hi)


def ipw_prevalence(strata: pd.DataFrame, alpha: float = 0.05) -> dict:
    """Prevalence among the entities no list picked, from the random exploration draws.

    `strata`: one row per list with `population` (eligible entities the model did not pick,
    the frame the exploration slice was drawn from), `inspected` (exploration rows with a
    result) and `positives`. Each inspected draw stands for population / inspected entities
    (its inverse inclusion probability), so the estimate is the population-weighted mean of
    the lists' hit rates; the interval is Wilson's at the Kish effective sample size.
    """
    est, lo, hi, n_eff = ipw_arrays(strata["population"].to_numpy(float)[None, :], strata["inspected"].to_numpy(float)[None, :],
                                    strata["positives"].to_numpy(float)[None, :], alpha)
    if est.size == 0 or np.isnan(est[0, -1]):
        return {"estimate": None, "low": None, "high": None, "inspected": 0, "effective_n": 0.0}
    return {"estimate": float(est[0, -1]), "low": float(lo[0, -1]), "high": float(hi[0, -1]),
            "inspected": int(strata["inspected"].sum()), "effective_n": float(n_eff[0, -1])}


def ipw_arrays(population: np.ndarray, inspected: np.ndarray, positives: np.ndarray, alpha: float = 0.05):
    """`ipw_prevalence` on all weeks so far, for many replicates at once: arrays (replicates x weeks) in,
    (estimate, low, high, effective n) after each week out; NaN where nothing was inspected yet."""
    population, inspected, positives = np.broadcast_arrays(population, inspected, positives)
    seen = inspected > 0
    safe = np.where(seen, inspected, 1.0)
    num = np.cumsum(np.where(seen, population * positives / safe, 0.0), axis=1)
    den = np.cumsum(np.where(seen, population, 0.0), axis=1)
    w2 = np.cumsum(np.where(seen, population ** 2 / safe, 0.0), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        est = num / den
        n_eff = den ** 2 / w2
    ok = den > 0
    lo, hi = np.full(est.shape, np.nan), np.full(est.shape, np.nan)
    if ok.any():
        lo[ok], hi[ok] = proportion_confint(est[ok] * n_eff[ok], n_eff[ok], alpha=alpha, method="wilson")
    return est, lo, hi, n_eff


def psi(reference: pd.Series, current: pd.Series, bins: int = 10) -> float:
    """Population stability index of `current` against `reference`.

    Numbers are cut at the reference's quantiles (at most `bins` bins, ties merged); categories
    and text are compared value by value; missing values form a bin of their own.
    PSI = sum over bins of (current share - reference share) x ln(current share / reference share).
    """
    ref, cur = reference.reset_index(drop=True), current.reset_index(drop=True)
    if pd.api.types.is_numeric_dtype(ref) and not isinstance(ref.dtype, pd.CategoricalDtype):
        values = ref.dropna().to_numpy(dtype=float)
        if values.size == 0:
            ref_bins, cur_bins = ref.isna().map({True: "missing", False: "value"}), cur.isna().map({True: "missing", False: "value"})
        else:
            edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
            ref_bins = _cut(ref, edges)
            cur_bins = _cut(cur, edges)
    else:
        ref_bins = ref.astype(object).where(ref.notna(), "missing").astype(str)
        cur_bins = cur.astype(object).where(cur.notna(), "missing").astype(str)
    keys = sorted(set(ref_bins) | set(cur_bins), key=str)
    e = ref_bins.value_counts(normalize=True).reindex(keys, fill_value=0).to_numpy(dtype=float)
    a = cur_bins.value_counts(normalize=True).reindex(keys, fill_value=0).to_numpy(dtype=float)
    e, a = np.maximum(e, PSI_EPSILON), np.maximum(a, PSI_EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


def _cut(values: pd.Series, edges: np.ndarray) -> pd.Series:
    """Bin index by the reference's inner quantile edges (right-closed), 'missing' for NaN."""
    arr = values.to_numpy(dtype=float, na_value=np.nan)
    idx = np.searchsorted(edges, arr, side="left").astype(object)
    idx[np.isnan(arr)] = "missing"
    return pd.Series(idx).astype(str)
