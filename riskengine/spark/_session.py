"""The Spark session the engine runs on: found or started once, quiet, with the checks a user needs.

Spark needs Java 17 or newer and the `pyspark` package; either missing is one RiskEngineError
saying what to install, before any work starts.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import warnings

from riskengine.errors import RiskEngineError

# Settings for a session the engine starts itself (a cluster's own session is used as it is):
# no web UI, no progress bars on the terminal, dates read and written in UTC, Arrow between
# Spark and pandas, and few shuffle partitions (a local session has few cores).
SESSION_CONFIG = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
}


LOCAL_DRIVER_MEMORY = "4g"


def java_version() -> int | None:
    """The major version of the `java` Spark would start (JAVA_HOME first, else PATH), or None."""
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.path.exists(java):
        return None
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def why_no_spark() -> str | None:
    """Why a Spark session cannot start on this machine (no pyspark, no Java 17+), or None when it can."""
    try:
        import importlib.util

        if importlib.util.find_spec("pyspark") is None:
            return "the pyspark package is not installed (pip install pyspark)"
    except ValueError:
        return "the pyspark package is not installed (pip install pyspark)"
    version = java_version()
    if version is None:
        return ("no Java found (Spark needs Java 17 or newer: install a JRE, e.g. Debian's "
                "openjdk-17-jre-headless, or set JAVA_HOME)")
    if version < 17:
        return f"Java {version} found; PySpark 4 needs Java 17 or newer (set JAVA_HOME to a newer one)"
    return None


def spark_session(master: str | None = None, app_name: str = "riskengine", shuffle_partitions: int | None = None,
                  config: dict[str, str] | None = None):
    """The active SparkSession, or a new one on `master` (default local[*]) with SESSION_CONFIG
    and `config` (e.g. {"spark.driver.memory": "4g"}: set before the session's JVM starts).

    A session already running (a notebook on a cluster, the test suite's) is used as it is
    when `master` is None or matches it.
    """
    problem = why_no_spark()
    if problem:
        raise RiskEngineError(f"the Spark backend cannot start: {problem}")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not yet fully support pandas.*")
        from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and (master is None or active.sparkContext.master == master):
        return active
    master = master or "local[*]"
    if master.startswith("local"):  # local workers run this interpreter (its packages, riskengine among them)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        # the Python workers import pyspark's pandas layer and would print its pandas-version warning
        quiet = "ignore:PySpark does not yet fully support pandas:FutureWarning"
        os.environ["PYTHONWARNINGS"] = ",".join(w for w in (os.environ.get("PYTHONWARNINGS"), quiet) if w)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name).master(master)
    jars = _splink_jar()
    # a local master runs every task in the driver's JVM: give it room (Spark's default is 1 GB)
    local = {"spark.driver.memory": LOCAL_DRIVER_MEMORY} if master.startswith("local") else {}
    settings = {**SESSION_CONFIG, **local, **({"spark.jars": jars} if jars else {}), **(config or {})}
    for key, value in settings.items():
        builder = builder.config(key, value)
    cores = os.cpu_count() or 2
    builder = builder.config("spark.sql.shuffle.partitions", str(shuffle_partitions or max(2, 2 * cores)))
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # a master URL Spark cannot reach, a JVM that does not start
        raise RiskEngineError(f"could not start Spark on master {master!r}: "
                              f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}") from None
    session.sparkContext.setLogLevel("ERROR")
    return session


def _splink_jar() -> str | None:
    """splink's jar of string similarities (jaro_winkler, damerau_levenshtein) for Spark SQL,
    put on the session's class path so linkage on Spark compares addresses as on DuckDB."""
    try:
        from splink.backends.spark import similarity_jar_location

        path = similarity_jar_location()
    except Exception:  # splink absent or a Spark it has no jar for: linkage on Spark will say so
        return None
    return path if os.path.exists(path) else None
