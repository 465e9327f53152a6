"""Evaluation: show that acting on the list beats business as usual.

- `design_trial`: power and sample size (cluster designs via the design effect), stratified
  randomisation reproducible from a seed, a balance table and a pre-registration page.
- `analyse_trial` / `analyse_from_spec`: effect of each arm against control with HC2 or
  cluster-robust errors, regression adjustment, attrition, balance and the Nesta level reached.
- `analyse_trial_files` / `design_trial_files`: the same from files (a spec or a table), as the
  `trial` commands do.
- `did`: difference in differences when randomising was not possible.
- `backtest`: re-order a past period's inspections by the model's scores; days earlier found.
- `profile`: who uses a service, by segment, against the population (index with 95% CI).


Names are imported on first use (PEP 562), so `riskengine --help` loads none of the heavy libraries.
"""

from __future__ import annotations

from riskengine._lazy import lazy_names

_WHERE = {
    "analyse_from_spec": "_analyse", "analyse_trial": "_analyse", "join_outcomes": "_analyse",
    "assign_arms": "_assign", "risk_bands": "_assign",
    "backtest": "_backtest",
    "design_trial": "_design",
    "did": "_did",
    "analyse_trial_files": "_files", "design_trial_files": "_files", "load_evaluation_spec": "_files",
    "randomised_by_design": "_files", "trial_experiment": "_files", "trial_folder": "_files",
    "log_report": "_mlflow",
    "design_effect": "_power", "plan_power": "_power", "sample_size": "_power",
    "profile": "_profile",
    "EvaluationReport": "_report",
}
__all__ = sorted(_WHERE)

__getattr__, __dir__ = lazy_names(__name__, _WHERE)
