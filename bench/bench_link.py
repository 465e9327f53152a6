"""Benchmark: the engine's linkage against splink run directly, in the same process, interleaved; prints ratios.

By default (address mode): a synthetic borough of PROPERTIES homes is generated (not timed), its
event sources are sampled down to ROWS rows in total, and `riskengine.link.link` (the training
spec's address linkage, reports and golden records included) is timed on them against splink
run directly on the same rows: the same reading, exact keys and address cleaning (the engine's
own functions), the same comparisons and blocking rules (`splink_settings`, with the rules the
engine's run used), trained splink's standard way (u by random sampling, its EM on the two
shortest rules), predict, each address's best candidate. Each in its own process, interleaved,
--repeats times; prints the median CPU time, wall time and peak memory of each, their ratios,
and each side's precision, recall and F1 on the rows without an exact key (the engine at its
default threshold 0.95, splink at its best threshold of 0.5-0.99).

    python bench/bench_link.py                                    # 100,000 rows, 50,000 properties, 3 rounds
    python bench/bench_link.py --properties 500000 --rows 1000000 --repeats 1

With --people N: the engine's link job on two files of N synthetic people (and, with
--dedup, one file to deduplicate) against splink run directly: by default with the same
settings (`riskengine.link._match.splink_settings`: the engine's comparisons and blocking
rules, as the engine's run narrowed them) trained splink's standard way (u by random
sampling, its EM on two rules, predict, each record's best candidate); with --baseline
library, splink's library comparisons on the same cleaned columns. Each run in its own
process, interleaved, --repeats times; prints the median time and peak memory of each and
their ratios, and the F1 of both (the engine at its default threshold, splink at its best).

    python bench/bench_link.py --people 100000 --repeats 3
    python bench/bench_link.py --people 20000 --dedup
    python bench/bench_link.py --people 1000000 --repeats 1 --data out/people1m --only engine   # then --only splink

Peak memory is each process's maximum resident set size, which includes DuckDB's allocations.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PREPARE = """
import sys
from pathlib import Path
import numpy as np
import pandas as pd
from riskengine.synth import synth

folder, properties, rows, seed = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
full = folder / "full"
synth(full, properties=properties, seed=seed)
out = folder / "bench"
(out / "events").mkdir(parents=True, exist_ok=True)
(out / "truth").mkdir(exist_ok=True)
(full / "entities.csv").rename(out / "entities.csv")
sizes = {p.stem: sum(1 for _ in p.open()) - 1 for p in sorted((full / "events").glob("*.csv"))}
total = sum(sizes.values())
rng = np.random.default_rng(seed)
truth = pd.read_parquet(full / "truth" / "links.parquet")
truth["source"] = truth["source"].astype(str)
kept = []
for name, n in sizes.items():
    df = pd.read_csv(full / "events" / f"{name}.csv", dtype=str, keep_default_na=False, na_values=[""])
    take = np.sort(rng.choice(n, size=min(n, round(rows * n / total)), replace=False))
    df.iloc[take].to_csv(out / "events" / f"{name}.csv", index=False)
    t = truth[truth["source"] == name].set_index("line").loc[take + 1].reset_index()
    t["line"] = np.arange(1, len(take) + 1)  # lines of the sampled file
    kept.append(t[["source", "line", "true_entity_id"]])
pd.concat(kept, ignore_index=True).to_parquet(out / "truth" / "links.parquet")
"""


ADDRESS_ENGINE_RUN = """
import json, os, sys, time
os.environ.setdefault("RISKENGINE_PSEUDONYM_KEY", "benchmark-key-not-secret-0123456789")
from pathlib import Path
from riskengine.link import link, read_borough
from riskengine.spec import LinkSpec
folder = Path(sys.argv[1])
started = time.perf_counter()
entities, sources, truth = read_borough(folder / "bench")
result = link(entities, sources, LinkSpec(), folder / "out", truth=truth)
acc = result.metrics["accuracy"]["without_exact_key"]
p, r = acc["precision"] or 0.0, acc["recall"] or 0.0
rules = [b["blocking_rule"] if isinstance(b, dict) else b
         for b in result.model.settings["blocking_rules_to_generate_predictions"]]
(folder / "rules.json").write_text(json.dumps(rules))
(folder / "result.json").write_text(json.dumps({"seconds": time.perf_counter() - started, "precision": p, "recall": r,
    "f1": 2 * p * r / (p + r) if p + r else 0.0, "pairs": result.model.n_pairs}))
"""

ADDRESS_SPLINK_RUN = """
import json, re, sys, time
from pathlib import Path
import duckdb, numpy as np, pandas as pd, pyarrow as pa
from splink import Linker
from splink.backends.duckdb import DuckDBAPI
from riskengine.link import read_borough
from riskengine.link._decide import _unique_register
from riskengine.link._exact import attach_keys
from riskengine.link._fields import learn_places
from riskengine.link._job import prepare_table
from riskengine.link._link import ADDRESS, REGISTER, _with_address_text, address_fields
from riskengine.link._match import splink_settings
folder = Path(sys.argv[1])
rules = json.loads((folder / "rules.json").read_text())  # the blocking rules the engine's run used
started = time.perf_counter()
entities, sources, truth = read_borough(folder / "bench")
entities = _unique_register(entities)
frames = {n: df.reset_index(drop=True) for n, df in sources.items()}
states, resolved = attach_keys(frames, entities["entity_id"])
register = _with_address_text(entities)
fields, _ = address_fields(register, frames)
learn_places(fields, {REGISTER: register, **frames})
todo, unkeyed = [], []
for name, df in frames.items():  # the same rows the engine matches: those without a usable key
    need = resolved[name].isna()
    unkeyed.append(pd.DataFrame({"source": name, "line": df.loc[need, "line"].astype("int64").to_numpy()}))
    if "address" in df.columns and need.any():
        sub = df[need]
        todo.append(prepare_table(name, sub, fields).assign(source=name, line=sub["line"].astype("int64").to_numpy()))
records = pd.concat(todo, ignore_index=True)
records = records[records[ADDRESS].notna()].reset_index(drop=True)
columns = [c for c in records.columns if c not in ("source", "line")]
records["uid"] = records.groupby(columns, dropna=False, sort=False).ngroup().astype("int64")
distinct = records.drop_duplicates("uid")[columns + ["uid"]].reset_index(drop=True)
ent = prepare_table(REGISTER, register, fields).assign(uid=np.arange(len(register), dtype=np.int64) + len(distinct))
ent_ids = register["entity_id"].astype(str).to_numpy()
con = duckdb.connect()
db = DuckDBAPI(con)
tables = [db.register(pa.Table.from_pandas(ent, preserve_index=False), table_name="a_entities"),
          db.register(pa.Table.from_pandas(distinct, preserve_index=False), table_name="b_records")]
settings = splink_settings(fields, rules, dedupe=False, n_entities=len(ent), keep_columns=False)
import logging
logging.getLogger("splink").setLevel(logging.ERROR)  # its advice on untrained levels: not what is measured
linker = Linker(tables, settings)
for f in fields:  # an address's term frequency counted in the register, as the engine counts it
    if f.kind == "address":
        share = ent[f.name].dropna().value_counts(normalize=True)
        tf = pd.DataFrame({f.name: share.index.astype(str), f"tf_{f.name}": share.to_numpy()})
        linker.table_management.register_term_frequency_lookup(db.register(tf, table_name=f"tf_lookup_{f.name}"), f.name)
linker.training.estimate_u_using_random_sampling(max_pairs=min(1e6, max(1e5, 100.0 * len(ent))), seed=0)
for rule in sorted(rules, key=lambda r: r.count(" AND "))[:2]:  # splink's EM, each round on the fields a rule names
    conds = dict.fromkeys(re.sub(r"__\\w+", "", c) for c in rule.split(" AND "))
    try:
        linker.training.estimate_parameters_using_expectation_maximisation(" AND ".join(conds))
    except Exception as exc:
        print("splink EM round skipped:", exc, file=sys.stderr)
pred = linker.inference.predict(threshold_match_probability=0.01).as_pandas_dataframe()
pred = pred[["uid_l", "uid_r", "match_probability"]]
rec = np.where(pred["uid_l"] < len(distinct), pred["uid_l"], pred["uid_r"])
ent_uid = np.where(pred["uid_l"] < len(distinct), pred["uid_r"], pred["uid_l"])
best = pd.DataFrame({"uid": rec, "entity_id": ent_ids[ent_uid - len(distinct)], "p": pred["match_probability"]})
best = best.sort_values("p", ascending=False).drop_duplicates("uid").set_index("uid")
rows = pd.concat(unkeyed, ignore_index=True).merge(records[["source", "line", "uid"]], on=["source", "line"], how="left")
t = truth.assign(source=truth["source"].astype(str), line=pd.to_numeric(truth["line"]).astype("int64"))
rows = rows.merge(t[["source", "line", "true_entity_id"]], on=["source", "line"], how="left")
got = best.reindex(rows["uid"].to_numpy())
true_id = rows["true_entity_id"].astype("string").to_numpy(dtype=object)
f1, pr, rc = 0.0, 0.0, 0.0
for thr in [0.5, 0.7, 0.8, 0.9, 0.95, 0.99]:
    linked = (got["p"] >= thr).to_numpy()
    ok = int((linked & (got["entity_id"].to_numpy(dtype=object) == true_id)).sum())
    p_, r_ = ok / max(int(linked.sum()), 1), ok / max(int(pd.notna(true_id).sum()), 1)
    if p_ + r_ and 2 * p_ * r_ / (p_ + r_) > f1:
        f1, pr, rc = 2 * p_ * r_ / (p_ + r_), p_, r_
(folder / "result.json").write_text(json.dumps({"seconds": time.perf_counter() - started, "precision": pr,
                                                "recall": rc, "f1": f1, "pairs": -1}))
"""

PEOPLE_FIELDS = {"given_name": "forename", "surname": "surname", "date_of_birth": "date", "address_1": "address",
                 "suburb": "locality", "postcode": "postcode", "soc_sec_id": "identifier", "state": "exact"}

PEOPLE_PREPARE = """
import sys
from pathlib import Path
from riskengine.synth._people import duplicates, two_files
folder, n, seed, dedup = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
if dedup:
    df, truth = duplicates(n, seed=seed)
    df.to_parquet(folder / "people.parquet")
else:
    a, b, truth = two_files(n, seed=seed, date_style_b="dmy")
    a.to_parquet(folder / "a.parquet")
    b.to_parquet(folder / "b.parquet")
truth.to_parquet(folder / "truth.parquet")
"""

ENGINE_RUN = """
import json, os, sys, time
os.environ.setdefault("RISKENGINE_PSEUDONYM_KEY", "benchmark-key-not-secret-0123456789")
from pathlib import Path
import pandas as pd
from riskengine.link import run_job
from riskengine.spec import LinkField, LinkJobSpec, LinkTable
folder, dedup, fields = Path(sys.argv[1]), sys.argv[2] == "1", json.loads(sys.argv[3])
f = {c: LinkField(k) for c, k in fields.items()}
started = time.perf_counter()
truth = pd.read_parquet(folder / "truth.parquet")
if dedup:
    spec = LinkJobSpec(name="bench", sources={"people": LinkTable(id="rec_id", fields=f)})
    tables = {"people": pd.read_parquet(folder / "people.parquet")}
else:
    spec = LinkJobSpec(name="bench", register=LinkTable(id="rec_id", fields=f), sources={"b": LinkTable(id="rec_id", fields=f)})
    tables = {"register": pd.read_parquet(folder / "a.parquet"), "b": pd.read_parquet(folder / "b.parquet")}
result = run_job(spec, tables, folder / "engine_out", truth=truth)
(folder / "result.json").write_text(json.dumps({"seconds": time.perf_counter() - started, "f1": result.metrics["accuracy"]["f1"],
                  "pairs": result.metrics["candidate_pairs"]}))
"""

SPLINK_RUN = """
import json, sys, time
from pathlib import Path
import duckdb, numpy as np, pandas as pd
import splink.comparison_library as cl
from splink import Linker, SettingsCreator
from splink.backends.duckdb import DuckDBAPI
from riskengine.link._fields import blocking_rules
from riskengine.link._job import build_fields, prepare_table
from riskengine.spec import LinkField, LinkTable
folder, dedup, fields = Path(sys.argv[1]), sys.argv[2] == "1", json.loads(sys.argv[3])
t = LinkTable(id="rec_id", fields={c: LinkField(k) for c, k in fields.items()})
names = ["people"] if dedup else ["register", "b"]
raw = {n: pd.read_parquet(folder / ("people.parquet" if dedup else ("a.parquet" if n == "register" else "b.parquet"))) for n in names}
truth = pd.read_parquet(folder / "truth.parquet")
started = time.perf_counter()
fl = build_fields({n: t for n in names})
prepared, raw_prep = {}, {}
for n in names:  # the same cleaned columns the engine compares
    p = prepare_table(n, raw[n], fl)
    raw_prep[n] = p.assign(uid=raw[n]["rec_id"].to_numpy())
    keep = [c for c in p.columns if not c.endswith(("__forms", "__words"))]
    prepared[n] = p[keep].assign(uid=raw[n]["rec_id"].to_numpy())
del raw
rules = [r.sql for r in blocking_rules(fl)]
con = duckdb.connect()
if float(sys.argv[6]) > 0:  # DuckDB spills to disk past this (by default it takes up to 80% of the machine)
    con.execute(f"SET memory_limit = '{float(sys.argv[6])}GB'")
    con.execute(f"SET temp_directory = '{folder / 'splink_spill'}'")
db = DuckDBAPI(con)
baseline = sys.argv[5]
comparisons = [
    cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
    cl.NameComparison("surname").configure(term_frequency_adjustments=True),
    cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y-%m-%d"),
    cl.JaroWinklerAtThresholds("address_1", [0.9, 0.7]),
    cl.ExactMatch("suburb").configure(term_frequency_adjustments=True),
    cl.LevenshteinAtThresholds("postcode", [1]),
    cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
    cl.ExactMatch("state"),
]
# the engine's own cap on pairs per rule, so both score the same candidate pairs
n_rows = sum(len(p) for p in prepared.values())
if baseline == "same":  # the engine's own comparisons and blocking, from the one function that builds them
    from riskengine.link._match import splink_settings
    settings = splink_settings(fl, json.loads(sys.argv[4]), dedupe=dedup, n_entities=len(prepared[names[0]]),
                               keep_columns=False)
    prepared = {n: raw_prep[n] for n in names}
else:  # splink's library comparisons on the same cleaned columns
    settings = SettingsCreator(link_type="dedupe_only" if dedup else "link_only", unique_id_column_name="uid",
                               comparisons=comparisons, blocking_rules_to_generate_predictions=json.loads(sys.argv[4]))
import pyarrow as pa  # as Arrow tables, as the engine hands them to DuckDB (no copy into Python objects)
tables = [db.register(pa.Table.from_pandas(prepared[n], preserve_index=False), table_name=n) for n in names]
del prepared, raw_prep
linker = Linker(tables, settings)
import logging
logging.getLogger("splink").setLevel(logging.WARNING)
linker.training.estimate_probability_two_random_records_match(
    ["l.soc_sec_id = r.soc_sec_id", "l.given_name = r.given_name AND l.surname = r.surname AND l.date_of_birth = r.date_of_birth"],
    recall=0.7)
linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=0)
for rule in ["l.date_of_birth = r.date_of_birth", "l.surname = r.surname AND l.given_name = r.given_name"]:
    linker.training.estimate_parameters_using_expectation_maximisation(rule, record_sample_proportion=min(1.0, 200_000 / n_rows))
pred = linker.inference.predict(threshold_match_probability=0.01)
if dedup:
    best_f1 = 0.0
    pairs = pred.as_pandas_dataframe()[["uid_l", "uid_r", "match_probability"]]
    for thr in [0.5, 0.7, 0.8, 0.9, 0.95, 0.99]:
        c = linker.clustering.cluster_pairwise_predictions_at_threshold(pred, threshold_match_probability=thr).as_pandas_dataframe()
        r = c[["uid", "cluster_id"]].merge(truth.rename(columns={"row_id": "uid"}), on="uid")
        pp = lambda s: int((s * (s - 1) // 2).sum())
        n_pred, n_true, ok = pp(r.groupby("cluster_id").size()), pp(r.groupby("true_id").size()), pp(r.groupby(["cluster_id", "true_id"]).size())
        p, rc = ok / max(n_pred, 1), ok / max(n_true, 1)
        best_f1 = max(best_f1, 2 * p * rc / (p + rc) if p + rc else 0)
else:
    df = pred.as_pandas_dataframe()
    df["rec"] = np.where(df["source_dataset_l"] == "b", df["uid_l"], df["uid_r"])
    df["ent"] = np.where(df["source_dataset_l"] == "b", df["uid_r"], df["uid_l"])
    best = df.sort_values("match_probability", ascending=False).drop_duplicates("rec")
    t = truth.set_index("row_id")["true_id"].astype(object)
    t = t.where(t.notna(), None)
    n_true = int(t.notna().sum())
    best_f1 = 0.0
    for thr in [0.5, 0.7, 0.8, 0.9, 0.95, 0.99]:
        linked = best[best["match_probability"] >= thr]
        ok = int((linked["ent"].to_numpy(dtype=object) == t.reindex(linked["rec"]).to_numpy(dtype=object)).sum())
        p, rc = ok / max(len(linked), 1), ok / max(n_true, 1)
        best_f1 = max(best_f1, 2 * p * rc / (p + rc) if p + rc else 0)
(folder / "result.json").write_text(json.dumps({"seconds": time.perf_counter() - started, "f1": round(best_f1, 4), "pairs": -1}))
"""


def _child_rusage(code: str, *args: str) -> tuple[dict, float]:
    """Run `code` in its own process (it writes result.json in the folder, args[0]); the result, with the
    process's CPU time (user + system: on a shared machine the fair measure of work) added, and its peak
    memory (GB)."""
    import json

    result = Path(args[0]) / "result.json"
    result.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode or not result.is_file():
        raise SystemExit(f"benchmark child failed (exit code {proc.returncode}; negative: the signal that ended it)")
    out = json.loads(result.read_text())
    out["cpu"] = usage.ru_utime + usage.ru_stime
    return out, usage.ru_maxrss / 1024 ** 2


def bench_people(n: int, repeats: int, dedup: bool, seed: int, baseline: str = "same", data: str | None = None,
                 only: str | None = None, splink_memory: float = 0.0) -> None:
    """The engine's link job against splink run directly, interleaved, each in its own process.

    `data`: a folder to keep the generated people in (made if empty, reused otherwise), so the
    two sides can be measured by separate invocations (`only`) when one machine cannot hold
    both runs' memory in one session; splink then blocks with the rules in the engine's last
    report there."""
    import contextlib
    import json
    import statistics

    fields = json.dumps(PEOPLE_FIELDS)
    with (contextlib.nullcontext(data) if data else tempfile.TemporaryDirectory(prefix="bench_people_")) as tmp:
        Path(tmp).mkdir(parents=True, exist_ok=True)
        if not (Path(tmp) / "truth.parquet").is_file():
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", PEOPLE_PREPARE, tmp, str(n), str(seed), "1" if dedup else "0"],
                           check=True)
            print(f"  people generated in {time.perf_counter() - started:.0f} s (not timed)", flush=True)
        # splink gets the blocking rules the engine used (read from the engine's report)
        runs = {"engine": [], "splink": []}
        sides = [s for s in ("engine", "splink") if only in (None, s)]
        for i in range(repeats):
            line = []
            for side in sides:
                if side == "engine":
                    res, peak = _child_rusage(ENGINE_RUN, tmp, "1" if dedup else "0", fields)
                else:
                    report = json.loads((Path(tmp) / "engine_out" / "link_report.json").read_text())
                    used = json.dumps([b["sql"] for b in report["model"]["blocking"] if b["used"]])
                    try:
                        res, peak = _child_rusage(SPLINK_RUN, tmp, "1" if dedup else "0", fields, used, baseline,
                                                  str(splink_memory))
                    except SystemExit as exc:  # out of memory, most likely: say so, keep the engine's figures
                        print(f"  round {i + 1}: splink failed: {exc}", flush=True)
                        continue
                runs[side].append((res, peak))
                line.append(f"{side} {res['seconds']:.1f} s wall {res['cpu']:.1f} s CPU {peak:.2f} GB F1 {res['f1']:.4f}")
                print(f"  round {i + 1}: {line[-1]}", flush=True)
    what = f"deduplicating {n:,} people" if dedup else f"two files of {n:,} people"
    runs = {k: v for k, v in runs.items() if v}
    med = {k: (statistics.median(r[0]["seconds"] for r in v), statistics.median(r[1] for r in v),
               statistics.median(r[0]["cpu"] for r in v)) for k, v in runs.items()}
    print(f"link job vs splink directly, {what} (median of {repeats}, interleaved, own process each):")
    for k in runs:
        r = runs[k][0][0]
        pairs = f"  candidate pairs {r['pairs']:,}" if r["pairs"] >= 0 else "  (same blocking rules)"
        print(f"  {k:7s} {med[k][0]:8.1f} s wall  {med[k][2]:8.1f} s CPU  peak {med[k][1]:.2f} GB  F1 {r['f1']:.4f}{pairs}")
    if len(runs) == 2:
        ratios = [e[0]["cpu"] / s[0]["cpu"] for e, s in zip(runs["engine"], runs["splink"])]
        print(f"  ratio engine/splink: CPU time {med['engine'][2] / med['splink'][2]:.2f} (per round {', '.join(f'{x:.2f}' for x in ratios)})"
              f"  wall time {med['engine'][0] / med['splink'][0]:.2f}  memory {med['engine'][1] / med['splink'][1]:.2f}")
    print("  (engine F1 at its default threshold 0.95; splink's at its best threshold of 0.5-0.99; the engine's time"
          " includes cleaning, reports and links.csv, splink's includes the same cleaning)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--properties", type=int, default=50_000)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--people", type=int, default=0, help="benchmark the link job on N synthetic people against splink")
    parser.add_argument("--dedup", action="store_true", help="with --people: one file to deduplicate")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", choices=["same", "library"], default="same",
                        help="splink with the engine's comparisons (same) or with its library comparisons")
    parser.add_argument("--data", help="with --people: keep the generated people in this folder (reused if there)")
    parser.add_argument("--only", choices=["engine", "splink"], help="with --people: run one side only (see --data)")
    parser.add_argument("--splink-memory", type=float, default=0.0,
                        help="with --people: DuckDB's memory limit for splink in GB, spilling to disk past it "
                             "(0: DuckDB's default, 80%% of the machine)")
    args = parser.parse_args()
    if args.people:
        bench_people(args.people, args.repeats, args.dedup, args.seed, args.baseline, args.data, args.only,
                     args.splink_memory)
        return

    bench_addresses(args.properties, args.rows, args.repeats, args.seed)


def bench_addresses(properties: int, rows: int, repeats: int, seed: int) -> None:
    """The engine's address linkage against splink run directly on the same rows, interleaved, each in
    its own process (see the module's docstring)."""
    import statistics

    with tempfile.TemporaryDirectory(prefix="bench_link_") as tmp:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", PREPARE, tmp, str(properties), str(rows), str(seed)], check=True)
        print(f"prepared a borough of {properties:,} properties in {time.perf_counter() - started:.0f} s (not timed)",
              flush=True)
        runs = {"engine": [], "splink": []}
        for i in range(repeats):
            for side, code in (("engine", ADDRESS_ENGINE_RUN), ("splink", ADDRESS_SPLINK_RUN)):
                res, peak = _child_rusage(code, tmp)
                runs[side].append((res, peak))
                print(f"  round {i + 1}: {side} {res['seconds']:.1f} s wall {res['cpu']:.1f} s CPU {peak:.2f} GB "
                      f"F1 {res['f1']:.4f}", flush=True)
    med = {k: (statistics.median(r[0]["seconds"] for r in v), statistics.median(r[1] for r in v),
               statistics.median(r[0]["cpu"] for r in v)) for k, v in runs.items()}
    print(f"address linkage vs splink directly: {rows:,} source rows against {properties:,} properties "
          f"(median of {repeats}, interleaved, own process each)")
    for k, v in runs.items():
        r = v[0][0]
        pairs = f"  candidate pairs {r['pairs']:,}" if r["pairs"] >= 0 else "  (same blocking rules)"
        print(f"  {k:7s} {med[k][0]:8.1f} s wall  {med[k][2]:8.1f} s CPU  peak {med[k][1]:.2f} GB  precision "
              f"{r['precision']:.4f}  recall {r['recall']:.4f}  F1 {r['f1']:.4f}{pairs}")
    ratios = [e[0]["cpu"] / s_[0]["cpu"] for e, s_ in zip(runs["engine"], runs["splink"])]
    print(f"  ratio engine/splink: CPU time {med['engine'][2] / med['splink'][2]:.2f} (per round "
          f"{', '.join(f'{x:.2f}' for x in ratios)})  wall time {med['engine'][0] / med['splink'][0]:.2f}  "
          f"memory {med['engine'][1] / med['splink'][1]:.2f}")
    print("  (rows without an exact key; the engine at its default threshold 0.95, splink at its best of 0.5-0.99; "
          "the engine's time includes pseudonymising, reports and golden records, splink's the same reading, keys "
          "and cleaning)")


if __name__ == "__main__":
    main()
