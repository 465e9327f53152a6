"""What the simulation found, measured against the hidden truth: cases found, estimate bias, interval coverage."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from riskengine.dashboard import ipw_arrays, rate
from riskengine.simulate._world import REACHED
from riskengine.synth import RECORDING_ERROR
from riskengine.templating import environment

COLOURS = {"model with exploration": "#1f5fa6", "model without exploration": "#7fa7d6", "business as usual": "#6b6b6b"}
REPLICATES = 200


def recorded_scale(truth_share: float | np.ndarray, error: float) -> float | np.ndarray:
    """The share an inspection records as positive when `truth_share` truly are: what the dashboard estimates."""
    return truth_share * (1 - error) + (1 - truth_share) * error


def coverage_study(frames: list[dict], error: float, seed: int = 0, replicates: int = REPLICATES) -> dict:
    """How often the dashboard's 95% prevalence interval covers the truth, over repeated exploration draws.

    Each replicate redraws every week's exploration slice from that week's real frame (the eligible
    homes the model did not pick, with their true status), visits and records as the simulation
    does, and computes the dashboard's interval after each week (all weeks so far) and for each
    week alone. The truth is the frame's share recorded as positive in expectation.
    """
    frames = [f for f in frames if f["drawn"] > 0 and len(f["rest_truth"])]
    if not frames:
        return {"replicates": 0}
    rng = np.random.default_rng(seed + 1)
    sizes = np.array([len(f["rest_truth"]) for f in frames], dtype=float)
    truth_w = np.array([recorded_scale(f["rest_truth"].mean(), error) for f in frames])
    truth_cum = np.cumsum(sizes * truth_w) / np.cumsum(sizes)
    inspected = np.zeros((replicates, len(frames)))
    positives = np.zeros((replicates, len(frames)))
    for j, f in enumerate(frames):
        truth, n = f["rest_truth"], min(f["drawn"], len(f["rest_truth"]))
        for r in range(replicates):
            pick = rng.choice(len(truth), size=n, replace=False)
            status = truth[pick[rng.random(n) < REACHED]]
            recorded = np.where(rng.random(len(status)) < error, 1 - status, status)
            inspected[r, j], positives[r, j] = len(status), recorded.sum()
    est, lo, hi, _ = ipw_arrays(sizes[None, :], inspected, positives)
    cum_hits = (lo <= truth_cum) & (truth_cum <= hi)
    one = [ipw_arrays(sizes[None, [j]], inspected[:, [j]], positives[:, [j]]) for j in range(len(frames))]
    week_hits = np.column_stack([(o[1][:, 0] <= truth_w[j]) & (truth_w[j] <= o[2][:, 0]) for j, o in enumerate(one)])
    week_seen = inspected > 0
    final = est[:, -1][~np.isnan(est[:, -1])]
    return {"replicates": replicates, "weeks": len(frames),
            "coverage_all_weeks_so_far": float(cum_hits[~np.isnan(est)].mean()),
            "coverage_each_week": float(week_hits[week_seen].mean()), "truth_final": float(truth_cum[-1]),
            "mean_estimate_final": float(final.mean()) if len(final) else None,
            "bias_final": float(final.mean() - truth_cum[-1]) if len(final) else None}


LOCAL_WEEKS = 2  # the policy's true rate around a week: the visits of the two weeks before and after it


def hit_rate_coverage(arms: dict, error: float) -> dict:
    """How often each week's 95% hit-rate interval of the list covers the policy's true rate around that week.

    A list's hit rate falls as it works through the stock of cases, so the truth for week w is
    local: the share truly positive among the list's visits in weeks w-2..w+2 other than w itself
    (an estimate independent of week w's own recording), on the scale an inspection records.
    Against week w's own visits the interval can only miss through recording error, so that
    coverage is reported too and is near 100% by construction.
    """
    out = {}
    for name, arm in arms.items():
        if not arm.uses_model:
            continue
        w = pd.DataFrame(arm.weekly)
        span = 2 * LOCAL_WEEKS + 1
        tp = w["list_true_positives"].rolling(span, center=True, min_periods=1).sum() - w["list_true_positives"]
        n = w["list_inspected"].rolling(span, center=True, min_periods=1).sum() - w["list_inspected"]
        local = recorded_scale(tp / n.where(n > 0), error)
        own = recorded_scale(w["list_true_positives"] / w["list_inspected"].where(w["list_inspected"] > 0), error)
        hits, own_hits = [], []
        for r, truth, mine in zip(w.itertuples(), local, own):
            _, lo, hi = rate(r.list_recorded_positives, r.list_inspected)
            if lo is not None and pd.notna(truth):
                hits.append(lo <= truth <= hi)
                own_hits.append(lo <= mine <= hi)
        out[name] = {"weeks": len(hits), "coverage": float(np.mean(hits)) if hits else None,
                     "coverage_own_week": float(np.mean(own_hits)) if own_hits else None,
                     "first_week_rate": float(own.iloc[0]), "last_week_rate": float(own.iloc[-1])}
    return out


def _chart(weekly: dict[str, pd.DataFrame], word: str) -> str:
    fig = Figure(figsize=(7.5, 3.6))
    ax = fig.subplots()
    for name, w in weekly.items():
        ax.step(pd.to_datetime(w["week"]), w["true_positives"].cumsum(), where="post", color=COLOURS[name], label=name, lw=2)
    ax.set_ylabel(f"true {word} found (cumulative)")
    ax.set_title("Cases found by each policy at the same capacity (from the hidden truth)", fontsize=10)
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def write_report(root: Path, arms: dict, dashboards: dict, study: dict, dates: list, sspec, share: float) -> dict:
    """summary.json, true_positives.png and simulation.html under `root`; returns the summary."""
    from riskengine.outputs import final_path  # the dashboards' paths are where they will be once the run is done

    error = RECORDING_ERROR  # the truth's own: what an inspection gets wrong
    weekly = {name: pd.DataFrame(arm.weekly) for name, arm in arms.items()}
    found = {name: int(w["true_positives"].sum()) for name, w in weekly.items()}
    inspected = {name: int(w["inspected"].sum()) for name, w in weekly.items()}
    estimates = {}
    for name, made in dashboards.items():
        prev = made["figures"]["prevalence"]
        w = weekly[name]
        truth = float(recorded_scale((w["rest"] * w["rest_true_prevalence"]).sum() / w["rest"].sum(), error))
        ipw = prev["overall"]["estimate"]
        estimates[name] = {
            "truth": truth, "exploration_estimate": ipw,
            "exploration_interval": [prev["overall"]["low"], prev["overall"]["high"]] if ipw is not None else None,
            "exploration_bias": None if ipw is None else ipw - truth,
            "model_estimate": prev["model_estimate"],
            "model_bias": None if prev["model_estimate"] is None else prev["model_estimate"] - truth,
        }
    summary = {
        "pipeline": sspec.pipeline, "weeks": len(dates), "first_week": str(dates[0].date()),
        "last_week": str(dates[-1].date()), "capacity": sspec.capacity, "exploration_share": share,
        "retrain_every_weeks": sspec.dashboard.retrain_every_weeks,
        "true_positives_found": found, "inspections": inspected,
        "model_with_exploration_vs_business_as_usual": found["model with exploration"] / max(found["business as usual"], 1),
        "prevalence_among_unpicked": estimates,
        "coverage": {"prevalence": study, "hit_rate": hit_rate_coverage(arms, error)},
        "dashboards": {name: str(made["paths"]["html"]) for name, made in dashboards.items()},
    }
    root.mkdir(parents=True, exist_ok=True)
    png = _chart(weekly, "unlicensed HMOs" if sspec.pipeline == "hmo" else "cases")
    (root / "true_positives.png").write_bytes(png)
    pd.concat([w.assign(policy=n) for n, w in weekly.items()]).to_csv(root / "weekly.csv", index=False)
    (root / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    page = environment().get_template("simulation.html.j2").render(
        s=summary, chart="data:image/png;base64," + base64.b64encode(png).decode("ascii"),
        dashboards={n: Path(p).relative_to(final_path(root)).as_posix() for n, p in summary["dashboards"].items()})
    (root / "simulation.html").write_text(page, encoding="utf-8")
    summary["page"] = str(root / "simulation.html")
    return summary
