"""Trial design from an evaluation spec: power, stratified assignment, balance, pre-registration."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from riskengine.evaluation._assign import assign_arms, units_from_list, units_from_numbers
from riskengine.evaluation._balance import balance_table
from riskengine.evaluation._evidence import design_level
from riskengine.evaluation._power import plan_power
from riskengine.evaluation._report import EvaluationReport, write_report

UNIT_WORDS = {  # singular, plural, what one unit is
    "officer-weeks": ("officer-week", "officer-weeks", "an officer's week of inspections"),
    "weeks": ("week", "weeks", "a week of the whole team's inspections"),
    "wards": ("ward", "wards", "a ward's inspections over the trial"),
    "entities": ("entity", "entities", "a listed entity"),
}


def design_trial(spec, list_df: pd.DataFrame | None = None, out_dir: str | Path | None = None,
                 list_name: str = "the scored list") -> EvaluationReport:
    """Plan a trial from an EvaluationSpec: sample size, assignment file, balance, evidence level.

    With `list_df` (entity_id, score or probability, and ward) the units are the list's
    entities or wards, stratified by risk band and/or ward (`design.list_unit`,
    `design.list_strata`); without it they come from the spec's numbers (`design.unit`).
    Writes `assignment.csv`, `trial_design.json` and `trial_design.html` when `out_dir` is given.
    """
    d = spec.design
    where = list_name if list_df is not None else f"evaluation spec '{spec.name}'"
    if list_df is not None:
        unit, strata = d.list_unit, list(d.list_strata)
        units = units_from_list(list_df, unit=unit, strata=strata, n_bands=d.n_bands,
                                        top_k=d.top_k, where=where)
    else:
        unit, strata = d.unit, list(d.strata)
        units = units_from_numbers(unit=unit, n_units=d.n_units, n_officers=d.n_officers,
                                   n_weeks=d.n_weeks, strata=strata, where=where)
    cluster_size = 1.0 if unit == "entities" else d.cluster_size
    icc = 0.0 if unit == "entities" else d.icc
    treatment_arms = [a for a in d.arms if a != d.control]
    plan = plan_power(outcome=d.outcome, effect=d.effect, alpha=d.alpha, power=d.power,
                      ratio=d.allocation_ratio, n_treatment_arms=len(treatment_arms),
                      baseline_rate=d.baseline_rate, sd=d.sd, cluster_size=cluster_size,
                      icc=icc, units_available=len(units))
    assignment = assign_arms(units, arms=list(d.arms), control=d.control,
                             ratio=d.allocation_ratio, strata=strata, seed=d.seed)
    covariates = [c for c in assignment.columns
                  if c not in ("unit_id", "entity_id", "arm", "stratum", "ward", "officer")]
    counts = (assignment.groupby(["stratum", "arm"]).size().unstack(fill_value=0)
              .reindex(columns=list(d.arms), fill_value=0))
    data = {
        "name": spec.name,
        "pipeline": spec.pipeline,
        "model_alias": spec.model_alias,
        "purpose": dataclasses.asdict(spec.purpose),
        "hypothesis": d.hypothesis or _hypothesis(spec, unit, treatment_arms),
        "primary_outcome": d.primary_outcome,
        "unit": unit,
        "unit_description": UNIT_WORDS[unit][2],
        "units_from": list_name if list_df is not None else "the spec's numbers",
        "arms": list(d.arms),
        "control": d.control,
        "strata": strata,
        "seed": d.seed,
        "n_units": len(assignment),
        "n_by_arm": assignment["arm"].value_counts().reindex(d.arms, fill_value=0).to_dict(),
        "n_strata": int(counts.shape[0]),
        "strata_counts": [{"stratum": s, **row} for s, row in counts.to_dict(orient="index").items()],
        "power": plan,
        "balance": balance_table(assignment, "arm", d.control, covariates),
        "analysis_plan": _analysis_plan(spec, unit, strata, treatment_arms),
        "evidence": design_level(plan),
    }
    report = EvaluationReport(table=assignment, data=data)
    if out_dir is not None:
        from riskengine.outputs import final_path, final_paths, run_folder

        # the assignment and its design appear together; the trial folder's other files stay
        with run_folder(Path(out_dir), shared=True) as work:
            path = work / "assignment.csv"
            assignment.drop(columns=_list_only(assignment, list_df, strata)).to_csv(path, index=False)
            data["assignment_file"] = str(final_path(path))
            report.files = final_paths({"assignment": path,
                                        **write_report(data, work, "trial_design", "evaluation_design.html")})
    return report


def _list_only(assignment: pd.DataFrame, list_df: pd.DataFrame | None, strata: list[str]) -> list[str]:
    """The list's other columns: used for the balance table, kept out of the assignment file."""
    if list_df is None:
        return []
    keep = {"unit_id", "entity_id", "ward", "score", "probability", "risk_band", "stratum", "arm", *strata}
    return [c for c in assignment.columns if c in list_df.columns and c not in keep]


def _hypothesis(spec, unit: str, treatment_arms: list[str]) -> str:
    d = spec.design
    units = UNIT_WORDS[unit][1]
    if d.outcome == "binary":
        change = f"from {d.baseline_rate:.1%} to {d.baseline_rate + d.effect:.1%}"
    else:
        change = f"by {d.effect:+g} (sd {d.sd:g})"
    arms = " and ".join(repr(a) for a in treatment_arms)
    return (f"{units.capitalize()} assigned to {arms} (the list from pipeline '{spec.pipeline}', "
            f"model alias '{spec.model_alias}') change the {d.primary_outcome} {change} compared "
            f"with {units} assigned to {d.control!r} (business as usual).")


def _analysis_plan(spec, unit: str, strata: list[str], treatment_arms: list[str]) -> list[str]:
    d = spec.design
    steps = [
        f"Primary outcome: {d.primary_outcome}; {' and '.join(map(repr, treatment_arms))} "
        f"{'is' if len(treatment_arms) == 1 else 'are each'} compared with {d.control!r} by the "
        "difference in means"
        + (" (risk difference, with the risk ratio)" if d.outcome == "binary" else "")
        + f", two-sided at alpha = {d.alpha:g}, with a 95% interval.",
        "Standard errors: " + ("HC2 heteroskedasticity-robust (units are individuals)."
                               if unit == "entities" else
                               f"cluster-robust by {UNIT_WORDS[unit][0]}, the unit of randomisation."),
        "Adjusted estimate: regression with fixed effects for the randomisation strata"
        + (f" ({', '.join(strata)})" if strata else "")
        + (f" and the pre-registered covariates {', '.join(spec.analysis.covariates)} "
           "(centred and interacted with the arm)" if spec.analysis.covariates else "")
        + ".",
        "Attrition by arm and balance of baseline covariates are reported before the effect.",
        "Holm-adjusted p-values are reported when there is more than one treatment arm."
        if len(treatment_arms) > 1 else
        "No interim looks; the analysis runs once, when the planned units are complete.",
        "Command: riskengine trial analyse SPEC --outcomes FILE --assignment FILE "
        "(the outcomes carry unit_id, or the unit's own columns, and the outcome).",
    ]
    return steps
