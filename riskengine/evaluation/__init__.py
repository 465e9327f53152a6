"""Evaluation: show that acting on the list beats business as usual.

- `design_trial`: power and sample size (cluster designs via the design effect), stratified
  randomisation reproducible from a seed, a balance table and a pre-registration page.
- `analyse_trial` / `analyse_from_spec`: effect of each arm against control with HC2 or
  cluster-robust errors, regression adjustment, attrition, balance and the Nesta level reached.
- `did`: difference in differences when randomising was not possible.
- `backtest`: re-order a past period's inspections by the model's scores; days earlier found.
- `profile`: who uses a service, by segment, against the population (index with 95% CI).


Names are imported on first use (PEP 562), so `riskengine --help` loads none of the heavy libraries.
"""

from __future__ import annotations

import importlib

_WHERE = {"analyse_from_spec": "_analyse", "analyse_trial": "_analyse", "join_outcomes": "_analyse", "backtest": "_backtest", "assign_arms": "_assign", "risk_bands": "_assign", "design_trial": "_design", "did": "_did", "log_report": "_mlflow", "design_effect": "_power", "plan_power": "_power", "sample_size": "_power", "profile": "_profile", "EvaluationReport": "_report"}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"riskengine.evaluation.{_WHERE[name]}"), name)
    if not name.startswith("__"):
        full = f"riskengine.evaluation.{name}"
        try:
            return importlib.import_module(full)
        except ModuleNotFoundError as exc:
            if exc.name != full:
                raise
    raise AttributeError(f"module 'riskengine.evaluation' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
