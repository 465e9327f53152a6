"""A synthetic borough for the demo, the tests and the benchmarks.

`synth(out_dir, properties, seed)` writes a borough of homes in the data contract
(entities.csv, events/<source>.csv, outcomes.csv) together with the hidden truth that real
data never has (truth/*.parquet): which homes are unlicensed HMOs and when, the true entity
of every event row, and per home and quarter two probabilities (truth/probabilities.parquet):

- `p_unlicensed_hmo`: given what the home *is* (attributes, latent factor, licence status),
  no records; a model that reads the records beats it, so it is no ceiling;
- `p_posterior`: given that and every record before the date as well (all sources, past
  inspection results): the Bayes-optimal score, the ceiling for precision at k.

The generator is deterministic for a seed and vectorised (a million homes in under a minute).

Parts: _areas (wards, LSOAs, deprivation), _streets (streets, buildings, homes, postcodes),
_addresses (spellings), _conversion (the hidden truth), _events (what each council system
records), _inspections (past visits under a business-as-usual policy), _world (all of that
in memory), _evidence and _posterior (the Bayes ceiling), _reference (a slow day-by-day
check of it), _mess (planted problems), _write (files), _synth (the whole run).


Names are imported on first use (PEP 562), so `riskengine --help` loads none of the heavy libraries.
"""

from __future__ import annotations

from riskengine._lazy import lazy_names

_WHERE = {"RECORDING_ERROR": "_inspections", "SynthSummary": "_synth", "synth": "_synth"}
__all__ = sorted(_WHERE)

__getattr__, __dir__ = lazy_names(__name__, _WHERE)
