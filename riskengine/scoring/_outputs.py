"""The files a scoring run leaves: list.csv, list.xlsx, alerts.csv, scores.parquet, shap_summary.png.

list.csv carries no timestamp and fixed rounding, so the same inputs give the same bytes.
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from riskengine.outputs import stable_zip
from riskengine.scoring._page import BACKDROP_MAX, NAME_COLUMNS, page_document, write_page

DIGITS = 6
ANALYST_ONLY = ("score",)  # in list.csv for analysts; not in the workbook or the page inspectors read


def list_columns(listed: pd.DataFrame, n_reasons: int, extra: list[str]) -> list[str]:
    """The columns of list.csv, in order: rank, entity_id, address, score, probability, reasons, where, how chosen."""
    name = [c for c in NAME_COLUMNS if c in listed.columns][:1]
    cols = ["rank", "entity_id", *name, "score", "probability", *[f"reason_{i}" for i in range(1, n_reasons + 1)]]
    cols += [c for c in dict.fromkeys(["ward", *extra, "lat", "lon"]) if c in listed.columns and c not in cols]
    return cols + ["exploration", "inclusion_probability"]


def write_list_csv(listed: pd.DataFrame, columns: list[str], path: Path) -> Path:
    """list.csv: one row per listed entity, rounded, in rank order."""
    out = listed[columns].copy()
    for c in ("score", "probability", "inclusion_probability", "lat", "lon"):
        if c in out:
            out[c] = out[c].astype(float).round(DIGITS)
    out.to_csv(path, index=False, lineterminator="\n")
    return path


def write_alerts_csv(alerts: pd.DataFrame, reasons: pd.DataFrame, path: Path) -> Path:
    """alerts.csv: one row per alert with the entity's reasons."""
    out = alerts.merge(reasons, on="entity_id", how="left") if len(alerts) else alerts.reindex(
        columns=[*alerts.columns, *[c for c in reasons.columns if c != "entity_id"]])
    for c in ("probability", "previous_probability", "change"):
        if c in out:
            out[c] = pd.to_numeric(out[c]).round(DIGITS)
    out.to_csv(path, index=False, lineterminator="\n")
    return path


def write_scores(scores: pd.DataFrame, listed: pd.DataFrame, path: Path) -> Path:
    """scores.parquet: every entity's score, probability, exclusion reason and place on the list."""
    out = scores.merge(listed[["entity_id", "rank", "exploration"]], on="entity_id", how="left")
    out["rank"] = out["rank"].astype("Int64")
    out["exploration"] = out["exploration"].astype("boolean").fillna(False)
    out.to_parquet(path, index=False)
    return path


_HEADINGS = {"rank": "Rank", "entity_id": "Id", "address": "Address", "name": "Name", "probability": "Probability",
             "ward": "Ward", "lat": "Latitude", "lon": "Longitude", "exploration": "How chosen",
             "inclusion_probability": "Chance of random pick"}
_WIDTHS = {"rank": 6, "entity_id": 16, "address": 36, "name": 30, "probability": 11, "ward": 16, "lat": 10, "lon": 10,
           "exploration": 13, "inclusion_probability": 11}


def write_list_xlsx(listed: pd.DataFrame, columns: list[str], path: Path, title: str,
                    when: pd.Timestamp | None = None) -> Path:
    """list.xlsx formatted for printing: bold frozen header, widths, wrapped reasons, landscape, fit to width.

    With `when` (the as-of date) the workbook's dates are that day, so reruns give the same bytes.
    """
    columns = [c for c in columns if c not in ANALYST_ONLY]
    wb = Workbook()
    ws = wb.active
    ws.title = "list"
    heads = [_HEADINGS.get(c, c.replace("_", " ").capitalize()) for c in columns]
    ws.append(heads)
    for r in listed[columns].itertuples(index=False):
        row = []
        for c, v in zip(columns, r):
            if c == "exploration":
                v = "random (exploration)" if v else "model"
            elif isinstance(v, (float, np.floating)) and np.isnan(v):
                v = None
            elif isinstance(v, (np.integer, np.floating, np.bool_)):
                v = v.item()
            elif v is pd.NA:
                v = None
            row.append(v)
        ws.append(row)
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DCE3F0")
    for cell in ws[1]:
        cell.font = bold
        cell.fill = fill
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for j, c in enumerate(columns, start=1):
        letter = get_column_letter(j)
        ws.column_dimensions[letter].width = 48 if c.startswith("reason_") else _WIDTHS.get(c, 14)
        fmt = {"probability": "0%", "inclusion_probability": "0.000", "lat": "0.00000", "lon": "0.00000"}.get(c)
        for cell in ws[letter][1:]:
            if fmt:
                cell.number_format = fmt
            cell.alignment = Alignment(wrap_text=c.startswith("reason_"), vertical="top")
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = ws.dimensions
    ws.print_title_rows = "1:1"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.gridLines = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.oddHeader.center.text = title
    ws.oddFooter.center.text = "Page &P of &N"
    wb.save(path)
    if when is not None:
        stable_zip(path, when)
    return path


def write_shap_summary(values: np.ndarray, X: pd.DataFrame, path: Path, title: str) -> str | None:
    """The SHAP summary (beeswarm) plot of the listed entities; returns it base64-encoded for the page."""
    if len(X) < 2:
        return None
    from riskengine.charts import plot_shap_summary

    plot_shap_summary(values, X, path, title)
    return base64.b64encode(Path(path).read_bytes()).decode("ascii")


def plain_names(features: list[str], info: pd.DataFrame | None) -> dict[str, str]:
    """Feature name -> a short plain-English name for charts ("noise complaints, last 12 months")."""
    from riskengine.features import column_label, period

    rows = info.set_index("name").to_dict("index") if info is not None and len(info) else {}
    out = {}
    for f in features:
        r = rows.get(f)
        if r is None:
            out[f] = column_label(f)
            continue
        label, stat, days = str(r.get("label") or column_label(f)), r.get("stat"), r.get("window_days")
        window = "all time" if days is None or pd.isna(days) else f"last {period(int(days))}"
        out[f] = {"count": f"{label}, {window}", "sum": f"{label} (total), {window}",
                  "last": f"{label} (latest)", "days_since": f"days since the last of the {label}"}.get(stat, label)
    return out


def _rules_text(result) -> str:
    """The exclusions and quotas in one sentence, with how many each left off."""
    spec = result.spec
    ex = result.scores["excluded"].fillna("").astype(str)
    parts = []
    counts = ex[ex != ""].str.split("; ").explode().value_counts()
    for reason, n in sorted(counts.items()):
        parts.append(f"{reason} ({n:,})")
    text = ("Left off the list: " + "; ".join(parts) + ".") if parts else "No exclusions applied."
    if spec.quotas:
        text += " At most " + ", ".join(f"{m} per {c}" for c, m in spec.quotas.items()) + "."
        short = spec.capacity - len(result.listed)
        if short > 0:
            text += (f" The list holds {len(result.listed)}, {short} below the capacity of {spec.capacity}: the quotas "
                     "were reached in every group that had eligible entries left, and the quotas are never broken "
                     "to fill the list.")
    return text


def write_outputs(result, reasons: pd.DataFrame, contrib: np.ndarray, X_list: pd.DataFrame, purpose: dict) -> dict[str, Path]:
    """Every file of a scoring run in result.out_dir; returns name -> path."""
    spec, out, listed = result.spec, result.out_dir, result.listed
    columns = list_columns(listed, spec.reasons, ["due_date", *spec.quotas])  # due_date: with a work queue
    title = f"{spec.name}: the list as of {result.as_of.date()}"
    paths = {
        "list_csv": write_list_csv(listed, columns, out / "list.csv"),
        "list_xlsx": write_list_xlsx(listed, columns, out / "list.xlsx", title, when=result.as_of),
        "alerts_csv": write_alerts_csv(result.alerts, reasons[["entity_id", *[f"reason_{i}" for i in range(1, spec.reasons + 1)]]],
                                       out / "alerts.csv"),
        "scores": write_scores(result.scores, listed, out / "scores.parquet"),
    }
    shap_png = None
    words = purpose.get("entities") or "entities"
    if len(X_list) >= 2:
        paths["shap_summary"] = out / "shap_summary.png"
        matrix = result.model.model.frame(X_list)
        matrix = matrix.rename(columns=plain_names(list(matrix.columns), result.model.info))
        shap_png = write_shap_summary(contrib, matrix, paths["shap_summary"],
                                      f"What raised the risk of the {len(X_list)} listed {words}")
    m = result.model
    n_explore = int(listed["exploration"].sum())
    meta = {"title": title, "pipeline": spec.pipeline, "as_of": str(result.as_of.date()),
            "model": f"{m.uri}" + (f" (version {m.version})" if m.version else ""), "model_run_id": m.run_id,
            "entities_scored": int(len(result.scores)), "capacity": spec.capacity,
            "entity": purpose.get("entity") or "entity", "entities": words,
            "alert_jump": spec.alerts.jump, "alert_threshold": spec.alerts.threshold,
            "model_picks": int(len(listed) - n_explore), "exploration_rows": n_explore,
            "excluded": int((result.scores["excluded"].fillna("").astype(str) != "").sum()),
            "previous": result.previous.parent.name if result.previous else None,
            "data_fingerprint": result.fingerprint[:16], "rules": _rules_text(result)}
    backdrop = None
    if {"lat", "lon"} <= set(result.scores.columns):
        pts = result.scores[result.scores["lat"].notna() & result.scores["lon"].notna()]
        step = max(1, len(pts) // BACKDROP_MAX)
        backdrop = pts.iloc[::step]
    alerts = result.alerts
    name = [c for c in NAME_COLUMNS if c in result.scores.columns][:1]
    if name and len(alerts):  # off-list alerts are found by their address too
        alerts = alerts.merge(result.scores[["entity_id", *name]].astype({"entity_id": str}), on="entity_id", how="left")
    doc = page_document(listed, alerts, meta, purpose, spec.reasons, backdrop)
    paths["list_html"], paths["list_json"] = write_page(doc, out, shap_png)
    return paths
