"""Build the dashboard: figures from a Watch, one offline page, a JSON twin, and MLflow metrics per week."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
from markupsafe import Markup

from riskengine.dashboard import _charts as charts
from riskengine.dashboard._figures import (
    Rules,
    against_bau,
    alert_outcomes,
    calibration,
    drift,
    fairness,
    hit_rates,
    operations,
    prevalence,
    results,
    verdict,
)
from riskengine.dashboard._watch import Watch
from riskengine.templating import environment



def figures(watch: Watch, rules: Rules, baseline: pd.DataFrame | None = None) -> dict:
    """Every figure of the dashboard as plain tables and numbers, with the verdict."""
    res = results(watch, baseline)
    attrs = [a for a in watch.attributes if a not in res.columns]
    if attrs and watch.entity_attributes is not None and len(res):
        res = res.merge(watch.entity_attributes[["entity_id", *attrs]], on="entity_id", how="left")
    figs = {"results": res, "hit_rates": hit_rates(res), "against_bau": against_bau(res),
            "calibration": calibration(res), "prevalence": prevalence(watch, res), "drift": drift(watch),
            "fairness": fairness(watch, res), "operations": operations(watch, res),
            "alerts": alert_outcomes(watch, res)}
    figs["verdict"] = verdict(figs, rules, watch.entity_word)
    return figs


def _pretty(name: str) -> str:
    return name.replace("__", " · ").replace("_", " ")


def _table(df: pd.DataFrame, pct: tuple[str, ...] = (), num: tuple[str, ...] = ()) -> str:
    if df is None or df.empty:
        return '<p class="note">Nothing yet.</p>'
    shown = df.copy()
    for c in shown.columns:
        if pd.api.types.is_datetime64_any_dtype(shown[c]):
            shown[c] = shown[c].dt.strftime("%Y-%m-%d")
    for c in pct:
        if c in shown:
            shown[c] = shown[c].map(lambda v: "–" if v is None or pd.isna(v) else f"{v:.1%}")
    for c in num:
        if c in shown:
            shown[c] = shown[c].map(lambda v: "–" if v is None or pd.isna(v) else f"{v:.3f}")
    shown.columns = [str(c).replace("_", " ") for c in shown.columns]
    return shown.to_html(index=False, na_rep="–", border=0, escape=True)


def write_dashboard(watch: Watch, rules: Rules, out_dir: str | Path, baseline: pd.DataFrame | None = None,
                    purpose: dict | None = None, log_mlflow: bool = False, today: dt.date | None = None) -> dict:
    """Write dashboard.html and dashboard.json into `out_dir`; log weekly figures to MLflow if asked."""
    figs = figures(watch, rules, baseline)
    rates, bau, prev = figs["hit_rates"], figs["against_bau"], figs["prevalence"]
    bau_rate = bau["bau_positives"] / bau["bau_inspected"] if bau["bau_inspected"] else None
    o = prev["overall"]
    if o["estimate"] is None:
        prev_text = "No exploration results yet: prevalence among the unpicked cannot be estimated without bias."
    else:
        prev_text = (f"From {o['inspected']} random exploration inspections, weighted by how many entities each stands for: "
                     f"{o['estimate']:.1%} ({o['low']:.1%}-{o['high']:.1%}). The model's own average probability for "
                     f"the same entities is {prev['model_estimate']:.1%}." if prev["model_estimate"] is not None else "")
    word = watch.entity_word
    chart = {
        "hit_rate": charts.hit_rate_chart(rates),
        "found": charts.found_chart(rates, bau_rate, word),
        "calibration": charts.calibration_chart(figs["calibration"]),
        "prevalence": charts.prevalence_chart(prev["weekly"]),
        "drift": charts.drift_chart(figs["drift"], {f: _pretty(f) for f in figs["drift"]["feature"]},
                                    rules.psi_watch, rules.psi_retrain),
    }
    weeks = sorted(watch.frames["list_as_of"]) if len(watch.frames) else []
    tables = {
        "hit_rates": _table(rates[["week", "slice", "inspected", "positives", "rate", "low", "high", "cum_rate"]],
                            pct=("rate", "low", "high", "cum_rate")),
        "calibration": _table(figs["calibration"], pct=("predicted", "observed", "low", "high")),
        "drift": _table(figs["drift"].head(15).assign(feature=lambda d: d["feature"].map(_pretty)), num=("psi",)),
        "fairness": _table(figs["fairness"], pct=("selection", "sel_low", "sel_high", "hit_rate", "hit_low", "hit_high")),
        "operations": _table(figs["operations"]),
        "alerts": _table(figs["alerts"]),
    }
    page = environment().get_template("dashboard.html.j2").render(
        title=f"{watch.pipeline}: the list in use", weeks=len(weeks),
        first=weeks[0].date() if weeks else "–", last=weeks[-1].date() if weeks else "–",
        made=(today or dt.date.today()).isoformat(),
        purpose=[(k.capitalize(), v) for k, v in (purpose or {}).items() if v],
        verdict=figs["verdict"], rules=rules, charts=chart, word=word, prevalence_text=prev_text,
        tables={k: Markup(v) for k, v in tables.items()}, min_group=watch.min_group_size,
    )
    twin = {"pipeline": watch.pipeline, "weeks": [str(w.date()) for w in weeks], "verdict": figs["verdict"],
            "against_bau": bau, "prevalence": {**o, "model_estimate": prev["model_estimate"]},
            "hit_rates": _records(rates), "calibration": _records(figs["calibration"]),
            "drift": _records(figs["drift"]), "fairness": _records(figs["fairness"]),
            "operations": _records(figs["operations"]), "alerts": _records(figs["alerts"])}
    from riskengine.outputs import final_paths, run_folder

    # the lists' folder holds one folder per as-of date beside the dashboard: only its two files change
    with run_folder(Path(out_dir), shared=True) as out:
        paths = {"html": out / "dashboard.html", "json": out / "dashboard.json"}
        paths["html"].write_text(page, encoding="utf-8")
        paths["json"].write_text(json.dumps(twin, indent=2, default=str))
        paths = final_paths(paths)
    if log_mlflow:
        _log(watch, figs, paths)
    return {"paths": paths, "figures": figs}


def _records(df: pd.DataFrame) -> list[dict]:
    if df is None or df.empty:
        return []
    return json.loads(df.to_json(orient="records", date_format="iso"))


def _log(watch: Watch, figs: dict, paths: dict) -> None:
    """One MLflow run per dashboard: each week's hit rates and counts as metrics stepped by week."""
    import mlflow

    from riskengine.tracking import use_experiment

    use_experiment(watch.pipeline)
    with mlflow.start_run(run_name=f"dashboard {watch.pipeline}"):
        mlflow.set_tags({"pipeline": watch.pipeline, "stage": "dashboard"})
        rates = figs["hit_rates"]
        weeks = sorted(rates["week"].unique()) if len(rates) else []
        for step, week in enumerate(weeks):
            part = rates[rates["week"] == week]
            metrics = {}
            for r in part.itertuples():
                key = r.slice.replace(" ", "_")
                metrics |= {f"{key}_hit_rate": r.rate, f"{key}_cum_hit_rate": r.cum_rate, f"{key}_inspected": r.inspected}
            mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None and pd.notna(v)}, step=step)
        o = figs["prevalence"]["overall"]
        if o["estimate"] is not None:
            mlflow.log_metrics({"prevalence_unpicked": o["estimate"], "prevalence_unpicked_low": o["low"],
                                "prevalence_unpicked_high": o["high"]})
        if len(figs["drift"]):
            mlflow.log_metric("max_feature_psi", float(figs["drift"]["psi"].max()))
        mlflow.log_artifact(str(paths["html"]))
        mlflow.log_artifact(str(paths["json"]))


def dashboard(spec, out: str | Path | None = None, log_mlflow: bool = True) -> dict:
    """The dashboard of a scoring spec's lists: reads its outputs and outcome store, writes dashboard.html."""
    from dataclasses import asdict

    from riskengine.dashboard._watch import read_watch
    from riskengine.errors import RiskEngineError
    from riskengine.ingest import read_table, validate_entities
    from riskengine.spec import load_scoring_spec, training_spec_for

    sspec = load_scoring_spec(spec)
    tspec = training_spec_for(sspec, spec if isinstance(spec, (str, Path)) else None)
    raw, fp = read_table(tspec.data.entities, ["entity_id"])
    entities, _ = validate_entities(raw, fp["name"])
    root = Path(sspec.outputs or Path("out") / sspec.pipeline)
    watch = read_watch(sspec.pipeline, root, tspec.data.outcome_store, entities, tspec.audit.attributes,
                       tspec.audit.min_group_size,
                       reference=Path("out") / sspec.pipeline / "train" / "features_reference.parquet",
                       positive_above=tspec.labels.positive_above)
    if watch.frames.empty:
        raise RiskEngineError(f"no lists under {root}: run `riskengine score` first (the dashboard watches lists in use)")
    purpose = asdict(sspec.purpose or tspec.purpose)
    return write_dashboard(watch, sspec.dashboard, Path(out) if out else root, purpose=purpose, log_mlflow=log_mlflow)
