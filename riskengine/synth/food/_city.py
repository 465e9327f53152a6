"""The food city's hidden world: businesses, neighbourhoods, area events, weather, inspections.

Days are integers (days since 1970-01-01). Everything is drawn from one numpy Generator, so
a seed fixes the city. The risk of a critical violation at an inspection comes from a hazard
model with an unobserved factor per business (and a slowly drifting part per quarter); the
records only reflect it: complaints, past inspection results, what happens nearby, weather.
The inspections follow business as usual: a risk-tiered routine cycle, complaint-driven
visits and follow-ups after a violation; the inspector assigned decides how much is found.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

CENTRE = (52.05, -1.25)  # a made-up city centre (lat, lon)
WIDTH_M, HEIGHT_M = 12_000.0, 9_000.0
M_PER_DEG_LAT = 111_195.0
N_HOODS = 24
N_INSPECTORS = 12
QUARTER = 91

# facility type -> (share, hazard effect, tier probabilities for tiers 1/2/3)
FACILITY_TYPES = {
    "restaurant": (0.38, 0.35, (0.70, 0.25, 0.05)),
    "takeaway": (0.16, 0.45, (0.60, 0.35, 0.05)),
    "grocery": (0.16, 0.00, (0.15, 0.60, 0.25)),
    "bakery": (0.07, 0.05, (0.20, 0.55, 0.25)),
    "coffee shop": (0.10, -0.45, (0.05, 0.45, 0.50)),
    "school kitchen": (0.06, -0.20, (0.75, 0.25, 0.00)),
    "care home kitchen": (0.04, 0.10, (0.85, 0.15, 0.00)),
    "mobile vendor": (0.03, 0.25, (0.20, 0.50, 0.30)),
}
CYCLE_DAYS = {1: 182, 2: 365, 3: 730}
AREA_SOURCES = {  # source, type -> (events per day in the city, weight on the neighbourhood's grime, share spread evenly)
    ("complaints311", "sanitation"): (34.0, 1.0, 0.15),
    ("complaints311", "garbage"): (26.0, 0.8, 0.20),
    ("crime", "burglary"): (9.0, 0.4, 0.30),
}


@dataclass
class City:
    """The whole hidden world; `_write` turns it into files."""

    start: int
    end: int
    businesses: pd.DataFrame  # business, entity_id, facility_type, risk_tier, hood, district, x, y, lat, lon, opened, closed, licence_date, u
    area: pd.DataFrame  # source, type, day, x, y, lat, lon
    complaints: pd.DataFrame  # business, day
    owner_changes: pd.DataFrame  # business, day
    weather: pd.DataFrame  # day, temp_max
    inspections: pd.DataFrame  # business, day, kind, inspector, detection, p_present, p_violation, present, outcome
    inspectors: pd.DataFrame  # inspector, detection, district
    queue: pd.DataFrame  # business, day, inspector, detection, p_present, p_violation (due the week after `end`)


def to_latlon(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lat = CENTRE[0] + y / M_PER_DEG_LAT
    lon = CENTRE[1] + x / (M_PER_DEG_LAT * np.cos(np.radians(CENTRE[0])))
    return lat, lon


def _expit(z):
    return 1.0 / (1.0 + np.exp(-z))


def build_city(n: int, start: int, end: int, rng: np.random.Generator) -> City:
    """Draw the city: n businesses over the days [start, end]."""
    n_q = (end - start) // QUARTER + 2
    hoods = pd.DataFrame({
        "cx": rng.uniform(-WIDTH_M / 2, WIDTH_M / 2, N_HOODS), "cy": rng.uniform(-HEIGHT_M / 2, HEIGHT_M / 2, N_HOODS),
        "spread": rng.uniform(350, 1100, N_HOODS), "weight": rng.gamma(2.0, 1.0, N_HOODS),
        "grime": rng.normal(0, 0.55, N_HOODS)})
    # each neighbourhood's grime drifts by quarter (AR(1) around its own level)
    grime = np.empty((N_HOODS, n_q))
    grime[:, 0] = hoods["grime"]
    for q in range(1, n_q):
        grime[:, q] = hoods["grime"] + 0.8 * (grime[:, q - 1] - hoods["grime"]) + rng.normal(0, 0.25, N_HOODS)

    biz = _businesses(n, hoods, start, end, rng)
    area = _area_events(hoods, grime, start, end, rng)
    exposure = {key: _exposure(biz, hoods, grime, key) for key in AREA_SOURCES}
    weather = _weather(start - 400, end + 30, rng)

    # the drifting part of each business's risk, by quarter
    drift = np.empty((n, n_q))
    drift[:, 0] = rng.normal(0, 0.35, n)
    for q in range(1, n_q):
        drift[:, q] = 0.85 * drift[:, q - 1] + rng.normal(0, 0.2, n)
    state = biz["u"].to_numpy()[:, None] + drift  # (n, n_q)

    complaints = _complaints(biz, state, exposure, start, end, rng)
    owners = _owner_changes(biz, start, end, rng)
    inspectors = pd.DataFrame({"inspector": [f"INSP-{i + 1:02d}" for i in range(N_INSPECTORS)],
                               "detection": np.round(rng.beta(6, 2.2, N_INSPECTORS).clip(0.45, 0.97), 3),
                               "district": np.arange(N_INSPECTORS) % 8})
    hazard = _Hazard(biz, state, exposure, weather, owners, start)
    inspections, queue = _inspections(biz, complaints, inspectors, hazard, start, end, rng)
    return City(start, end, biz, area, complaints, owners, weather, inspections, inspectors, queue)


def _businesses(n: int, hoods: pd.DataFrame, start: int, end: int, rng) -> pd.DataFrame:
    hood = rng.choice(N_HOODS, n, p=hoods["weight"] / hoods["weight"].sum())
    x = hoods["cx"].to_numpy()[hood] + rng.normal(0, 1, n) * hoods["spread"].to_numpy()[hood]
    y = hoods["cy"].to_numpy()[hood] + rng.normal(0, 1, n) * hoods["spread"].to_numpy()[hood]
    lat, lon = to_latlon(x, y)
    names = list(FACILITY_TYPES)
    shares = np.array([FACILITY_TYPES[t][0] for t in names])
    ftype = rng.choice(len(names), n, p=shares / shares.sum())
    tier = np.array([rng.choice([1, 2, 3], p=FACILITY_TYPES[names[t]][2]) for t in ftype])
    # most opened before the records start; about 9% a year open during them
    new = rng.random(n) < 0.09 * (end - start) / 365
    opened = np.where(new, rng.integers(start, end - 30, n), start - rng.gamma(2.0, 1800, n).astype(int) - 30)
    closed = np.where(rng.random(n) < 0.05 * (end - start) / 365, rng.integers(start + 60, end + 200, n), end + 10_000)
    closed = np.maximum(closed, opened + 120)
    district = (np.clip((x + WIDTH_M / 2) // (WIDTH_M / 4), 0, 3) + 4 * (y > 0)).astype(int)
    return pd.DataFrame({
        "business": np.arange(n), "facility_type": np.array(names)[ftype], "risk_tier": tier,
        "type_effect": np.array([FACILITY_TYPES[names[t]][1] for t in ftype]),
        "hood": hood, "district": district, "x": x, "y": y, "lat": lat, "lon": lon,
        "opened": opened, "closed": closed, "licence_date": opened - rng.integers(5, 40, n),
        "u": rng.normal(0, 0.9, n)})


def _area_events(hoods: pd.DataFrame, grime: np.ndarray, start: int, end: int, rng) -> pd.DataFrame:
    parts = []
    first = start - 400  # a year of history before the first inspection
    for (source, type_), (per_day, weight, even) in AREA_SOURCES.items():
        level = np.exp(weight * grime)  # (hoods, quarters)
        share = hoods["weight"].to_numpy()[:, None] * level
        share = share / share.sum(axis=0, keepdims=True)
        for day0 in range(first, end + 1, QUARTER):
            q = max(0, (day0 - start) // QUARTER)
            days = min(QUARTER, end + 1 - day0)
            season = 1.0 + (0.25 if type_ == "garbage" else 0.1) * np.sin(2 * np.pi * ((day0 + 45) % 365 - 110) / 365)
            k = rng.poisson(per_day * days * season)
            spread_out = rng.random(k) < even
            h = rng.choice(N_HOODS, k, p=share[:, min(q, share.shape[1] - 1)])
            s = hoods["spread"].to_numpy()[h] * 1.3
            x = np.where(spread_out, rng.uniform(-WIDTH_M / 2, WIDTH_M / 2, k), hoods["cx"].to_numpy()[h] + rng.normal(0, 1, k) * s)
            y = np.where(spread_out, rng.uniform(-HEIGHT_M / 2, HEIGHT_M / 2, k), hoods["cy"].to_numpy()[h] + rng.normal(0, 1, k) * s)
            parts.append(pd.DataFrame({"source": source, "type": type_, "day": rng.integers(day0, day0 + days, k),
                                       "x": x, "y": y}))
    area = pd.concat(parts, ignore_index=True).sort_values(["day", "source", "type"], kind="stable").reset_index(drop=True)
    area["lat"], area["lon"] = to_latlon(area["x"].to_numpy(), area["y"].to_numpy())
    return area


def _exposure(biz: pd.DataFrame, hoods: pd.DataFrame, grime: np.ndarray, key) -> np.ndarray:
    """The true expected intensity of one kind of area event at each business, by quarter (relative)."""
    per_day, weight, even = AREA_SOURCES[key]
    s = hoods["spread"].to_numpy() * 1.3
    d2 = (biz["x"].to_numpy()[:, None] - hoods["cx"].to_numpy()) ** 2 + (biz["y"].to_numpy()[:, None] - hoods["cy"].to_numpy()) ** 2
    kernel = np.exp(-d2 / (2 * s * s)) / (2 * np.pi * s * s)  # (n, hoods)
    level = hoods["weight"].to_numpy()[:, None] * np.exp(weight * grime)
    share = level / level.sum(axis=0, keepdims=True)  # (hoods, quarters)
    intensity = (1 - even) * kernel @ share + even / (WIDTH_M * HEIGHT_M)
    return intensity / np.median(intensity)


def _weather(first: int, last: int, rng) -> pd.DataFrame:
    days = np.arange(first, last + 1)
    doy = (days - 0) % 365.25
    noise = np.empty(len(days))
    noise[0] = 0.0
    shocks = rng.normal(0, 1.6, len(days))
    for i in range(1, len(days)):
        noise[i] = 0.75 * noise[i - 1] + shocks[i]
    temp = 14.5 + 8.5 * np.sin(2 * np.pi * (doy - 105) / 365.25) + noise
    return pd.DataFrame({"day": days, "temp_max": np.round(temp, 1)})


def _complaints(biz, state, exposure, start, end, rng) -> pd.DataFrame:
    """Complaints about a business: more when its hidden state is worse."""
    n, n_q = state.shape
    sanit = np.log(exposure[("complaints311", "sanitation")])
    rate = 0.0028 * np.exp(0.75 * state + 0.25 * sanit[:, :n_q])  # per day
    rows = []
    for q in range(n_q):
        day0 = start + q * QUARTER
        lam = rate[:, q] * QUARTER
        k = rng.poisson(lam)
        b = np.repeat(np.arange(n), k)
        rows.append(pd.DataFrame({"business": b, "day": rng.integers(day0, day0 + QUARTER, len(b))}))
    # a year of history before the first inspection, at the first quarter's rate
    k = rng.poisson(rate[:, 0] * 365)
    b = np.repeat(np.arange(n), k)
    rows.append(pd.DataFrame({"business": b, "day": rng.integers(start - 365, start, len(b))}))
    c = pd.concat(rows, ignore_index=True)
    open_ = (c["day"] >= biz["opened"].to_numpy()[c["business"]]) & (c["day"] < biz["closed"].to_numpy()[c["business"]])
    c = c[open_ & (c["day"] <= end)]
    return c.sort_values(["business", "day"], kind="stable").reset_index(drop=True)


def _owner_changes(biz, start, end, rng) -> pd.DataFrame:
    n = len(biz)
    k = rng.poisson(0.06 * (end - start + 365) / 365, n)
    b = np.repeat(np.arange(n), k)
    day = rng.integers(start - 365, end + 1, len(b))
    ok = (day > biz["opened"].to_numpy()[b] + 180) & (day < biz["closed"].to_numpy()[b])
    return pd.DataFrame({"business": b[ok], "day": day[ok]}).sort_values(["business", "day"]).reset_index(drop=True)


class _Hazard:
    """The true probability that a critical violation is present at an inspection."""

    def __init__(self, biz, state, exposure, weather, owners, start):
        self.biz, self.state, self.exposure, self.start = biz, state, exposure, start
        temps = weather.set_index("day")["temp_max"]
        week = temps.rolling(7).mean().shift(1)  # the 7 days before each day
        self.temp7 = week
        self.owner_keys = np.sort(owners["business"].to_numpy() * 1_000_000 + owners["day"].to_numpy() + 200_000)

    def p_present(self, b: np.ndarray, day: np.ndarray, since_last: np.ndarray) -> np.ndarray:
        q = np.clip((day - self.start) // QUARTER, 0, self.state.shape[1] - 1)
        biz = self.biz
        key = b * 1_000_000 + day + 200_000
        recent_owner = (np.searchsorted(self.owner_keys, key, "left")
                        - np.searchsorted(self.owner_keys, key - 365, "left")) > 0
        age = (day - biz["opened"].to_numpy()[b]) / 365
        temp = self.temp7.reindex(day).to_numpy()
        z = (-1.75 + biz["type_effect"].to_numpy()[b] + self.state[b, q]
             + 0.45 * np.log(self.exposure[("complaints311", "sanitation")][b, q])
             + 0.25 * np.log(self.exposure[("complaints311", "garbage")][b, q])
             + 0.15 * np.log(self.exposure[("crime", "burglary")][b, q])
             + 0.30 * (np.nan_to_num(temp, nan=14.5) - 14.5) / 5
             + 0.55 * recent_owner + 0.45 * (age < 1) + 0.12 * np.minimum(since_last / 365, 3))
        return _expit(z)


def _inspections(biz, complaints, inspectors, hazard: _Hazard, start, end, rng):
    """Business as usual: routine cycle by risk tier, complaint-driven visits, follow-ups after a violation."""
    n = len(biz)
    routine_b, routine_d = [], []
    opened, closed, tier = biz["opened"].to_numpy(), biz["closed"].to_numpy(), biz["risk_tier"].to_numpy()
    cycle = np.array([CYCLE_DAYS[t] for t in tier])
    # first visit: before opening for new businesses, else somewhere in the cycle
    first = np.where(opened >= start, opened - rng.integers(0, 20, n), start + (rng.random(n) * cycle).astype(int))
    due, alive = first.astype(float), np.ones(n, bool)
    next_due = np.full(n, np.nan)
    while alive.any():
        ok = alive & (due <= end) & (due < closed)
        routine_b.append(np.flatnonzero(ok))
        routine_d.append(due[ok].astype(int))
        late = rng.gamma(2.0, 12.0, n)  # backlog: routine visits slip
        nxt = np.floor(due + cycle * rng.uniform(0.9, 1.15, n) + late)  # whole days
        done = alive & ~ok
        next_due[done & (due > end) & (due < closed)] = due[done & (due > end) & (due < closed)]
        alive = ok
        due = np.where(ok, nxt, due)
    routine = pd.DataFrame({"business": np.concatenate(routine_b), "day": np.concatenate(routine_d), "kind": "routine"})

    c = complaints[complaints["day"] >= start - 21]
    go = rng.random(len(c)) < 0.55
    visits = pd.DataFrame({"business": c["business"].to_numpy()[go],
                           "day": c["day"].to_numpy()[go] + rng.integers(3, 22, int(go.sum())), "kind": "complaint"})
    base = pd.concat([routine, visits], ignore_index=True)
    base = base[(base["day"] >= start) & (base["day"] <= end + 7) & (base["day"] < closed[base["business"]])]
    base = base.sort_values(["business", "day", "kind"], kind="stable")
    # one visit covers the complaints of the fortnight before it
    gap = base.groupby("business")["day"].diff()
    base = base[~(gap < 14)].reset_index(drop=True)
    pending = base[base["day"] > end]  # complaint visits already due next week
    base = base[base["day"] <= end]

    since = base.groupby("business")["day"].diff().fillna(base["day"] - np.maximum(opened[base["business"]], start - 365))
    base = _visit(base, since.to_numpy(), biz, inspectors, hazard, rng)

    # follow-ups after a violation found
    fails = base[(base["outcome"] == 1) & (rng.random(len(base)) < 0.8)]
    follow = pd.DataFrame({"business": fails["business"].to_numpy(),
                           "day": fails["day"].to_numpy() + rng.integers(7, 29, len(fails)), "kind": "follow-up"})
    follow = follow[(follow["day"] <= end) & (follow["day"] < closed[follow["business"]])]
    follow = _visit(follow, np.full(len(follow), 20.0), biz, inspectors, hazard, rng, factor=0.45)
    inspections = (pd.concat([base, follow], ignore_index=True)
                   .sort_values(["day", "business"], kind="stable").drop_duplicates(["business", "day"])
                   .reset_index(drop=True))

    # the work queue: routine visits due in the week after `end`, and complaint visits already booked
    week = (next_due > end) & (next_due <= end + 7)
    queue = pd.concat([pd.DataFrame({"business": np.flatnonzero(week), "day": next_due[week].astype(int), "kind": "routine"}),
                       pending[["business", "day", "kind"]]], ignore_index=True)
    queue = queue.sort_values(["day", "business"]).drop_duplicates("business").reset_index(drop=True)
    last = inspections.groupby("business")["day"].max()
    since_q = queue["day"].to_numpy() - last.reindex(queue["business"]).fillna(start - 365).to_numpy()
    queue = _visit(queue, since_q, biz, inspectors, hazard, rng, draw=False)
    return inspections, queue


def _visit(visits, since, biz, inspectors, hazard: _Hazard, rng, factor: float = 1.0, draw: bool = True):
    """Assign an inspector (mostly the district's own), the true probabilities, and the outcome."""
    b, day = visits["business"].to_numpy(), visits["day"].to_numpy()
    district = biz["district"].to_numpy()[b]
    own = np.array([np.flatnonzero(inspectors["district"].to_numpy() == d) for d in range(8)], dtype=object)
    pick = np.array([rng.choice(own[d]) for d in district], dtype=int) if len(b) else np.array([], int)
    anyone = rng.random(len(b)) < 0.25
    pick = np.where(anyone, rng.integers(0, N_INSPECTORS, len(b)), pick)
    detection = inspectors["detection"].to_numpy()[pick]
    p_present = hazard.p_present(b, day, since) * factor
    out = visits.assign(inspector=inspectors["inspector"].to_numpy()[pick], detection=detection,
                        p_present=p_present, p_violation=p_present * detection).reset_index(drop=True)
    if draw:
        present = rng.random(len(b)) < p_present
        out["present"] = present.astype(int)
        out["outcome"] = (present & (rng.random(len(b)) < detection)).astype(int)
    return out
