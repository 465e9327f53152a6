"""Shared pytest set-up.

Hypothesis times garbage collection with a callback it adds to `gc.callbacks` the first time a
property test runs, and never removes. Under pytest-xdist the workers are stopped at the end of
the session with an interrupt; a KeyboardInterrupt that lands while that callback runs (as it
often does: the interpreter collects heavily on its way out) cannot propagate from a gc
callback, so Python prints it as "Exception ignored in ... gc_callback" with a traceback under
pytest's closing lines. The callback is only needed while a property test runs, so it is
removed when the session ends.
"""

from __future__ import annotations

import gc


def _hypothesis_gc_callbacks() -> list:
    return [cb for cb in gc.callbacks
            if getattr(cb, "__module__", "").startswith("hypothesis.") and "gc" in getattr(cb, "__qualname__", "")]


def pytest_sessionfinish(session, exitstatus) -> None:
    for cb in _hypothesis_gc_callbacks():
        gc.callbacks.remove(cb)
