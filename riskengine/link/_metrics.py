"""Linkage metrics: rows per provenance, the review share, and precision and recall against a truth table."""

from __future__ import annotations

import pandas as pd

from riskengine.errors import RiskEngineError
from riskengine.link._probabilistic import MatchModel

PROVENANCE = ["exact", "probabilistic", "reviewed", "unmatched"]


def link_metrics(sources: dict[str, pd.DataFrame], truth: pd.DataFrame | None, records: pd.DataFrame,
                 prov: pd.Series, model: MatchModel | None, proposals: pd.DataFrame | None = None) -> dict:
    """Counts per provenance, the review share and, given a truth table, precision and recall."""
    per_source = {}
    total = {p: 0 for p in PROVENANCE}
    n = 0
    for name, df in sources.items():
        counts = df["match_provenance"].value_counts().reindex(PROVENANCE, fill_value=0)
        per_source[name] = {p: int(counts[p]) for p in PROVENANCE} | {"rows": len(df)}
        for p in PROVENANCE:
            total[p] += int(counts[p])
        n += len(df)
    needing = n - total["exact"]
    metrics: dict = {
        "rows": n,
        "provenance": total,
        "by_source": per_source,
        "review_share": round(total["reviewed"] / n, 4) if n else 0.0,
        "review_share_of_unkeyed": round(total["reviewed"] / needing, 4) if needing else 0.0,
        "review_addresses": int(records.loc[prov.eq("reviewed"), "review_id"].nunique()) if len(records) else 0,
        "distinct_addresses_matched": int(records["review_id"].nunique()) if len(records) else 0,
        "candidate_pairs": model.n_pairs if model else 0,
        "estimated_match_rate": round(model.match_rate, 4) if model else None,
    }
    if truth is not None:
        metrics["accuracy"] = linkage_accuracy(sources, truth)
        if proposals is not None and len(proposals):
            t = truth.assign(source=truth["source"].astype(str), line=pd.to_numeric(truth["line"]).astype("int64"),
                             true_entity_id=truth["true_entity_id"].astype("string"))
            p = proposals.assign(line=pd.to_numeric(proposals["line"]).astype("int64")).merge(
                t[["source", "line", "true_entity_id"]], on=["source", "line"], how="left")
            right = (p["entity_id"].astype("string") == p["true_entity_id"]).fillna(False).astype(bool)
            metrics["accuracy"]["review_proposals_correct_share"] = round(float(right.mean()), 4)
    return metrics


def linkage_accuracy(sources: dict[str, pd.DataFrame], truth: pd.DataFrame) -> dict:
    """Precision (linked rows linked to the right entity) and recall (true links found).

    `truth` has source, line and true_entity_id; rows whose true entity is missing are
    not expected to link. Figures are given overall and for the probabilistic part alone.
    """
    missing = [c for c in ("source", "line", "true_entity_id") if c not in truth.columns]
    if missing:
        raise RiskEngineError(f"truth table: missing column {', '.join(missing)}; expected source, line, true_entity_id")
    t = truth.assign(source=truth["source"].astype(str), line=pd.to_numeric(truth["line"]).astype("int64"),
                     true_entity_id=truth["true_entity_id"].astype("string"))
    frames = []
    for name, df in sources.items():
        frames.append(pd.DataFrame({"source": name, "line": pd.to_numeric(df["line"]).astype("int64").to_numpy(),
                                    "entity_id": df["entity_id"].astype("string").to_numpy(),
                                    "provenance": df["match_provenance"].astype(str).to_numpy(),
                                    "probability": df["match_probability"].to_numpy()}))
    rows = pd.concat(frames, ignore_index=True).merge(t[["source", "line", "true_entity_id"]], on=["source", "line"], how="left")

    def score(r: pd.DataFrame) -> dict:
        linked = r["entity_id"].notna()
        truly = r["true_entity_id"].notna()
        correct = linked & (r["entity_id"] == r["true_entity_id"]).fillna(False).astype(bool)
        return {
            "rows": int(len(r)),
            "linked": int(linked.sum()),
            "true_links": int(truly.sum()),
            "correct": int(correct.sum()),
            "precision": round(float(correct.sum() / linked.sum()), 4) if linked.any() else None,
            "recall": round(float(correct.sum() / truly.sum()), 4) if truly.any() else None,
        }

    unkeyed = rows[rows["provenance"] != "exact"]
    review = rows[rows["provenance"] == "reviewed"]
    return {
        "overall": score(rows),
        "without_exact_key": score(unkeyed),
        "by_source": {s: score(g) for s, g in rows.groupby("source")},
        "rows_without_truth": int(rows["true_entity_id"].isna().sum()),
        "review_band_rows": int(len(review)),
    }
