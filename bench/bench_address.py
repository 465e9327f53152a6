"""Accuracy of address linkage on addresses outside the UK: precision, recall and F1 of both paths.

Synthetic addresses from `riskengine.synth._people.address_files` (a register of Australian-style
addresses, a second file typing part of them again: units as "3/12", "Apt 3 12", "12 ... Unit 3",
abbreviated street types, suburb, state and postcode written in the text, typos, missing
postcodes), linked twice: as a link spec (`run_job`, fields address / locality / postcode, with
`--state` also the state as `exact`), as a training spec's default `[link]` (`riskengine.link.link`,
columns address / town / postcode) and as a training spec's `[link] fields` (the link spec's fields
on the file's own columns). Prints each path's figures and the time it took.

    python bench/bench_address.py --n 4000 --seed 0
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from riskengine.link import link, run_job
from riskengine.spec import LinkField, LinkJobSpec, LinkSpec, LinkTable
from riskengine.synth._people import address_files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000, help="addresses in the register")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--state", action="store_true", help="also compare the state (an exact field)")
    args = parser.parse_args()
    a, b, truth = address_files(args.n, seed=args.seed)

    fields = {"address_1": LinkField("address"), "suburb": LinkField("locality"), "postcode": LinkField("postcode")}
    if args.state:
        fields["state"] = LinkField("exact")
    spec = LinkJobSpec(name="addresses", register=LinkTable(id="rec_id", fields=fields),
                       sources={"b": LinkTable(id="rec_id", fields=fields)})
    started = time.perf_counter()
    job = run_job(spec, {"register": a, "b": b}, truth=truth, allow_ephemeral_key=True)
    acc = job.metrics["accuracy"]
    print(f"link spec:      precision {acc['precision']:.4f}  recall {acc['recall']:.4f}  F1 {acc['f1']:.4f}  "
          f"review {job.metrics['decisions']['review']:,} rows  ({time.perf_counter() - started:.1f} s)")

    entities = a.rename(columns={"rec_id": "entity_id", "address_1": "address", "suburb": "town"})
    source = b.rename(columns={"address_1": "address", "suburb": "town"}).assign(
        line=range(1, len(b) + 1), entity_id=pd.NA, date="2024-01-01", type="call")
    t = truth.set_index("row_id").loc[b["rec_id"]]
    t = pd.DataFrame({"source": "calls", "line": range(1, len(b) + 1), "true_entity_id": t["true_id"].to_numpy()})
    started = time.perf_counter()
    result = link(entities, {"calls": source}, LinkSpec(), truth=t, allow_ephemeral_key=True)
    acc = result.metrics["accuracy"]["without_exact_key"]
    f1 = 2 * acc["precision"] * acc["recall"] / (acc["precision"] + acc["recall"])
    print(f"training [link]: precision {acc['precision']:.4f}  recall {acc['recall']:.4f}  F1 {f1:.4f}  "
          f"review {result.metrics['provenance']['reviewed']:,} rows  ({time.perf_counter() - started:.1f} s)  "
          f"kinds {result.metrics['address_fields']}")

    source = b.assign(line=range(1, len(b) + 1), entity_id=pd.NA, date="2024-01-01", type="call")
    started = time.perf_counter()
    result = link(a.rename(columns={"rec_id": "entity_id"}), {"calls": source}, LinkSpec(fields=fields), truth=t,
                  allow_ephemeral_key=True)
    acc = result.metrics["accuracy"]["without_exact_key"]
    f1 = 2 * acc["precision"] * acc["recall"] / (acc["precision"] + acc["recall"])
    same = (job.links.set_index("row_id")["entity_id"].reindex(b["rec_id"]).fillna("-").to_numpy()
            == result.sources["calls"]["entity_id"].fillna("-").to_numpy()).mean()
    print(f"[link] fields:   precision {acc['precision']:.4f}  recall {acc['recall']:.4f}  F1 {f1:.4f}  "
          f"review {result.metrics['provenance']['reviewed']:,} rows  ({time.perf_counter() - started:.1f} s)  "
          f"same entity as the link spec for {same:.2%} of rows")


if __name__ == "__main__":
    main()
