"""Errors a user can act on.

Every mistake a user can make (a missing file, a bad spec key, a wrong column type) raises
`RiskEngineError` with a message that names the file, row or key and what was expected.
The CLI prints the message alone, without a traceback.
"""

from __future__ import annotations


class RiskEngineError(Exception):
    """A user-facing error: the message says what is wrong and where."""


class SpecError(RiskEngineError):
    """A spec file that does not match its schema."""


class DataError(RiskEngineError):
    """Input data that breaks the data contract beyond what can be set aside as rejects."""
