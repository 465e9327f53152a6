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
    log_config = _quiet_log_config()  # Spark's own start-up lines (log profile, native library) not on the terminal
    settings["spark.driver.extraJavaOptions"] = " ".join(
        [settings.get("spark.driver.extraJavaOptions", ""), f"-Dlog4j2.configurationFile=file:{log_config}"]).strip()
    for key, value in settings.items():
        builder = builder.config(key, value)
    cores = os.cpu_count() or 2
    builder = builder.config("spark.sql.shuffle.partitions", str(shuffle_partitions or max(2, 2 * cores)))
    log = _jvm_log()
    try:
        with _stderr_to(log):  # the JVM keeps this stderr: its launcher's notes go to the log, not the terminal
            session = builder.getOrCreate()
    except Exception as exc:  # a master URL Spark cannot reach, a JVM that does not start
        raise RiskEngineError(f"could not start Spark on master {master!r}: "
                              f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__} "
                              f"(Spark's own log: {log})") from None
    session.sparkContext.setLogLevel("ERROR")
    return session


# Spark's log on a session the engine starts: errors only, to stderr (which the JVM writes to the
# file of `_jvm_log`); the PySpark gateway's logger at the root's level, so Spark does not
# announce "Setting default log level".
_LOG4J2 = """status = error
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
rootLogger.level = error
rootLogger.appenderRef.stdout.ref = console
logger.gateway.name = org.apache.spark.api.python.PythonGatewayServer
logger.gateway.level = error
logger.repl.name = org.apache.spark.repl.Main
logger.repl.level = error
"""


def _quiet_log_config() -> str:
    """The path of a log4j2 configuration holding _LOG4J2 (one per user, in the temporary folder)."""
    import tempfile

    path = os.path.join(tempfile.gettempdir(), f"riskengine-spark-log4j2-{os.getuid()}.properties")
    try:
        with open(path) as fh:
            if fh.read() == _LOG4J2:
                return path
    except OSError:
        pass
    part = f"{path}.{os.getpid()}"
    with open(part, "w") as fh:
        fh.write(_LOG4J2)
    os.replace(part, path)  # whole, even when two processes write it at once
    return path


def _jvm_log() -> str:
    """The file the JVM's own stderr goes to (Java's launcher notes, Spark's errors), appended to; one per user."""
    import tempfile

    return os.path.join(tempfile.gettempdir(), f"riskengine-spark-{os.getuid()}.log")


class _stderr_to:
    """Within the block, file descriptor 2 (what a child process such as Spark's JVM inherits) is
    `path`, appended to; Python's own sys.stderr is unchanged and fd 2 is restored after."""

    def __init__(self, path: str):
        self.path = path

    def __enter__(self):
        sys.stderr.flush()
        self.saved = os.dup(2)
        target = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(target, 2)
        os.close(target)
        return self

    def __exit__(self, *exc):
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        return False


def _splink_jar() -> str | None:
    """splink's jar of string similarities (jaro_winkler, damerau_levenshtein) for Spark SQL,
    put on the session's class path so linkage on Spark compares addresses as on DuckDB."""
    try:
        from splink.backends.spark import similarity_jar_location

        path = similarity_jar_location()
    except Exception:  # splink absent or a Spark it has no jar for: linkage on Spark will say so
        return None
    return path if os.path.exists(path) else None
