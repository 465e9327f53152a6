"""A slow, day-by-day p_posterior for a few homes: the check on _posterior's month buckets.

Written straight from the generative model, home by home, with no shared algebra: every
conversion day T from the history start to the end (and "never"), every record's likelihood
under T (Poisson rates before and after, benefit amounts by numerical integration, the
register by enumerating household sizes, the letting EPC and change-of-use application by
enumerating every shift), the licence terms, then Bayes' rule. Used by the tests and the
benchmark only.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import integrate, stats

from riskengine.synth import _events
from riskengine.synth._conversion import DAYS_PER_YEAR, PRIVATE, VOLUNTARY_LICENCE_RATE, Truth
from riskengine.synth._events import HomeFactors, Rows
from riskengine.synth._inspections import LICENCE_DELAY, RECORDING_ERROR, Inspections


def reference_posterior(home: int, t: int, truth: Truth, f: HomeFactors, bedrooms: np.ndarray,
                        household: np.ndarray, events: dict[str, Rows], insp: Inspections,
                        start: int, end: int) -> float:
    """P(unlicensed HMO at day t) for one home, summing over every conversion day."""
    if truth.tenure[home] != PRIVATE or truth.licensed_day[home] <= t:
        return 0.0
    h, hs = float(truth.hazard[home]), truth.history_start
    days = np.arange(hs, end + 2)  # the last one, end + 1, stands for "never within the period"
    never = days > end
    converted = days <= t
    # prior: day hs + k with chance exp(-h k / yr) (1 - exp(-h / yr)); never: exp(-h (end + 1 - hs) / yr)
    log_w = -h * (days - hs) / DAYS_PER_YEAR + np.where(never, 0.0, math.log(-math.expm1(-h / DAYS_PER_YEAR)))
    log_w = log_w + np.where(converted, -VOLUNTARY_LICENCE_RATE * (t - days + 1) / DAYS_PER_YEAR, 0.0)
    log_w = log_w + _poisson_sources(home, t, days, f, bedrooms, events, start)
    log_w = log_w + _register(home, t, days, f, bedrooms, household, events["electoral_register"], start, end)
    log_w = log_w + _inspections(home, t, days, insp)
    for rows, code, share, shift, rate in [
        (events["epc"], None, _events.LETTING_EPC_SHARE, _events.LETTING_EPC_SHIFT, _events.epc_rate(f)),
        (events["planning"], 0, _events.CHANGE_OF_USE_SHARE, _events.CHANGE_OF_USE_SHIFT, _events.planning_rate(f)),
    ]:
        window = _window(home, t, days, rows, code, share, shift, rate[home] / DAYS_PER_YEAR, start)
        log_w = log_w + np.where(never, 0.0, window)  # no conversion, no conversion record
    w = np.exp(log_w - log_w.max())
    return float(w[converted].sum() / w.sum())


def _mine(rows: Rows, home: int, t: int, code: int | None = None) -> np.ndarray:
    keep = (rows.prop == home) & (rows.day < t)
    if code is not None:
        keep &= rows.type == code
    return np.flatnonzero(keep)


def _poisson_sources(home, t, days, f, bedrooms, events, start) -> np.ndarray:
    """log P(events before t | T) for the sources whose rate rises at T, amounts included."""
    out = np.zeros(len(days))
    pre_years = np.clip(days - start, 0, t - start) / DAYS_PER_YEAR  # time on record before T
    post_years = (t - start) / DAYS_PER_YEAR - pre_years
    sources = [("complaints", k, r) for k, r in enumerate(_events.complaint_rates(f))]
    sources += [("council_tax", k, r) for k, r in enumerate(_events.council_tax_rates(f))]
    sources += [("housing_benefit", 0, _events.housing_benefit_rates(f))]
    lha = float(_events.LHA[min(max(int(bedrooms[home]), 1), 5)])
    for name, code, (pre, post) in sources:
        a, b = float(pre[home]), float(post[home])
        out -= a * pre_years + b * post_years
        rows = events[name]
        for i in _mine(rows, home, t, code):
            after = days <= rows.day[i]
            out += np.where(after, math.log(b), math.log(a))
            if name == "housing_benefit":
                v = float(rows.value[i])
                hmo, other = _amount_density(v, lha, True), _amount_density(v, lha, False)
                out += np.where(after, math.log(hmo), math.log(other))
    return out


@lru_cache(maxsize=4096)
def _amount_density(v: float, lha: float, hmo: bool) -> float:
    """Density of a private renter's weekly benefit amount, by numerical integration."""
    lo, hi = _events.SHARED_RATE
    a, b = _events.PARTIAL
    sd = _events.LHA_SPREAD * lha

    def shared(x: float) -> float:
        return 1 / (hi - lo) if lo <= x <= hi else 0.0

    def allowance(x: float) -> float:
        return float(stats.norm.pdf(x, lha, sd))

    def with_partial(dens) -> float:
        part = integrate.quad(lambda y: dens(v / y) / y / (b - a), a, b, points=[v / hi, v / lo], limit=200)[0]
        return (1 - _events.PARTIAL_SHARE) * dens(v) + _events.PARTIAL_SHARE * part

    s = _events.SHARED_SHARE["hmo" if hmo else "private"]
    return s * with_partial(shared) + (1 - s) * with_partial(allowance)


def _register(home, t, days, f, bedrooms, household, rows, start, end) -> np.ndarray:
    """log P(register entries at canvasses before t | T), enumerating household sizes."""
    out = np.zeros(len(days))
    beds = int(bedrooms[home])
    for c in _events.canvass_days(start, end):
        if c >= t:
            continue
        mine = (rows.prop == home) & (rows.day == c)
        adults = int(rows.value[mine & (rows.type == 0)][0]) if mine.any() else 0
        names = int(rows.value[mine & (rows.type == 1)][0]) if mine.any() else 0
        hmo = _entry_probability(adults, names, _sizes_hmo(beds), _events.REGISTERED["hmo"],
                                 _events.SURNAME_SHARE["hmo"])
        if f.extended[home]:
            sizes = {int(household[home]): 1.0}
        else:
            sizes = _sizes_renter(beds)
        other = _entry_probability(adults, names, sizes, _events.REGISTERED["private"],
                                   _events.SURNAME_SHARE["private"])
        with np.errstate(divide="ignore"):
            out += np.where(days <= c, np.log(hmo), np.log(other))
    return out


def _sizes_hmo(beds: int) -> dict[int, float]:
    n = _events.HMO_EXTRA
    return {beds + k: math.comb(n, k) / 2**n for k in range(n + 1)}


def _sizes_renter(beds: int) -> dict[int, float]:
    lam = _events.RENTER_HOUSEHOLD[0] + _events.RENTER_HOUSEHOLD[1] * beds
    pmf = [math.exp(-lam) * lam**k / math.factorial(k) for k in range(_events.MAX_EXTRA)]
    return {1 + k: p for k, p in enumerate(pmf)} | {1 + _events.MAX_EXTRA: 1 - sum(pmf)}


def _entry_probability(adults: int, names: int, sizes: dict[int, float], p_reg: float, share: float) -> float:
    empty = _events.EMPTY_AT_CANVASS
    p = empty if adults == 0 else 0.0
    for size, ps in sizes.items():
        if adults <= size:
            p += (1 - empty) * ps * math.comb(size, adults) * p_reg**adults * (1 - p_reg) ** (size - adults)
    if adults > 0:
        k, m = names - 1, adults - 1
        p *= math.comb(m, k) * share**k * (1 - share) ** (m - k) if 0 <= k <= m else 0.0
    return p


def _inspections(home, t, days, insp) -> np.ndarray:
    """log P(recorded outcomes before t, and no licence from them by t | T)."""
    out = np.zeros(len(days))
    lo, hi = LICENCE_DELAY
    for i in np.flatnonzero((insp.prop == home) & (insp.day < t)):
        d, rec = int(insp.day[i]), int(insp.outcome[i])
        found = days <= d
        if rec:
            pending = sum(1 for k in range(lo, hi + 1) if d + k > t) / (hi - lo + 1)
            p = np.where(found, (1 - RECORDING_ERROR) * pending, RECORDING_ERROR)
        else:
            p = np.where(found, RECORDING_ERROR, 1 - RECORDING_ERROR)
        with np.errstate(divide="ignore"):
            out += np.log(p)
    return out


def _window(home, t, days, rows, code, share, shift, lam, start) -> np.ndarray:
    """log of P(records before t | T) / P(records before t | no conversion record), every shift enumerated."""
    base = days[0] + shift[0]
    counts = np.zeros(len(days) + shift[1] - shift[0] + 1)
    np.add.at(counts, rows.day[_mine(rows, home, t, code)] - base, 1.0)
    width = shift[1] - shift[0] + 1
    ratio = np.full(len(days), 1 - share)
    for s in range(shift[0], shift[1] + 1):
        x = days + s
        seen = (x >= start) & (x < t)
        # seen: a conversion record on day x means one ordinary record fewer there (Poisson,
        # lam a day), so the ratio is count / lam, 0 if there is none; unseen: nothing to explain
        ratio += share / width * np.where(seen, counts[x - base] / lam, 1.0)
    return np.log(ratio)
