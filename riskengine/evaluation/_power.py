"""Power and sample size for a two-arm comparison, individually or cluster randomised.

Binary outcomes use Cohen's h (the arcsine-transformed difference of two proportions) and
continuous ones Cohen's d (effect / sd); either goes through statsmodels' `NormalIndPower`,
the normal approximation n_control = (z_{1-alpha/2} + z_{power})^2 (1 + 1/ratio) / es^2.
Cluster randomisation inflates the outcomes needed by the design effect 1 + (m - 1) ICC.
"""

from __future__ import annotations

import math

import numpy as np
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

METHOD = {
    "binary": "normal approximation on Cohen's h = 2 asin(sqrt(p1)) - 2 asin(sqrt(p0)) "
    "(statsmodels NormalIndPower), two-sided",
    "continuous": "normal approximation on Cohen's d = effect / sd "
    "(statsmodels NormalIndPower), two-sided",
}


def design_effect(cluster_size: float, icc: float) -> float:
    """Variance inflation from randomising clusters of `cluster_size` outcomes: 1 + (m - 1) ICC."""
    return 1.0 + (cluster_size - 1.0) * icc


def effect_size(outcome: str, effect: float, baseline_rate: float | None = None,
                sd: float | None = None) -> float:
    """Standardised effect: Cohen's h for a binary outcome, Cohen's d for a continuous one."""
    if outcome == "binary":
        return float(proportion_effectsize(baseline_rate + effect, baseline_rate))
    return effect / sd


def raw_effect(outcome: str, es: float, baseline_rate: float | None = None,
               sd: float | None = None) -> float:
    """Invert `effect_size`: the change in the outcome's own units for standardised effect `es`."""
    if outcome == "binary":
        angle = math.asin(math.sqrt(baseline_rate)) + es / 2
        angle = min(max(angle, 0.0), math.pi / 2)
        return math.sin(angle) ** 2 - baseline_rate
    return es * sd


def sample_size(es: float, alpha: float, power: float, ratio: float = 1.0) -> tuple[float, float]:
    """Outcomes needed in control and in each treatment arm (unrounded) to detect `es`."""
    n_control = NormalIndPower().solve_power(
        effect_size=abs(es), nobs1=None, alpha=alpha, power=power, ratio=ratio,
        alternative="two-sided",
    )
    return float(n_control), float(n_control * ratio)


def achieved_power(es: float, n_control: float, alpha: float, ratio: float = 1.0) -> float:
    """Power to detect `es` with `n_control` outcomes in control and `ratio` times that per arm."""
    if n_control <= 0:
        return 0.0
    return float(NormalIndPower().power(
        effect_size=abs(es), nobs1=n_control, alpha=alpha, ratio=ratio, alternative="two-sided"
    ))


def detectable_es(n_control: float, alpha: float, power: float, ratio: float = 1.0) -> float:
    """The smallest standardised effect detectable with the given outcomes per arm."""
    if n_control <= 0:
        return float("nan")
    return float(NormalIndPower().solve_power(
        effect_size=None, nobs1=n_control, alpha=alpha, power=power, ratio=ratio,
        alternative="two-sided",
    ))


def plan_power(*, outcome: str, effect: float, alpha: float, power: float, ratio: float,
               n_treatment_arms: int = 1, baseline_rate: float | None = None,
               sd: float | None = None, cluster_size: float = 1.0, icc: float = 0.0,
               units_available: int | None = None) -> dict:
    """Sample size for the design, in outcomes and in units, and what the available units give.

    `ratio` is units in each treatment arm per control unit; every treatment arm is compared
    with control at level `alpha` (no multiplicity correction in the sample size).
    """
    es = effect_size(outcome, effect, baseline_rate, sd)
    deff = design_effect(cluster_size, icc)
    n_control, n_treatment = sample_size(es, alpha, power, ratio)
    units_control = math.ceil(math.ceil(n_control) * deff / cluster_size)
    units_treatment = math.ceil(math.ceil(n_treatment) * deff / cluster_size)
    plan = {
        "method": METHOD[outcome],
        "outcome": outcome,
        "baseline_rate": baseline_rate,
        "target_rate": None if baseline_rate is None else baseline_rate + effect,
        "sd": sd,
        "effect": effect,
        "effect_size": es,
        "effect_size_name": "Cohen's h" if outcome == "binary" else "Cohen's d",
        "alpha": alpha,
        "power": power,
        "allocation_ratio": ratio,
        "n_treatment_arms": n_treatment_arms,
        "n_control": math.ceil(n_control),
        "n_per_treatment_arm": math.ceil(n_treatment),
        "n_total_unclustered": math.ceil(n_control) + n_treatment_arms * math.ceil(n_treatment),
        "cluster_size": cluster_size,
        "icc": icc,
        "design_effect": deff,
        "units_control": units_control,
        "units_per_treatment_arm": units_treatment,
        "units_needed": units_control + n_treatment_arms * units_treatment,
        "units_available": units_available,
        "power_with_available": None,
        "detectable_effect_with_available": None,
        "adequately_powered": None,
    }
    if units_available is not None:
        control_units = units_available / (1 + n_treatment_arms * ratio)
        n_eff_control = control_units * cluster_size / deff
        plan["power_with_available"] = achieved_power(es, n_eff_control, alpha, ratio)
        es_min = detectable_es(n_eff_control, alpha, power, ratio) if n_eff_control > 1 else np.nan
        plan["detectable_effect_with_available"] = (
            None if not np.isfinite(es_min)
            else math.copysign(raw_effect(outcome, es_min, baseline_rate, sd), effect)
        )
        plan["adequately_powered"] = plan["power_with_available"] >= power - 1e-9
    return plan
