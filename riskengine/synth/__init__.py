"""A synthetic borough for the demo, the tests and the benchmarks.

`synth(out_dir, properties, seed)` writes a borough of homes in the data contract
(entities.csv, events/<source>.csv, outcomes.csv) together with the hidden truth that real
data never has (truth/*.parquet): which homes are unlicensed HMOs and when, the true
probability a perfect model would output, and the true entity of every event row.
The generator is deterministic for a seed and vectorised (a million homes in minutes).

Parts: _areas (wards, LSOAs, deprivation), _streets (streets, buildings, homes, postcodes),
_addresses (spellings), _conversion (the hidden truth), _events (what each council system
records), _inspections (past visits under a business-as-usual policy), _mess (planted
problems), _write (files), _synth (the whole run).
"""

from riskengine.synth._synth import SynthSummary, synth

__all__ = ["SynthSummary", "synth"]
