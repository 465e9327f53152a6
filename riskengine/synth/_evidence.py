"""What the records say about when a home converted: the evidence the Bayes ceiling weighs.

For a private-rented home (only those can become HMOs) and a candidate conversion day T, the
generative model in _events and _inspections gives every record a likelihood. Most records
are *steps*: their likelihood takes one value if the home was already an HMO on the record's
day (T <= day) and another if not, so each carries one log-likelihood ratio `delta`:

- complaints, council-tax changes and discounts, housing-benefit claims: Poisson processes
  whose yearly rate rises from `pre` to `post` on conversion: delta = log(post / pre); the
  missing events count through the integral, -(post - pre) per year as an HMO (`slope`);
- housing-benefit amounts: the shared-accommodation rate is paid more often in an HMO, so the
  amount adds log f_hmo(value) - log f_other(value) (densities of the mixture in _events);
- the electoral register at each canvass (adults and distinct surnames, or no entry):
  log P(entry | HMO) - log P(entry | not), household sizes and registration rates as drawn;
- inspections: the visit records the truth with error RECORDING_ERROR (a positive record of a
  true HMO also starts a licence, which the quarter's licence status then speaks to: see
  _posterior).

Two sources are *windows* instead: an EPC lodgement when an HMO is let and a change-of-use
application, each made by a share of landlords on a day drawn evenly around the conversion.
Their likelihood is a mixture over "was one of these records the conversion's?" (_posterior).
EPC scores and licence applications say nothing about T (licences are conditioned on directly).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from riskengine.synth import _events
from riskengine.synth._conversion import DAYS_PER_YEAR, PRIVATE, Truth
from riskengine.synth._events import HomeFactors, Rows
from riskengine.synth._inspections import RECORDING_ERROR, Inspections

DELTA_CAP = 300.0  # a record impossible under one hypothesis: e^300 stands in for certainty
_QUADRATURE = np.polynomial.legendre.leggauss(64)


@dataclass
class Steps:
    """Step records of private-rented homes: `row` indexes `Evidence.homes`."""

    row: np.ndarray  # int64
    day: np.ndarray  # int64
    delta: np.ndarray  # float64, log-likelihood ratio HMO-on-the-day : not


@dataclass
class Window:
    """Records of one source that may be the one made around the conversion (day = T + shift)."""

    share: float  # chance a converting landlord makes such a record
    shift: tuple[int, int]  # inclusive range of the day drawn evenly around T
    daily_rate: np.ndarray  # per row: the ordinary records' Poisson rate per day
    row: np.ndarray  # int64
    day: np.ndarray  # int64


@dataclass
class Evidence:
    """Everything the posterior weighs, for the private-rented homes only."""

    homes: np.ndarray  # property index of each private-rented home
    hazard: np.ndarray  # conversion hazard per year
    slope: np.ndarray  # sum over the Poisson sources of (post - pre) yearly rates
    licensed_day: np.ndarray  # the public register: the day a licence is first held
    steps: Steps
    windows: list[Window]
    positive: Steps  # inspections recorded positive (delta unused): a licence follows a true one


def gather(truth: Truth, f: HomeFactors, bedrooms: np.ndarray, household: np.ndarray,
           events: dict[str, Rows], insp: Inspections, start: int, end: int) -> Evidence:
    """Per-record evidence from the records as generated (before any mess is planted)."""
    homes = np.flatnonzero((truth.tenure == PRIVATE) & (truth.hazard > 0))
    inv = np.full(len(truth.tenure), -1, dtype=np.int64)
    inv[homes] = np.arange(len(homes))
    parts: list[Steps] = []
    slope = np.zeros(len(homes))

    def poisson(rows: Rows, code: int, pre: np.ndarray, post: np.ndarray, extra=None) -> None:
        nonlocal slope
        slope = slope + (post - pre)[homes]
        keep = (rows.type == code) & (inv[rows.prop] >= 0)
        prop = rows.prop[keep]
        delta = np.log(post[prop] / pre[prop])
        if extra is not None:
            delta = delta + extra(prop, rows.value[keep])
        parts.append(Steps(inv[prop], rows.day[keep], delta))

    for code, (pre, post) in enumerate(_events.complaint_rates(f)):
        poisson(events["complaints"], code, pre, post)
    for code, (pre, post) in enumerate(_events.council_tax_rates(f)):
        poisson(events["council_tax"], code, pre, post)
    lha = _events.LHA[np.clip(bedrooms.astype(np.int64), 1, 5)].astype(np.float64)
    poisson(events["housing_benefit"], 0, *_events.housing_benefit_rates(f),
            extra=lambda prop, value: benefit_amount_ratio(value, lha[prop]))
    parts.append(register_steps(events["electoral_register"], homes, inv, bedrooms, f.extended, household,
                                start, end))
    parts.append(_inspection_steps(insp, inv))
    steps = Steps(*(np.concatenate([getattr(p, k) for p in parts]) for k in ("row", "day", "delta")))
    steps.delta = np.clip(steps.delta, -DELTA_CAP, DELTA_CAP)
    positive = (insp.outcome == 1) & (inv[insp.prop] >= 0)
    return Evidence(
        homes=homes,
        hazard=truth.hazard[homes].astype(np.float64),
        slope=slope,
        licensed_day=truth.licensed_day[homes].astype(np.int64),
        steps=steps,
        windows=[
            _window(events["epc"], None, _events.LETTING_EPC_SHARE, _events.LETTING_EPC_SHIFT,
                    _events.epc_rate(f), inv),
            _window(events["planning"], 0, _events.CHANGE_OF_USE_SHARE, _events.CHANGE_OF_USE_SHIFT,
                    _events.planning_rate(f), inv),
        ],
        positive=Steps(inv[insp.prop[positive]], insp.day[positive].astype(np.int64),
                       np.zeros(int(positive.sum()))),
    )


def _window(rows: Rows, code: int | None, share: float, shift: tuple[int, int], rate: np.ndarray,
            inv: np.ndarray) -> Window:
    keep = inv[rows.prop] >= 0
    if code is not None:
        keep &= rows.type == code  # planning: licence applications are not windows
    prop = rows.prop[keep]
    return Window(share, shift, rate[prop] / DAYS_PER_YEAR, inv[prop], rows.day[keep].astype(np.int64))


def _inspection_steps(insp: Inspections, inv: np.ndarray) -> Steps:
    keep = inv[insp.prop] >= 0
    positive = insp.outcome[keep] == 1
    right, wrong = np.log(1 - RECORDING_ERROR), np.log(RECORDING_ERROR)
    return Steps(inv[insp.prop[keep]], insp.day[keep].astype(np.int64),
                 np.where(positive, right - wrong, wrong - right))


def benefit_amount_ratio(value: np.ndarray, lha: np.ndarray) -> np.ndarray:
    """log f(amount | HMO) - log f(amount | private rented, not an HMO), per claim.

    An amount is the shared rate (uniform) or the local housing allowance (normal around the
    allowance for the bedrooms), times a uniform factor for a partial award a fifth of the
    time; only the chance of the shared rate differs between the two hypotheses.
    """
    shared = _partial_mixture(_uniform_density(value), _shared_partial_density(value))
    allowance = _partial_mixture(stats.norm.pdf(value, lha, _events.LHA_SPREAD * lha),
                                 _allowance_partial_density(value, lha))
    s_hmo, s_other = _events.SHARED_SHARE["hmo"], _events.SHARED_SHARE["private"]
    f_hmo = s_hmo * shared + (1 - s_hmo) * allowance
    f_other = s_other * shared + (1 - s_other) * allowance
    with np.errstate(divide="ignore"):
        return np.log(f_hmo) - np.log(f_other)


def _partial_mixture(full: np.ndarray, partial: np.ndarray) -> np.ndarray:
    return (1 - _events.PARTIAL_SHARE) * full + _events.PARTIAL_SHARE * partial


def _uniform_density(value: np.ndarray) -> np.ndarray:
    lo, hi = _events.SHARED_RATE
    return np.where((value >= lo) & (value <= hi), 1.0 / (hi - lo), 0.0)


def _shared_partial_density(value: np.ndarray) -> np.ndarray:
    """Density of X * Y, X ~ U(shared rate), Y ~ U(partial factor): a logarithm in closed form."""
    lo, hi = _events.SHARED_RATE
    a, b = _events.PARTIAL
    y_lo = np.maximum(a, value / hi)
    y_hi = np.minimum(b, value / lo)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(y_hi / y_lo) / ((hi - lo) * (b - a))
    return np.where(y_hi > y_lo, out, 0.0)


def _allowance_partial_density(value: np.ndarray, lha: np.ndarray) -> np.ndarray:
    """Density of X * Y, X ~ Normal(lha, spread x lha), Y ~ U(partial factor), by Gauss-Legendre."""
    a, b = _events.PARTIAL
    nodes, weights = _QUADRATURE
    y = (a + b) / 2 + (b - a) / 2 * nodes
    out = np.zeros(len(value))
    for lo in range(0, len(value), 65_536):
        v, m = value[lo:lo + 65_536, None], lha[lo:lo + 65_536, None]
        dens = stats.norm.pdf(v / y, m, _events.LHA_SPREAD * m) / y
        out[lo:lo + 65_536] = dens @ weights / 2  # (b - a) / 2 from the nodes, 1 / (b - a) from Y
    return out


def register_steps(rows: Rows, homes: np.ndarray, inv: np.ndarray, bedrooms: np.ndarray, extended: np.ndarray,
                   household: np.ndarray, start: int, end: int) -> Steps:
    """One step per private-rented home and canvass: the entry (or its absence) HMO : not."""
    days = np.array(_events.canvass_days(start, end), dtype=np.int64)
    m, c = len(homes), len(days)
    adults = np.zeros((m, c), dtype=np.int64)
    surnames = np.zeros((m, c), dtype=np.int64)
    keep = inv[rows.prop] >= 0
    r, col = inv[rows.prop[keep]], np.searchsorted(days, rows.day[keep])
    value, kind = rows.value[keep].astype(np.int64), rows.type[keep]
    adults[r[kind == 0], col[kind == 0]] = value[kind == 0]
    surnames[r[kind == 1], col[kind == 1]] = value[kind == 1]
    beds = bedrooms[homes].astype(np.int64)
    ext = extended[homes]
    log_hmo = _register_log_likelihood(adults, surnames, _hmo_sizes(beds), _events.REGISTERED["hmo"],
                                       _events.SURNAME_SHARE["hmo"])
    log_other = _register_log_likelihood(adults, surnames, _renter_sizes(beds, ext, household[homes]),
                                         _events.REGISTERED["private"], _events.SURNAME_SHARE["private"])
    with np.errstate(invalid="ignore"):
        delta = np.clip(log_hmo - log_other, -DELTA_CAP, DELTA_CAP)
    delta = np.where(np.isnan(delta), 0.0, delta)  # impossible either way: cannot happen
    return Steps(np.repeat(np.arange(m), c), np.tile(days, m), delta.ravel())


_MAX_SIZE = max(5 + _events.HMO_EXTRA, 1 + _events.MAX_EXTRA + _events.EXTENDED_EXTRA)  # 5 bedrooms at most


def _hmo_sizes(beds: np.ndarray) -> np.ndarray:
    """P(occupants = k) per home, k = 0.._MAX_SIZE: bedrooms + Binomial(HMO_EXTRA, 1/2)."""
    k = np.arange(_MAX_SIZE + 1)
    return stats.binom.pmf(k[None, :] - beds[:, None], _events.HMO_EXTRA, 0.5)


def _renter_sizes(beds: np.ndarray, extended: np.ndarray, household: np.ndarray) -> np.ndarray:
    """P(household = k): drawn afresh at each canvass for renters, the settled one if extended."""
    k = np.arange(_MAX_SIZE + 1)
    lam = _events.RENTER_HOUSEHOLD[0] + _events.RENTER_HOUSEHOLD[1] * beds
    extra = k[None, :] - 1
    fresh = np.where(extra < _events.MAX_EXTRA, stats.poisson.pmf(extra, lam[:, None]), 0.0)
    fresh[:, 1 + _events.MAX_EXTRA] = stats.poisson.sf(_events.MAX_EXTRA - 1, lam)
    settled = (k[None, :] == household[:, None]).astype(np.float64)
    return np.where(extended[:, None], settled, fresh)


def _register_log_likelihood(adults: np.ndarray, surnames: np.ndarray, sizes: np.ndarray, p_reg: float,
                             share: float) -> np.ndarray:
    """log P(adults, surnames) per home and canvass; no entry means no adult registered."""
    k = np.arange(sizes.shape[1])
    a = np.arange(sizes.shape[1])
    # P(adults = a) = empty + (1 - empty) sum_k P(size = k) Binomial(a; k, p_reg)
    binom = stats.binom.pmf(a[None, :], k[:, None], p_reg)  # [size, adults]
    p_adults = (1 - _events.EMPTY_AT_CANVASS) * (sizes @ binom)
    p_adults[:, 0] += _events.EMPTY_AT_CANVASS
    rows = np.arange(len(sizes))[:, None]
    p = p_adults[rows, np.minimum(adults, k[-1])]
    p = np.where(adults > k[-1], 0.0, p)
    names = stats.binom.pmf(surnames - 1, np.maximum(adults - 1, 0), share)
    p = p * np.where(adults > 0, names, 1.0)
    with np.errstate(divide="ignore"):
        return np.log(p)
