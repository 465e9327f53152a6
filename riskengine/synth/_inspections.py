"""Past inspections under a business-as-usual policy, and the licences they lead to.

Month by month, a team with capacity for about `RATE_PER_1000` visits per 1,000 homes picks
most of its visits by weighted sampling: recent complaints raise a home's weight, homes the
council *records* as private rented weigh more, and a deprivation multiplier rises with
deprivation beyond anything the risk justifies (the over-targeting a fairness audit should
find). The rest are random visits. A visit records the truth (unlicensed HMO on that day)
with a small recording error; a confirmed HMO is licensed some weeks later, and from then
on it is no longer an *unlicensed* HMO. Homes visited in the last six months, or known to
hold a licence, are not visited.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from riskengine.synth._conversion import OWNER, PRIVATE, Truth

RATE_PER_1000 = 2.0  # visits per 1,000 homes per month
RANDOM_SHARE = 0.12
RECORDING_ERROR = 0.025
DEPRIVATION_SLOPE = 0.17  # log visit-rate multiplier per decile more deprived
COOL_OFF_DAYS = 182
LICENCE_DELAY = (21, 70)  # days from a visit that confirms an HMO to its licence, inclusive


@dataclass
class Month:
    """What the policy did in one month: enough to compute any home's chance of a visit."""

    start: int
    end: int  # exclusive
    targeted: int  # visits chosen by weight
    random: int  # random visits
    total_weight: float  # sum of the weights of eligible homes
    eligible: int  # homes eligible for a random visit


@dataclass
class Inspections:
    prop: np.ndarray  # int64
    day: np.ndarray  # int64
    truth: np.ndarray  # int8, unlicensed HMO on the day
    outcome: np.ndarray  # int8, as recorded
    months: list[Month]
    static_weight: np.ndarray  # per home: deprivation multiplier x recorded-tenure weight
    data_start: int  # complaints are on record from this day

    def finding_hazard(self, month: Month, hmo_complaint_rate: np.ndarray) -> np.ndarray:
        """Yearly hazard that an unlicensed HMO is visited and confirmed during `month`.

        A home of weight w is among the k weighted picks with chance about 1 - exp(-k w / W).
        Its weight is static x (0.01 + 1.25 X + 0.25 Y), with X and Y its complaints in the
        last 90 days and in the 275 days before (Poisson at its rate as an HMO, over the part
        of each window that is on record), so the expected chance follows from the Poisson
        generating function; random visits add R / E.
        """
        a = month.targeted * self.static_weight / max(month.total_weight, 1e-12)
        on_record = month.start - self.data_start
        x = hmo_complaint_rate * min(90, on_record) / 365.25
        y = hmo_complaint_rate * max(0, min(365, on_record) - 90) / 365.25
        missed = np.exp(-0.01 * a + x * np.expm1(-1.25 * a) + y * np.expm1(-0.25 * a))
        missed = missed * (1 - month.random / max(month.eligible, 1))
        years = (month.end - month.start) / 365.25
        return -np.log(np.maximum(missed, 1e-12)) * (1 - RECORDING_ERROR) / years


def simulate(
    rng: np.random.Generator,
    truth: Truth,
    decile: np.ndarray,
    complaint_prop: np.ndarray,
    complaint_day: np.ndarray,
    start: int,
    end: int,
) -> Inspections:
    """Run the policy over the period; updates `truth.licensed_day` for confirmed HMOs."""
    n = len(decile)
    order = np.argsort(complaint_day, kind="stable")
    c_prop, c_day = complaint_prop[order], complaint_day[order]
    over_target = np.exp(DEPRIVATION_SLOPE * (10 - decile.astype(np.float64)))
    tenure_weight = np.select([truth.tenure_recorded == PRIVATE, truth.tenure_recorded == OWNER], [1.6, 0.6], 0.35)
    static = over_target * tenure_weight
    last_visit = np.full(n, -(10**9), dtype=np.int64)
    out = []
    months = []
    for month_start in _month_starts(start, end):
        month_end = min(_next_month(month_start), end + 1)
        recent = _window_counts(c_prop, c_day, month_start - 90, month_start, n)
        year = _window_counts(c_prop, c_day, month_start - 365, month_start, n)
        eligible = (truth.licensed_day > month_start) & (last_visit < month_start - COOL_OFF_DAYS)
        capacity = int(rng.poisson(RATE_PER_1000 / 1000 * n * (month_end - month_start) / 30.4))
        n_random = int(rng.binomial(capacity, RANDOM_SHARE))
        weight = np.where(eligible, static * (0.01 + recent + 0.25 * year), 0.0)
        chosen = _weighted_sample(rng, weight, capacity - n_random)
        eligible[chosen] = False
        pool = np.flatnonzero(eligible)
        extra = rng.choice(pool, size=min(n_random, len(pool)), replace=False) if len(pool) else pool
        months.append(Month(month_start, month_end, len(chosen), len(extra), float(weight.sum()), len(pool)))
        visits = np.sort(np.concatenate([chosen, extra]))
        days = month_start + np.floor(rng.random(len(visits)) * (month_end - month_start)).astype(np.int64)
        found = truth.is_unlicensed_hmo(visits, days)
        recorded = found ^ (rng.random(len(visits)) < RECORDING_ERROR)
        confirm = found & recorded
        licence = days[confirm] + rng.integers(LICENCE_DELAY[0], LICENCE_DELAY[1] + 1, size=confirm.sum())
        lic_prop = visits[confirm]
        in_period = licence <= end
        truth.licensed_day[lic_prop[in_period]] = np.minimum(
            truth.licensed_day[lic_prop[in_period]], licence[in_period]
        ).astype(np.int32)
        last_visit[visits] = days
        out.append((visits, days, found, recorded))
    prop, day, found, recorded = (np.concatenate(x) for x in zip(*out))
    order = np.lexsort((prop, day))
    return Inspections(prop[order], day[order], found[order].astype(np.int8), recorded[order].astype(np.int8),
                       months, static, start)


def _weighted_sample(rng: np.random.Generator, weight: np.ndarray, k: int) -> np.ndarray:
    """k indices without replacement, with probability proportional to weight (Efraimidis-Spirakis)."""
    live = np.flatnonzero(weight > 0)
    k = min(max(k, 0), len(live))
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    keys = np.log(rng.random(len(live))) / weight[live]
    top = np.argpartition(-keys, k - 1)[:k]
    return live[top]


def _window_counts(prop: np.ndarray, day: np.ndarray, lo: int, hi: int, n: int) -> np.ndarray:
    a, b = np.searchsorted(day, [lo, hi])
    return np.bincount(prop[a:b], minlength=n)


def _month_starts(start: int, end: int) -> list[int]:
    m = np.datetime64(start, "D").astype("datetime64[M]")
    out = [start]
    while True:
        m = m + 1
        d = int(m.astype("datetime64[D]").astype(np.int64))
        if d > end:
            return out
        out.append(d)


def _next_month(day: int) -> int:
    m = np.datetime64(day, "D").astype("datetime64[M]") + 1
    return int(m.astype("datetime64[D]").astype(np.int64))


