"""The hidden truth: true tenure, the unobserved factor, and when homes become unlicensed HMOs.

A truly private-rented home converts into a house in multiple occupation at a time drawn
from a constant hazard (per year) counted from a history start 20 years before the data
begin, so that some HMOs already exist on day one:

    log h = b0 + (terraced or semi with 3+ bedrooms) + bedrooms beyond 3 + older stock
            + students / inner-city segments + deprivation - distance from the centre
            - purpose-built flats + latent

`latent` (a landlord-and-street factor plus a per-home part) is never published, so no
model can see all the variation. After converting, a landlord may license the HMO of their
own accord (rate `VOLUNTARY_LICENCE_RATE` per year); an inspection that finds it also
leads to a licence. b0 is solved so that the share of private-rented homes that are
unlicensed HMOs at the start is `TARGET_PREVALENCE` before inspections bite.

The true probability that a home is an unlicensed HMO at date t, given its attributes, its
latent factor and whether it holds a licence at t (the licence register is public), is

    p = U / (exp(-h s) + U),   s = t - history start

where U is the chance of having converted and been neither licensed voluntarily nor found
by an inspection, and exp(-h s) the chance of not having converted. U follows exactly from
dU/dt = h exp(-h t) - (mu + lambda(t)) U, where lambda(t) is the expected monthly chance
that the business-as-usual policy visits and confirms this home while it is an HMO (see
_inspections). p is 0 for licensed and for not truly private-rented homes. It uses no event
data and no inspection results: it is the probability given what the home *is*, the
quantity a perfect model of attributes alone would output. A model that reads the records
can beat it; the Bayes ceiling given the records too is p_posterior (_posterior).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from riskengine.synth._areas import SEGMENTS, Borough, distance_to_centre
from riskengine.synth._streets import Properties, Streets

TENURES = ["owner_occupied", "private_rented", "social_rented"]
OWNER, PRIVATE, SOCIAL = 0, 1, 2
NEVER = np.int32(2**31 - 1)  # day number meaning "not within the period"
HISTORY_YEARS = 20
VOLUNTARY_LICENCE_RATE = 0.07  # per year after conversion
TARGET_PREVALENCE = 0.12  # among private-rented homes at the start
DAYS_PER_YEAR = 365.25
LATENT_EFFECT = 1.3  # log-hazard per standard deviation of the unobserved factor

# P(recorded tenure | true tenure): records go stale (homes let out after a purchase,
# ex-council flats let privately are still marked social)
_RECORDING = np.array(
    [
        [0.95, 0.04, 0.01],
        [0.13, 0.81, 0.06],
        [0.04, 0.04, 0.92],
    ]
)
_SEG = {name: i for i, name in enumerate(SEGMENTS)}


@dataclass
class Truth:
    """Per-property hidden truth; `licensed_day` is updated by the inspection simulation."""

    tenure: np.ndarray  # int8, true
    tenure_recorded: np.ndarray  # int8, as the council's records have it
    latent: np.ndarray  # float32
    hazard: np.ndarray  # per year, 0 for homes that cannot convert
    history_start: int  # day number
    conversion_day: np.ndarray  # int32, NEVER if not by the end
    voluntary_licence_day: np.ndarray  # int32, NEVER if not by the end
    licensed_day: np.ndarray  # int32, NEVER if not by the end

    def is_unlicensed_hmo(self, rows: np.ndarray, day: np.ndarray | int) -> np.ndarray:
        return (self.conversion_day[rows] <= day) & (day < self.licensed_day[rows])

    def probabilities(self, days: list[int], months: list, finding_hazard) -> np.ndarray:
        """True P(unlicensed HMO) per home (columns) at each of `days` (rows); see the module docstring.

        `months` are the inspection months and `finding_hazard(month)` the yearly hazard that
        an unlicensed HMO is found in that month, per home. U, the chance of being an HMO that
        is neither voluntarily licensed nor found, follows exactly month by month:
        dU/dt = f_T(t) - (mu + lambda(t)) U, with f_T the conversion density.
        """
        h = self.hazard
        mu = VOLUNTARY_LICENCE_RATE
        years = lambda day: (day - self.history_start) / DAYS_PER_YEAR  # noqa: E731
        out = np.zeros((len(days), len(h)), dtype=np.float32)
        first = months[0].start if months else max(days) + 1
        t = first
        u = unlicensed_share(h, mu, years(t), given_unlicensed=False)
        pending = sorted(days)
        queue = [(m.start, m.end, m) for m in months]

        def emit(day: int, u_day: np.ndarray) -> None:
            never = np.exp(-h * years(day))
            p = np.where(h > 0, u_day / np.maximum(never + u_day, 1e-300), 0.0)
            p = np.where(self.licensed_day <= day, 0.0, p)
            out[days.index(day)] = p

        for day in [d for d in pending if d < first]:
            emit(day, unlicensed_share(h, mu, years(day), given_unlicensed=False))
        pending = [d for d in pending if d >= first]
        for a, b, month in queue:
            lam = finding_hazard(month)
            while pending and pending[0] < b:
                day = pending.pop(0)
                emit(day, _advance(u, h, mu + lam, years(a), years(day)))
            u = _advance(u, h, mu + lam, years(a), years(b))
            t = b
        for day in pending:
            emit(day, _advance(u, h, mu, years(t), years(day)))
        return out


def _advance(u: np.ndarray, h: np.ndarray, kappa: np.ndarray, a: float, b: float) -> np.ndarray:
    """U at time b from U at a, with inflow h exp(-h t) and outflow rate kappa (times in years)."""
    d = b - a
    if d <= 0:
        return u
    diff = kappa - h
    close = np.abs(diff) < 1e-9
    inflow = h * np.exp(-h * a) * np.where(close, d * np.exp(-h * d),
                                           (np.exp(-h * d) - np.exp(-kappa * d)) / np.where(close, 1.0, diff))
    return u * np.exp(-kappa * d) + inflow


def unlicensed_share(h: np.ndarray, mu: float, s: float, given_unlicensed: bool = True) -> np.ndarray:
    """P(T <= s < T + L), given not T + L <= s unless told otherwise; T ~ Exp(h), L ~ Exp(mu)."""
    h = np.asarray(h, dtype=np.float64)
    eh = np.exp(-h * s)
    diff = h - mu
    close = np.abs(diff) < 1e-9
    a = np.where(close, h * s * eh, h / np.where(close, 1.0, diff) * (np.exp(-mu * s) - eh))
    if not given_unlicensed:
        return np.where(h > 0, a, 0.0)
    return np.where(h > 0, a / (eh + a), 0.0)


def draw_tenure(
    rng: np.random.Generator, props: Properties, streets: Streets, borough: Borough
) -> tuple[np.ndarray, np.ndarray]:
    """True tenure from building kind, area and a street effect; recorded tenure with errors."""
    kind = props.kind.astype(np.int64)
    style = streets.style[props.street]
    # (owner, private, social) logits per building kind; blocks split by estate vs modern
    by_kind = np.array(
        [
            [1.8, -0.6, -2.5],
            [1.5, -0.3, -1.2],
            [0.9, 0.3, -0.8],
            [0.1, 1.2, -0.3],
            [0.0, 0.5, 0.3],
        ]
    )
    logits = by_kind[kind].copy()
    logits[(kind == 4) & (style == 3)] = [-0.8, -0.2, 1.9]
    logits[(kind == 4) & (style == 4)] = [0.6, 1.0, -0.8]
    by_segment = np.array(
        [
            [-0.5, 1.4, -0.3],
            [-0.3, 0.5, 0.4],
            [-0.5, 0.0, 1.0],
            [-0.2, 0.5, 0.3],
            [0.0, 0.2, 0.0],
            [0.7, -0.3, -0.4],
            [1.0, -0.5, -0.3],
            [0.4, 0.4, -0.8],
        ]
    )
    seg = borough.lsoa_segment[props.lsoa]
    logits += by_segment[seg]
    logits[:, SOCIAL] += 0.8 * borough.lsoa_deprivation[props.lsoa] - 0.35
    logits[:, PRIVATE] += 0.5 * streets.effect[props.street]
    true = (logits + rng.gumbel(size=logits.shape)).argmax(1).astype(np.int8)
    cdf = np.cumsum(_RECORDING[true], axis=1)
    recorded = (rng.random(len(true))[:, None] > cdf).sum(1).clip(0, 2).astype(np.int8)
    return true, recorded


def log_hazard_terms(props: Properties, streets: Streets, borough: Borough) -> np.ndarray:
    """The observable part of the log hazard (without the intercept)."""
    kind = props.kind
    beds = props.bedrooms.astype(np.float64)
    year = props.year_built
    seg = borough.lsoa_segment[props.lsoa]
    dep = borough.lsoa_deprivation[props.lsoa]
    return (
        1.0 * (((kind == 1) | (kind == 2)) & (beds >= 3))
        + 0.35 * np.clip(beds - 3, 0, 2)
        + 0.5 * (year < 1919)
        + 0.2 * ((year >= 1919) & (year < 1945))
        - 0.22 * distance_to_centre(props.xy)
        + 0.8 * (seg == _SEG["Students and young renters"])
        + 0.3 * (seg == _SEG["Inner-city mixed communities"])
        + 0.3 * (seg == _SEG["Struggling terraced streets"])
        + 0.5 * dep
        - 1.3 * (kind == 4)
        - 0.3 * (kind == 3)
        - 0.5 * (kind == 0)
    )


def draw_truth(
    rng: np.random.Generator,
    props: Properties,
    streets: Streets,
    borough: Borough,
    start: int,
    end: int,
) -> Truth:
    """Tenure, latent factor, hazards, conversion and voluntary licensing dates."""
    tenure, recorded = draw_tenure(rng, props, streets, borough)
    landlord = rng.normal(size=len(streets.style))  # landlords buy along the same streets
    latent = 0.5 * landlord[props.street] + np.sqrt(0.75) * rng.normal(size=len(props))
    terms = log_hazard_terms(props, streets, borough) + LATENT_EFFECT * latent
    private = tenure == PRIVATE
    history_start = start - int(round(HISTORY_YEARS * DAYS_PER_YEAR))
    s0 = (start - history_start) / DAYS_PER_YEAR
    b0 = _solve_intercept(terms[private], s0)
    hazard = np.where(private, np.exp(b0 + terms), 0.0)

    wait = rng.exponential(size=len(props)) / np.where(private, hazard, 1.0)
    conv = history_start + np.floor(wait * DAYS_PER_YEAR)
    conv = np.where(private & (conv <= end), conv, NEVER).astype(np.int64)
    lic = conv + np.floor(rng.exponential(1 / VOLUNTARY_LICENCE_RATE, size=len(props)) * DAYS_PER_YEAR)
    lic = np.where((conv != NEVER) & (lic <= end), lic, NEVER)
    return Truth(
        tenure=tenure,
        tenure_recorded=recorded,
        latent=latent.astype(np.float32),
        hazard=hazard,
        history_start=history_start,
        conversion_day=conv.astype(np.int32),
        voluntary_licence_day=lic.astype(np.int32),
        licensed_day=lic.astype(np.int32).copy(),
    )


def _solve_intercept(terms: np.ndarray, s: float) -> float:
    """b0 such that the mean unlicensed share among private-rented homes at `s` years hits the target."""
    if len(terms) == 0:
        return -3.0
    lo, hi = -12.0, 4.0
    for _ in range(60):
        mid = (lo + hi) / 2
        share = unlicensed_share(np.exp(mid + terms), VOLUNTARY_LICENCE_RATE, s, given_unlicensed=False).mean()
        lo, hi = (mid, hi) if share < TARGET_PREVALENCE else (lo, mid)
    return (lo + hi) / 2
