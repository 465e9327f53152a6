"""The `riskengine` command: a thin layer over the Python API.

Each command parses its options, calls one API function and prints what a person needs.
A user mistake (RiskEngineError) prints one readable line and exits with status 2.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console

from riskengine.errors import RiskEngineError

app = typer.Typer(
    help=(
        "riskengine: ranked, explained and audited lists of where to look first, "
        "learned from the cases a service already knows."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a RiskEngineError into one line on stderr and exit status 2 (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except RiskEngineError as exc:
            console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None

    return wrapper


# Stage commands are registered below, one block per stage module.
# --- foundation commands ---
# --- link commands ---
# --- training commands ---
# --- scoring commands ---
# --- audit commands ---
# --- evaluation commands ---


def main() -> None:
    """Console-script entry point."""
    sys.exit(app())
