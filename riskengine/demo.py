"""`riskengine demo`: the whole flow on the synthetic borough, from raw files to an audited list.

synth -> validate -> link -> train (with the governance pack) -> score -> trial design; then
the food city, where each inspection is a case at its own date: synth -> train -> backtest ->
score the week's queue.
Each stage is the same API call a user makes; the demo only strings them together and says
where every output went.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.rule import Rule

KEY_FILE = Path(".riskengine") / "pseudonym.key"


def _ensure_key(console: Console) -> None:
    """Linkage hashes personal identifiers with a secret key; the demo keeps one outside out/.

    The shipped training spec names this file (`[link] key_file`), so every command after the
    demo finds the same key without an environment variable.
    """
    if os.environ.get("RISKENGINE_PSEUDONYM_KEY") or KEY_FILE.exists():
        return
    KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
    KEY_FILE.write_text(secrets.token_hex(32))
    KEY_FILE.chmod(0o600)
    console.print(f"Made a pseudonymisation key for the demo in {KEY_FILE} (git-ignored; never copied to outputs).")


def run_demo(properties: int = 50_000, seed: int = 0, out: Path = Path("out")) -> dict[str, Path]:
    """Run every stage on the synthetic borough; return the paths a person opens."""
    from riskengine.evaluation import design_trial
    from riskengine.ingest import validate_into
    from riskengine.report_console import print_data_summary, print_training_summary
    from riskengine.scoring import score
    from riskengine.spec import load_spec
    from riskengine.training import train

    console = Console()
    _ensure_key(console)
    console.print(Rule("1. The synthetic borough"))
    from riskengine.report_console import print_synth_summary
    from riskengine.synth import synth

    print_synth_summary(synth(out / "borough", properties=properties, seed=seed))  # a few seconds: always fresh

    console.print(Rule("2. Validating the data against the contract"))
    tspec = load_spec("training/hmo.toml")
    data, rejects = validate_into(tspec.data, tspec.name, out / tspec.name / "validate",
                                  redact=tspec.link.identifying_columns())
    print_data_summary(data.summary(), str(rejects))
    del data

    console.print(Rule("3. Linking, training and comparing over time"))
    trained = train(tspec)
    print_training_summary(trained.summary)
    link = trained.summary.get("link") or {}
    if link:
        prov = link.get("provenance", {})
        console.print("Linkage: " + ", ".join(f"{n:,} {k}" for k, n in prov.items())
                      + f"; clerical-review share {link.get('review_share', 0):.2%}.")
        acc = (link.get("accuracy") or {}).get("overall")
        if acc:
            console.print(f"Against the synthetic truth: linkage precision {acc['precision']:.4f}, recall {acc['recall']:.4f}.")

    console.print(Rule("4. Would the model have found past cases earlier? (backtest)"))
    from riskengine.evaluation import backtest

    last_test = pd.Timestamp(trained.summary["splits"][-1]["test_as_of"])
    bt = backtest(tspec, last_test - pd.DateOffset(months=6), last_test, out_dir=out / tspec.name / "backtest")
    d = bt["days_earlier"]
    if d["mean"] is not None:
        p = "n/a" if d["p_value"] is None else f"{d['p_value']:.2g}"
        console.print(f"{bt['n']:,} inspections from {bt['from']} to {bt['to']}, {bt['positives']} positive. In the "
                      f"model's order (trained only on what was known before {bt['from']}) positives are found "
                      f"{d['mean']:.0f} days earlier on average (median {d['median']:.0f}, t-test p = {p}); "
                      f"{bt['first_half']['model']} of them in the first half of the period against "
                      f"{bt['first_half']['actual']} in reality.")
    paths_bt = Path(bt["out_dir"]) / "summary.json"

    console.print(Rule("5. This week's list"))
    listing = score("scoring/hmo.toml")
    paths = {"list": listing.out_dir / "list.html"}

    console.print(Rule("6. A trial to prove the list helps"))
    espec = load_spec("evaluation/hmo.toml")
    list_df = pd.read_csv(listing.out_dir / "list.csv", dtype={"entity_id": str})
    report = design_trial(espec, list_df, out / tspec.name / "trial", list_name=str(listing.out_dir / "list.csv"))
    paths["trial_design"] = Path(report.files.get("html", out / tspec.name / "trial" / "trial_design.html"))
    d, pw = report.data, report.data["power"]
    arms = ", ".join(f"{n} to {arm}" for arm, n in d["n_by_arm"].items())
    console.print(f"This week's {d['n_units']} listed homes randomised ({arms}) within risk bands and wards "
                  f"(seed {d['seed']}). Detecting {pw['baseline_rate']:.0%} -> {pw['target_rate']:.0%} needs "
                  f"{pw['units_needed']:,} inspections: one week gives {pw['power_with_available']:.0%} power, so run "
                  "the trial over many weeks: `riskengine trial design evaluation/hmo.toml` plans it over officer-weeks.")
    paths["backtest"] = paths_bt
    paths.update(_profiling_demo(console, out))  # --- profiling (issue 14) ---
    paths.update(_evaluation_inputs(out, tspec.name, Path(report.files["assignment"]) if "assignment" in report.files
                                    else out / tspec.name / "trial" / "assignment.csv", listing.as_of, seed))
    console.print("Simulated from the synthetic truth, for `riskengine trial analyse`, `trial did` and `profile`: "
                  f"{paths['trial_outcomes']}, {paths['before_after']}, {paths['inspected_homes']}.")
    paths.update(_food_flow(console, out, seed))

    for name, path in (trained.summary.get("governance") or {}).items():
        paths[name] = Path(path)
    console.print(Rule("Where to look"))
    for name, path in paths.items():
        console.print(f"{name.replace('_', ' ')}: [bold]{path}[/]")
    console.print(f"training summary: {trained.out_dir / 'summary.json'}")
    console.print("MLflow: .venv/bin/mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db")
    console.print(f"\nThe inspectors' list: [bold green]{paths['list']}[/]")
    return paths


# --- profiling (issue 14): who uses three services, from which kinds of area, and did outreach work ---
def _profiling_demo(console: Console, out: Path) -> dict[str, Path]:
    """Classify the borough's LSOAs from census counts, then profile three services' users against it."""
    import json

    from riskengine.profiling import profile, segment

    console.print(Rule("7. Who uses the library, the leisure centre and the parenting class (profiling)"))
    if Path(out).resolve() != Path("out").resolve():
        console.print("Skipped: evaluation/segments.toml and profile_services.toml read the borough in out/borough.")
        return {}
    seg = segment("evaluation/segments.toml")
    d = seg.data
    console.print(f"Open area classification of {d['areas']} LSOAs from {d['variables']} census variables: "
                  f"{len(d['supergroups'])} supergroups; stability over other seeds ARI {d['stability']['mean']:.3f}; "
                  f"against the hidden area types ARI {d['truth']['ari_supergroups']:.3f}.")
    prof = profile("evaluation/profile_services.toml", log_mlflow=True)
    for s in prof.data["services"]:
        top = max((g for g in s["segments"] if g["index"] is not None), key=lambda g: g["index"])
        console.print(f"{s['label']}: {s['matching']['matched_share']:.1%} of rows matched; most over-represented: "
                      f"supergroup {top['segment']} ({top['name']}), index {top['index']:.0f}.")
    c = prof.data["change"]
    truth_file = Path("out/borough/truth/services.json")
    true = json.loads(truth_file.read_text())["library_action"]["true_did_users_per_1000_residents"] if truth_file.is_file() else None
    console.print(f"Library outreach: difference in differences {c['estimate']:+.1f} users per 1,000 residents "
                  f"(95% CI {c['ci'][0]:+.1f} to {c['ci'][1]:+.1f})" + (f"; the true effect was {true:+.1f}." if true is not None else "."))
    return {"segments": seg.paths["page_html"], "profile": prof.paths["html"]}
def _evaluation_inputs(out: Path, pipeline: str, assignment_path: Path, as_of: pd.Timestamp, seed: int) -> dict[str, Path]:
    """Tables the evaluation commands read, made from the synthetic borough (no council has these yet).

    - trial/outcomes.csv: what the trial would record over the next half-year. Homes in the
      "model" arm are inspected now, so an unlicensed HMO among them is found; homes in the
      business-as-usual arm are found only if business as usual inspects them, at the rate it
      inspected homes in the half-year before. The truth is the generator's (truth/properties).
    - trial/before_after.csv: the same homes' findings in the half-year before and after, for a
      difference in differences.
    - profile/inspected_homes.csv: the homes inspected in the past, with their area segment,
      to profile against every home.
    """
    import numpy as np

    borough = out / "borough"
    rng = np.random.default_rng(seed + 11)
    assignment = pd.read_csv(assignment_path, dtype={"entity_id": str, "unit_id": str})
    truth = pd.read_parquet(borough / "truth" / "properties.parquet", columns=["entity_id", "conversion_date", "licensed_date"])
    truth["entity_id"] = truth["entity_id"].astype(str)
    outcomes = pd.read_csv(borough / "outcomes.csv", dtype={"entity_id": str}, parse_dates=["date"])
    entities = pd.read_csv(borough / "entities.csv", dtype={"entity_id": str}, usecols=["entity_id", "segment"])
    before = outcomes[(outcomes["date"] >= as_of - pd.DateOffset(months=6)) & (outcomes["date"] < as_of)]
    bau_rate = before["entity_id"].nunique() / max(len(entities), 1)

    t = assignment[["unit_id", "entity_id", "arm"]].merge(truth, on="entity_id", how="left")
    unlicensed = (t["conversion_date"] < as_of) & ~(t["licensed_date"] < as_of)
    visited = (t["arm"] != "bau") | (rng.random(len(t)) < bau_rate)
    t["outcome"] = (unlicensed & visited).astype(int)
    trial_dir = out / pipeline / "trial"
    trial_dir.mkdir(parents=True, exist_ok=True)
    paths = {"trial_outcomes": trial_dir / "outcomes.csv", "before_after": trial_dir / "before_after.csv"}
    t[["unit_id", "entity_id", "arm", "outcome"]].to_csv(paths["trial_outcomes"], index=False)

    found_before = set(before.loc[before["outcome"] == 1, "entity_id"])
    pre = t.assign(period="before", outcome=t["entity_id"].isin(found_before).astype(int))
    pd.concat([pre, t.assign(period="after")])[["entity_id", "arm", "period", "outcome"]].to_csv(
        paths["before_after"], index=False)

    profile_dir = out / pipeline / "profile"
    profile_dir.mkdir(parents=True, exist_ok=True)
    paths["inspected_homes"] = profile_dir / "inspected_homes.csv"
    inspected = entities[entities["entity_id"].isin(set(outcomes["entity_id"]))]
    inspected.to_csv(paths["inspected_homes"], index=False)
    return paths


FOOD_BUSINESSES = 1_000  # small enough that the food flow adds well under a minute


def _food_flow(console: Console, out: Path, seed: int) -> dict[str, Path]:
    """The second use case, in the case framing: training/food.toml and scoring/food.toml."""
    from riskengine.evaluation import backtest
    from riskengine.scoring import score
    from riskengine.spec import load_spec
    from riskengine.synth.food.cli import food_command
    from riskengine.training import train

    console.print(Rule("8. A second use case: food inspections, each a case at its own date"))
    food_command(out / "food", businesses=FOOD_BUSINESSES, seed=seed, start=None, end=None, quiet=True)
    tspec = load_spec("training/food.toml")
    trained = train(tspec, quiet=True)
    oracle = trained.summary.get("oracle") or {}
    share = oracle.get("share_of_bayes")
    console.print(f"Champion {trained.summary['champion']}, trained on {trained.summary.get('training_rows', 0):,} "
                  "inspections, each with what was known the day before"
                  + (f"; its top {tspec.metric.k} hold {share:.0%} of the violations the ideal order by the true "
                     "probabilities would." if share is not None else "."))
    last = pd.read_csv(out / "food" / "outcomes.csv", usecols=["date"], parse_dates=["date"])["date"].max()
    first = (last - pd.DateOffset(months=6)).normalize()
    bt = backtest(tspec, first, last, out_dir=out / "food" / "backtest")
    bau = bt.get("business_as_usual") or {}
    if bt.get("days_earlier_mean") is not None:
        console.print(f"Backtest {bt['from']} to {bt['to']}: {bt['n']:,} inspections, {bt['positives']} critical violations. "
                      f"In the champion's order they are found {bt['days_earlier_mean']:.0f} days earlier on average"
                      + (f", against {bau['days_earlier_mean']:.0f} in the business-as-usual order (complaints, then "
                         "recent violations)" if bau.get("days_earlier_mean") is not None else "") + ".")
    listing = score("scoring/food.toml", quiet=True)
    console.print(f"This week's food inspections, highest risk first: {listing.out_dir / 'list.html'}")
    return {"food_list": listing.out_dir / "list.html", "food_backtest": Path(bt["out_dir"]) / "backtest.html"}
