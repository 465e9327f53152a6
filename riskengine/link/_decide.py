"""What both matching paths (addresses, people) share once candidates are scored: the result type,
thresholds and clerical decisions, and the linked sources assembled row by row.

Kept apart from _link.py and _people.py so that neither imports the other's private parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from riskengine.errors import RiskEngineError
from riskengine.io import read_file
from riskengine.link._metrics import PROVENANCE
from riskengine.link._probabilistic import MatchModel
from riskengine.progress import note
from riskengine.spec import LinkSpec, kept_decisions_path

DECISIONS = {"match", "no match"}

@dataclass
class LinkResult:
    """What link() returns; `paths` lists every file it wrote."""

    sources: dict[str, pd.DataFrame]  # each source with entity_id, match_provenance, match_probability
    review: pd.DataFrame  # clerical-review pairs side by side, with the match weights
    golden: pd.DataFrame  # one row per entity
    rules: dict[str, dict]  # survivorship rule and contributing sources per golden field
    metrics: dict
    quality: dict
    model: MatchModel | None = None
    key_origin: str = ""
    paths: dict[str, Path] = field(default_factory=dict)


def _say(progress: bool, message: str) -> None:
    note(message, prefix="link", quiet=not progress)



def _unique_register(entities: pd.DataFrame) -> pd.DataFrame:
    """One row per entity id (ids trimmed); a repeated id keeps its first row, as ingest does."""
    ids = entities["entity_id"].astype("string").str.strip()
    keep = ids.notna() & (ids != "") & ~ids.duplicated(keep="first")
    return entities.assign(entity_id=ids)[keep.to_numpy()].reset_index(drop=True)





def _read_decisions(path: Path | None, out_dir: Path | None = None) -> pd.DataFrame:
    """The clerk's decisions (review_id, entity_id, decision).

    The review file holds clear values (names, addresses), so once read it is deleted, with the
    review page beside it; its decisions are kept as ids in `<name>.kept.csv` beside it, which
    later runs (scoring's too) read when the review file is gone. With `out_dir` (the run's link
    folder) the kept decisions are written there too: a clerk who fills the run's own review.csv
    in place names a file whose folder the next training run replaces, and the kept file must
    live on in the new one. A review file with no decision filled in is not read back: it is left
    as it is (the run's fresh list, not yet seen by a clerk).
    """
    if path is None:
        return pd.DataFrame(columns=["review_id", "entity_id", "decision"])
    path = Path(path)
    kept_path = kept_decisions_path(path)
    kept = pd.read_csv(kept_path, dtype=str, keep_default_na=False) if kept_path.is_file() else None
    if not path.is_file():
        if kept is not None:
            return kept
        raise RiskEngineError(f"{path}: clerical-review decisions file not found (link.review_decisions)")
    df = read_file(path, "clerical-review decisions file", text=True).fillna("")  # a clerk's file: a bad line is named, not a traceback
    missing = [c for c in ("review_id", "entity_id", "decision") if c not in df.columns]
    if missing:
        raise RiskEngineError(f"{path}: missing column {', '.join(missing)}; the review file's columns "
                              "review_id, entity_id and decision are needed")
    df["decision"] = df["decision"].str.strip().str.lower()
    df = df[df["decision"] != ""]
    bad = df[~df["decision"].isin(DECISIONS)]
    if len(bad):
        row = int(bad.index[0]) + 2
        raise RiskEngineError(f"{path}: line {row}, column 'decision': expected 'match' or 'no match' "
                              f"(or empty), got {bad['decision'].iloc[0]!r}")
    out = df[["review_id", "entity_id", "decision"]]
    if out.empty:  # nothing decided yet: the file stays for the clerk, the kept decisions apply
        out = kept if kept is not None else out
        _keep_in(out, out_dir, kept_path)
        return out.reset_index(drop=True)
    if kept is not None:
        out = pd.concat([kept, out], ignore_index=True).drop_duplicates(["review_id", "entity_id"], keep="last")
    out.to_csv(kept_path, index=False)
    _keep_in(out, out_dir, kept_path)
    path.unlink()
    (path.parent / "review.html").unlink(missing_ok=True)
    return out.reset_index(drop=True)


def _keep_in(decisions: pd.DataFrame, out_dir: Path | None, kept_path: Path) -> None:
    """A copy of the kept decisions (ids only) in the run's link folder, under the kept file's name."""
    if out_dir is None or decisions.empty:
        return
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    decisions.to_csv(Path(out_dir) / kept_path.name, index=False)



def decide(prob: pd.Series, cand: pd.Series, decision: pd.Series, spec: LinkSpec) -> tuple[pd.Series, pd.Series]:
    """Provenance and linked entity per record from its best candidate's probability.

    At or above `upper`: probabilistic; from `lower`: reviewed (no entity until a clerk
    says 'match'); below: unmatched. A clerk's decision wins over the band either way.
    """
    band = np.select([prob >= spec.upper, prob >= spec.lower], ["probabilistic", "reviewed"], default="unmatched")
    prov = pd.Series(band, index=prob.index)
    prov[decision.eq("match")] = "reviewed"
    prov[decision.eq("no match")] = "unmatched"
    linked = prov.eq("probabilistic") | decision.eq("match")
    return prov, cand.where(linked)


def _assemble(df: pd.DataFrame, name: str, resolved: pd.Series, records: pd.DataFrame, prov: pd.Series,
              prob: pd.Series, linked_id: pd.Series) -> pd.DataFrame:
    """One source's rows with entity_id, match_provenance, match_probability and review_id."""
    res = df.copy()
    res["entity_id"] = resolved
    res["match_provenance"] = pd.Series(np.where(resolved.notna(), "exact", "unmatched"), index=df.index)
    res["match_probability"] = np.where(resolved.notna(), 1.0, np.nan)
    res["review_id"] = pd.Series(pd.NA, index=df.index, dtype="string")
    mine = records["source"] == name
    rows = records.loc[mine, "row"].to_numpy()
    res.loc[rows, "entity_id"] = linked_id[mine].to_numpy()
    res.loc[rows, "match_provenance"] = prov[mine].to_numpy()
    res.loc[rows, "match_probability"] = prob[mine].to_numpy()
    in_review = mine & prov.eq("reviewed")
    res.loc[records.loc[in_review, "row"].to_numpy(), "review_id"] = records.loc[in_review, "review_id"].to_numpy()
    res["match_provenance"] = pd.Categorical(res["match_provenance"], categories=PROVENANCE)
    return res


def _proposals(records: pd.DataFrame, prov: pd.Series, cand: pd.Series, sources: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The candidate each reviewed row would get if a clerk said 'match' (to measure the review band)."""
    pending = records[prov.eq("reviewed") & cand.notna()]
    lines = [sources[name].at[row, "line"] for name, row in zip(pending["source"], pending["row"])]
    return pd.DataFrame({"source": pending["source"].to_numpy(), "line": lines,
                         "entity_id": cand[pending.index].to_numpy()})



def _apply_decisions(review_ids: pd.Series, cand: pd.Series, decisions: pd.DataFrame) -> pd.Series:
    """Each record's clerical decision about its best candidate ('' when there is none)."""
    if decisions.empty:
        return pd.Series("", index=review_ids.index)
    d = decisions.drop_duplicates(["review_id", "entity_id"], keep="last")
    key = pd.Series(d["decision"].to_numpy(), index=pd.MultiIndex.from_arrays([d["review_id"], d["entity_id"]]))
    pairs = pd.MultiIndex.from_arrays([review_ids.astype(str).to_numpy(), cand.astype(str).fillna("").to_numpy()])
    return pd.Series(key.reindex(pairs).fillna("").to_numpy(), index=review_ids.index)


def _review_head(in_band: pd.DataFrame, candidates: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The review table's first columns, one row per record in the band: how many source rows
    share it, from which sources, and the best candidate's probability, runner-up and weight."""
    counts = in_band.groupby("review_id").agg(rows=("row", "size"),
                                               sources=("source", lambda s: "; ".join(sorted(set(s)))))
    best = candidates[(candidates["rank"] == 1) & candidates["record_id"].isin(counts.index)]
    best = best.reindex(columns=list(dict.fromkeys([*best.columns, "runner_up_probability", "match_weight"])))
    best = best.drop_duplicates("record_id", keep="last").set_index("record_id")
    out = pd.DataFrame(index=best.index)
    out.index.name = "review_id"
    out["rows"] = counts["rows"].reindex(out.index)  # reindexed: an empty frame would adopt counts' index
    out["sources"] = counts["sources"].reindex(out.index)
    out["match_probability"] = best["match_probability"].round(4)
    out["runner_up_probability"] = best["runner_up_probability"].astype("float64").round(4)
    out["match_weight"] = best["match_weight"].astype("float64").round(2)
    return out, best


def _empty_review() -> pd.DataFrame:
    return pd.DataFrame(columns=["review_id", "rows", "sources", "match_probability", "match_weight", "entity_id",
                                 "decision"])  # the clerk's column even when nobody is under review


def check_linked_share(share: float, unkeyed: int, spec: LinkSpec, warnings: list[str], what: str) -> None:
    """Warn when few of the rows without a key found an entity ("only x% ... `what`"); stop below
    `link.checks.linked_share_error` when the spec sets one."""
    if not unkeyed or share >= spec.checks.linked_share_warn:
        return
    msg = f"only {share:.1%} of the {unkeyed:,} rows without a key {what}"
    if spec.checks.linked_share_error > 0 and share < spec.checks.linked_share_error:
        raise RiskEngineError(f"linkage stopped: {msg} - below link.checks.linked_share_error = "
                              f"{spec.checks.linked_share_error}")
    warnings.append(msg)
