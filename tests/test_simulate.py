"""A few weeks of use simulated on a small borough: lists, results, stores, dashboards, the comparison;
the dashboard page opens in headless Chromium without a single network request."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    from riskengine.simulate import simulate
    from riskengine.synth import synth

    root = tmp_path_factory.mktemp("sim")
    synth(root / "borough", properties=2500, seed=3, progress=False)
    training = (ROOT / "training" / "hmo.toml").read_text().replace("out/borough", str(root / "borough"))
    training = training.replace('outcome_store = "out/hmo/outcome_store"', f'outcome_store = "{root / "store"}"')
    (root / "training").mkdir()
    (root / "training" / "hmo.toml").write_text(training.replace("[link]\nenabled = true", "[link]\nenabled = false"))
    scoring = f'training = "{root / "training" / "hmo.toml"}"\n' + (ROOT / "scoring" / "hmo.toml").read_text()
    (root / "scoring").mkdir()
    (root / "scoring" / "hmo.toml").write_text(scoring)
    summary = simulate(root / "scoring" / "hmo.toml", weeks=3, seed=1, out=root / "sim", quiet=True)
    return root, summary


def test_each_policy_makes_lists_gets_results_and_is_compared_with_the_truth(simulated):
    root, s = simulated
    sim = root / "sim"
    assert set(s["true_positives_found"]) == {"model with exploration", "model without exploration", "business as usual"}
    weekly = pd.read_csv(sim / "weekly.csv")
    assert len(weekly) == 9 and (weekly["listed"] == 50).all()
    for policy, part in weekly.groupby("policy"):
        assert part["true_positives"].sum() == s["true_positives_found"][policy]
        assert (part["inspected"] <= part["listed"]).all()
    store = pd.read_csv(sim / "model_exploration" / "outcome_store" / "outcomes.csv")
    assert set(store["slice"]) == {"list", "exploration"} and (store["slice"] == "exploration").sum() >= 10
    assert len(store) == weekly.loc[weekly["policy"] == "model with exploration", "inspected"].sum()
    lists = sorted(p.name for p in (sim / "model_exploration").iterdir() if p.name[:2] == "20")
    assert len(lists) == 3
    twin = json.loads((sim / "model_exploration" / "dashboard.json").read_text())
    assert len(twin["weeks"]) == 3 and twin["verdict"]
    assert s["prevalence_among_unpicked"]["model with exploration"]["exploration_estimate"] is not None
    assert s["prevalence_among_unpicked"]["model without exploration"]["exploration_estimate"] is None
    assert 0 <= s["coverage"]["prevalence"]["coverage_all_weeks_so_far"] <= 1
    assert (sim / "true_positives.png").stat().st_size > 10_000


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (.ci/run installs Debian's chromium)")
def test_the_dashboard_renders_offline_with_no_network_requests(simulated, tmp_path):
    root, _ = simulated
    page = root / "sim" / "model_exploration" / "dashboard.html"
    netlog, shot = tmp_path / "net.json", tmp_path / "dashboard.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-default-apps",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--log-net-log={netlog}", "--window-size=1200,3000",
                    f"--screenshot={shot}", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 50_000  # charts and tables, not a blank page
    assert _page_requests(netlog) == []
    html = page.read_text()
    assert "http://" not in html and "https://" not in html


def _page_requests(netlog: Path) -> list[str]:
    """URLs the page itself asked for: started URL requests with the page's (file, so opaque) origin as
    initiator; Chromium's own background fetches carry no origin and are not the page's."""
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [e["params"]["url"] for e in log["events"]
            if e["type"] == start and e.get("params", {}).get("initiator") != "not an origin"
            and e["params"].get("url", "").startswith(("http", "ws"))]


def test_the_network_check_sees_a_page_that_calls_out(tmp_path):
    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed")
    page = tmp_path / "calls_out.html"
    page.write_text('<html><body><img src="https://example.org/x.png"></body></html>')
    netlog = tmp_path / "net.json"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'p'}",
                    f"--log-net-log={netlog}", "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert _page_requests(netlog) == ["https://example.org/x.png"]


def test_the_dashboard_command_reads_a_pipelines_lists_and_store(simulated, tmp_path):
    from typer.testing import CliRunner

    import riskengine.cli

    root, _ = simulated
    arm = root / "sim" / "model_exploration"
    training = (root / "training" / "hmo.toml").read_text().replace(f'outcome_store = "{root / "store"}"',
                                                                    f'outcome_store = "{arm / "outcome_store"}"')
    (tmp_path / "training.toml").write_text('kind = "training"\n' + training)
    scoring = (root / "scoring" / "hmo.toml").read_text().replace(f'training = "{root / "training" / "hmo.toml"}"',
                                                                  f'training = "{tmp_path / "training.toml"}"\noutputs = "{arm}"')
    (tmp_path / "scoring.toml").write_text(scoring)
    res = CliRunner().invoke(riskengine.cli.app, ["dashboard", str(tmp_path / "scoring.toml"), "--no-mlflow",
                                                  "--out", str(tmp_path / "dash")])
    assert res.exit_code == 0, res.output
    assert "- The list found" in res.output and (tmp_path / "dash" / "dashboard.html").is_file()
    twin = json.loads((tmp_path / "dash" / "dashboard.json").read_text())
    assert len(twin["weeks"]) == 3 and twin["against_bau"]["list_inspected"] > 100
