"""The profiling loop end to end on a small synthetic borough: segment, profile, the page offline.

One small borough (2,000 homes) is generated, classified and profiled once for the module. A
column the spec drops must never reach an output; a file the spec asks to delete is deleted
and the run's log says so; the page opens in headless Chromium with no network request
(skipped when Chromium is absent, unless RISKENGINE_REQUIRE_BROWSER is set).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from riskengine.cli import app

MARKER = "Quuxley"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from riskengine.profiling import profile, segment
    from riskengine.synth import synth

    root = tmp_path_factory.mktemp("profiling")
    borough = root / "borough"
    synth(borough, properties=2_000, seed=3, progress=False)
    # a leisure-centre file with a personal column the spec drops on reading
    leisure = pd.read_csv(borough / "services" / "leisure_centre.csv", dtype=str)
    leisure["name"] = [f"Zebedee {MARKER}-{i}" for i in range(len(leisure))]
    leisure.to_csv(borough / "services" / "leisure_centre.csv", index=False)
    parenting_copy = root / "parenting_copy.csv"
    shutil.copy(borough / "services" / "parenting_class.csv", parenting_copy)
    seg_spec = root / "segments.toml"
    text = Path("evaluation/segments.toml").read_text().replace("out/borough", str(borough))
    text = text.replace('out_dir = "out/segments/borough"', f'out_dir = "{root / "segments"}"')
    text = re.sub(r"n_init = \d+", "n_init = 10", text)
    text = re.sub(r"stability_runs = \d+", "stability_runs = 1", text)
    text = re.sub(r"k_max = \d+", "k_max = 8", text)
    seg_spec.write_text(text)
    seg = segment(seg_spec)
    prof_spec = root / "profile.toml"
    text = Path("evaluation/profile_services.toml").read_text().replace("out/borough", str(borough))
    text = text.replace("out/segments/borough", str(root / "segments"))
    text = text.replace('out_dir = "out/profile/services"', f'out_dir = "{root / "profile"}"')
    text = text.replace(f'path = "{borough}/services/parenting_class.csv"', f'path = "{parenting_copy}"')
    text = text.replace("# delete_input = true", "delete_input = true")
    prof_spec.write_text(text)
    saved = {k: os.environ.get(k) for k in ("RISKENGINE_PSEUDONYM_KEY", "MLFLOW_TRACKING_URI")}
    os.environ.setdefault("RISKENGINE_PSEUDONYM_KEY", "test-key-not-secret-0123456789")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    (root / "mlruns").mkdir()
    try:
        result = profile(prof_spec, log_mlflow=True)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return {"root": root, "segments": seg, "profile": result, "copy": parenting_copy, "spec": prof_spec}


def test_the_page_has_every_part(run):
    page = run["profile"].paths["html"].read_text()
    for part in ("The data and the matching", "who uses it, by supergroup", "Against what staff expected",
                 "The map", "Overlap between services", "Measure again", "Difference in differences"):
        assert part in page, part
    n_areas = run["profile"].data["areas"]
    assert n_areas > 150
    assert page.count('<path class="area"') == n_areas * 8  # every area in each of the 8 shading layers
    data = run["profile"].data
    lib = next(s for s in data["services"] if s["name"] == "library")
    assert lib["matching"]["matched_share"] > 0.9
    assert set(lib["matching"]["not_matched"]) <= {"no address and no UPRN", "address not recognised in the register",
                                                    "possible match left for clerical review",
                                                    "property has no area code in the register",
                                                    "area not in the classification"}
    # small counts never published: every shown user count is 10 or more
    for s in data["services"]:
        for g in s["segments"]:
            assert g["users"] is None or g["users"] == 0 or g["users"] >= 10
    assert data["change"]["targeted_areas"] > 0 and data["change"]["ci"][0] < data["change"]["estimate"]


def test_a_dropped_column_never_reaches_an_output(run):
    leisure = next(s for s in run["profile"].data["services"] if s["name"] == "leisure_centre")
    assert set(leisure["dropped_columns"]) == {"membership_type", "name"}
    written = [p for p in run["root"].rglob("*") if p.is_file() and "borough" not in p.parts]
    assert len(written) >= 8
    for p in written:
        assert MARKER.encode() not in p.read_bytes(), p
    # the service ids stay in memory too
    assert not any(b"LC000" in p.read_bytes() for p in written)


def test_mlflow_gets_aggregates_only(run):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{run['root'] / 'mlruns' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("profile-services")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1
    metrics = runs[0].data.metrics
    assert 0.9 < metrics["library.matched_share"] <= 1 and "change.did" in metrics
    names = {a.path for a in client.list_artifacts(runs[0].info.run_id)}
    assert names == {"profile.html", "profile.json"}


def test_delete_after_success_is_done_and_logged(run):
    assert not run["copy"].exists()
    log = json.loads(run["profile"].paths["log"].read_text())
    assert any("deleted" in line and str(run["copy"]) in line for line in log["log"])


def test_a_refused_column_stops_the_run_with_a_clear_message(run, tmp_path):
    spec = tmp_path / "p.toml"
    spec.write_text(run["spec"].read_text().replace("drop_other_columns = true", "drop_other_columns = false"))
    result = CliRunner().invoke(app, ["profile", str(spec), "--no-mlflow", "--quiet", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "'membership_type', 'name' are not needed" in result.output and "drop_other_columns" in result.output
    assert not (tmp_path / "o").exists()


def test_profile_without_a_spec_or_tables_says_what_it_needs():
    result = CliRunner().invoke(app, ["profile"])
    assert result.exit_code == 2 and "--users, --population" in result.output


# ---- the page in a real browser, offline ------------------------------------------------------

def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


def test_the_map_page_renders_in_chromium_with_no_network_requests(run, tmp_path):
    chromium = _chromium()
    if chromium is None:
        if os.environ.get("RISKENGINE_REQUIRE_BROWSER"):
            pytest.fail("RISKENGINE_REQUIRE_BROWSER is set but chromium is not installed", pytrace=False)
        pytest.skip("headless Chromium is not installed")
    page = run["profile"].paths["html"]
    netlog = tmp_path / "netlog.json"
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-default-apps",
           f"--user-data-dir={tmp_path / 'profile'}", "--proxy-server=http://127.0.0.1:9",
           "--host-resolver-rules=MAP * ~NOTFOUND", f"--log-net-log={netlog}", "--virtual-time-budget=5000",
           "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri() + "#selftest"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="selftest-result"[^>]*>(.*?)</pre>', proc.stdout, re.S)
    assert found and found.group(1), f"the page's self-test did not run:\n{proc.stderr[-2000:]}"
    result = json.loads(html.unescape(found.group(1)))
    assert result["errors"] == []
    assert result["areas"] == run["profile"].data["areas"]
    for layer_id, layer in result["layers"].items():
        assert layer["visible"], layer_id
        assert layer["drawn"] == layer["expected"], (layer_id, layer)
    assert result["layers"]["segments"]["drawn"] == result["areas"]
    assert result["legend_items"] > 0
    # the network log: every request made for the page (its network isolation key is the file's)
    assert page_requests(netlog) == []


def page_requests(netlog: Path) -> list[str]:
    """URLs the page asked for beyond file: and data: (Chromium's own update pings are not the page's)."""
    events = json.loads(netlog.read_text()).get("events", [])
    urls = {e["params"]["url"] for e in events
            if "url" in e.get("params", {}) and "file://" in str(e["params"].get("network_isolation_key", ""))}
    return sorted(u for u in urls if not u.startswith(("file:", "data:", "about:", "blob:")))
