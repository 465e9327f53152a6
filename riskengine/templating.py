"""The one jinja2 environment every page and document is rendered with.

One loader (the package's templates/ folder), one escaping policy and one set of whitespace
rules for every stage. Escaping is on for every template except Markdown ones (`*.md.j2`),
whose output is plain text where HTML entities would be wrong; Markdown templates escape
what they need with their own filters. Undefined names are errors, not blanks. A stage's
own filters go on an overlay of this environment, so two stages can each have a `pct`
filter without one replacing the other.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Callable

import jinja2

PLAIN_TEXT = ("md.j2",)  # the only templates rendered without HTML escaping


def _autoescape(name: str | None) -> bool:
    return not (name or "").endswith(PLAIN_TEXT)


@lru_cache(maxsize=1)
def base_environment() -> jinja2.Environment:
    """The shared environment (created once)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("riskengine", "templates"),
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def environment(filters: dict[str, Callable[..., Any]] | None = None,
                globals: dict[str, Any] | None = None) -> jinja2.Environment:
    """The shared environment, with a stage's own filters and globals on an overlay of it."""
    base = base_environment()
    if not filters and not globals:
        return base
    env = base.overlay()
    env.filters.update(filters or {})
    env.globals.update(globals or {})
    return env


def number(value, digits: int = 3) -> str:
    """Numbers for people: fixed decimals, thousands separators, a dash for missing (a page's `fmt`)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def percent(value, digits: int = 1) -> str:
    """A share as a percentage, a dash for missing (a page's `pct`)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{100 * value:.{digits}f}%"
