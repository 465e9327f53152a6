"""Service users for profiling: a library, a leisure centre and a parenting class.

Each service sits at a venue. A household uses it with probability
base x exp(type effect + household engagement - distance to the venue / reach), so take-up
depends on the area's hidden type and on distance, and the shared engagement makes the same
households use several services (the overlap a profile should find). Each user household has
one or more users (a service id each) and each user one or more rows (visits, bookings).
Addresses are spelt the careless way a front desk types them; most rows carry the UPRN, some
a wrong one; a few are "no fixed abode", a PO box or outside the borough, and can never match.

The library also has an "after" period: an outreach action in `targeted` areas (chosen among
those with low expected take-up) multiplied take-up there by TRUE_MULTIPLIER, while take-up
everywhere drifted by SECULAR_DRIFT. truth/services.json records the true effect in the unit
the profile reports: users per 1,000 residents, averaged over areas (a difference in
differences of the expected rates).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import typing

import numpy as np

from riskengine.synth import _areas

if typing.TYPE_CHECKING:
    import pandas as pd
from riskengine.synth._addresses import AddressStyle
from riskengine.synth._keys import random_keys


@dataclass(frozen=True)
class Service:
    name: str
    prefix: str  # service id prefix
    venue: tuple[float, float]  # km
    reach_km: float
    base: float
    type_effect: tuple[float, ...]  # log multiplier per area type (SEGMENTS order)
    extra_users: float  # mean additional users per user household (Poisson)
    extra_rows: float  # mean additional rows per user (Poisson)
    extra_columns: tuple[str, ...] = ()


SERVICES = [
    Service("library", "LIB", (3.3, 3.1), 2.5, 0.10, (0.9, 0.2, -0.9, -0.6, 0.0, 0.1, 0.5, 0.7), 0.4, 0.6),
    Service("leisure_centre", "LC", (2.0, 4.6), 2.0, 0.09, (0.4, 0.0, -0.8, -0.5, 0.3, 0.5, -0.6, 0.9), 0.3, 0.0,
            ("membership_type",)),
    Service("parenting_class", "PC", (6.4, 1.4), 3.0, 0.025, (-1.5, 0.2, 0.9, 0.6, 1.1, 0.2, -2.0, -0.6), 0.1, 0.6),
]
STYLE = AddressStyle(abbreviate=0.4, typo=0.03, flat_inline=0.3, no_commas=0.4, drop_town=0.5,
                     drop_postcode_text=0.4, postcode_nospace=0.1, postcode_missing=0.05, upper=0.15, lower=0.15,
                     varied_typo=0.03, number_typo=0.005, no_suffix=0.02, town_typo=0.02, postcode_typo=0.01)
UPRN_SHARE = 0.7  # rows typed with the property's UPRN
WRONG_UPRN_SHARE = 0.01
UNMATCHABLE = ["No fixed abode", "NFA", "PO Box {n}, Rivermouth", "c/o Rivermouth Library, Market Street",
               "{n} Station Road, Otherton OT{d} 4XY", "{n} High Street, Farborough FB{d} 2AB", ""]
UNMATCHABLE_SHARE = 0.02
TARGETED_AREAS = 40
TRUE_MULTIPLIER = 2.0
SECULAR_DRIFT = 1.05
MEMBERSHIP = np.array(["adult", "concession", "junior", "family"], dtype=object)


def _take_up(svc: Service, xy: np.ndarray, area_type: np.ndarray, engagement: np.ndarray) -> np.ndarray:
    dist = np.hypot(*(xy - np.array(svc.venue)).T)
    eff = np.array(svc.type_effect)[area_type]
    return np.clip(svc.base * np.exp(eff + engagement - dist / svc.reach_km), 0, 0.9)


def _rows(rng, svc: Service, homes: np.ndarray, book, uprn: np.ndarray, id_offset: int) -> pd.DataFrame:
    """One service's table: rows per user per home, with messy addresses and keys."""
    import pandas as pd

    n_users = 1 + rng.poisson(svc.extra_users, size=len(homes))
    user_home = np.repeat(homes, n_users)
    n_rows = 1 + rng.poisson(svc.extra_rows, size=len(user_home))
    row_user = np.repeat(np.arange(len(user_home)), n_rows)
    row_home = user_home[row_user]
    order = rng.permutation(len(row_home))
    row_user, row_home = row_user[order], row_home[order]
    keys = random_keys(rng, len(row_home))
    address, postcode = book.render(row_home, keys, STYLE)
    address = np.asarray(address.to_pylist(), dtype=object)
    postcode = np.asarray(postcode.to_pylist(), dtype=object)
    ids = np.where(rng.random(len(row_home)) < UPRN_SHARE, uprn[row_home].astype(str), None).astype(object)
    wrong = rng.random(len(row_home)) < WRONG_UPRN_SHARE
    ids[wrong] = (uprn.max() + rng.integers(10, 10_000, size=int(wrong.sum()))).astype(str)
    bad = np.flatnonzero(rng.random(len(row_home)) < UNMATCHABLE_SHARE)
    for i in bad:
        text = UNMATCHABLE[int(rng.integers(len(UNMATCHABLE)))]
        address[i] = text.format(n=int(rng.integers(1, 200)), d=int(rng.integers(1, 9)))
        postcode[i] = None
        ids[i] = None
    table = pd.DataFrame({
        "service_id": [f"{svc.prefix}{id_offset + u:06d}" for u in row_user],
        "uprn": ids,
        "address": address,
        "postcode": postcode,
    })
    if "membership_type" in svc.extra_columns:
        table["membership_type"] = MEMBERSHIP[rng.integers(len(MEMBERSHIP), size=len(table))]
    return table, row_home, row_user


def write(out: Path, props, borough: _areas.Borough, book, census: pd.DataFrame, seed: int) -> dict[str, dict]:
    """services/<name>.csv (+ library_after.csv, library_targeted_areas.csv) and truth/services.json."""
    import pandas as pd

    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 14, 2]))
    n = len(props)
    area_type = borough.lsoa_segment[props.lsoa].astype(int)
    engagement = rng.normal(scale=0.6, size=n) - 0.18  # mean exp(.) about 1
    folder = out / "services"
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict] = {}
    truth: dict = {"services": {}}
    population = census.set_index("geography_code")["total_population"].reindex(borough.lsoa_codes).to_numpy(float)
    for svc in SERVICES:
        p = _take_up(svc, props.xy, area_type, engagement)
        homes = np.flatnonzero(rng.random(n) < p)
        table, _, row_user = _rows(rng, svc, homes, book, props.uprn, 1)
        table.to_csv(folder / f"{svc.name}.csv", index=False)
        files[f"services/{svc.name}.csv"] = {"rows": len(table), "note": (
            f"{len(np.unique(row_user)):,} users in {len(homes):,} homes; service_id, uprn (about "
            f"{UPRN_SHARE:.0%} of rows), address, postcode" + (", " + ", ".join(svc.extra_columns) if svc.extra_columns else ""))}
        truth["services"][svc.name] = {"venue_km": list(svc.venue), "households": int(len(homes)),
                                       "users": int(len(np.unique(row_user)))}
        if svc.name != "library":
            continue
        # the outreach action: targeted areas chosen among those with low expected take-up
        users_per_home = 1 + svc.extra_users
        expected = np.bincount(props.lsoa, weights=p * users_per_home, minlength=len(borough.lsoa_codes))
        rate_before = 1000 * expected / np.maximum(population, 1)
        low = np.argsort(rate_before)[: max(TARGETED_AREAS * 3, 1)]
        targeted = np.sort(rng.choice(low, size=min(TARGETED_AREAS, len(low)), replace=False))
        is_target = np.zeros(len(borough.lsoa_codes), bool)
        is_target[targeted] = True
        p_after = np.clip(p * SECULAR_DRIFT * np.where(is_target[props.lsoa], TRUE_MULTIPLIER, 1.0), 0, 0.95)
        homes_after = np.flatnonzero(rng.random(n) < p_after)
        after, _, _ = _rows(rng, svc, homes_after, book, props.uprn, 500_001)
        after.to_csv(folder / "library_after.csv", index=False)
        pd.DataFrame({"lsoa": [borough.lsoa_codes[i] for i in targeted]}).to_csv(
            folder / "library_targeted_areas.csv", index=False)
        expected_after = np.bincount(props.lsoa, weights=p_after * users_per_home, minlength=len(borough.lsoa_codes))
        rate_after = 1000 * expected_after / np.maximum(population, 1)
        change = rate_after - rate_before
        did = float(change[is_target].mean() - change[~is_target].mean())
        files["services/library_after.csv"] = {"rows": len(after), "note": "the library's users in the period after "
                                               "an outreach action in the areas of library_targeted_areas.csv"}
        files["services/library_targeted_areas.csv"] = {"rows": int(len(targeted))}
        truth["library_action"] = {
            "targeted_areas": int(len(targeted)),
            "take_up_multiplier_in_targeted_areas": TRUE_MULTIPLIER,
            "drift_everywhere": SECULAR_DRIFT,
            "true_did_users_per_1000_residents": round(did, 4),
            "definition": ("mean over targeted areas of the change in expected users per 1,000 residents, minus "
                           "the same mean over the other areas (expected users = sum over homes of P(use) x "
                           "mean users per user household)"),
        }
    (out / "truth").mkdir(parents=True, exist_ok=True)
    (out / "truth" / "services.json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    files["truth/services.json"] = {"rows": len(SERVICES)}
    return files
