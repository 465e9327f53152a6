"""Backtest by re-ordering: would the model have found the positive cases earlier?

For the inspections actually made in a past period, each is scored as of its own date. The
real sequence of inspection dates is then handed out in descending score order: the
highest-scored inspection gets the earliest date, and each day keeps the number of
inspections it really had. For every positive case the difference between its real date and
its re-ordered date is how many days earlier the model would have found it. The model is
trained only on outcomes dated before `--train-until` (default `--from`), or given.

The same re-ordering by the business-as-usual rule (the spec's [baselines]) and, on
synthetic data with a truth file, by the true probability (the Bayes-optimal order) sit
beside it; a random order is shown by its expectation.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import roc_auc_score

from riskengine.charts import figure, save_png
from riskengine.errors import RiskEngineError
from riskengine.templating import environment


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
    """Days earlier for positives (mean, 95% CI, median, sd, one-sample t-test) and first-half counts.

    The flat keys (n, positives, days_earlier_mean, days_earlier_ci95, days_earlier_p_value,
    first_half_actual, first_half_model, roc_auc) are what the page and summary.json lead
    with; `days_earlier` and `first_half` hold the detail.
    """
    pos = df[df["outcome"] > 0]
    d = pos["days_earlier"].to_numpy(dtype=float)
    mid = start + (end - start) / 2
    if len(d) >= 2 and d.std(ddof=1) > 0:
        test = stats.ttest_1samp(d, 0.0)
        p_value = float(test.pvalue)
        lo, hi = test.confidence_interval(0.95)
        ci = [float(lo), float(hi)]
    else:
        p_value, ci = None, None
    y = (df["outcome"] > 0).astype(int)
    mean = float(d.mean()) if len(d) else None
    first = {"midpoint": str(mid.date()), "actual": int((pos["date"] < mid).sum()),
             "model": int((pos["model_date"] < mid).sum())}
    auc = float(roc_auc_score(y, df["score"])) if 0 < y.sum() < len(y) else None
    return {
        "from": str(start.date()),
        "to": str(end.date()),
        "n": int(len(df)),
        "positives": int(len(pos)),
        "days_earlier_mean": mean,
        "days_earlier_ci95": ci,
        "days_earlier_p_value": p_value,
        "first_half_actual": first["actual"],
        "first_half_model": first["model"],
        "roc_auc": auc,
        "days_earlier": {
            "mean": mean,
            "ci95": ci,
            "median": float(np.median(d)) if len(d) else None,
            "sd": float(d.std(ddof=1)) if len(d) >= 2 else None,
            "min": float(d.min()) if len(d) else None,
            "max": float(d.max()) if len(d) else None,
            "p_value": p_value,
        },
        "first_half": first,
    }


def random_expectation(df: pd.DataFrame) -> pd.DataFrame:
    """Expected positives found by each date if the inspections had come in a random order.

    In a random order every slot holds a positive with probability positives / n, so by a
    date with m inspections done, m * positives / n are expected to have been found.
    """
    per_day = df.groupby("date").size().sort_index()
    rate = float((df["outcome"] > 0).mean()) if len(df) else 0.0
    return pd.DataFrame({"date": per_day.index, "expected_found": per_day.cumsum().to_numpy() * rate})


def plot_found_over_time(df: pd.DataFrame, path: Path, others: dict[str, pd.DataFrame] | None = None) -> None:
    """Cumulative positives found: as it happened, in the model's order, in a random order
    (its expectation) and in any `others` orders (e.g. business as usual)."""
    fig = figure(8, 4.5)
    ax = fig.add_subplot()
    found = df[df["outcome"] > 0]
    for frame, col, label, style in ((found, "date", "as it happened", dict(color="#555555")),
                                     (found, "model_date", "in the model's order", dict(color="#dd8452", lw=2))):
        f = frame.sort_values(col)
        ax.step(f[col], np.arange(1, len(f) + 1), where="post", label=label, **style)
    for name, other in (others or {}).items():
        f = other[other["outcome"] > 0].sort_values("model_date")
        ax.step(f["model_date"], np.arange(1, len(f) + 1), where="post", label=f"in {name}", ls="--")
    rand = random_expectation(df)
    ax.step(rand["date"], rand["expected_found"], where="post", label="random order (expected)", color="#999999", ls=":")
    ax.set_ylabel("positive cases found")
    ax.set_title("Backtest: positives found over the period")
    ax.legend()
    fig.autofmt_xdate()
    fig.tight_layout()
    save_png(fig, path)


def _scored_period(spec, data, period: pd.DataFrame, info: pd.DataFrame) -> pd.DataFrame:
    """The period's inspections with the model's features, each as of its own date."""
    from riskengine.features import build_case_features, build_features
    from riskengine.prepare import feature_events, given_features

    events = feature_events(data, spec.features)  # features as of each date still see only the past
    entities = data.entities[data.entities["entity_id"].isin(period["entity_id"])]
    given = given_features(spec.features, data)
    cases = period.rename(columns={"date": "as_of"})
    if spec.labels.rows == "cases":
        fs = build_case_features(entities, events, cases, spec.features, given=given, reference=info)
    else:
        fs = build_features(entities, events, sorted(period["date"].unique()), spec.features, given=given,
                            reference=info)
    return cases.merge(fs.table, on=["entity_id", "as_of"], how="left")


def _true_probabilities(spec, rows: pd.DataFrame) -> np.ndarray | None:
    """p_true per inspection from a case-shaped truth file (entity_id, date, p_true), if the spec has one."""
    if spec.truth is None:
        return None
    from riskengine.ingest import read_table

    truth, _ = read_table(spec.truth)
    if not {"entity_id", "date", "p_true"} <= set(truth.columns):
        return None
    truth = pd.DataFrame({"entity_id": truth["entity_id"].astype(str).str.strip(),
                          "as_of": pd.to_datetime(truth["date"], format="ISO8601").dt.normalize().astype("datetime64[ns]"),
                          "p_true": pd.to_numeric(truth["p_true"], errors="coerce")}).drop_duplicates(["entity_id", "as_of"])
    keys = rows[["entity_id", "as_of"]].assign(entity_id=rows["entity_id"].astype(str))
    p = keys.merge(truth, on=["entity_id", "as_of"], how="left")["p_true"].to_numpy(dtype=float)
    return None if np.isnan(p).all() else p


def _brief(s: dict) -> dict:
    keys = ("days_earlier_mean", "days_earlier_ci95", "days_earlier_p_value", "first_half_model", "roc_auc")
    return {k: s[k] for k in keys}


def backtest(spec, start, end, model_uri: str | None = None, out_dir: str | Path | None = None,
             today=None, quiet: bool = True, train_until=None) -> dict:
    """Re-order the inspections made in [start, end) by a model that knew only what came before.

    Trains on outcomes dated before `train_until` (default `start`; it may not be later), or
    uses `model_uri`. Writes `inspections.csv` (per-inspection scores and dates),
    `summary.json`, `found_over_time.png` and `backtest.html` to `out_dir` (default
    out/<pipeline>/backtest).
    """
    from riskengine.outputs import default_output, run_folder
    from riskengine.training import load_training_spec

    spec = load_training_spec(spec)
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    until = pd.Timestamp(train_until) if train_until is not None else start
    if end <= start:
        raise RiskEngineError(f"--to ({end.date()}) must come after --from ({start.date()})")
    if until > start:
        raise RiskEngineError(f"--train-until ({until.date()}) cannot be after --from ({start.date()}): the model "
                              "would train on the period it is tested on")
    target = Path(out_dir) if out_dir else default_output(spec.name, "backtest")
    with run_folder(target) as work:  # the last good backtest stays until this one has finished
        summary = _backtest_in(spec, start, end, until, model_uri, work, today, quiet)
    summary["out_dir"] = str(target)
    return summary


def _backtest_in(spec, start: pd.Timestamp, end: pd.Timestamp, until: pd.Timestamp, model_uri: str | None,
                 out: Path, today, quiet: bool) -> dict:
    from riskengine.ingest import load_data
    from riskengine.prepare import feature_events, given_features, link_sources
    from riskengine.progress import Steps
    from riskengine.scoring import check_features, load_model_uri
    from riskengine.training import baseline_scores, distinct_cases, fit_pipeline

    step = Steps(quiet, total=5)
    step("reading and validating the data")
    data = load_data(spec.data, today=today)
    link_sources(data, spec.link)
    given_features(spec.features, data)
    period = distinct_cases(data.outcomes[(data.outcomes["date"] >= start) & (data.outcomes["date"] < end)])
    if period.empty:
        raise RiskEngineError(f"no inspections between {start.date()} and {end.date()} to backtest")

    loaded = None
    if model_uri:
        loaded = load_model_uri(model_uri)
        model, info = loaded.model, loaded.info
    else:
        step(f"training on the outcomes dated before {until.date()}")
        known = dataclasses.replace(data, outcomes=data.outcomes[data.outcomes["date"] < until])
        fitted = fit_pipeline(spec, known, feature_events(known, spec.features), quiet=quiet)
        model, info = fitted.champion, fitted.features.info

    step(f"scoring {len(period):,} inspections, each as of its own date")
    rows = _scored_period(spec, data, period, info)
    if loaded is not None:
        check_features(rows, loaded)
    # positive as training labels it: above labels.positive_above (an inspection score of 20 is not, at 27)
    positive = (rows["outcome"].to_numpy(dtype=float) > spec.labels.positive_above).astype(int)
    base = pd.DataFrame({"entity_id": rows["entity_id"], "date": rows["as_of"], "outcome": positive})
    step("re-ordering the inspection dates by score")
    result = reorder(base.assign(score=model.predict_proba(rows)[:, 1]))
    summary = {"pipeline": spec.name, "framing": spec.labels.rows,
               "model": model_uri or f"trained on outcomes dated before {until.date()}",
               "train_until": None if model_uri else str(until.date()), **summarise(result, start, end)}
    others = {}
    if spec.baselines.business_as_usual:
        bau = reorder(base.assign(score=baseline_scores(spec.baselines, rows, spec.seed)["business_as_usual"]))
        summary["business_as_usual"] = {"rule": " + ".join(spec.baselines.business_as_usual),
                                        **_brief(summarise(bau, start, end))}
        others["business as usual order"] = bau
        result["business_as_usual_date"] = bau["model_date"].to_numpy()  # reorder keeps one row order
    p_true = _true_probabilities(spec, rows)
    if p_true is not None:
        ok = ~np.isnan(p_true)
        bayes = reorder(base[ok].assign(score=p_true[ok]))
        summary["oracle"] = {"cases_with_truth": int(ok.sum()), **_brief(summarise(bayes, start, end))}
        m, b = summary["days_earlier_mean"], summary["oracle"]["days_earlier_mean"]
        summary["oracle"]["share_of_bayes_days_earlier"] = (m / b) if m is not None and b else None
        others["the Bayes-optimal order"] = bayes
    step("writing the summary, the plot and the page")
    result.to_csv(out / "inspections.csv", index=False, date_format="%Y-%m-%d")
    plot_found_over_time(result, out / "found_over_time.png", others)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    write_page(summary, out / "found_over_time.png", out / "backtest.html")
    step.close()
    return summary




def write_page(summary: dict, plot: Path, path: Path) -> Path:
    """backtest.html: the figures and the plot, readable offline (the picture is inlined)."""
    def f(x, digits: int = 1) -> str:
        return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:,.{digits}f}"

    def ci(pair) -> str:
        return "–" if not pair else f"{pair[0]:,.1f} to {pair[1]:,.1f}"

    others = []
    if "business_as_usual" in summary:
        others.append((f"business as usual ({summary['business_as_usual']['rule']})", summary["business_as_usual"]))
    if "oracle" in summary:
        others.append(("the true probability (Bayes-optimal, synthetic data)", summary["oracle"]))
    png = base64.b64encode(Path(plot).read_bytes()).decode()
    page = environment(globals={"f": f, "ci": ci}).get_template("backtest.html.j2")
    path.write_text(page.render(s=summary, others=others, png=png))
    return path
