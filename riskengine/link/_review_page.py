"""The clerk's review page: one for every path (a link spec's job, a training or data spec's `[link]`).

It shows clear values (the council's own records, for its own staff), so it is written only
beside the review file, never logged elsewhere (MLflow included), and deleted with the review
file when the clerk's decisions are read back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd

from riskengine.templating import environment


def write_review_page(path: Path, review: pd.DataFrame, fields: list[str], *, name: str, review_file: str,
                      decisions_key: str, heading: Callable[[dict], str], other: str = "candidate") -> Path:
    """The clerk's page: each row under review as a small table, the record's clear value of every
    field beside its candidate's (`record_<field>` and `<other>_<field>` columns of `review`), the
    same ones marked, and where the review has them (`agreement_<field>`, `weight_<field>`) how the
    model read the pair: the comparison level and its weight (two ways of writing one date agree). One page for every path (link specs, a training spec's `[link]`); it holds
    clear values, so it sits beside the review file and is deleted with it."""
    rows = []
    for r in review.astype(object).where(review.notna(), None).to_dict("records"):
        pairs = []
        for f in fields:
            a, b = r.get(f"record_{f}"), r.get(f"{other}_{f}")
            a, b = ("" if a is None else str(a)), ("" if b is None else str(b))
            level, weight = r.get(f"agreement_{f}"), r.get(f"weight_{f}")
            said = " ".join(x for x in (str(level) if level else "",
                                        f"(weight {float(weight):+.1f})" if weight is not None else "") if x)
            pairs.append({"field": f, "record": a, "candidate": b, "same": bool(a) and a.lower() == b.lower(),
                          "model": said})
        rows.append({"heading": heading(r), "probability": float(r.get("match_probability") or 0.0),
                     "review_id": r.get("review_id"), "pairs": pairs})
    path.write_text(environment().get_template("link_review.html").render(
        name=name, rows=rows, review_file=review_file, decisions_key=decisions_key,
        with_model=any(p["model"] for r in rows for p in r["pairs"])))
    return path
