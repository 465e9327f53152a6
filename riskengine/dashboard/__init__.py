"""The dashboard: a list in use, watched week by week (DESIGN.md: outcomes back in -> the dashboard).

Hit rates of the list, its exploration slice and business as usual; calibration by risk band;
prevalence among the entities no list picked, estimated without bias from the exploration
slice; drift against the training data; fairness over time; operations and alerts; and a
plain-English verdict following the scoring spec's [dashboard] rules.
"""

from riskengine.dashboard._dashboard import figures, write_dashboard
from riskengine.dashboard._figures import Rules
from riskengine.dashboard._stats import ipw_arrays, ipw_prevalence, psi, rate, rate_ratio
from riskengine.dashboard._watch import Watch, group_counts, list_frame, read_watch

__all__ = ["Rules", "Watch", "dashboard", "figures", "group_counts", "ipw_arrays", "ipw_prevalence", "list_frame", "psi", "rate",
           "rate_ratio", "read_watch", "write_dashboard"]


def dashboard(spec, out=None, log_mlflow: bool = True) -> dict:
    """The dashboard of a scoring spec's lists: reads its outputs and outcome store, writes dashboard.html."""
    from pathlib import Path

    from riskengine.ingest import read_table, validate_entities
    from riskengine.scoring import load_scoring_spec, training_spec_for

    sspec = load_scoring_spec(spec)
    tspec = training_spec_for(sspec, None if not isinstance(spec, (str, Path)) else spec)
    raw, fp = read_table(tspec.data.entities, ["entity_id"])
    entities, _ = validate_entities(raw, fp["name"])
    root = Path(sspec.outputs or Path("out") / sspec.pipeline)
    watch = read_watch(sspec.pipeline, root, tspec.data.outcome_store, entities, tspec.audit.attributes,
                       tspec.audit.min_group_size, reference=Path("out") / sspec.pipeline / "train" / "features_reference.parquet")
    if watch.frames.empty:
        from riskengine.errors import RiskEngineError

        raise RiskEngineError(f"no lists under {root}: run `riskengine score` first (the dashboard watches lists in use)")
    from dataclasses import asdict

    purpose = asdict(sspec.purpose or tspec.purpose)
    return write_dashboard(watch, sspec.dashboard, Path(out) if out else root, purpose=purpose, log_mlflow=log_mlflow)
