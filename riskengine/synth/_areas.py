"""The borough's areas: wards, LSOAs, deprivation, area segments and towns.

Coordinates are kilometres from the south-west corner of an 8 x 6 km box near 51.5N 0.1W.
Homes cluster around a town centre, a university campus and a district centre. A fixed fine
tessellation of that density (the same for any number of homes) carries deprivation, a
smooth random field, and each cell's segment, which follows its deprivation and centrality.
Wards and LSOAs are then drawn around the actual homes as balanced power-diagram cells:
contiguous, of similar population (as real LSOAs are designed to be), and each LSOA takes
the deprivation and the commonest segment of the homes inside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BOX_KM = (8.0, 6.0)
SW_CORNER = (51.473, -0.1575)  # lat, lon
KM_PER_DEG_LAT = 111.32
KM_PER_DEG_LON = 111.32 * math.cos(math.radians(51.5))
CENTRE = np.array([3.3, 3.1])
CAMPUS = np.array([4.3, 3.7])
DISTRICT_CENTRE = np.array([6.4, 1.4])
N_WARDS = 20
LSOAS_PER_WARD = 10

WARD_NAMES = [
    "Abbey", "Castle Hill", "Riverside", "Market", "St Mary's", "Northfield", "Hillside",
    "Parkview", "Westbourne", "Eastgate", "Brookfield", "Fairmead", "Highcross", "Kingsmead",
    "Marshside", "Oakwood", "Priory", "Queensway", "Southbank", "Thornbury", "Victoria",
    "Wellington", "Woodlands", "Harbour", "Mill End", "Chapel Green", "Greenhill", "Lowfield",
]
CENTRAL_TOWN = "Rivermouth"
OTHER_TOWNS = ["Ashby Vale", "Northcote", "Eastwick", "Saltmarsh", "Kingsholme", "Fenwick Green"]
N_TOWNS = 6

SEGMENTS = [
    "Students and young renters",
    "Inner-city mixed communities",
    "Social housing estates",
    "Struggling terraced streets",
    "Diverse family suburbs",
    "Settled suburban homeowners",
    "Comfortable retirees",
    "Affluent urban professionals",
]
# logit = a + b * deprivation (z) + c * distance from the centre (km) + d * near the campus
_SEGMENT_LOGITS = np.array(
    [
        [1.0, 0.3, -0.9, 3.0],
        [1.2, 0.9, -0.6, 0.0],
        [0.0, 1.9, -0.1, 0.0],
        [0.0, 1.2, 0.0, 0.0],
        [0.3, 0.3, 0.3, 0.0],
        [-0.4, -1.1, 0.45, 0.0],
        [-1.2, -1.4, 0.6, 0.0],
        [1.2, -1.4, -0.5, 0.0],
    ]
)


@dataclass
class Neighbourhoods:
    """A fixed fine tessellation carrying deprivation and area character.

    Independent of the number of properties, so one seed gives the same map at any size.
    Street styles are drawn from it; LSOA deciles and segments are read off it.
    """

    centres: np.ndarray  # (n, 2) km
    deprivation: np.ndarray  # raw deprivation score (higher = more deprived)
    segment: np.ndarray  # index into SEGMENTS

    def locate(self, xy: np.ndarray) -> np.ndarray:
        return _nearest(xy, self.centres)


@dataclass
class Borough:
    """Areas: wards, LSOAs (with deprivation decile and segment) and towns."""

    ward_centres: np.ndarray  # (n_wards, 2) km
    ward_names: list[str]
    ward_town: np.ndarray  # town index per ward
    towns: list[str]
    lsoa_centres: np.ndarray  # (n_lsoas, 2) km
    lsoa_ward: np.ndarray
    lsoa_codes: list[str]
    lsoa_decile: np.ndarray  # 1 = most deprived
    lsoa_deprivation: np.ndarray  # 0 = least .. 1 = most deprived (from the decile)
    lsoa_segment: np.ndarray  # index into SEGMENTS
    ward_weights: np.ndarray  # power-diagram weights (balanced cells)
    lsoa_weights: np.ndarray

    def locate(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ward and LSOA index of each point (its power cell; LSOAs among the ward's own)."""
        ward = _nearest(xy, self.ward_centres, self.ward_weights)
        lsoa = np.empty(len(xy), dtype=np.int32)
        for w in range(len(self.ward_centres)):
            inside = np.flatnonzero(ward == w)
            mine = np.flatnonzero(self.lsoa_ward == w)
            lsoa[inside] = mine[_nearest(xy[inside], self.lsoa_centres[mine], self.lsoa_weights[mine])]
        return ward.astype(np.int32), lsoa


def sample_locations(rng: np.random.Generator, n: int) -> np.ndarray:
    """Points (km) from the borough's home density: centres plus an even spread."""
    out = np.empty((0, 2))
    while len(out) < n:
        m = int((n - len(out)) * 1.3) + 16
        comp = rng.choice(4, size=m, p=[0.35, 0.08, 0.15, 0.42])
        centres = np.array([CENTRE, CAMPUS, DISTRICT_CENTRE, [0.0, 0.0]])[comp]
        sd = np.array([1.4, 0.5, 0.9, 0.0])[comp][:, None]
        pts = centres + rng.normal(size=(m, 2)) * sd
        spread = comp == 3
        pts[spread] = rng.uniform(size=(spread.sum(), 2)) * np.array(BOX_KM)
        inside = ((pts > 0.05) & (pts < np.array(BOX_KM) - 0.05)).all(axis=1)
        out = np.vstack([out, pts[inside]])
    return out[:n]


def make_neighbourhoods(rng: np.random.Generator, n_cells: int = 240) -> Neighbourhoods:
    """Deprivation as a smooth field (east-west gradient, bumps, a poorer centre) and segments."""
    sample = sample_locations(rng, 12_000)
    centres = _kmeans(sample, sample[rng.choice(len(sample), n_cells, replace=False)], iters=12)
    bumps = rng.uniform(size=(10, 2)) * np.array(BOX_KM)
    heights = rng.normal(size=10)
    d2 = ((centres[:, None, :] - bumps[None]) ** 2).sum(-1)
    raw = 0.3 * (centres[:, 0] - BOX_KM[0] / 2) + (heights * np.exp(-d2 / 2.0)).sum(1)
    raw = raw + 0.4 * np.exp(-((centres - CENTRE) ** 2).sum(1) / 1.0)
    raw = raw + rng.normal(scale=0.3, size=n_cells)
    z = (raw - raw.mean()) / raw.std()
    dist = np.hypot(*(centres - CENTRE).T)
    campus = np.exp(-((centres - CAMPUS) ** 2).sum(1) / 0.8)
    X = np.column_stack([np.ones(n_cells), z, dist, campus])
    logits = X @ _SEGMENT_LOGITS.T + rng.gumbel(size=(n_cells, len(SEGMENTS))) * 0.8
    return Neighbourhoods(centres=centres, deprivation=z, segment=logits.argmax(1).astype(np.int8))


def make_borough(rng: np.random.Generator, hoods: Neighbourhoods, xy: np.ndarray) -> Borough:
    """Wards and LSOAs drawn around the homes (similar populations, contiguous), then towns."""
    sample = xy if len(xy) <= 40_000 else xy[np.sort(rng.choice(len(xy), 40_000, replace=False))]
    gx, gy = np.meshgrid((np.arange(5) + 0.5) * BOX_KM[0] / 5, (np.arange(4) + 0.5) * BOX_KM[1] / 4)
    init = np.column_stack([gx.ravel(), gy.ravel()]) + rng.normal(scale=0.2, size=(N_WARDS, 2))
    ward_centres, ward_weights = _balanced_cells(sample, init)
    # number wards north-west to south-east, the way a map is read
    order = np.lexsort((ward_centres[:, 0], -np.round(ward_centres[:, 1] / 1.5)))
    ward_centres, ward_weights = ward_centres[order], ward_weights[order]
    sample_ward = _nearest(sample, ward_centres, ward_weights)

    lsoa_centres, lsoa_weights, lsoa_ward = [], [], []
    for w in range(N_WARDS):
        pts = sample[sample_ward == w]
        k = min(LSOAS_PER_WARD, len(pts))
        if k == 0:
            continue
        c, cw = _balanced_cells(pts, pts[rng.choice(len(pts), size=k, replace=False)])
        order = np.lexsort((c[:, 0], -c[:, 1]))
        lsoa_centres.append(c[order])
        lsoa_weights.append(cw[order])
        lsoa_ward.extend([w] * k)
    lsoa_centres = np.vstack(lsoa_centres)
    lsoa_weights = np.concatenate(lsoa_weights)
    lsoa_ward = np.array(lsoa_ward, dtype=np.int32)
    n_lsoa = len(lsoa_centres)
    base = int(rng.integers(1000, 30000))
    lsoa_codes = [f"E01{base + i:06d}" for i in range(n_lsoa)]

    # Each LSOA takes the deprivation and the commonest segment of the homes inside it
    borough = Borough(ward_centres, [], np.zeros(0), [], lsoa_centres, lsoa_ward, lsoa_codes,
                      np.zeros(0), np.zeros(0), np.zeros(0), ward_weights, lsoa_weights)
    _, lsoa = borough.locate(xy)
    occupied = np.bincount(lsoa, minlength=n_lsoa) > 0
    if not occupied.all():  # a cell that could not split a block of flats: drop it
        borough.lsoa_centres = lsoa_centres = lsoa_centres[occupied]
        borough.lsoa_weights = lsoa_weights[occupied]
        borough.lsoa_ward = lsoa_ward = lsoa_ward[occupied]
        n_lsoa = int(occupied.sum())
        borough.lsoa_codes = lsoa_codes = lsoa_codes[:n_lsoa]
        _, lsoa = borough.locate(xy)
    cell = hoods.locate(xy)
    counts = np.maximum(np.bincount(lsoa, minlength=n_lsoa), 1)
    raw = np.bincount(lsoa, weights=hoods.deprivation[cell], minlength=n_lsoa) / counts
    raw = raw + rng.normal(scale=0.15, size=n_lsoa)
    rank = np.empty(n_lsoa, dtype=np.int64)
    rank[np.argsort(-raw, kind="stable")] = np.arange(n_lsoa)
    decile = (1 + rank * 10 // n_lsoa).astype(np.int8)
    seg_counts = np.zeros((n_lsoa, len(SEGMENTS)))
    np.add.at(seg_counts, (lsoa, hoods.segment[cell]), 1)
    segment = seg_counts.argmax(1).astype(np.int8)

    # Towns: groups of neighbouring wards; the one holding the centre is the main town
    far = [int(np.argmin(np.hypot(*(ward_centres - CENTRE).T)))]
    while len(far) < N_TOWNS:
        d = np.min(((ward_centres[:, None] - ward_centres[far][None]) ** 2).sum(-1), axis=1)
        far.append(int(np.argmax(d)))
    ward_town = _nearest(ward_centres, _kmeans(ward_centres, ward_centres[far], iters=10))
    main = ward_town[far[0]]
    others = [str(t) for t in rng.permutation(OTHER_TOWNS)]
    names = [CENTRAL_TOWN if t == main else others.pop() for t in range(N_TOWNS)]
    borough.ward_names = [str(x) for x in rng.permutation(WARD_NAMES)[:N_WARDS]]
    borough.ward_town = ward_town.astype(np.int16)
    borough.towns = names
    borough.lsoa_decile = decile
    borough.lsoa_deprivation = (10 - decile) / 9.0
    borough.lsoa_segment = segment
    return borough

def to_latlon(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kilometres in the box to WGS84-like latitude and longitude (6 decimals)."""
    lat = SW_CORNER[0] + xy[:, 1] / KM_PER_DEG_LAT
    lon = SW_CORNER[1] + xy[:, 0] / KM_PER_DEG_LON
    return np.round(lat, 6), np.round(lon, 6)


def bounding_box() -> tuple[float, float, float, float]:
    """(lat_min, lat_max, lon_min, lon_max) of the borough."""
    return (
        SW_CORNER[0],
        SW_CORNER[0] + BOX_KM[1] / KM_PER_DEG_LAT,
        SW_CORNER[1],
        SW_CORNER[1] + BOX_KM[0] / KM_PER_DEG_LON,
    )


def distance_to_centre(xy: np.ndarray) -> np.ndarray:
    return np.hypot(*(xy - CENTRE).T)

def _nearest(points: np.ndarray, centres: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Index of the nearest centre; with weights, of the power-diagram cell (d^2 - weight)."""
    out = np.empty(len(points), dtype=np.int64)
    step = max(1, 4_000_000 // max(1, len(centres)))
    for i in range(0, len(points), step):
        p = points[i : i + step]
        d = (p[:, None, 0] - centres[None, :, 0]) ** 2 + (p[:, None, 1] - centres[None, :, 1]) ** 2
        if weights is not None:
            d -= weights[None, :]
        out[i : i + step] = d.argmin(1)
    return out


def _balanced_cells(points: np.ndarray, init: np.ndarray, iters: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Centres and power weights that split `points` into cells of similar counts.

    Lloyd steps move each centre to its cell's centroid; the weights then grow for cells
    short of their share and shrink for crowded ones. Power-diagram cells are convex, so
    every area stays contiguous.
    """
    c = init.astype(float).copy()
    k = len(c)
    w = np.zeros(k)
    target = len(points) / k
    for _ in range(iters):
        lab = _nearest(points, c, w)
        counts = np.bincount(lab, minlength=k)
        for d in range(2):
            s = np.bincount(lab, weights=points[:, d], minlength=k)
            c[:, d] = np.where(counts > 0, s / np.maximum(counts, 1), c[:, d])
        spread = np.bincount(lab, weights=((points - c[lab]) ** 2).sum(1), minlength=k) / np.maximum(counts, 1)
        w += 0.4 * np.median(spread) * (target - counts) / target
    return c, w


def _kmeans(points: np.ndarray, init: np.ndarray, iters: int = 30) -> np.ndarray:
    """Plain Lloyd iterations from a given start (deterministic; no library randomness)."""
    c = init.astype(float).copy()
    k = len(c)
    for _ in range(iters):
        lab = _nearest(points, c)
        counts = np.bincount(lab, minlength=k)
        for d in range(points.shape[1]):
            s = np.bincount(lab, weights=points[:, d], minlength=k)
            c[:, d] = np.where(counts > 0, s / np.maximum(counts, 1), c[:, d])
    return c
