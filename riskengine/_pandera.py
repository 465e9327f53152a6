"""pandera, imported without its PySpark hook.

When PySpark is installed (the Spark backend needs it), `import pandera` (and, lazily, its
first check) also imports `pyspark.pandas` just in case its types are used: about a second of
start-up for every command and a FutureWarning about the pandas version. The engine checks pandas tables
only, so the hook is skipped; PySpark itself still imports normally afterwards.
"""

from __future__ import annotations

import sys

_blocked = "pyspark.pandas" not in sys.modules
if _blocked:
    sys.modules["pyspark.pandas"] = None  # type: ignore[assignment]  # makes pandera's optional import fail fast
try:
    import pandera.backends.pandas.builtin_checks  # noqa: F401  # else imported at the first check, unblocked
    import pandera.pandas as pa
    from pandera.errors import SchemaErrors
finally:
    if _blocked:
        del sys.modules["pyspark.pandas"]

__all__ = ["pa", "SchemaErrors"]
