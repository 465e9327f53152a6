"""Streets, buildings and homes.

Streets are short segments with a building style (Victorian terraces, interwar semis,
council estates, modern blocks, mixed) drawn from the area's segment; the style sets the
buildings along the street (houses, houses converted into flats, blocks of flats) and so
the homes' types, sizes and ages. Then come street names (unique within a town where the
name space allows), UPRNs (rising along each street, as councils allocate them) and
postcodes (a unit for about 14 neighbouring homes, sectors as strips, districts per town).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from riskengine.synth._addresses import SUFFIXES
from riskengine.synth._areas import (
    BOX_KM,
    N_TOWNS,
    N_WARDS,
    Borough,
    Neighbourhoods,
    make_borough,
    sample_locations,
)

POSTCODE_AREA = "RB"
PROPERTIES_PER_POSTCODE = 14

PROPERTY_TYPES = ["detached", "semi-detached", "terraced", "flat", "maisonette"]
STYLES = ["terraced", "semi", "detached", "estate", "modern", "mixed"]
# P(street style | segment), rows in SEGMENTS order, columns in STYLES order
_STYLE_BY_SEGMENT = np.array(
    [
        [0.50, 0.10, 0.00, 0.10, 0.20, 0.10],
        [0.35, 0.10, 0.02, 0.25, 0.13, 0.15],
        [0.15, 0.10, 0.00, 0.60, 0.05, 0.10],
        [0.65, 0.15, 0.00, 0.10, 0.02, 0.08],
        [0.30, 0.40, 0.05, 0.08, 0.05, 0.12],
        [0.15, 0.45, 0.25, 0.03, 0.05, 0.07],
        [0.10, 0.35, 0.40, 0.02, 0.08, 0.05],
        [0.40, 0.15, 0.10, 0.03, 0.20, 0.12],
    ]
)
_SPACING_KM = np.array([0.0055, 0.009, 0.016, 0.06, 0.05, 0.01])
# Building kinds: 0 detached, 1 semi, 2 terraced house, 3 house converted to flats, 4 block
_KIND_BY_STYLE = np.array(
    [
        [0.00, 0.02, 0.84, 0.14, 0.00],
        [0.03, 0.92, 0.00, 0.05, 0.00],
        [0.95, 0.05, 0.00, 0.00, 0.00],
        [0.00, 0.00, 0.00, 0.00, 1.00],
        [0.00, 0.00, 0.00, 0.00, 1.00],
        [0.05, 0.25, 0.35, 0.15, 0.20],
    ]
)
# Street suffix weights per style (indices into _addresses.SUFFIXES)
_SUFFIX_BY_STYLE = {
    "terraced": {0: 5, 1: 4, 7: 2, 9: 1, 5: 1},
    "semi": {1: 4, 2: 3, 4: 2, 10: 2, 6: 1, 8: 1},
    "detached": {3: 3, 10: 2, 8: 2, 11: 1, 15: 1, 16: 1, 17: 1},
    "estate": {14: 3, 12: 2, 11: 2, 1: 1},
    "modern": {13: 2, 14: 2, 5: 2, 11: 1, 12: 1},
    "mixed": {0: 3, 1: 4, 2: 1, 5: 1, 9: 1},
}

@dataclass
class Streets:
    style: np.ndarray  # index into STYLES
    centre: np.ndarray  # (n, 2) km
    town: np.ndarray
    stem_id: np.ndarray
    suffix_id: np.ndarray  # -1 for "The ..." names
    effect: np.ndarray  # a street-level random effect (nuisance, landlords)


@dataclass
class Properties:
    """One entry per property, in UPRN order. Plain numpy arrays, indexed by property."""

    uprn: np.ndarray  # int64, 12 digits starting "10"
    xy: np.ndarray  # (n, 2) km
    ward: np.ndarray
    lsoa: np.ndarray
    street: np.ndarray
    building: np.ndarray
    number: np.ndarray
    flat_kind: np.ndarray
    flat_no: np.ndarray
    kind: np.ndarray  # building kind 0..4 (see _KIND_BY_STYLE)
    property_type: np.ndarray  # index into PROPERTY_TYPES
    bedrooms: np.ndarray
    year_built: np.ndarray
    postcode: list[str] | np.ndarray

    def __len__(self) -> int:
        return len(self.uprn)


def make_properties(
    rng: np.random.Generator, hoods: Neighbourhoods, n: int, n_stems: int, n_the_names: int
) -> tuple[Properties, Streets, Borough]:
    """Streets of buildings until there are `n` properties; then areas, UPRNs and postcodes."""
    # a small borough gets shorter streets, so that its homes still spread over every area
    scale = float(np.clip(np.sqrt(n / 50_000), 0.3, 1.0))
    batches = []
    total = 0
    while total < n:
        batch = _street_batch(rng, hoods, max(50, int((n - total) / (30 * scale))), scale)
        batches.append(batch)
        total += len(batch["street"])
    per_property = [k for k in batches[0] if k not in ("streets", "street", "building")]
    cat = {k: np.concatenate([b[k] for b in batches]) for k in per_property}
    street_offsets = np.cumsum([0] + [len(b["streets"]["style"]) for b in batches[:-1]])
    building_offsets = np.cumsum([0] + [int(b["building"].max()) + 1 for b in batches[:-1]])
    cat["street"] = np.concatenate([b["street"] + o for b, o in zip(batches, street_offsets)])
    cat["building"] = np.concatenate([b["building"] + o for b, o in zip(batches, building_offsets)])
    street_tab = {k: np.concatenate([b["streets"][k] for b in batches]) for k in batches[0]["streets"]}
    cat = {k: v[:n] for k, v in cat.items()}
    used, _ = _sorted_unique(cat["street"])
    remap = np.full(len(street_tab["style"]), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    cat["street"] = remap[cat["street"]].astype(np.int32)
    street_tab = {k: v[used] for k, v in street_tab.items()}

    xy = np.clip(cat["xy"], 0.02, np.array(BOX_KM) - 0.02)
    borough = make_borough(rng, hoods, xy)
    ward, lsoa = borough.locate(xy)
    # a street belongs to the town where most of its homes are
    street_ward = np.zeros((len(used), N_WARDS), dtype=np.int64)
    np.add.at(street_ward, (cat["street"], ward), 1)
    streets = Streets(
        style=street_tab["style"],
        centre=street_tab["centre"],
        town=borough.ward_town[street_ward.argmax(1)],
        stem_id=np.zeros(len(used), np.int32),
        suffix_id=np.zeros(len(used), np.int16),
        effect=rng.normal(size=len(used)),
    )
    _name_streets(rng, streets, n_stems, n_the_names)

    gaps = rng.integers(1, 40, size=n)
    uprn = 100_000_000_000 + int(rng.integers(0, 4_000_000_000)) + np.cumsum(gaps)
    props = Properties(
        uprn=uprn.astype(np.int64),
        xy=xy,
        ward=ward,
        lsoa=lsoa,
        street=cat["street"],
        building=cat["building"].astype(np.int32),
        number=cat["number"].astype(np.int32),
        flat_kind=cat["flat_kind"].astype(np.int8),
        flat_no=cat["flat_no"].astype(np.int16),
        kind=cat["kind"].astype(np.int8),
        property_type=cat["property_type"].astype(np.int8),
        bedrooms=cat["bedrooms"].astype(np.int8),
        year_built=cat["year_built"].astype(np.int16),
        postcode=np.array([], dtype=object),
    )
    props.postcode = _postcodes(rng, props, streets)
    return props, streets, borough


def _street_batch(rng: np.random.Generator, hoods: Neighbourhoods, n_streets: int, scale: float) -> dict:
    """A batch of streets with their buildings and the properties in them, in street order."""
    centre = sample_locations(rng, n_streets)
    seg = hoods.segment[hoods.locate(centre)]
    style = _draw_rows(rng, _STYLE_BY_SEGMENT[seg])
    length = scale * np.clip(rng.lognormal(np.log(0.16), 0.5, size=n_streets), 0.05, 0.6)
    angle = rng.uniform(0, np.pi, size=n_streets)
    spacing = _SPACING_KM[style]
    n_build = np.maximum(2, np.round(2 * length / spacing)).astype(np.int64)
    blocks = (style == 3) | (style == 4)
    n_build[blocks] = np.maximum(1, np.round(length[blocks] / spacing[blocks])).astype(np.int64)
    era = _street_era(rng, style)

    # buildings
    b_street = np.repeat(np.arange(n_streets), n_build)
    first = np.cumsum(n_build) - n_build
    j = np.arange(len(b_street)) - first[b_street]
    side = j % 2
    number = (j // 2) * 2 + 1 + side
    per_side = np.ceil(n_build / 2)[b_street]
    t = ((j // 2) + 0.5) / per_side * length[b_street] - length[b_street] / 2
    direction = np.column_stack([np.cos(angle), np.sin(angle)])[b_street]
    normal = direction[:, ::-1] * np.array([-1, 1])
    b_xy = centre[b_street] + direction * t[:, None] + normal * np.where(side == 0, 0.012, -0.012)[:, None]
    b_style = style[b_street]
    kind = _draw_rows(rng, _KIND_BY_STYLE[b_style])
    units = np.ones(len(kind), dtype=np.int64)
    conv = kind == 3
    units[conv] = 2 + rng.binomial(2, 0.35, size=conv.sum())
    block = kind == 4
    low = np.select([b_style == 3, b_style == 4], [8, 6], 4)[block]
    high = np.select([b_style == 3, b_style == 4], [40, 30], 12)[block]
    units[block] = rng.integers(low, high + 1)
    mixed = b_style == 5
    year = era[b_street] + np.round(rng.normal(0, 2, size=len(kind))).astype(np.int64)
    year[mixed] = rng.integers(1870, 2016, size=mixed.sum())
    year[block & mixed] = rng.integers(1955, 2020, size=(block & mixed).sum())
    year = np.minimum(year, 2024)

    # properties
    p_build = np.repeat(np.arange(len(kind)), units)
    p_first = np.cumsum(units) - units
    k = np.arange(len(p_build)) - p_first[p_build]
    p_kind = kind[p_build]
    flat_kind = np.select([p_kind == 3, p_kind == 4], [1, 2], 0)
    flat_no = np.where(flat_kind > 0, k + 1, 0)
    ptype = np.select(
        [p_kind == 0, p_kind == 1, p_kind == 2],
        [0, 1, 2],
        np.where((p_kind == 3) & (units[p_build] == 2) & (k == 1), 4, 3),
    )
    maison = (p_kind == 4) & (rng.random(len(p_build)) < 0.1)
    ptype[maison] = 4
    bedrooms = _bedrooms(rng, p_kind, ptype)
    xy = b_xy[p_build] + rng.normal(scale=0.002, size=(len(p_build), 2))
    return {
        "street": b_street[p_build],
        "building": p_build,
        "number": number[p_build],
        "flat_kind": flat_kind,
        "flat_no": flat_no,
        "kind": p_kind,
        "property_type": ptype,
        "bedrooms": bedrooms,
        "year_built": year[p_build],
        "xy": xy,
        "streets": {"style": style.astype(np.int8), "centre": centre},
    }


def _street_era(rng: np.random.Generator, style: np.ndarray) -> np.ndarray:
    n = len(style)
    u = rng.random(n)
    era = np.select(
        [style == 0, style == 1, style == 2, style == 3, style == 4],
        [
            np.where(u < 0.8, rng.integers(1860, 1915, n), rng.integers(1919, 1940, n)),
            np.where(u < 0.65, rng.integers(1920, 1940, n), rng.integers(1945, 1976, n)),
            rng.integers(1900, 2016, n),
            rng.integers(1950, 1986, n),
            rng.integers(1995, 2024, n),
        ],
        rng.integers(1870, 2016, n),
    )
    return era


def _bedrooms(rng: np.random.Generator, kind: np.ndarray, ptype: np.ndarray) -> np.ndarray:
    # P(bedrooms = 1..5) by building kind; maisonettes get one more bedroom than flats
    table = np.array(
        [
            [0.00, 0.05, 0.30, 0.45, 0.20],  # detached
            [0.00, 0.15, 0.62, 0.20, 0.03],  # semi
            [0.02, 0.30, 0.48, 0.17, 0.03],  # terraced
            [0.55, 0.38, 0.07, 0.00, 0.00],  # converted flat
            [0.38, 0.45, 0.15, 0.02, 0.00],  # block flat
        ]
    )
    beds = 1 + _draw_rows(rng, table[kind])
    return np.where(ptype == 4, np.minimum(beds + 1, 4), beds)


def _name_streets(rng: np.random.Generator, streets: Streets, n_stems: int, n_the: int) -> None:
    """Street names, unique within a town wherever the name space allows."""
    n = len(streets.style)
    weights = np.zeros((len(STYLES), len(SUFFIXES)))
    for s, name in enumerate(STYLES):
        for sid, w in _SUFFIX_BY_STYLE[name].items():
            weights[s, sid] = w
    weights /= weights.sum(1, keepdims=True)
    suffix = _draw_rows(rng, weights[streets.style]).astype(np.int16)
    the = rng.random(n) < 0.03
    suffix[the] = -1
    n_plain = n_stems - n_the
    stem = rng.integers(0, n_plain, size=n)
    stem[the] = n_plain + rng.integers(0, n_the, size=the.sum())
    for _ in range(30):
        code = (streets.town.astype(np.int64) * 100 + suffix + 1) * 10_000 + stem
        _, first = np.unique(code, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        if not dup.any():
            break
        plain = dup & ~the
        stem[plain] = rng.integers(0, n_plain, size=plain.sum())
        stem[dup & the] = n_plain + rng.integers(0, n_the, size=(dup & the).sum())
    streets.stem_id = stem.astype(np.int32)
    streets.suffix_id = suffix


def _postcodes(rng: np.random.Generator, props: Properties, streets: Streets) -> np.ndarray:
    """UK-style postcodes: a unit per ~14 neighbouring properties, sectors as strips, a district or more per town."""
    n = len(props)
    first = np.searchsorted(props.street, np.arange(len(streets.style)))
    idx_in_street = np.arange(n) - first[props.street]
    chunk = idx_in_street // PROPERTIES_PER_POSTCODE
    unit_code = props.street.astype(np.int64) * 100_000 + chunk
    units, unit_of = _sorted_unique(unit_code)
    u_street = (units // 100_000).astype(np.int64)
    u_town = streets.town[u_street]
    u_x = streets.centre[u_street, 0]
    order = np.lexsort((units, u_x, u_town))
    letters = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))
    inward_letters = np.char.add(letters[:, None], letters[None, :]).ravel()
    district = np.zeros(len(units), dtype=np.int64)
    sector = np.zeros(len(units), dtype=np.int64)
    code = np.zeros(len(units), dtype=np.int64)
    next_district = 1
    for t in range(N_TOWNS):
        mine = order[u_town[order] == t]
        m = len(mine)
        if m == 0:
            continue
        n_d = max(1, math.ceil(m / 3000))
        rank = np.arange(m)
        d_local = rank * n_d // m
        district[mine] = next_district + d_local
        next_district += n_d
        for d in range(n_d):
            sel = mine[d_local == d]
            r = np.arange(len(sel))
            sector[sel] = r * 10 // len(sel)
            for s in range(10):
                in_s = sel[sector[sel] == s]
                code[in_s] = rng.permutation(len(inward_letters))[: len(in_s)]
    outward = np.char.add(POSTCODE_AREA, district.astype(str))
    inward = np.char.add(sector.astype(str), inward_letters[code])
    unit_postcode = np.char.add(np.char.add(outward, " "), inward)
    return unit_postcode[unit_of]

def _draw_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of a probability matrix (vectorised inverse CDF)."""
    cdf = np.cumsum(probs, axis=1)
    cdf /= cdf[:, -1:]
    u = rng.random(len(probs))[:, None]
    return np.minimum((u > cdf).sum(1), probs.shape[1] - 1)


def _sorted_unique(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique values and the inverse index of an already sorted array (cheaper than np.unique)."""
    new = np.r_[True, a[1:] != a[:-1]]
    return a[new], np.cumsum(new) - 1
