"""The top-level Python API: every exported name is what it says, on every access.

`riskengine.audit` is the audit subpackage, so a function of that name would be replaced by
the module on first import; the API's names are chosen apart from the subpackages'.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import numpy as np
import pandas as pd
import pytest

import riskengine


def test_every_exported_name_is_a_function_on_every_access():
    for _ in range(2):
        for name in riskengine.__all__:
            value = getattr(riskengine, name)
            assert inspect.isfunction(value), f"riskengine.{name} is {value!r}"
    # importing every subpackage (as using the engine does) must not shadow any of them
    for info in pkgutil.iter_modules(riskengine.__path__):
        importlib.import_module(f"riskengine.{info.name}")
    for name in riskengine.__all__:
        assert inspect.isfunction(getattr(riskengine, name)), name
        assert name not in {info.name for info in pkgutil.iter_modules(riskengine.__path__)}
    assert set(riskengine.__all__) <= set(dir(riskengine))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        riskengine.nope  # noqa: B018


def test_the_api_runs_twice_in_one_session(tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"score": rng.random(400), "label": rng.integers(0, 2, 400),
                       "ward": rng.choice(["A", "B", "C"], 400)})
    reports = [riskengine.audit_scores(df, score_col="score", label_col="label", group_cols=["ward"], top_k=50,
                                       n_boot=50) for _ in range(2)]
    assert reports[0].to_dict() == reports[1].to_dict() and reports[0].overall["flagged"] == 50
    for i in range(2):
        summary = riskengine.synthesize(tmp_path / f"b{i}", properties=1000, seed=1, progress=False)
        assert (tmp_path / f"b{i}" / "entities.csv").is_file() and summary is not None
    assert (tmp_path / "b0" / "entities.csv").read_bytes() == (tmp_path / "b1" / "entities.csv").read_bytes()
    spec = riskengine.load_spec("training/hmo.toml")
    assert riskengine.load_spec("training/hmo.toml") == spec and spec.name == "hmo"


def test_library_calls_leave_matplotlib_settings_alone(tmp_path):
    import matplotlib

    from riskengine.audit import write_audit_report
    from riskengine.charts import plot_shap_summary

    before = dict(matplotlib.rcParams)
    backend = matplotlib.get_backend()
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"score": rng.random(300), "ward": rng.choice(["A", "B"], 300)})
    report = riskengine.audit_scores(df, score_col="score", group_cols=["ward"], top_k=30, n_boot=20)
    write_audit_report(report, tmp_path)
    plot_shap_summary(rng.normal(size=(40, 3)), pd.DataFrame(rng.random((40, 3)), columns=list("abc")),
                      tmp_path / "shap.png", "t")
    assert "<svg" in (tmp_path / "bias_report.html").read_text() and (tmp_path / "shap.png").stat().st_size > 0
    after = dict(matplotlib.rcParams)
    assert {k: (before[k], after[k]) for k in before if before[k] != after[k]} == {}
    assert matplotlib.get_backend() == backend
