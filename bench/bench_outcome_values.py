"""What reading text outcomes costs: ingest's outcome validation on the same rows written as 0/1
and as a city writes them ("Pass", "Fail", "Pass w/ Conditions", "Out of Business" ... mapped by
the source's `outcome_values`), timed interleaved in one process, median of `--repeat` runs.

Prints both times, the ratio (text / numbers) and the peak memory of the process. Both files are
read as they would be (`read_table`, all text); the timing covers `validate_outcomes` alone, the
step the map adds work to.

    flock /work/wt/bench.lock nice -n 5 python bench/bench_outcome_values.py --rows 1000000
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from riskengine.ingest import read_table, validate_outcomes
from riskengine.spec import Source

VALUES = {"Fail": 1, "Pass": 0, "Pass w/ Conditions": 0, "Out of Business": "skip", "No Entry": "skip",
          "Not Ready": "skip", "Business Not Located": "skip"}
WORDS = np.array(["Pass", "Fail", "Pass w/ Conditions", "Out of Business", "No Entry", "Not Ready",
                  "Business Not Located", " PASS ", "fail"])
SHARES = [0.45, 0.2, 0.15, 0.08, 0.05, 0.03, 0.01, 0.02, 0.01]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    ids = np.array([f"L{i:07d}" for i in range(args.entities)])
    words = rng.choice(WORDS, args.rows, p=SHARES)
    dates = (pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 3000, args.rows), unit="D"))
    entity = rng.choice(ids, args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        text_path, number_path = Path(tmp) / "text.csv", Path(tmp) / "numbers.csv"
        pd.DataFrame({"entity_id": entity, "date": dates.strftime("%Y-%m-%d"), "outcome": words}).to_csv(
            text_path, index=False)
        outcome = pd.Series(words).str.strip().str.lower().map({"fail": "1", "pass": "0", "pass w/ conditions": "0"})
        keep = outcome.notna().to_numpy()  # the 0/1 twin: only the rows that are outcomes, as a user would prepare it
        pd.DataFrame({"entity_id": entity[keep], "date": dates[keep].strftime("%Y-%m-%d"),
                      "outcome": outcome[keep]}).to_csv(number_path, index=False)
        text, _ = read_table(Source(path=text_path), ["entity_id", "date", "outcome"])
        numbers, _ = read_table(Source(path=number_path), ["entity_id", "date", "outcome"])
        known, today = pd.Index(ids), pd.Timestamp("2026-01-01")
        times = {"numbers": [], "text": []}
        for _ in range(args.repeat):
            for name, raw, values in (("numbers", numbers, None), ("text", text, VALUES)):
                started = time.perf_counter()
                good, rejects, skipped = validate_outcomes(raw, "x", known, today, "binary", values=values)
                times[name].append(time.perf_counter() - started)
                assert len(rejects) == 0 and len(good) == int(keep.sum()), (name, len(rejects), len(good))
        a, b = statistics.median(times["numbers"]), statistics.median(times["text"])
        print(f"{args.rows:,} text rows ({len(skipped):,} skipped) against their {int(keep.sum()):,}-row 0/1 twin, "
              f"median of {args.repeat}")
        print(f"validate_outcomes: 0/1 {a:.2f} s, text with outcome_values {b:.2f} s, ratio {b / a:.2f}x")
        print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
