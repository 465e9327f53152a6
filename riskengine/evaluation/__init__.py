"""Evaluation: show that acting on the list beats business as usual.

- `design_trial`: power and sample size (cluster designs via the design effect), stratified
  randomisation reproducible from a seed, a balance table and a pre-registration page.
- `analyse_trial` / `analyse_from_spec`: effect of each arm against control with HC2 or
  cluster-robust errors, regression adjustment, attrition, balance and the Nesta level reached.
- `did`: difference in differences when randomising was not possible.
- `backtest`: re-order a past period's inspections by the model's scores; days earlier found.
- `profile`: who uses a service, by segment, against the population (index with 95% CI).
"""

from riskengine.evaluation._analyse import analyse_from_spec, analyse_trial, join_outcomes
from riskengine.evaluation._backtest import backtest
from riskengine.evaluation._assign import assign_arms, risk_bands
from riskengine.evaluation._design import design_trial
from riskengine.evaluation._did import did
from riskengine.evaluation._mlflow import log_report
from riskengine.evaluation._power import design_effect, plan_power, sample_size
from riskengine.evaluation._profile import profile
from riskengine.evaluation._report import EvaluationReport

__all__ = [
    "EvaluationReport",
    "analyse_from_spec",
    "analyse_trial",
    "assign_arms",
    "backtest",
    "design_effect",
    "design_trial",
    "did",
    "join_outcomes",
    "log_report",
    "plan_power",
    "profile",
    "risk_bands",
    "sample_size",
]
