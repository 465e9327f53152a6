"""Event sources: what each council system would have recorded about each home.

Every event type is a Poisson process per home whose yearly rate depends on the home and
its area, and rises once the home has become an HMO (by a source-specific factor times a
per-home "visibility": some HMOs are loud, some quiet). Rates also vary for reasons that
have nothing to do with HMOs (flats and deprived areas complain more, a few households are
nuisance neighbours, owner-occupiers rarely claim housing benefit), so no single source
separates HMOs from other homes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from riskengine.synth._addresses import AddressStyle
from riskengine.synth._conversion import DAYS_PER_YEAR, NEVER, OWNER, PRIVATE, SOCIAL, Truth
from riskengine.synth._areas import SEGMENTS, Borough
from riskengine.synth._streets import Properties, Streets
from riskengine.synth._keys import random_keys


@dataclass
class SourceSpec:
    """How a source system records events and writes addresses."""

    name: str
    types: list[str]
    value: str  # "empty", "integer" or "money"
    per_row_address: bool  # typed afresh for each row, or one record per home
    style: AddressStyle
    missing_per_home: float  # share of homes whose records never matched a UPRN
    missing_per_row: float  # extra share of rows without a UPRN
    extra_columns: list[str] = field(default_factory=list)


SOURCES = {
    s.name: s
    for s in [
        SourceSpec(
            "complaints", ["noise", "waste", "pest"], "empty", True,
            AddressStyle(abbreviate=0.45, typo=0.04, flat_inline=0.35, no_commas=0.35, drop_town=0.5,
                         drop_postcode_text=0.35, postcode_nospace=0.12, postcode_missing=0.18,
                         upper=0.08, lower=0.25, varied_typo=0.04, number_typo=0.01, no_suffix=0.03,
                         town_typo=0.03, postcode_typo=0.02,
                         flat_after=0.1),
            0.0, 0.12,
        ),
        SourceSpec(
            "council_tax", ["account_change", "single_person_discount"], "empty", False,
            AddressStyle(abbreviate=0.3, typo=0.01, flat_inline=0.1, no_commas=0.9, drop_town=0.2,
                         drop_postcode_text=0.9, postcode_nospace=0.05, postcode_missing=0.02, upper=0.92,
                         varied_typo=0.01, number_typo=0.002, no_suffix=0.01, town_typo=0.01, postcode_typo=0.005,
                         flat_after=0.05),
            0.10, 0.02, ["account_holder"],
        ),
        SourceSpec(
            "electoral_register", ["adults", "surnames"], "integer", False,
            AddressStyle(abbreviate=0.05, typo=0.005, flat_inline=0.05, no_commas=0.1, drop_town=0.05,
                         drop_postcode_text=0.95, postcode_missing=0.01, varied_typo=0.005, number_typo=0.001,
                         no_suffix=0.005, town_typo=0.005, postcode_typo=0.002,
                         flat_after=0.02),
            0.02, 0.0,
        ),
        SourceSpec(
            "housing_benefit", ["claim"], "money", False,
            AddressStyle(abbreviate=0.5, typo=0.02, flat_inline=0.25, no_commas=0.5, drop_town=0.3,
                         drop_postcode_text=0.5, postcode_nospace=0.1, postcode_missing=0.03,
                         upper=0.3, lower=0.05, varied_typo=0.02, number_typo=0.005, no_suffix=0.02,
                         town_typo=0.02, postcode_typo=0.01,
                         flat_after=0.15),
            0.04, 0.01,
        ),
        SourceSpec(
            "epc", ["lodgement"], "integer", True,
            AddressStyle(abbreviate=0.2, typo=0.02, flat_inline=0.2, no_commas=0.5, drop_town=0.1,
                         drop_postcode_text=0.6, postcode_nospace=0.05, postcode_missing=0.01, upper=0.15,
                         varied_typo=0.02, number_typo=0.003, no_suffix=0.01, town_typo=0.01, postcode_typo=0.01,
                         flat_after=0.1),
            0.0, 0.05,
        ),
        SourceSpec(
            "planning", ["planning_application", "licence_application"], "empty", True,
            AddressStyle(abbreviate=0.3, typo=0.03, flat_inline=0.4, no_commas=0.3, drop_town=0.3,
                         drop_postcode_text=0.4, postcode_nospace=0.1, postcode_missing=0.08,
                         upper=0.1, lower=0.1, varied_typo=0.03, number_typo=0.005, no_suffix=0.03,
                         town_typo=0.02, postcode_typo=0.01,
                         flat_after=0.1),
            0.0, 0.06,
        ),
    ]
}

FIRST_NAMES = (
    "Aaliyah Adam Adebayo Aisha Alice Amir Amelia Ana Andrzej Aryan Ava Ayesha Ben Bilal Chen "
    "Chloe Chidi Connor Daniel Darius Deepa Dmitri Ella Emily Emre Ethan Fatima Femi Finn Grace "
    "Hannah Harry Hassan Ibrahim Imran Isla Ivan Jack Jamal James Jessica Joao Joshua Kacper "
    "Karim Kate Kofi Lara Leo Li Liam Lucy Luca Maria Mariam Mark Maya Mehmet Mia Mohammed Nadia "
    "Naomi Nikhil Noah Olivia Omar Oscar Patrick Priya Rahul Rebecca Rosa Ruth Ryan Sam Sana "
    "Sarah Simon Sofia Sophie Stefan Tariq Thomas Tom Tomasz Usman Victoria Wei William Yasmin "
    "Yusuf Zainab Zara Zoe"
).split()
SURNAMES = (
    "Adams Afolabi Ahmed Ali Allen Anderson Baker Begum Bennett Brown Campbell Carter Chen Clarke "
    "Collins Cooper Costa Davies Dias Edwards Evans Fernandes Fraser Green Gupta Hall Harris "
    "Hassan Hill Hughes Hussain Jackson James Johnson Jones Kaur Kelly Khan Kowalski Kumar Lee "
    "Lewis Li Lopez Martin Mensah Mitchell Moore Morgan Murphy Nguyen Nowak Obi Okafor "
    "Oliveira Owusu Parker Patel Phillips Popescu Price Rahman Reid Roberts Robinson Rossi "
    "Santos Scott Shah Silva Singh Smith Stewart Taylor Thomas Thompson Turner Walker Wang "
    "Ward Watson White Williams Wilson Wood Wright Yilmaz Young Zhang"
).split()


@dataclass
class Rows:
    """The rows of one source before they are written: numpy columns, one entry per row."""

    prop: np.ndarray  # int64 property index
    day: np.ndarray  # int64 day number
    type: np.ndarray  # int8 index into the source's types
    value: np.ndarray  # float64, NaN = empty
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.prop)

    @staticmethod
    def concat(parts: list["Rows"]) -> "Rows":
        keys = parts[0].extra.keys()
        return Rows(
            prop=np.concatenate([p.prop for p in parts]),
            day=np.concatenate([p.day for p in parts]),
            type=np.concatenate([p.type for p in parts]),
            value=np.concatenate([p.value for p in parts]),
            extra={k: np.concatenate([p.extra[k] for p in parts]) for k in keys},
        )

    def take(self, idx: np.ndarray) -> "Rows":
        return Rows(self.prop[idx], self.day[idx], self.type[idx], self.value[idx],
                    {k: v[idx] for k, v in self.extra.items()})


@dataclass
class HomeFactors:
    """Per-home quantities shared by the event processes."""

    dep: np.ndarray  # 0..1, 1 = most deprived
    flat: np.ndarray  # bool
    tenure: np.ndarray  # true tenure
    conv: np.ndarray  # conversion day or NEVER
    visibility: np.ndarray  # multiplier on post-conversion rises, mean about 1
    nuisance: np.ndarray  # multiplier on complaints (a few nuisance households)
    street: np.ndarray  # street-level complaint multiplier
    student: np.ndarray  # bool, students segment
    turnover: np.ndarray  # how often occupiers change, whatever the tenure
    landlord_pays: np.ndarray  # bool: in an HMO the landlord holds the council-tax account
    extended: np.ndarray  # bool: a large household of several families (not an HMO)

    @staticmethod
    def build(
        rng: np.random.Generator, props: Properties, streets: Streets, borough: Borough, truth: Truth
    ) -> "HomeFactors":
        n = len(props)
        return HomeFactors(
            dep=borough.lsoa_deprivation[props.lsoa],
            flat=props.kind >= 3,
            tenure=truth.tenure,
            conv=truth.conversion_day.astype(np.int64),
            visibility=np.exp(0.9 * rng.normal(size=n) - 0.405),
            nuisance=np.where(rng.random(n) < 0.03, 8.0, 1.0),
            street=np.exp(0.35 * rng.normal(size=len(streets.style)))[props.street],
            student=borough.lsoa_segment[props.lsoa] == SEGMENTS.index("Students and young renters"),
            turnover=np.exp(0.5 * rng.normal(size=n) - 0.125),
            landlord_pays=rng.random(n) < 0.5,
            extended=rng.random(n) < 0.05 * (0.5 + borough.lsoa_deprivation[props.lsoa]),
        )


def poisson_days(
    rng: np.random.Generator, pre: np.ndarray, post: np.ndarray, change: np.ndarray, start: int, end: int
) -> tuple[np.ndarray, np.ndarray]:
    """Homes and days of events whose yearly rate is `pre` before day `change` and `post` from it."""
    c = np.clip(change, start, end + 1)
    pre_len = (c - start).astype(np.float64)
    post_len = (end + 1 - c).astype(np.float64)
    k_pre = rng.poisson(pre * pre_len / DAYS_PER_YEAR)
    k_post = rng.poisson(post * post_len / DAYS_PER_YEAR)
    i_pre = np.repeat(np.arange(len(pre)), k_pre)
    i_post = np.repeat(np.arange(len(pre)), k_post)
    d_pre = start + np.floor(rng.random(len(i_pre)) * pre_len[i_pre]).astype(np.int64)
    d_post = c[i_post] + np.floor(rng.random(len(i_post)) * post_len[i_post]).astype(np.int64)
    return np.concatenate([i_pre, i_post]), np.concatenate([d_pre, d_post])


def _rows(prop: np.ndarray, day: np.ndarray, type_code: int, value: np.ndarray | None = None) -> Rows:
    v = np.full(len(prop), np.nan) if value is None else value.astype(np.float64)
    return Rows(prop.astype(np.int64), day.astype(np.int64), np.full(len(prop), type_code, np.int8), v)


def complaint_rates(f: HomeFactors) -> list[tuple[np.ndarray, np.ndarray]]:
    """Yearly (before, after conversion) rates per home for noise, waste and pest complaints."""
    flat = np.where(f.flat, 1.8, 1.0)
    noise = 0.028 * (1 + 1.2 * f.dep) * flat * f.nuisance * f.street * np.where(f.student, 1.5, 1.0)
    waste = 0.02 * (1 + 1.5 * f.dep) * np.where(f.flat, 1.3, 1.0) * np.sqrt(f.nuisance) * f.street
    pest = 0.007 * (1 + 2.0 * f.dep) * np.where(f.flat, 1.5, 1.0)
    return [(base, base * rise * f.visibility) for base, rise in [(noise, 3.5), (waste, 3.0), (pest, 2.5)]]


def complaints(rng: np.random.Generator, f: HomeFactors, start: int, end: int) -> Rows:
    parts = []
    for code, (pre, post) in enumerate(complaint_rates(f)):
        prop, day = poisson_days(rng, pre, post, f.conv, start, end)
        parts.append(_rows(prop, day, code))
    return Rows.concat(parts)


def council_tax_rates(f: HomeFactors) -> list[tuple[np.ndarray, np.ndarray]]:
    """Yearly (before, after conversion) rates per home for account changes and discount claims.

    The rise shows only where tenants, not the landlord, hold the account.
    """
    change = np.select([f.tenure == OWNER, f.tenure == PRIVATE], [0.10, 0.35], 0.12) * f.turnover
    change = change * np.where(f.student & (f.tenure == PRIVATE), 1.8, 1.0)
    discount = np.select([f.tenure == OWNER, f.tenure == PRIVATE], [0.025, 0.05], 0.05)
    tenants_pay = ~f.landlord_pays
    return [(base, base * np.where(tenants_pay, rise * np.sqrt(f.visibility), 1.0))
            for base, rise in [(change, 2.0), (discount, 2.0)]]


def council_tax(rng: np.random.Generator, f: HomeFactors, start: int, end: int) -> Rows:
    parts = []
    for code, (base, post) in enumerate(council_tax_rates(f)):
        prop, day = poisson_days(rng, base, post, f.conv, start, end)
        parts.append(_rows(prop, day, code))
    rows = Rows.concat(parts)
    # the account holder: a new person at each account change, the same one in between
    order = np.lexsort((rows.type, rows.day, rows.prop))
    rows = rows.take(order)
    new_account = (rows.type == 0).astype(np.int64)
    first = np.r_[True, rows.prop[1:] != rows.prop[:-1]]
    cum = np.cumsum(new_account)
    base = np.maximum.accumulate(np.where(first, cum - new_account, 0))
    holder_no = cum - base
    salt = random_keys(rng, len(f.dep))
    rows.extra["holder"] = (salt[rows.prop] ^ (holder_no.astype(np.uint64) * np.uint64(0x9E3779B1))).astype(np.uint64)
    return rows


# housing-benefit amounts (weekly): the local housing allowance by bedrooms (1..5) with a spread,
# the shared-accommodation rate, social rents, and partial awards
LHA = np.array([0, 230, 290, 350, 450, 520])
LHA_SPREAD = 0.12  # relative standard deviation around the allowance
SOCIAL_RENT = (105, 165)
SHARED_RATE = (92, 135)
SHARED_SHARE = {"hmo": 0.6, "private": 0.15, "other": 0.03}  # claims paid at the shared rate
PARTIAL_SHARE = 0.2
PARTIAL = (0.3, 0.9)


def housing_benefit_rates(f: HomeFactors) -> tuple[np.ndarray, np.ndarray]:
    """Yearly (before, after conversion) claim rates per home."""
    base = np.select([f.tenure == OWNER, f.tenure == PRIVATE], [0.004, 0.08 * (1 + f.dep)], 0.2 * (1 + 0.5 * f.dep))
    return base, 0.08 * (1 + f.dep) * 2.5 * f.visibility


def housing_benefit(rng: np.random.Generator, f: HomeFactors, props: Properties, start: int, end: int) -> Rows:
    prop, day = poisson_days(rng, *housing_benefit_rates(f), f.conv, start, end)
    beds = props.bedrooms[prop].astype(np.float64)
    hmo = f.conv[prop] <= day
    social = f.tenure[prop] == SOCIAL
    lha = LHA[np.clip(beds.astype(int), 1, 5)]
    weekly = np.where(social, rng.uniform(*SOCIAL_RENT, len(prop)), lha * rng.normal(1.0, LHA_SPREAD, len(prop)))
    # the shared-accommodation rate: most HMO tenants, but also lodgers and young single renters
    private = f.tenure[prop] == PRIVATE
    shared = rng.random(len(prop)) < np.where(hmo, SHARED_SHARE["hmo"],
                                              np.where(private, SHARED_SHARE["private"], SHARED_SHARE["other"]))
    weekly = np.where(shared, rng.uniform(*SHARED_RATE, len(prop)), weekly)
    partial = rng.random(len(prop)) < PARTIAL_SHARE
    weekly = np.where(partial, weekly * rng.uniform(*PARTIAL, len(prop)), weekly)
    return _rows(prop, day, 0, np.round(np.maximum(weekly, 5.0), 2))


# an HMO often gets a certificate when it is let out: with this chance, on a day drawn evenly
# from the conversion day plus LETTING_EPC_SHIFT (inclusive)
LETTING_EPC_SHARE = 0.6
LETTING_EPC_SHIFT = (-90, 119)
# a minority of landlords apply for a change of use around the conversion
CHANGE_OF_USE_SHARE = 0.2
CHANGE_OF_USE_SHIFT = (-120, 59)


def epc_rate(f: HomeFactors) -> np.ndarray:
    """Yearly rate of ordinary EPC lodgements per home (the same before and after converting)."""
    return np.select([f.tenure == OWNER, f.tenure == PRIVATE], [0.06, 0.12], 0.05)


def planning_rate(f: HomeFactors) -> np.ndarray:
    """Yearly rate of ordinary planning applications per home (the same before and after converting)."""
    return np.select([f.tenure == OWNER, f.tenure == PRIVATE], [0.03, 0.015], 0.002)


def epc(rng: np.random.Generator, f: HomeFactors, props: Properties, start: int, end: int) -> Rows:
    base = epc_rate(f)
    prop, day = poisson_days(rng, base, base, f.conv, start, end)
    letting = (f.conv != NEVER) & (rng.random(len(f.dep)) < LETTING_EPC_SHARE)
    shift = rng.integers(LETTING_EPC_SHIFT[0], LETTING_EPC_SHIFT[1] + 1, size=len(f.dep))
    lday = f.conv + shift
    ok = letting & (lday >= start) & (lday <= end)
    prop = np.concatenate([prop, np.flatnonzero(ok)])
    day = np.concatenate([day, lday[ok]])
    year = props.year_built[prop].astype(np.float64)
    mean = np.select([year < 1919, year < 1945, year < 1990], [45.0, 54.0, 63.0], 76.0)
    score = mean + 0.8 * (day - start) / DAYS_PER_YEAR + rng.normal(0, 8, len(prop))
    return _rows(prop, day, 0, np.clip(np.round(score), 1, 100))


def planning(rng: np.random.Generator, f: HomeFactors, truth: Truth, start: int, end: int) -> Rows:
    base = planning_rate(f)
    prop, day = poisson_days(rng, base, base, f.conv, start, end)
    parts = [_rows(prop, day, 0)]
    apply = (f.conv != NEVER) & (rng.random(len(f.dep)) < CHANGE_OF_USE_SHARE)
    cday = f.conv + rng.integers(CHANGE_OF_USE_SHIFT[0], CHANGE_OF_USE_SHIFT[1] + 1, size=len(f.dep))
    ok = apply & (cday >= start) & (cday <= end)
    parts.append(_rows(np.flatnonzero(ok), cday[ok], 0))
    # licence applications: on licensing, and renewals every five years
    lic = truth.licensed_day.astype(np.int64)
    for k in range(0, 5):
        lday = lic + int(round(5 * k * DAYS_PER_YEAR))
        ok = (lic != NEVER) & (lday >= start) & (lday <= end)
        parts.append(_rows(np.flatnonzero(ok), lday[ok], 1))
    return Rows.concat(parts)


def canvass_days(start: int, end: int) -> list[int]:
    """Day numbers of 1 December in each year of the period."""
    first = np.datetime64(start, "D").astype("datetime64[Y]").astype(int) + 1970
    last = np.datetime64(end, "D").astype("datetime64[Y]").astype(int) + 1970
    days = [int(np.datetime64(f"{y}-12-01", "D").astype(np.int64)) for y in range(first, last + 1)]
    return [d for d in days if start <= d <= end]


# the electoral register at each canvass (1 December)
HOUSEHOLD = (0.35, 0.3)  # settled households: 1 + min(Poisson(a + b x bedrooms), MAX_EXTRA)
RENTER_HOUSEHOLD = (0.25, 0.25)  # private renters: drawn afresh at each canvass
MAX_EXTRA = 4
EXTENDED_EXTRA = 2  # a large household of several families
HMO_EXTRA = 2  # an HMO: bedrooms + Binomial(HMO_EXTRA, 1/2) occupants
EMPTY_AT_CANVASS = 0.03
REGISTERED = {"hmo": 0.5, "private": 0.72, "social": 0.82, "owner": 0.92}  # chance each adult registers
SURNAME_SHARE = {"hmo": 0.75, "extended": 0.4, "private": 0.4, "other": 0.12}  # chance of another surname


def households(rng: np.random.Generator, f: HomeFactors, props: Properties) -> np.ndarray:
    """Settled household size per home (the first draw of the register's stream)."""
    beds = props.bedrooms.astype(np.int64)
    household = 1 + np.minimum(rng.poisson(HOUSEHOLD[0] + HOUSEHOLD[1] * beds), MAX_EXTRA)
    return np.where(f.extended, household + EXTENDED_EXTRA, household)


def electoral_register(rng: np.random.Generator, f: HomeFactors, props: Properties, start: int, end: int,
                       household: np.ndarray | None = None) -> Rows:
    """Adults and distinct surnames per home at each canvass; `household` from `households` (same rng)."""
    n = len(f.dep)
    beds = props.bedrooms.astype(np.int64)
    if household is None:
        household = households(rng, f, props)
    parts = []
    for day in canvass_days(start, end):
        hmo = f.conv <= day
        renter = f.tenure == PRIVATE
        fresh = 1 + np.minimum(rng.poisson(RENTER_HOUSEHOLD[0] + RENTER_HOUSEHOLD[1] * beds), MAX_EXTRA)
        size = np.where(renter & ~f.extended, fresh, household)
        size = np.where(hmo, beds + rng.binomial(HMO_EXTRA, 0.5, n), size)
        empty = rng.random(n) < EMPTY_AT_CANVASS
        p_reg = np.select([hmo, renter, f.tenure == SOCIAL],
                          [REGISTERED["hmo"], REGISTERED["private"], REGISTERED["social"]], REGISTERED["owner"])
        adults = np.where(empty, 0, rng.binomial(size, p_reg))
        # distinct surnames: sharers and extended families also bring several
        share = np.select([hmo, f.extended, renter],
                          [SURNAME_SHARE["hmo"], SURNAME_SHARE["extended"], SURNAME_SHARE["private"]],
                          SURNAME_SHARE["other"])
        surnames = np.where(adults > 0, 1 + rng.binomial(np.maximum(adults - 1, 0), share), 0)
        on = np.flatnonzero(adults > 0)
        d = np.full(len(on), day)
        parts += [_rows(on, d, 0, adults[on]), _rows(on, d, 1, surnames[on])]
    if not parts:
        return _rows(np.zeros(0, np.int64), np.zeros(0, np.int64), 0)
    return Rows.concat(parts)
