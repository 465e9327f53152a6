"""Trials from files: what `riskengine trial design|analyse` do, callable from Python.

The command line only parses options and prints; which files a spec points at, where the
report goes and whether a table's arms count as randomised are decided here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from riskengine.errors import RiskEngineError
from riskengine.evaluation._analyse import analyse_from_spec, analyse_trial
from riskengine.evaluation._io import read_table
from riskengine.evaluation._report import EvaluationReport


def load_evaluation_spec(path: str | Path):
    """The evaluation spec at `path` (a file under evaluation/, or any file saying kind = "evaluation")."""
    from riskengine.spec import SPEC_KINDS, EvaluationSpec, load_spec

    path = Path(path)
    spec = load_spec(path, kind=None if path.parent.name in SPEC_KINDS else "evaluation")
    if not isinstance(spec, EvaluationSpec):
        raise RiskEngineError(f"{path}: is a {spec.kind!r} spec; an evaluation spec is needed "
                              "(kind = \"evaluation\", or a file under evaluation/)")
    return spec


def trial_folder(spec) -> Path:
    """Where a pipeline's trial files go: out/<pipeline>/trial (the demo writes there too)."""
    return Path("out") / spec.pipeline / "trial"


def trial_experiment(target: str | Path) -> str:
    """The MLflow experiment an analysis of `target` is logged to."""
    target = Path(target)
    if target.suffix.lower() == ".toml":
        return f"{load_evaluation_spec(target).pipeline}-evaluation"
    return "trial-analysis"


def analyse_trial_files(target: str | Path, *, treatment_col: str | None = None, outcome_col: str | None = None,
                        control: str | None = None, strata_col: str | None = None, cluster_col: str | None = None,
                        covariate_cols: Sequence[str] = (), outcomes: str | Path | None = None,
                        assignment: str | Path | None = None, design: str | Path | None = None,
                        randomised: bool = False, out: str | Path | None = None,
                        higher_is_better: bool = True) -> EvaluationReport:
    """Analyse a trial given an evaluation spec (.toml) or a table of outcomes (CSV/Parquet).

    With a spec, outcomes and assignment default to its `paths` and the arms are randomised by
    construction. With a table, `treatment_col` and `outcome_col` are needed, and a standard of
    evidence is awarded only when `design` (trial_design.json) or `randomised` says the arms
    were assigned at random.
    """
    target = Path(target)
    if target.suffix.lower() == ".toml":
        spec = load_evaluation_spec(target)
        outcomes = outcomes or spec.paths.outcomes
        assignment = assignment or spec.paths.assignment
        if outcomes is None:
            raise RiskEngineError(f"{target}: no outcomes to analyse; pass --outcomes FILE "
                                  "or set paths.outcomes in the spec")
        if assignment is None:
            raise RiskEngineError(f"{target}: no assignment file; pass --assignment FILE "
                                  "or set paths.assignment in the spec")
        return analyse_from_spec(spec, read_table(outcomes, "outcomes"), read_table(assignment, "assignment"),
                                 out or trial_folder(spec), outcomes_source=str(outcomes),
                                 assignment_source=str(assignment))
    if treatment_col is None or outcome_col is None:
        raise RiskEngineError(f"{target}: a table needs --treatment-col and --outcome-col "
                              "(or pass an evaluation spec .toml)")
    table = read_table(target, "trial table")
    known = (randomised_by_design(design, table, treatment_col) if design is not None else randomised) \
        if treatment_col in table.columns else False
    return analyse_trial(table, treatment_col, outcome_col, control=control, strata_col=strata_col,
                         cluster_col=cluster_col, covariate_cols=covariate_cols,
                         out_dir=out or Path("out/trial"), higher_is_better=higher_is_better,
                         source=str(target), randomised=known)


def randomised_by_design(design: str | Path, table, treatment_col: str) -> bool:
    """True when `design` is a trial design whose arms include every arm in `table`; else a clear error."""
    design = Path(design)
    if not design.is_file():
        raise RiskEngineError(f"{design}: design file not found (--design; `riskengine trial design` writes trial_design.json)")
    try:
        doc = json.loads(design.read_text())
    except ValueError as exc:
        raise RiskEngineError(f"{design}: not a JSON file ({exc}); --design takes trial_design.json") from None
    if not isinstance(doc, dict) or "n_by_arm" not in doc or "seed" not in doc:
        raise RiskEngineError(f"{design}: not a trial design (no 'n_by_arm' and 'seed'); --design takes the "
                              "trial_design.json that `riskengine trial design` writes")
    arms = {str(a) for a in table[treatment_col].dropna().astype(str).unique()}
    designed = {str(a) for a in doc["n_by_arm"]}
    if not arms <= designed:
        raise RiskEngineError(f"{design}: the design's arms {sorted(designed)} do not include "
                              f"{sorted(arms - designed)} found in column {treatment_col!r}")
    return True


def design_trial_files(spec_path: str | Path, list_path: str | Path | None = None,
                       out: str | Path | None = None) -> EvaluationReport:
    """Plan a trial from an evaluation spec and (optionally) a scored list file."""
    from riskengine.evaluation._design import design_trial

    spec = load_evaluation_spec(spec_path)
    list_path = list_path or spec.paths.list
    list_df = read_table(list_path, "scored list") if list_path else None
    if out is None:
        out = spec.paths.assignment.parent if spec.paths.assignment else trial_folder(spec)
    return design_trial(spec, list_df, out, list_name=str(list_path) if list_path else "the scored list")
