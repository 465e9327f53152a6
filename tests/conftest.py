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


# --- the Spark backend's tests share one local session (riskengine.spark) ---
import os  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def spark():
    """One quiet local[2] SparkSession for the whole run; skipped, with the reason, when Spark
    cannot start here (no pyspark, no Java 17+), unless RISKENGINE_REQUIRE_SPARK is set (CI)."""
    from riskengine.spark import spark_session, why_no_spark

    problem = why_no_spark()
    if problem:
        if os.environ.get("RISKENGINE_REQUIRE_SPARK"):
            pytest.fail(f"RISKENGINE_REQUIRE_SPARK is set but Spark cannot start: {problem}")
        pytest.skip(f"Spark backend tests need Spark: {problem}")
    # a JVM that lives minutes, not hours: its quick compiler only and one GC thread cost about half
    # the CPU of Spark's defaults here (the full JIT pays off only on long runs, e.g. bench_spark.py)
    quick = "-Duser.timezone=UTC -XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
    session = spark_session("local[2]", app_name="riskengine-tests", shuffle_partitions=2,
                            config={"spark.driver.extraJavaOptions": quick})
    yield session
    session.stop()
