"""Outcomes back in: inspectors' results, validated, with provenance, in an append-only store.

`add_outcomes` checks a file of results against the outcomes contract, rejects duplicates and
conflicts with a reason, works out where each inspection came from (the model's list, the
exploration slice, or business as usual) and appends the batch; `undo_batch` withdraws a whole
batch; `read_store` gives what training and scoring read beside the outcomes file.


Names are imported on first use (PEP 562), so `riskengine --help` loads none of the heavy libraries.
"""

from __future__ import annotations

import importlib

_WHERE = {"AddResult": "_add", "add_outcomes": "_add", "provenance": "_add", "read_lists": "_add", "SLICES": "_store", "STORE_COLUMNS": "_store", "batches": "_store", "read_store": "_store", "undo_batch": "_store"}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"riskengine.outcomes.{_WHERE[name]}"), name)
    if not name.startswith("__"):
        full = f"riskengine.outcomes.{name}"
        try:
            return importlib.import_module(full)
        except ModuleNotFoundError as exc:
            if exc.name != full:
                raise
    raise AttributeError(f"module 'riskengine.outcomes' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
