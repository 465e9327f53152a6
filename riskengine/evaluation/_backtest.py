"""Backtest by re-ordering: would the model have found the positive cases earlier?

For the inspections actually made in a past period, each is scored as of its own date. The
real sequence of inspection dates is then handed out in descending score order: the
highest-scored inspection gets the earliest date. For every positive case the difference
between its real date and its re-ordered date is how many days earlier the model would have
found it. The model is trained only on outcomes dated before the period (or given).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import roc_auc_score

from riskengine.charts import figure, save_png
from riskengine.errors import RiskEngineError


def reorder(inspections: pd.DataFrame) -> pd.DataFrame:
    """Hand the real inspection dates out in descending score order.

    `inspections`: entity_id, date, outcome, score. Ties in score keep the real order.
    Adds `model_date` and `days_earlier` (real date minus model date, in days).
    """
    df = inspections.sort_values(["date", "entity_id"], kind="stable").reset_index(drop=True)
    dates = df["date"].to_numpy()
    order = np.lexsort((np.arange(len(df)), -df["score"].to_numpy(dtype=float)))
    model_date = np.empty(len(df), dtype=dates.dtype)
    model_date[order] = dates
    df["model_date"] = model_date
    df["days_earlier"] = (df["date"] - df["model_date"]).dt.days
    return df


def summarise(df: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> dict:
    """Days earlier for positives (mean, median, sd, one-sample t-test) and first-half counts."""
    pos = df[df["outcome"] > 0]
    d = pos["days_earlier"].to_numpy(dtype=float)
    mid = start + (end - start) / 2
    if len(d) >= 2 and d.std(ddof=1) > 0:
        p_value = float(stats.ttest_1samp(d, 0.0).pvalue)
    else:
        p_value = None
    y = (df["outcome"] > 0).astype(int)
    return {
        "from": str(start.date()),
        "to": str(end.date()),
        "n": int(len(df)),
        "positives": int(len(pos)),
        "days_earlier": {
            "mean": float(d.mean()) if len(d) else None,
            "median": float(np.median(d)) if len(d) else None,
            "sd": float(d.std(ddof=1)) if len(d) >= 2 else None,
            "min": float(d.min()) if len(d) else None,
            "max": float(d.max()) if len(d) else None,
            "p_value": p_value,
        },
        "first_half": {
            "midpoint": str(mid.date()),
            "actual": int((pos["date"] < mid).sum()),
            "model": int((pos["model_date"] < mid).sum()),
        },
        "roc_auc": float(roc_auc_score(y, df["score"])) if 0 < y.sum() < len(y) else None,
    }


def plot_found_over_time(df: pd.DataFrame, path: Path) -> None:
    """Cumulative positives found, in the real order and in the model's order."""
    fig = figure(8, 4.5)
    ax = fig.add_subplot()
    for col, label in (("date", "what actually happened"), ("model_date", "in the model's order")):
        found = df[df["outcome"] > 0].sort_values(col)
        ax.step(found[col], np.arange(1, len(found) + 1), where="post", label=label)
    ax.set_ylabel("positive cases found")
    ax.set_title("Backtest: positives found over the period")
    ax.legend()
    fig.autofmt_xdate()
    fig.tight_layout()
    save_png(fig, path)


def backtest(spec, start, end, model_uri: str | None = None, out_dir: str | Path | None = None,
             today=None, quiet: bool = True) -> dict:
    """Re-order the inspections made in [start, end) by a model that knew only what came before.

    Writes `inspections.csv` (per-inspection scores and dates), `summary.json` and
    `found_over_time.png` to `out_dir` (default out/<pipeline>/backtest).
    """
    from riskengine.features import build_features
    from riskengine.ingest import load_data
    from riskengine.prepare import feature_events, given_features, link_sources
    from riskengine.scoring import check_features, load_model_uri
    from riskengine.training import fit_pipeline, load_training_spec

    spec = load_training_spec(spec)
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    if end <= start:
        raise RiskEngineError(f"--to ({end.date()}) must come after --from ({start.date()})")
    out = Path(out_dir) if out_dir else Path("out") / spec.name / "backtest"
    out.mkdir(parents=True, exist_ok=True)
    data = load_data(spec.data, today=today)
    link_sources(data, spec.link)
    period = data.outcomes[(data.outcomes["date"] >= start) & (data.outcomes["date"] < end)]
    if period.empty:
        raise RiskEngineError(f"no inspections between {start.date()} and {end.date()} to backtest")

    loaded = None
    if model_uri:
        loaded = load_model_uri(model_uri)
        model, info = loaded.model, loaded.info
    else:
        known = dataclasses.replace(data, outcomes=data.outcomes[data.outcomes["date"] < start])
        fitted = fit_pipeline(spec, known, feature_events(known, spec.features), quiet=quiet)
        model, info = fitted.champion, fitted.features.info

    events = feature_events(data, spec.features)  # features as of each date still see only the past
    entities = data.entities[data.entities["entity_id"].isin(period["entity_id"])]
    dates = sorted(period["date"].unique())
    fs = build_features(entities, events, dates, spec.features, given=given_features(spec.features), reference=info)
    rows = period.rename(columns={"date": "as_of"}).merge(fs.table, on=["entity_id", "as_of"], how="left")
    if loaded is not None:
        check_features(rows, loaded)
    scored = pd.DataFrame({"entity_id": rows["entity_id"], "date": rows["as_of"], "outcome": rows["outcome"],
                           "score": model.predict_proba(rows)[:, 1]})
    result = reorder(scored)
    summary = {"pipeline": spec.name, "model": model_uri or "trained on outcomes before --from", **summarise(result, start, end)}
    result.to_csv(out / "inspections.csv", index=False, date_format="%Y-%m-%d")
    plot_found_over_time(result, out / "found_over_time.png")
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    summary["out_dir"] = str(out)
    return summary
