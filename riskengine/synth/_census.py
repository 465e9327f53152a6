"""A census-style table of counts per LSOA, drawn from each area's hidden type, and its boundaries.

Each of the borough's eight area types (SEGMENTS) has a position on seven hidden traits
(students, deprivation, families, age, diversity, density, affluence). An area's traits are
its type's plus noise and a pull from its own deprivation; every census topic (age bands,
household composition, tenure, cars, qualifications, occupation ...) is a set of categories
whose shares are a base share times exp(loadings . traits), drawn Dirichlet-multinomial
around that mean from the area's households, population or residents aged 16 and over.
The table has the shape the UK publishes (an area code column, 80+ count columns, three
denominators) and some of its quirks: a few suppressed cells ("c") and one topic given
already as a percentage. truth/areas.csv keeps each area's hidden type.

The LSOA boundaries are exact: every LSOA is the intersection of its ward's power cell with
its own power cell among the ward's LSOAs (both convex), clipped to the borough's box.
"""

from __future__ import annotations

import json
from pathlib import Path

import typing

import numpy as np

from riskengine.synth import _areas

if typing.TYPE_CHECKING:
    import pandas as pd

TRAITS = ["students", "deprivation", "families", "age", "diversity", "density", "affluence"]
# area type (SEGMENTS order) x trait
TYPE_TRAITS = np.array([
    [2.0, 0.3, -1.0, -1.5, 0.5, 1.5, -0.3],   # Students and young renters
    [0.3, 0.6, 0.0, -0.5, 1.5, 1.2, -0.2],    # Inner-city mixed communities
    [-0.5, 2.0, 0.5, 0.0, 0.5, 0.5, -1.5],    # Social housing estates
    [-0.3, 1.2, 0.3, 0.0, 0.0, 0.0, -1.0],    # Struggling terraced streets
    [-0.3, 0.3, 1.5, -0.5, 1.5, -0.3, 0.0],   # Diverse family suburbs
    [-0.8, -0.8, 0.8, 0.3, -0.5, -1.0, 0.7],  # Settled suburban homeowners
    [-1.0, -0.7, -1.0, 2.0, -1.0, -1.0, 0.6], # Comfortable retirees
    [0.0, -1.0, -0.5, -0.3, 0.3, 1.2, 2.0],   # Affluent urban professionals
])
TRAIT_NOISE = 0.45
CONCENTRATION = 400.0  # Dirichlet concentration: higher = areas closer to their type's mean


def _c(name: str, base: float, **loads: float) -> tuple[str, float, np.ndarray]:
    return name, base, np.array([loads.get(t, 0.0) for t in TRAITS])


# topic -> (denominator, categories); loadings are on TRAITS
TOPICS: dict[str, tuple[str, list]] = {
    "age": ("total_population", [
        _c("age_0_4", 6, families=0.5, age=-0.4, students=-0.5),
        _c("age_5_9", 6, families=0.6, age=-0.4, students=-0.6),
        _c("age_10_15", 7, families=0.6, age=-0.3, students=-0.6),
        _c("age_16_19", 5, students=0.6, families=0.2),
        _c("age_20_24", 7, students=1.0, density=0.3, age=-0.3),
        _c("age_25_29", 7, students=0.4, density=0.4, affluence=0.2, age=-0.3),
        _c("age_30_44", 20, families=0.3, density=0.2, age=-0.3),
        _c("age_45_64", 25, age=0.2, students=-0.3),
        _c("age_65_74", 9, age=0.6, students=-0.4, density=-0.2),
        _c("age_75_84", 5, age=0.8, students=-0.5, density=-0.2),
        _c("age_85_plus", 2, age=0.9, students=-0.5),
    ]),
    "ethnic_group": ("total_population", [
        _c("ethnic_white_british", 70, diversity=-0.5, age=0.2),
        _c("ethnic_white_other", 8, diversity=0.3, density=0.4, students=0.2),
        _c("ethnic_mixed", 3, diversity=0.5),
        _c("ethnic_asian", 9, diversity=0.9, families=0.2),
        _c("ethnic_black", 6, diversity=0.9, deprivation=0.2),
        _c("ethnic_other", 2, diversity=0.7, students=0.2),
    ]),
    "country_of_birth": ("total_population", [
        _c("born_uk", 82, diversity=-0.3, age=0.2),
        _c("born_eu", 7, diversity=0.4, density=0.3, students=0.2),
        _c("born_elsewhere", 11, diversity=0.8, students=0.3),
    ]),
    "health": ("total_population", [
        _c("health_very_good", 47, affluence=0.2, age=-0.2, students=0.2, deprivation=-0.2),
        _c("health_good", 34),
        _c("health_fair", 13, age=0.2, deprivation=0.2),
        _c("health_bad", 4.5, age=0.3, deprivation=0.5),
        _c("health_very_bad", 1.5, age=0.3, deprivation=0.6),
    ]),
    "disability": ("total_population", [
        _c("limited_a_lot", 8, age=0.4, deprivation=0.5),
        _c("limited_a_little", 9, age=0.3, deprivation=0.2),
        _c("not_limited", 83),
    ]),
    "students": ("total_population", [
        _c("full_time_students", 8, students=1.2, families=0.1),
        _c("not_full_time_students", 92),
    ]),
    "language": ("total_population", [
        _c("no_english_main_language", 6, diversity=0.9, deprivation=0.2),
        _c("english_main_language", 94),
    ]),
    "household_composition": ("total_households", [
        _c("hh_one_person_65_plus", 12, age=0.8, families=-0.4),
        _c("hh_one_person_under_65", 17, density=0.5, students=0.2, families=-0.4),
        _c("hh_couple_no_children", 17, affluence=0.3, age=0.2),
        _c("hh_couple_dependent_children", 19, families=0.8, students=-0.4),
        _c("hh_couple_non_dependent_children", 7, families=0.3, age=0.2),
        _c("hh_lone_parent_dependent", 7, families=0.5, deprivation=0.6),
        _c("hh_lone_parent_non_dependent", 4, deprivation=0.3),
        _c("hh_all_students", 1, students=2.0),
        _c("hh_other_multi_person", 8, students=0.7, density=0.4, diversity=0.3),
    ]),
    "tenure": ("total_households", [
        _c("tenure_owned_outright", 31, age=0.7, affluence=0.3, density=-0.4, deprivation=-0.3),
        _c("tenure_owned_mortgage", 33, families=0.3, affluence=0.5, deprivation=-0.5, students=-0.5),
        _c("tenure_shared_ownership", 1, density=0.3),
        _c("tenure_social_rented_council", 9, deprivation=1.0, affluence=-0.3),
        _c("tenure_social_rented_other", 8, deprivation=0.8),
        _c("tenure_private_rented", 17, students=0.8, density=0.6),
        _c("tenure_rent_free", 1),
    ]),
    "cars": ("total_households", [
        _c("cars_none", 24, density=0.7, deprivation=0.6, affluence=-0.2),
        _c("cars_one", 42),
        _c("cars_two", 26, families=0.3, affluence=0.3, density=-0.5),
        _c("cars_three_plus", 8, families=0.3, affluence=0.4, density=-0.6),
    ]),
    "accommodation": ("total_households", [
        _c("home_detached", 23, affluence=0.5, density=-0.9, age=0.2),
        _c("home_semi_detached", 31, families=0.3, density=-0.6),
        _c("home_terraced", 25, deprivation=0.3),
        _c("home_flat_purpose_built", 16, density=1.0, deprivation=0.4),
        _c("home_flat_converted", 4, density=0.8, students=0.5),
        _c("home_caravan", 0.5, density=-0.5),
    ]),
    "overcrowding": ("total_households", [
        _c("overcrowded", 8, density=0.6, deprivation=0.5, diversity=0.3),
        _c("not_overcrowded", 92),
    ]),
    "qualifications": ("usual_residents_16_plus", [
        _c("qual_none", 18, deprivation=0.5, age=0.3, affluence=-0.4),
        _c("qual_level_1", 10, deprivation=0.2),
        _c("qual_level_2", 14),
        _c("qual_apprenticeship", 5, age=0.2, density=-0.3),
        _c("qual_level_3", 17, students=0.6),
        _c("qual_level_4_plus", 33, affluence=0.6, students=0.3, deprivation=-0.4),
        _c("qual_other", 3, diversity=0.4),
    ]),
    "economic_activity": ("usual_residents_16_plus", [
        _c("work_full_time", 37, affluence=0.3, students=-0.3, age=-0.3),
        _c("work_part_time", 12, families=0.2),
        _c("work_self_employed", 9, affluence=0.3),
        _c("unemployed", 4, deprivation=0.6),
        _c("retired", 21, age=0.9, students=-0.5),
        _c("student_not_working", 6, students=1.2),
        _c("looking_after_home", 4, families=0.4, diversity=0.3),
        _c("long_term_sick", 4, deprivation=0.7),
        _c("other_inactive", 3),
    ]),
    "occupation": ("usual_residents_16_plus", [
        _c("occ_managers", 6, affluence=0.6),
        _c("occ_professional", 12, affluence=0.7, deprivation=-0.3),
        _c("occ_associate_professional", 8, affluence=0.3),
        _c("occ_administrative", 6),
        _c("occ_skilled_trades", 6, density=-0.2, deprivation=0.1),
        _c("occ_caring_leisure", 5, deprivation=0.3),
        _c("occ_sales", 4, deprivation=0.3, students=0.2),
        _c("occ_process_plant", 3, deprivation=0.4, affluence=-0.3),
        _c("occ_elementary", 5, deprivation=0.5, students=0.2),
        _c("occ_not_in_work", 45, age=0.4, students=0.5, deprivation=0.2, affluence=-0.3),
    ]),
}
PERCENT_TOPIC = "overcrowding"  # published here as a percentage of households, not a count
SUPPRESSED_SHARE = 0.002  # cells shown as "c", as some statistical releases do


def _shares(cats: list, traits: np.ndarray) -> np.ndarray:
    base = np.array([b for _, b, _ in cats])
    loads = np.stack([ld for _, _, ld in cats])  # (C, T)
    w = base[None, :] * np.exp(traits @ loads.T)
    return w / w.sum(1, keepdims=True)


def _draw(rng: np.random.Generator, totals: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Dirichlet-multinomial counts per area summing to `totals`."""
    alpha = np.maximum(shares * CONCENTRATION, 1e-3)
    p = np.stack([rng.dirichlet(a) for a in alpha])
    return np.stack([rng.multinomial(int(t), pi) for t, pi in zip(totals, p)])


def census_table(rng: np.random.Generator, borough: _areas.Borough, households: np.ndarray) -> pd.DataFrame:
    """Counts per LSOA (one row each, in code order) from each area's hidden type."""
    import pandas as pd

    n = len(borough.lsoa_codes)
    types = borough.lsoa_segment.astype(int)
    traits = TYPE_TRAITS[types] + rng.normal(scale=TRAIT_NOISE, size=(n, len(TRAITS)))
    traits[:, 1] += 0.6 * (borough.lsoa_deprivation - 0.5)
    size = np.exp(0.85 + 0.12 * traits[:, 2] - 0.08 * traits[:, 3] + 0.05 * traits[:, 4])  # people per household
    population = rng.poisson(np.maximum(households, 1) * size).astype(np.int64)
    out = {"geography_code": borough.lsoa_codes, "geography": [f"Synthetic LSOA {c[-4:]}" for c in borough.lsoa_codes],
           "total_population": population, "total_households": households.astype(np.int64)}
    age_names, _, _ = zip(*TOPICS["age"][1])
    age = _draw(rng, population, _shares(TOPICS["age"][1], traits))
    adults = population - age[:, :3].sum(1)
    out["usual_residents_16_plus"] = adults
    totals = {"total_population": population, "total_households": households, "usual_residents_16_plus": adults}
    for topic, (denominator, cats) in TOPICS.items():
        counts = age if topic == "age" else _draw(rng, totals[denominator], _shares(cats, traits))
        for j, (name, _, _) in enumerate(cats):
            if topic == PERCENT_TOPIC:
                with np.errstate(divide="ignore", invalid="ignore"):
                    pct = np.where(totals[denominator] > 0, 100 * counts[:, j] / np.maximum(totals[denominator], 1), 0.0)
                out[f"pct_{name}"] = np.round(pct, 1)
            else:
                out[name] = counts[:, j]
    table = pd.DataFrame(out)
    # suppressed cells: a few counts are published as "c"
    count_cols = [c for c in table.columns if c not in ("geography_code", "geography") and not c.startswith("pct_")
                  and c not in totals]
    as_text = table[count_cols].astype(object)
    hide = rng.random(as_text.shape) < SUPPRESSED_SHARE
    as_text = as_text.mask(hide, "c")
    table[count_cols] = as_text
    return table


def variables() -> dict[str, list[str]]:
    """Denominator -> the count columns measured against it (the percentage topic excluded)."""
    out: dict[str, list[str]] = {}
    for topic, (denominator, cats) in TOPICS.items():
        if topic != PERCENT_TOPIC:
            out.setdefault(denominator, []).extend(name for name, _, _ in cats)
    return out


def _halfspaces_cell(i: int, centres: np.ndarray, weights: np.ndarray, among: np.ndarray) -> np.ndarray:
    """Halfspaces A x + b <= 0 of power cell i among `among` (d_i^2 - w_i <= d_j^2 - w_j)."""
    rows = []
    ci, wi = centres[i], weights[i]
    for j in among:
        if j == i:
            continue
        cj, wj = centres[j], weights[j]
        a = 2 * (cj - ci)
        b = (ci @ ci) - (cj @ cj) - wi + wj
        rows.append([a[0], a[1], b])
    return np.array(rows).reshape(-1, 3)


def _polygon(halfspaces: np.ndarray) -> np.ndarray | None:
    """Vertices (anticlockwise) of the bounded convex region A x + b <= 0, or None if empty."""
    from scipy.optimize import linprog
    from scipy.spatial import ConvexHull, HalfspaceIntersection

    A, b = halfspaces[:, :2], halfspaces[:, 2]
    norm = np.linalg.norm(A, axis=1)
    res = linprog([0, 0, -1], A_ub=np.column_stack([A, norm]), b_ub=-b, bounds=[(None, None)] * 2 + [(0, None)])
    if not res.success or res.x[2] < 1e-9:
        return None
    hs = HalfspaceIntersection(halfspaces, res.x[:2])
    pts = hs.intersections
    return pts[ConvexHull(pts).vertices]


def _box_halfspaces(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([[-1, 0, x0], [1, 0, -x1], [0, -1, y0], [0, 1, -y1]], dtype=float)


def boundaries(borough: _areas.Borough) -> dict:
    """The LSOAs as a GeoJSON FeatureCollection (lon/lat), with their ward names."""
    box = _box_halfspaces(0.0, 0.0, *_areas.BOX_KM)
    nw = len(borough.ward_centres)
    features = []
    for k, code in enumerate(borough.lsoa_codes):
        w = int(borough.lsoa_ward[k])
        mine = np.flatnonzero(borough.lsoa_ward == w)
        hs = np.vstack([box, _halfspaces_cell(w, borough.ward_centres, borough.ward_weights, np.arange(nw)),
                        _halfspaces_cell(k, borough.lsoa_centres, borough.lsoa_weights, mine)])
        poly = _polygon(hs)
        if poly is None:
            continue
        lat, lon = _areas.to_latlon(poly)
        ring = [[float(a), float(b)] for a, b in zip(lon, lat)]
        ring.append(ring[0])
        features.append({"type": "Feature", "properties": {"code": code, "ward": borough.ward_names[w]},
                         "geometry": {"type": "Polygon", "coordinates": [ring]}})
    return {"type": "FeatureCollection", "features": features}


def write(out: Path, borough: _areas.Borough, lsoa_of_home: np.ndarray, seed: int) -> tuple[dict[str, dict], pd.DataFrame]:
    """census/lsoa_counts.csv, census/lsoa_boundaries.geojson and truth/areas.csv: manifest entries, table."""
    import pandas as pd

    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 14, 1]))
    households = np.bincount(lsoa_of_home, minlength=len(borough.lsoa_codes))
    table = census_table(rng, borough, households)
    (out / "census").mkdir(parents=True, exist_ok=True)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "census" / "lsoa_counts.csv", index=False)
    geo = boundaries(borough)
    (out / "census" / "lsoa_boundaries.geojson").write_text(json.dumps(geo, separators=(",", ":")), encoding="utf-8")
    truth = pd.DataFrame({"lsoa": borough.lsoa_codes, "area_type": borough.lsoa_segment.astype(int) + 1,
                          "area_type_name": [_areas.SEGMENTS[s] for s in borough.lsoa_segment]})
    truth.to_csv(out / "truth" / "areas.csv", index=False)
    n_count = sum(len(v) for v in variables().values())
    return table, {
        "census/lsoa_counts.csv": {"rows": len(table), "note": (
            f"{n_count} count columns and 3 denominators per LSOA, drawn from each area's hidden type; "
            f"overcrowding given as a percentage (pct_*); about {SUPPRESSED_SHARE:.1%} of cells suppressed as 'c'")},
        "census/lsoa_boundaries.geojson": {"rows": len(geo["features"])},
        "truth/areas.csv": {"rows": len(truth), "note": "each LSOA's hidden area type (1-8, SEGMENTS order)"},
    }
