"""Nesta's Standards of Evidence (levels 1-5): which level a design or result can claim, and why.

Paraphrased: 1 a clear account of what is done and why it should work; 2 data showing change
in the right direction, without showing the intervention caused it; 3 a causal effect shown
against a control or comparison group; 4 that effect confirmed by one or more independent
replications; 5 manuals and systems that keep the effect when others run it at scale.
"""

from __future__ import annotations

LEVELS = {
    1: "a logical account of what is done and why it should help",
    2: "data showing change in the right direction, but not that the list caused it",
    3: "a causal effect shown against a control or comparison group",
    4: "the effect confirmed by one or more independent replications",
    5: "manuals, systems and procedures that keep the effect when others use it at scale",
}
BEYOND_3 = (
    "Level 4 needs at least one independent replication (another team, area or period, "
    "evaluated by someone else) that finds the same effect; level 5 needs written procedures "
    "and monitoring that show the effect holds when the list is used routinely elsewhere."
)
MAX_ATTRITION = 0.20  # overall share of units lost, rule of thumb used here
MAX_DIFFERENTIAL_ATTRITION = 0.05  # difference in attrition between an arm and control


def _level(level: int, reasons: list[str]) -> dict:
    return {"level": level, "label": LEVELS[level], "reasons": reasons, "next": BEYOND_3}


def design_level(plan: dict, randomised: bool = True) -> dict:
    """The highest level a planned trial can reach, with the conditions it depends on."""
    reasons = [
        "Units are randomised between the list and business as usual, so a difference in "
        "outcomes can be attributed to the list (a control group)." if randomised else
        "There is a comparison group but no randomisation: a causal claim rests on the "
        "assumption that the groups would have moved in parallel.",
    ]
    power = plan.get("power_with_available")
    if power is None:
        reasons.append(f"The sample size gives {plan['power']:.0%} power if "
                       f"{plan['units_needed']} units can be enrolled.")
    elif plan["adequately_powered"]:
        reasons.append(f"The {plan['units_available']} units available give {power:.0%} power "
                       f"(target {plan['power']:.0%}) for the effect hoped for.")
    else:
        reasons.append(
            f"Only {plan['units_available']} units are available against {plan['units_needed']} "
            f"needed: power is {power:.0%} (target {plan['power']:.0%}), so a null result would "
            "say little; level 3 is reachable only if the effect is larger than planned."
        )
    caveat = None
    if plan.get("adequately_powered") is False:
        caveat = (f"underpowered: {power:.0%} power with the units available; level 3 only if the "
                  "effect is larger than planned")
    reasons.append(f"Level 3 also needs low attrition (under {MAX_ATTRITION:.0%} of units lost, "
                   f"differing by under {MAX_DIFFERENTIAL_ATTRITION:.0%} between arms) and "
                   "balanced arms at baseline; the analysis checks both.")
    return {**_level(3, reasons), "caveat": caveat}


def unknown_design_level() -> dict:
    """No level for an analysis whose assignment is not known to be random: say what would give one."""
    return {"level": None, "label": "not assessed: how units were assigned to arms is not known",
            "reasons": ["Nothing says whether the arms were assigned at random. A difference between arms "
                        "can come from how units were chosen for each, so no standard of evidence is claimed.",
                        "Pass the trial's design (`--design trial_design.json`, written by `riskengine trial "
                        "design`), or `--randomised` if assignment was random by another route, or analyse "
                        "with the evaluation spec (`riskengine trial analyse evaluation/NAME.toml`)."],
            "next": BEYOND_3}


def result_level(*, estimate: float, significant: bool, higher_is_better: bool,
                 attrition_ok: bool, balance_ok: bool, randomised: bool,
                 what: str = "the best treatment arm") -> dict:
    """The level a finished analysis reached for the claim 'acting on the list helps'."""
    helps = estimate > 0 if higher_is_better else estimate < 0
    reasons = []
    if randomised:
        reasons.append("Assignment was randomised, giving a control group.")
    else:
        reasons.append("A comparison group was used without randomisation (difference in "
                       "differences): the estimate is causal only if the groups would have "
                       "moved in parallel without the change.")
    direction = "in the hoped-for direction" if helps else "against the hoped-for direction"
    reasons.append(f"The estimate for {what} ({estimate:+.4g}) is {direction} and "
                   + ("statistically significant." if significant
                      else "not statistically distinguishable from zero."))
    if randomised:
        reasons.append("Attrition is low." if attrition_ok else
                       f"Attrition is too high (over {MAX_ATTRITION:.0%} overall or "
                       f"{MAX_DIFFERENTIAL_ATTRITION:.0%} between arms): outcomes lost may differ by arm.")
        reasons.append("The arms are balanced on baseline covariates." if balance_ok else
                       "The arms differ on a baseline covariate by more than 0.25 standard "
                       "deviations: the adjusted estimate should be preferred.")
    if helps and significant and attrition_ok and balance_ok:
        return _level(3, reasons)
    if helps:
        return _level(2, reasons)
    return _level(1, reasons)
