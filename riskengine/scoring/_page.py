"""list.html: one self-contained page for the team, with its JSON twin list.json.

The page opens offline: styles, scripts, the SHAP plot (base64 PNG) and the map (inline
SVG, points projected from lat/lon) are all inside it; nothing is fetched. Opened with
`#selftest` in the address, its own script sorts the table, counts the markers and writes
what it found into `#selftest-result`, which the browser test reads.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from riskengine.templating import environment
from riskengine.scoring._alerts import ADVICE, KINDS

# Probability bands for the map and the table: (lower bound, label, colour), light to dark.
BANDS = [(0.0, "under 10%", "#fdd49e"), (0.10, "10-25%", "#fdae6b"), (0.25, "25-50%", "#f16913"),
         (0.50, "50-75%", "#d94801"), (0.75, "75% or more", "#7f2704")]
MAP_WIDTH = 720
BACKDROP_MAX = 3000
NAME_COLUMNS = ("address", "name")  # an entities column the team finds an entity by, shown beside its id
ALERTS_SHOWN = 25  # per kind on the page; alerts.csv has every one


def band(p: float) -> int:
    """Index into BANDS for a probability."""
    i = 0
    for j, (lo, _, _) in enumerate(BANDS):
        if p >= lo:
            i = j
    return i


def _projector(lat: np.ndarray, lon: np.ndarray, width: int = MAP_WIDTH, pad: int = 14):
    """Equirectangular projection scaled to the points' extent; returns (project, height)."""
    lat0 = float(np.nanmean(lat))
    kx = math.cos(math.radians(lat0))
    x0, x1 = float(np.nanmin(lon)) * kx, float(np.nanmax(lon)) * kx
    y0, y1 = float(np.nanmin(lat)), float(np.nanmax(lat))
    span = max(x1 - x0, y1 - y0, 1e-6)
    scale = (width - 2 * pad) / span
    height = int(round((y1 - y0) * scale + 2 * pad))
    height = max(height, 120)

    def project(la, lo):
        return pad + (np.asarray(lo, float) * kx - x0) * scale, height - pad - (np.asarray(la, float) - y0) * scale

    return project, height


def map_figure(listed: pd.DataFrame, backdrop: pd.DataFrame | None = None) -> dict | None:
    """Marker positions and colours for the listed entities; a light backdrop of other entities.

    Returns None when the entities have no coordinates.
    """
    if not {"lat", "lon"} <= set(listed.columns):
        return None
    pts = listed[listed["lat"].notna() & listed["lon"].notna()]
    if not len(pts):
        return None
    ref = pd.concat([pts[["lat", "lon"]], backdrop[["lat", "lon"]]]) if backdrop is not None and len(backdrop) else pts
    project, height = _projector(ref["lat"].to_numpy(float), ref["lon"].to_numpy(float))
    x, y = project(pts["lat"], pts["lon"])
    markers = [
        {"rank": int(r), "entity_id": str(e), "x": round(float(a), 1), "y": round(float(b), 1),
         "probability": float(p), "colour": BANDS[band(p)][2], "exploration": bool(xp)}
        for r, e, a, b, p, xp in zip(pts["rank"], pts["entity_id"], x, y, pts["probability"], pts["exploration"])
    ]
    path = ""
    if backdrop is not None and len(backdrop):
        bx, by = project(backdrop["lat"], backdrop["lon"])
        path = "".join(f"M{a:.1f} {b:.1f}h1.6" for a, b in zip(bx, by))
    return {"width": MAP_WIDTH, "height": height, "markers": markers, "backdrop": path,
            "legend": [{"label": lab, "colour": col} for _, lab, col in BANDS]}


def page_document(listed: pd.DataFrame, alerts: pd.DataFrame, meta: dict, purpose: dict, n_reasons: int,
                  backdrop: pd.DataFrame | None = None) -> dict:
    """Everything the page shows, as plain data: this is also list.json."""
    rows = []
    name_col = next((c for c in NAME_COLUMNS if c in listed.columns), None)
    for r in listed.to_dict("records"):
        rows.append({
            "rank": int(r["rank"]), "entity_id": str(r["entity_id"]),
            "address": None if name_col is None or pd.isna(r.get(name_col)) else str(r[name_col]),
            "score": _num(r["score"], 4), "probability": _num(r["probability"], 4),
            "chance": in_words(float(r["probability"])),
            "band": BANDS[band(float(r["probability"]))][1],
            "reasons": [r.get(f"reason_{i}", "") or "" for i in range(1, n_reasons + 1)],
            "ward": None if pd.isna(r.get("ward")) else str(r.get("ward")),
            "lat": _num(r.get("lat"), 5), "lon": _num(r.get("lon"), 5),
            "exploration": bool(r["exploration"]),
        })
    names = {r["entity_id"]: r["address"] for r in rows}
    alert_name = next((c for c in NAME_COLUMNS if c in alerts.columns), None)
    groups, shown_alerts = [], []
    for kind in KINDS:
        part = alerts[alerts["alert"] == kind]
        if not len(part):
            continue
        items = [{"alert": a["alert"], "entity_id": str(a["entity_id"]), "address": names.get(str(a["entity_id"])) or (
                      None if alert_name is None or pd.isna(a.get(alert_name)) else str(a[alert_name])),
                  "rank": None if pd.isna(a["rank"]) else int(a["rank"]), "detail": a["detail"]}
                 for a in part.head(ALERTS_SHOWN).to_dict("records")]
        on_list = int(part["rank"].notna().sum())
        heading, advice = ADVICE[kind]
        groups.append({"kind": kind, "heading": heading, "advice": advice, "total": int(len(part)),
                       "on_list": on_list, "off_list": int(len(part)) - on_list, "rows": items})
        shown_alerts += items
    return {"meta": meta, "purpose": purpose, "rows": rows,
            "alerts": {"counts": {k: int((alerts["alert"] == k).sum()) for k in KINDS},
                       "total": int(len(alerts)), "shown": shown_alerts, "groups": groups},
            "map": map_figure(listed, backdrop)}


def in_words(p: float) -> str:
    """A probability as a person says it: 'about 4 in 10', 'under 1 in 10', 'about 9 in 10'."""
    if p < 0.05:
        return "under 1 in 20"
    if p < 0.1:
        return "about 1 in 10 or less"
    return f"about {min(round(p * 10), 10)} in 10" if p < 0.95 else "almost certain"


def _num(x, digits: int):
    if x is None or (isinstance(x, float) and math.isnan(x)) or pd.isna(x):
        return None
    return round(float(x), digits)


def write_page(doc: dict, folder: Path, shap_png: str | None = None) -> tuple[Path, Path]:
    """Render list.html and write list.json beside it; returns both paths."""
    folder = Path(folder)
    html = environment().get_template("scoring_list.html.j2").render(doc=doc, shap_png=shap_png)
    page = folder / "list.html"
    page.write_text(html, encoding="utf-8")
    twin = folder / "list.json"
    twin.write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")
    return page, twin
