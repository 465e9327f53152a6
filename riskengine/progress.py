"""Progress for long work, one helper for every stage: step lines and bars.

`Steps` prints a line as each step starts (elapsed time, an optional step number, an optional
stage prefix) and keeps seconds per named step; `note` prints one line; `bar` shows a transient bar for a known
number of units (candidates fitted, tables written). Both write to stderr, so a command's
own output stays clean, and both stay silent when asked to be quiet.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console


class Steps:
    """Call with a line of text as each step starts; `timings` keeps seconds per named step."""

    def __init__(self, quiet: bool = False, total: int | None = None, console: Console | None = None,
                 prefix: str = ""):
        self.console = console or Console(stderr=True)
        self.quiet, self.total, self.prefix = quiet, total, prefix
        self.i = 0
        self.t0 = self.last = time.perf_counter()
        self.timings: dict[str, float] = {}
        self.name: str | None = None

    def __call__(self, text: str, name: str | None = None) -> None:
        from riskengine.outputs import stop_if_interrupted

        stop_if_interrupted()  # Ctrl-C stops the run here even if a library swallowed it
        self.close()
        self.i += 1
        self.name = name
        if not self.quiet:
            number = f"[{self.i}/{self.total}] " if self.total else ""
            prefix = f"{self.prefix}: " if self.prefix else ""
            self.console.print(f"[dim]{time.perf_counter() - self.t0:6.1f}s[/] {number}{prefix}{text}", highlight=False)

    def close(self) -> None:
        """End the current step (its time goes into `timings`)."""
        now = time.perf_counter()
        if self.name:
            self.timings[self.name] = round(now - self.last, 4)
        self.last, self.name = now, None


def note(text: str, prefix: str = "", quiet: bool = False) -> None:
    """One line of progress on stderr, outside any numbered steps (e.g. "link: normalising addresses")."""
    if not quiet:
        Console(stderr=True).print(f"[dim]{prefix}:[/] {text}" if prefix else text, highlight=False)


@contextmanager
def bar(total: float, description: str = "", quiet: bool = False) -> Iterator[Callable[..., None]]:
    """A transient progress bar on stderr; yields `advance(description=None, amount=1)`."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    shown = Progress(TextColumn("{task.description:<34}"), BarColumn(), TimeElapsedColumn(),
                     console=Console(stderr=True), transient=True, disable=quiet)
    with shown:
        task = shown.add_task(description, total=total)

        def advance(description: str | None = None, amount: float = 1.0) -> None:
            if description:
                shown.update(task, description=description)
            shown.advance(task, amount)

        yield advance
