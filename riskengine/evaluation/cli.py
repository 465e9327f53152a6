"""`riskengine trial design|analyse|did` and `riskengine profile`: thin wrappers over the API."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer


NoMlflow = Annotated[bool, typer.Option("--no-mlflow", help="Do not log the analysis to MLflow.")]
LowerIsBetter = Annotated[bool, typer.Option(
    "--lower-is-better", help="A fall in the outcome is the hoped-for effect (default: a rise).")]


def _say(*lines: str) -> None:
    for line in lines:
        typer.echo(line)


def _log(report, experiment: str, run_name: str, no_mlflow: bool) -> None:
    if no_mlflow:
        return
    from riskengine.evaluation._mlflow import log_report

    run_id = log_report(report, experiment, run_name)
    _say(f"MLflow: experiment '{experiment}', run {run_id}")


def trial_design(
    spec_path: Annotated[Path, typer.Argument(
        metavar="SPEC", help="Evaluation spec, e.g. evaluation/hmo.toml.")],
    list_path: Annotated[Path | None, typer.Option(
        "--list", help="Scored list (CSV/Parquet with entity_id, score or probability, ward): "
        "randomise its entities or wards, stratified by risk band and/or ward.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Folder for assignment.csv and trial_design.{html,json} "
        "(default: beside paths.assignment in the spec, else out/PIPELINE/trial).")] = None,
) -> None:
    """Plan a trial: sample size, randomised stratified assignment, balance, pre-registration page."""
    from riskengine.evaluation import design_trial_files

    report = design_trial_files(spec_path, list_path, out)
    plan, data = report.data["power"], report.data
    _say(f"{data['n_units']} {data['unit']} randomised to "
         + ", ".join(f"{a} {n}" for a, n in data["n_by_arm"].items())
         + f" in {data['n_strata']} strata (seed {data['seed']})",
         f"needed: {plan['units_needed']} units (design effect {plan['design_effect']:.3f}); "
         f"power with the units available: {plan['power_with_available']:.1%}",
         f"Nesta standard of evidence reachable: level {data['evidence']['level']}"
         + (f" ({data['evidence']['caveat']})" if data["evidence"]["caveat"] else ""),
         *(f"wrote {p}" for p in report.files.values()))


def trial_analyse(
    target: Annotated[Path, typer.Argument(
        metavar="FILE|SPEC", help="A table of outcomes (CSV/Parquet), or an evaluation spec (.toml).")],
    treatment_col: Annotated[str | None, typer.Option(
        "--treatment-col", help="Column naming each row's arm.")] = None,
    outcome_col: Annotated[str | None, typer.Option(
        "--outcome-col", help="Numeric or 0/1 outcome column.")] = None,
    control: Annotated[str | None, typer.Option(
        "--control", help="The control arm's value (guessed if obvious).")] = None,
    strata_col: Annotated[str | None, typer.Option(
        "--strata-col", help="Randomisation strata: fixed effects in the adjusted estimate.")] = None,
    cluster_col: Annotated[str | None, typer.Option(
        "--cluster-col",
        help="Unit of randomisation when rows are nested in it (cluster-robust errors).")] = None,
    covariate_col: Annotated[list[str] | None, typer.Option(
        "--covariate-col",
        help="Baseline covariate for adjustment, e.g. the pre-period outcome or the risk "
        "score; repeat for more.")] = None,
    outcomes: Annotated[Path | None, typer.Option(
        "--outcomes", help="With a spec: the outcomes table (default: paths.outcomes in the spec).")] = None,
    assignment: Annotated[Path | None, typer.Option(
        "--assignment",
        help="With a spec: the assignment file (default: paths.assignment in the spec).")] = None,
    design: Annotated[Path | None, typer.Option(
        "--design", help="The trial's design (trial_design.json from `riskengine trial design`): the arms "
        "were randomised, so the analysis may award a standard of evidence.")] = None,
    randomised: Annotated[bool, typer.Option(
        "--randomised", help="The arms were assigned at random by another route (without --design "
        "or a spec no standard of evidence is awarded).")] = False,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Folder for trial_report.{html,json} (default: out/trial; with a spec "
        "out/PIPELINE/trial).")] = None,
    no_mlflow: NoMlflow = False,
    lower_is_better: LowerIsBetter = False,
) -> None:
    """Estimate each arm's effect against control, with balance, attrition and the evidence level."""
    from riskengine.evaluation import analyse_trial_files, trial_experiment

    report = analyse_trial_files(target, treatment_col=treatment_col, outcome_col=outcome_col, control=control,
                                 strata_col=strata_col, cluster_col=cluster_col, covariate_cols=covariate_col or (),
                                 outcomes=outcomes, assignment=assignment, design=design, randomised=randomised,
                                 out=out, higher_is_better=not lower_is_better)
    data = report.data
    for e in data["effects"]:
        _say(f"{e['arm']} vs {data['control']}: {e['estimate']:+.4g} "
             f"(95% CI {e['ci'][0]:+.4g} to {e['ci'][1]:+.4g}, p = {e['p_value']:.3g}); "
             f"n {e['n_arm']} vs {e['n_control']}")
    ev = data["evidence"]
    _say(f"Nesta standard of evidence: level {ev['level']} ({ev['label']})" if ev["level"] is not None
         else f"Nesta standard of evidence: {ev['label']}; pass --design or --randomised if it was randomised",
         *(f"wrote {p}" for p in report.files.values()))
    _log(report, trial_experiment(target), "trial-analysis", no_mlflow)


def trial_did(
    file: Annotated[Path, typer.Argument(help="Table with one row per observation (CSV/Parquet).")],
    group_col: Annotated[str, typer.Option(
        "--group-col", help="Column telling the treated group from the comparison.")],
    treated: Annotated[list[str], typer.Option(
        "--treated", help="Value of --group-col for the treated group (repeat for more).")],
    period_col: Annotated[str, typer.Option("--period-col", help="Column holding the period.")],
    after: Annotated[list[str], typer.Option(
        "--after", help="Value of --period-col after the change (repeat for more).")],
    outcome_col: Annotated[str, typer.Option(
        "--outcome-col", help="Numeric or 0/1 outcome column.")],
    cluster_col: Annotated[str | None, typer.Option(
        "--cluster-col",
        help="Cluster for robust errors, e.g. the ward or entity observed repeatedly.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Folder for did_report.{html,json} (default out/did).")] = None,
    no_mlflow: NoMlflow = False,
    lower_is_better: LowerIsBetter = False,
) -> None:
    """Difference in differences against a comparison group, for when randomising was not possible."""
    from riskengine.evaluation import did
    from riskengine.evaluation._io import read_table

    report = did(read_table(file, "table"), group_col, treated, period_col, after, outcome_col,
                 cluster_col=cluster_col, out_dir=out or Path("out/did"),
                 higher_is_better=not lower_is_better, source=str(file))
    d = report.data["did"]
    _say(f"difference in differences: {d['estimate']:+.4g} (95% CI {d['ci'][0]:+.4g} to "
         f"{d['ci'][1]:+.4g}, p = {d['p_value']:.3g})",
         f"Nesta standard of evidence: level {report.data['evidence']['level']}",
         *(f"wrote {p}" for p in report.files.values()))
    _log(report, "trial-analysis", "difference-in-differences", no_mlflow)


def profile_command(
    users: Annotated[Path, typer.Option(
        "--users", help="Users table (CSV/Parquet), one row per user or contact.")],
    population: Annotated[Path, typer.Option(
        "--population", help="Population table: one row per member, or counts with --weight-col.")],
    segment_col: Annotated[str, typer.Option(
        "--segment-col", help="Segment column in both tables, e.g. a Mosaic type.")],
    weight_col: Annotated[str | None, typer.Option(
        "--weight-col", help="Count per population row (e.g. households).")] = None,
    duplicates: Annotated[str, typer.Option(
        "--duplicates",
        help="'drop': count each user once (by --id-col); 'keep': count every row.")] = "drop",
    id_col: Annotated[str, typer.Option(
        "--id-col", help="User identifier for --duplicates drop.")] = "entity_id",
    min_count: Annotated[int, typer.Option(
        "--min-count", help="Suppress segments with fewer users than this.")] = 10,
    out: Annotated[Path, typer.Option(
        "--out", help="Folder for profile.{html,json}.")] = Path("out/profile"),
) -> None:
    """Profile users by segment against the population: shares, index (100 = as expected), 95% CI."""
    from riskengine.evaluation import profile
    from riskengine.evaluation._io import read_table

    report = profile(read_table(users, "users"), read_table(population, "population"), segment_col,
                     weight_col=weight_col, dedupe=duplicates, id_col=id_col, min_count=min_count,
                     out_dir=out, users_source=str(users), population_source=str(population))
    t = report.table
    _say(f"{report.data['users_total']} users in {len(t)} segments; "
         f"{int((t['flag'] == 'suppressed').sum())} suppressed, "
         f"{int((t['flag'] == 'caution').sum())} with a caution",
         *(f"wrote {p}" for p in report.files.values()))


def register(app: typer.Typer, wrap: Callable[[Callable[..., Any]], Callable[..., Any]], panel: str | None = None) -> None:
    """Add `trial design|analyse|did` to the main app, each wrapped by `wrap`, under help `panel`."""
    trial = typer.Typer(help="Design and analyse trials of the list (randomised or before/after).",
                        no_args_is_help=True)
    trial.command("design")(wrap(trial_design))
    trial.command("analyse")(wrap(trial_analyse))
    trial.command("did")(wrap(trial_did))
    app.add_typer(trial, name="trial", rich_help_panel=panel)
    # `profile` itself is registered by riskengine.profiling.cli, which keeps this table form
    # (profile --users --population --segment-col) beside the spec form (profile SPEC).
