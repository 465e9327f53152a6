"""Outcomes back in: inspectors' results, validated, with provenance, in an append-only store.

`add_outcomes` checks a file of results against the outcomes contract, rejects duplicates and
conflicts with a reason, works out where each inspection came from (the model's list, the
exploration slice, or business as usual) and appends the batch; `undo_batch` withdraws a whole
batch; `read_store` gives what training and scoring read beside the outcomes file.


Names are imported on first use (PEP 562), so `riskengine --help` loads none of the heavy libraries.
"""

from __future__ import annotations

from riskengine._lazy import lazy_names

_WHERE = {"AddResult": "_add", "add_outcomes": "_add", "provenance": "_add", "read_lists": "_add", "SLICES": "_store", "STORE_COLUMNS": "_store", "batches": "_store", "read_store": "_store", "undo_batch": "_store"}
__all__ = sorted(_WHERE)

__getattr__, __dir__ = lazy_names(__name__, _WHERE)
