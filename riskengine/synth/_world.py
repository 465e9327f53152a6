"""The borough in memory: everything `synth` draws before it writes a file.

`simulate` runs the generative model (geography, hidden truth, per-home factors, every
source's records as generated and the past inspections) with one random stream per part, so
the files `synth` writes from it are the same bytes for a seed. Tests and benchmarks use the
`World` directly, for example to check p_posterior against a day-by-day computation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from riskengine.synth import _areas, _conversion, _events, _evidence, _inspections, _posterior, _streets
from riskengine.synth._addresses import THE_NAMES, AddressBook, street_stems
from riskengine.synth._areas import Borough
from riskengine.synth._conversion import Truth
from riskengine.synth._events import SOURCES, HomeFactors, Rows
from riskengine.synth._inspections import Inspections
from riskengine.synth._streets import Properties, Streets


@dataclass
class World:
    """A drawn borough: homes, hidden truth, records as generated (before any mess), inspections."""

    props: Properties
    streets: Streets
    borough: Borough
    book: AddressBook
    truth: Truth
    factors: HomeFactors
    household: np.ndarray  # settled household size per home (the register's)
    events: dict[str, Rows]
    insp: Inspections
    start: int  # day numbers
    end: int
    rng: dict[str, np.random.Generator]  # the streams, for the writing that follows

    def evidence(self) -> _evidence.Evidence:
        return _evidence.gather(self.truth, self.factors, self.props.bedrooms, self.household, self.events,
                                self.insp, self.start, self.end)

    def posterior(self, days: list[int]) -> np.ndarray:
        """p_posterior (len(days) x homes) at the given month starts."""
        return _posterior.posterior(self.evidence(), len(self.props), self.truth.history_start, self.start,
                                    self.end, days)

    def finding_probabilities(self, days: list[int]) -> np.ndarray:
        """p_unlicensed_hmo (len(days) x homes): attributes, latent factor and licence status only."""
        hmo_rate = sum(post for _, post in _events.complaint_rates(self.factors))
        return self.truth.probabilities(days, self.insp.months,
                                        lambda month: self.insp.finding_hazard(month, hmo_rate))


def streams(seed: int) -> dict[str, np.random.Generator]:
    """One independent generator per part, so changing one part leaves the others' draws alone."""
    names = ["geography", "truth", "factors", "inspections", "mess", "format"] + list(SOURCES)
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {n: np.random.default_rng(c) for n, c in zip(names, children)}


def simulate(n: int, seed: int, start: int, end: int, step: Callable = lambda *a, **k: None) -> World:
    """Draw a borough of `n` homes over the days start..end; `step(description)` reports progress."""
    rng = streams(seed)
    step("laying out streets and homes", 0)
    g = rng["geography"]
    hoods = _areas.make_neighbourhoods(g)
    stems, typos = street_stems(g)
    props, streets, borough = _streets.make_properties(g, hoods, n, len(stems), len(THE_NAMES))
    book = AddressBook(
        stem_id=streets.stem_id[props.street], suffix_id=streets.suffix_id[props.street],
        number=props.number, flat_kind=props.flat_kind, flat_no=props.flat_no,
        town_id=streets.town[props.street], postcode=pa.array(props.postcode),
        stems=stems, typos=typos, towns=borough.towns,
    )
    step("drawing the hidden truth")
    truth = _conversion.draw_truth(rng["truth"], props, streets, borough, start, end)
    factors = HomeFactors.build(rng["factors"], props, streets, borough, truth)
    step("complaints")
    events: dict[str, Rows] = {"complaints": _events.complaints(rng["complaints"], factors, start, end)}
    step("past inspections")
    decile = borough.lsoa_decile[props.lsoa]
    insp = _inspections.simulate(rng["inspections"], truth, decile, events["complaints"].prop,
                                 events["complaints"].day, start, end)
    step("other event sources")
    events["council_tax"] = _events.council_tax(rng["council_tax"], factors, start, end)
    household = _events.households(rng["electoral_register"], factors, props)
    events["electoral_register"] = _events.electoral_register(rng["electoral_register"], factors, props, start, end,
                                                              household=household)
    events["housing_benefit"] = _events.housing_benefit(rng["housing_benefit"], factors, props, start, end)
    events["epc"] = _events.epc(rng["epc"], factors, props, start, end)
    events["planning"] = _events.planning(rng["planning"], factors, truth, start, end)
    return World(props, streets, borough, book, truth, factors, household, events, insp, start, end, rng)
