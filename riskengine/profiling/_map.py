"""The map: areas shaded by take-up, change or segment, and users' density, as inline SVG.

No tiles, no CDN, no script from anywhere else: the page opens offline. Areas come from a
GeoJSON boundary file when one is given; otherwise each area is the Voronoi cell of its
properties' centroid (from the register), clipped to the register's bounding box, which is
close to the truth for areas drawn around similar numbers of homes. Users appear only as
counts per 250 m square, and only squares with at least `min_count` users are drawn.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from riskengine.errors import DataError

BLUES = ["#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c"]
DIVERGING = ["#b2182b", "#ef8a62", "#f7f7f7", "#67a9cf", "#2166ac"]
CATEGORIES = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666",
              "#1f78b4", "#b2df8a", "#fb9a99", "#cab2d6"]
SUPPRESSED = "url(#hatch)"
NO_DATA = "#f0f0f0"
WIDTH = 760
CELL_M = 250


def read_boundaries(path: Path, code_property: str) -> dict[str, list[np.ndarray]]:
    """Area code -> outer rings (lon, lat) from a GeoJSON FeatureCollection of (Multi)Polygons."""
    try:
        geo = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the boundary file as GeoJSON: {exc}") from None
    features = geo.get("features") if isinstance(geo, dict) else None
    if not isinstance(features, list):
        raise DataError(f"{path}: not a GeoJSON FeatureCollection (no 'features' list)")
    out: dict[str, list[np.ndarray]] = {}
    for i, f in enumerate(features):
        props = f.get("properties") or {}
        if code_property not in props:
            raise DataError(f"{path}: feature {i} has no property {code_property!r} "
                            f"(areas.code_property); it has {', '.join(props) or 'none'}")
        g = f.get("geometry") or {}
        polys = [g.get("coordinates", [])] if g.get("type") == "Polygon" else \
            g.get("coordinates", []) if g.get("type") == "MultiPolygon" else []
        rings = [np.asarray(p[0], dtype=float)[:, :2] for p in polys if p]
        out.setdefault(str(props[code_property]).strip(), []).extend(rings)
    return out


def voronoi_cells(centroids: pd.DataFrame, pad: float = 0.02) -> dict[str, list[np.ndarray]]:
    """Voronoi cell of each area's centroid (lon/lat scaled to be locally square), clipped to the box."""
    from scipy.spatial import ConvexHull, HalfspaceIntersection

    c = centroids.dropna(subset=["lat", "lon"])
    if len(c) < 2:
        raise DataError("cannot draw areas: fewer than two areas have properties with coordinates "
                        "(give areas.boundaries, a GeoJSON file)")
    k = math.cos(math.radians(float(c["lat"].mean())))
    pts = np.column_stack([c["lon"].to_numpy() * k, c["lat"].to_numpy()])
    lo, hi = pts.min(0), pts.max(0)
    span = (hi - lo).max()
    lo, hi = lo - pad * span, hi + pad * span
    box = np.array([[-1, 0, lo[0]], [1, 0, -hi[0]], [0, -1, lo[1]], [0, 1, -hi[1]]], dtype=float)
    out = {}
    for i, code in enumerate(c.index):
        others = np.delete(pts, i, axis=0)
        others = others[np.any(others != pts[i], axis=1)]
        a = 2 * (others - pts[i])
        b = (pts[i] @ pts[i]) - (others ** 2).sum(1)
        hs = np.vstack([box, np.column_stack([a, b])])
        try:
            verts = HalfspaceIntersection(hs, pts[i]).intersections
            ring = verts[ConvexHull(verts).vertices]
        except Exception:  # noqa: BLE001 - a degenerate cell (two areas on one point) is left out
            continue
        out[str(code)] = [np.column_stack([ring[:, 0] / k, ring[:, 1]])]
    return out


@dataclass
class Layer:
    """One way of shading the areas (exclusive with the others) or an overlay of points."""

    id: str
    title: str
    fills: dict[str, str] = field(default_factory=dict)  # area -> colour
    tips: dict[str, str] = field(default_factory=dict)  # area -> tooltip text
    legend: list[tuple[str, str]] = field(default_factory=list)  # (colour, label)
    circles: list[tuple[float, float, float, str]] = field(default_factory=list)  # lon, lat, radius px, tip
    overlay: bool = False


def _bins(values: pd.Series, n: int = 5) -> np.ndarray:
    v = values.dropna()
    if v.empty:
        return np.array([0.0])
    edges = np.unique(np.quantile(v, np.linspace(0, 1, n + 1)[1:-1]))
    return edges


def choropleth(layer_id: str, title: str, values: pd.Series, suppressed: pd.Series, unit: str,
               diverging: bool = False) -> Layer:
    """Areas coloured by quantile class of `values` (suppressed areas hatched)."""
    layer = Layer(layer_id, title)
    if diverging:
        m = float(np.nanmax(np.abs(values.to_numpy(dtype=float)))) if values.notna().any() else 1.0
        edges = np.array([-0.6, -0.2, 0.2, 0.6]) * (m or 1.0)
        palette = DIVERGING
    else:
        edges = _bins(values)
        palette = BLUES[-(len(edges) + 1):] if len(edges) + 1 <= len(BLUES) else BLUES
    for area, v in values.items():
        if bool(suppressed.get(area, False)):
            layer.fills[area] = SUPPRESSED
            layer.tips[area] = f"{area}: fewer than the minimum count of users (suppressed)"
        elif pd.isna(v):
            layer.fills[area] = NO_DATA
            layer.tips[area] = f"{area}: no data"
        else:
            layer.fills[area] = palette[int(np.searchsorted(edges, v, side="right"))]
            layer.tips[area] = f"{area}: {v:,.1f} {unit}"
    bounds = [float(np.nanmin(values))] + list(edges) + [float(np.nanmax(values))] if values.notna().any() else []
    for i in range(len(bounds) - 1):
        layer.legend.append((palette[i], f"{bounds[i]:,.1f} to {bounds[i + 1]:,.1f} {unit}"))
    layer.legend.append((SUPPRESSED, "suppressed (few users)"))
    return layer


def categories(layer_id: str, title: str, segment: pd.Series, names: dict[str, str]) -> Layer:
    layer = Layer(layer_id, title)
    codes = sorted(segment.dropna().unique(), key=lambda c: (len(str(c)), str(c)))
    colour = {c: CATEGORIES[i % len(CATEGORIES)] for i, c in enumerate(codes)}
    for area, c in segment.items():
        layer.fills[area] = colour.get(c, NO_DATA)
        layer.tips[area] = f"{area}: {c} {names.get(c, '')}".strip()
    layer.legend = [(colour[c], f"{c} {names.get(c, '')}".strip()) for c in codes]
    return layer


def density(layer_id: str, title: str, users: pd.DataFrame, min_count: int) -> Layer:
    """Users counted per 250 m square; squares with fewer than `min_count` users are not drawn."""
    layer = Layer(layer_id, title, overlay=True)
    u = users.dropna(subset=["lat", "lon"])
    if u.empty:
        return layer
    lat0 = float(u["lat"].mean())
    dlat = CELL_M / 111_320
    dlon = CELL_M / (111_320 * math.cos(math.radians(lat0)))
    gy = np.floor(u["lat"].to_numpy() / dlat).astype(np.int64)
    gx = np.floor(u["lon"].to_numpy() / dlon).astype(np.int64)
    cells = pd.DataFrame({"gx": gx, "gy": gy}).value_counts()
    cells = cells[cells >= min_count]
    top = float(cells.max()) if len(cells) else 1.0
    for (x, y), n in cells.items():
        layer.circles.append(((x + 0.5) * dlon, (y + 0.5) * dlat, 2 + 7 * math.sqrt(n / top),
                              f"{n} users in this {CELL_M} m square"))
    layer.legend = [("#222", f"users per {CELL_M} m square (only squares with {min_count} or more)")]
    return layer


def render(shapes: dict[str, list[np.ndarray]], layers: list[Layer]) -> dict:
    """The SVG (every layer a <g>) and the controls' data for the page."""
    rings = [r for rs in shapes.values() for r in rs]
    if not rings:
        raise DataError("no area shapes to draw")
    allpts = np.vstack(rings)
    lat0 = float(allpts[:, 1].mean())
    k = math.cos(math.radians(lat0))
    x0, x1 = allpts[:, 0].min() * k, allpts[:, 0].max() * k
    y0, y1 = allpts[:, 1].min(), allpts[:, 1].max()
    scale = WIDTH / max(x1 - x0, 1e-9)
    height = int(math.ceil((y1 - y0) * scale)) + 2

    def xy(lon, lat):
        return (lon * k - x0) * scale + 1, (y1 - lat) * scale + 1

    paths = {}
    for code, rs in shapes.items():
        d = []
        for r in rs:
            px, py = xy(r[:, 0], r[:, 1])
            d.append("M" + "L".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py)) + "Z")
        paths[code] = "".join(d)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" id="map" viewBox="0 0 {WIDTH + 2} {height}" '
             f'width="{WIDTH + 2}" height="{height}" role="img" aria-label="map of the areas">',
             '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
             '<rect width="6" height="6" fill="#f4f4f4"/><line x1="0" y1="0" x2="0" y2="6" stroke="#bbb" stroke-width="2"/>'
             '</pattern></defs>']
    first = next((layer.id for layer in layers if not layer.overlay), None)
    for layer in layers:
        shown = "" if (layer.id == first and not layer.overlay) else ' style="display:none"'
        kind = "overlay" if layer.overlay else "base"
        parts.append(f'<g class="layer {kind}" id="layer-{html.escape(layer.id)}" data-title="{html.escape(layer.title)}"{shown}>')
        if not layer.overlay:
            for code, d in paths.items():
                fill = layer.fills.get(code, NO_DATA)
                tip = html.escape(layer.tips.get(code, code))
                parts.append(f'<path class="area" data-area="{html.escape(code)}" d="{d}" fill="{fill}" '
                             f'stroke="#fff" stroke-width="0.6"><title>{tip}</title></path>')
        else:
            for lon, lat, r, tip in layer.circles:
                cx, cy = xy(np.array([lon]), np.array([lat]))
                parts.append(f'<circle class="dot" cx="{cx[0]:.1f}" cy="{cy[0]:.1f}" r="{r:.1f}" fill="#222" '
                             f'fill-opacity="0.45"><title>{html.escape(tip)}</title></circle>')
        parts.append("</g>")
    parts.append("</svg>")
    return {"svg": "".join(parts), "areas": len(paths),
            "layers": [{"id": layer.id, "title": layer.title, "overlay": layer.overlay,
                        "legend": [{"colour": c, "label": lab} for c, lab in layer.legend],
                        "drawn": len(layer.circles) if layer.overlay else len(paths)} for layer in layers]}
