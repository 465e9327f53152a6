"""The analysis: users against the population by segment and by area, overlap, staff expectations.

- By segment: evaluation's `profile` (share of users beside the population's share, index
  100 = as expected, 95% interval from the log ratio of two proportions, small counts
  suppressed with a second where one could be worked out from the total); here each
  segment also gets a mark when its interval excludes 100 (unlikely to be chance).
- By area: take-up per 1,000 residents with Wilson 95% intervals (statsmodels); areas with
  fewer than `min_count` users are suppressed, with the next smallest if only one would be;
  non-users are rounded to the nearest 10.
- Overlap: of the homes of A's users, the share that are also homes of B's users (services
  share no person id, so homes are the only honest link), with Wilson intervals.
- Expected against observed: staff's expected shares by segment tested with a chi-square
  goodness-of-fit test over all segments and a binomial test per segment (Holm-adjusted).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from riskengine.errors import DataError

LEVEL = 0.95


def suppress_small(counts: pd.Series, min_count: int) -> pd.Series:
    """True where a count must be hidden: 0 < n < min_count, plus the next smallest count when
    exactly one would be hidden (else it follows from the published total)."""
    n = counts.fillna(0)
    small = (n > 0) & (n < min_count)
    if int(small.sum()) == 1:
        others = n[~small & (n > 0)]
        if len(others):
            small.loc[others.idxmin()] = True
    return small


def by_segment(users: pd.DataFrame, population: pd.DataFrame, min_count: int, names: dict[str, str]) -> pd.DataFrame:
    """Users' shares by segment beside the population's, with the index and its 95% interval."""
    from riskengine.evaluation import profile

    report = profile(users[["segment"]], population.rename(columns={"population": "weight"}), "segment",
                     weight_col="weight", dedupe="keep", id_col=None, min_count=min_count)
    t = report.table.copy()
    t["segment"] = t["segment"].astype(str)
    t["name"] = t["segment"].map(names).fillna("")
    sig = (t["flag"] != "suppressed") & t["index_lo"].notna() & ((t["index_lo"] > 100) | (t["index_hi"] < 100))
    t["difference"] = np.where(sig & (t["index"] > 100), "more than expected",
                               np.where(sig & (t["index"] < 100), "fewer than expected", ""))
    return t.sort_values("segment", key=lambda s: s.map(_segment_key)).reset_index(drop=True)


def _segment_key(code: str):
    return (0, int(code), "") if str(code).isdigit() else (1, 0, str(code))


def by_area(users: pd.DataFrame, population: pd.Series, min_count: int, per: int = 1000) -> pd.DataFrame:
    """Take-up per `per` residents per area with a Wilson 95% interval; small counts suppressed."""
    counts = users["area"].value_counts().reindex(population.index).fillna(0).astype(int)
    pop = population.astype(float)
    ok = pop > 0
    lo, hi = np.full(len(pop), np.nan), np.full(len(pop), np.nan)
    if ok.any():
        a, b = proportion_confint(counts[ok].to_numpy(), pop[ok].to_numpy(), alpha=1 - LEVEL, method="wilson")
        lo[ok.to_numpy()], hi[ok.to_numpy()] = a * per, b * per
    t = pd.DataFrame({"area": population.index, "users": counts.to_numpy(), "population": pop.to_numpy(),
                      "take_up": np.where(ok, per * counts / pop.where(ok, 1), np.nan), "take_up_lo": lo, "take_up_hi": hi})
    t["non_users"] = (10 * np.round((t["population"] - t["users"]).clip(lower=0) / 10)).astype(int)
    t["suppressed"] = suppress_small(t.set_index("area")["users"], min_count).to_numpy()
    t.loc[t["suppressed"], ["users", "take_up", "take_up_lo", "take_up_hi"]] = np.nan
    return t


def overlap(homes: dict[str, set], labels: dict[str, str], min_count: int) -> pd.DataFrame:
    """For each ordered pair (A, B): the share of A's user homes that are also B's, with a Wilson interval."""
    rows = []
    for a, ha in homes.items():
        for b, hb in homes.items():
            if a == b:
                continue
            n, k = len(ha), len(ha & hb)
            hidden = (0 < k < min_count) or (0 < n - k < min_count) or n < min_count
            lo, hi = proportion_confint(k, n, alpha=1 - LEVEL, method="wilson") if n else (np.nan, np.nan)
            rows.append({"a": a, "a_label": labels[a], "b": b, "b_label": labels[b], "homes_a": n if n >= min_count else None,
                         "both": None if hidden else k, "share": None if hidden or not n else k / n,
                         "share_lo": None if hidden else lo, "share_hi": None if hidden else hi, "suppressed": hidden})
    return pd.DataFrame(rows)


def expected_vs_observed(users: pd.DataFrame, expected: pd.DataFrame, suppressed: set[str], where: str,
                         min_count: int = 10) -> dict:
    """Staff's expected shares by segment against the users' observed counts."""
    for col in ("segment", "expected_share"):
        if col not in expected.columns:
            raise DataError(f"{where}: expected-shares table needs columns 'segment' and 'expected_share'; "
                            f"found {', '.join(map(str, expected.columns))}")
    exp = expected.assign(segment=expected["segment"].astype(str).str.strip())
    share = pd.to_numeric(exp["expected_share"], errors="coerce")
    if share.isna().any() or (share < 0).any():
        row = int(np.flatnonzero((share.isna() | (share < 0)).to_numpy())[0]) + 2
        raise DataError(f"{where}: line {row}: expected_share must be a non-negative number")
    notes = []
    if share.sum() > 1.5:  # given as percentages
        share = share / 100
        notes.append("Expected shares read as percentages.")
    total = float(share.sum())
    if abs(total - 1) > 0.02:
        notes.append(f"Expected shares summed to {total:.3f}; rescaled to 1.")
    share = share / total
    p = pd.Series(share.to_numpy(), index=exp["segment"])
    observed = users["segment"].astype(str).value_counts().reindex(p.index).fillna(0).astype(int)
    unknown = sorted(set(users["segment"].astype(str)) - set(p.index))
    if unknown:
        notes.append(f"Users in segments staff gave no expectation for were left out: {', '.join(unknown)}.")
    n = int(observed.sum())
    if n == 0:
        raise DataError(f"{where}: no users in the segments staff named")
    chi = stats.chisquare(observed.to_numpy(), p.to_numpy() * n)
    pvals = [stats.binomtest(int(k), n, float(q)).pvalue if q > 0 else (0.0 if k else 1.0)
             for k, q in zip(observed, p)]
    adjusted = multipletests(pvals, method="holm")[1]
    rows = []
    for (seg, q), k, raw, adj in zip(p.items(), observed, pvals, adjusted):
        hidden = seg in suppressed or 0 < k < min_count
        obs = None if hidden else k / n
        verdict = "" if adj >= 0.05 or hidden else ("more than staff expected" if k / n > q else "fewer than staff expected")
        rows.append({"segment": seg, "expected_share": float(q), "observed_share": obs,
                     "p_value": None if hidden else float(raw), "p_holm": None if hidden else float(adj),
                     "verdict": verdict, "suppressed": hidden})
    return {"n": n, "chi_square": float(chi.statistic), "df": int(len(p) - 1), "p_value": float(chi.pvalue),
            "rows": rows, "notes": notes}
