"""Progress lines for long work: elapsed time, an optional step number, and per-step timings."""

from __future__ import annotations

import time

from rich.console import Console


class Steps:
    """Call with a line of text as each step starts; `timings` keeps seconds per named step."""

    def __init__(self, quiet: bool = False, total: int | None = None, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.quiet, self.total = quiet, total
        self.i = 0
        self.t0 = self.last = time.perf_counter()
        self.timings: dict[str, float] = {}
        self.name: str | None = None

    def __call__(self, text: str, name: str | None = None) -> None:
        self.close()
        self.i += 1
        self.name = name
        if not self.quiet:
            number = f"[{self.i}/{self.total}] " if self.total else ""
            self.console.print(f"[dim]{time.perf_counter() - self.t0:6.1f}s[/] {number}{text}", highlight=False)

    def close(self) -> None:
        """End the current step (its time goes into `timings`)."""
        now = time.perf_counter()
        if self.name:
            self.timings[self.name] = round(now - self.last, 4)
        self.last, self.name = now, None
