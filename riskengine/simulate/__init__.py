"""A simulation of months of use on the synthetic borough (issue: closing the loop).

Each week: score, visit the list (results from the hidden truth), add the results, retrain on
the spec's schedule, watch with the dashboard; the same weeks under business as usual and
without an exploration slice, for comparison. Reports the true cases each policy found, the bias
of the prevalence estimates with and without exploration, and the coverage of the dashboard's
intervals.
"""

from riskengine.simulate._report import coverage_study, hit_rate_coverage, recorded_scale
from riskengine.simulate._simulate import ARMS, simulate
from riskengine.simulate._world import World

__all__ = ["ARMS", "World", "coverage_study", "hit_rate_coverage", "recorded_scale", "simulate"]
