"""Outcomes back in: inspectors' results, validated, with provenance, in an append-only store.

`add_outcomes` checks a file of results against the outcomes contract, rejects duplicates and
conflicts with a reason, works out where each inspection came from (the model's list, the
exploration slice, or business as usual) and appends the batch; `undo_batch` withdraws a whole
batch; `read_store` gives what training and scoring read beside the outcomes file.
"""

from riskengine.outcomes._add import AddResult, add_outcomes, provenance, read_lists
from riskengine.outcomes._store import SLICES, STORE_COLUMNS, batches, read_store, undo_batch

__all__ = ["SLICES", "STORE_COLUMNS", "AddResult", "add_outcomes", "batches", "provenance", "read_lists",
           "read_store", "undo_batch"]
