"""From scores to the list: exclusions, ranking, capacity, quotas and a random exploration slice.

Ranking is by the model's raw score, highest first; equal scores go in entity_id order, so
the same inputs always give the same list. Top-k of millions uses `numpy.argpartition` on
a pool a few times the capacity, widened only when exclusions or quotas exhaust it.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from riskengine.errors import RiskEngineError
from riskengine.exclusions import exclusions  # noqa: F401  (part of scoring's API)

MISSING_GROUP = "(missing)"


def _id_ranks(ids: np.ndarray) -> np.ndarray:
    """Each id's position in sorted order: the tie-breaker for equal scores."""
    order = np.argsort(ids.astype(str), kind="stable")
    ranks = np.empty(len(ids), dtype=np.int64)
    ranks[order] = np.arange(len(ids))
    return ranks


def rank_order(score: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Positions sorted by score (highest first), ties by entity_id (ascending)."""
    return np.lexsort((_id_ranks(np.asarray(ids)), -np.asarray(score, dtype=float)))


def _top_pool(score: np.ndarray, candidates: np.ndarray, size: int) -> np.ndarray:
    """The `size` best candidates, plus any tied with the last of them (order not yet fixed)."""
    if size >= len(candidates):
        return candidates
    s = score[candidates]
    part = np.argpartition(-s, size - 1)[:size]
    cutoff = s[part].min()
    return candidates[s >= cutoff]


def _groups(scores: pd.DataFrame, quotas: dict[str, int], rows: np.ndarray) -> dict[str, dict[int, str]]:
    """The quota columns' values (missing as its own group) for the given row positions."""
    out = {}
    for c in quotas:
        values = scores[c].iloc[rows]
        labels = values.astype(object).where(values.notna(), MISSING_GROUP).astype(str).to_numpy()
        out[c] = dict(zip(rows.tolist(), labels))
    return out


def _within_quotas(order: np.ndarray, groups: dict[str, dict[int, str]], quotas: dict[str, int], n: int) -> list[int]:
    """Walk the ranked positions, taking each unless one of its groups is full, until n are taken."""
    if not quotas:
        return list(order[:n])
    taken: list[int] = []
    counts: dict[str, dict] = {c: {} for c in quotas}
    for pos in order:
        keys = {c: groups[c][pos] for c in quotas}
        if any(counts[c].get(k, 0) >= quotas[c] for c, k in keys.items()):
            continue
        for c, k in keys.items():
            counts[c][k] = counts[c].get(k, 0) + 1
        taken.append(int(pos))
        if len(taken) == n:
            break
    return taken


def _draw(ids: np.ndarray, candidates: np.ndarray, n: int, seed: int, as_of: pd.Timestamp) -> np.ndarray:
    """A seeded random sample of n candidates that does not depend on the input's row order.

    Each id gets a keyed hash (the key from the seed and the as-of date); the n smallest win.
    """
    if n >= len(candidates):
        return candidates
    key = hashlib.sha256(f"{seed}|{pd.Timestamp(as_of).date()}".encode()).hexdigest()[:16]
    h = pd.util.hash_array(ids[candidates].astype(str).astype(object), hash_key=key, categorize=False)
    part = np.argpartition(h, n - 1)[:n]
    return candidates[part]


def make_list(scores: pd.DataFrame, capacity: int, as_of: pd.Timestamp, quotas: dict[str, int] | None = None,
              exploration_share: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """The ranked list at capacity.

    `scores` has one row per entity: entity_id, score (raw, ranked on), probability,
    excluded (reason or ""), the quota columns, and anything else to carry along.
    The model picks `capacity - round(share * capacity)` rows in score order within the
    quotas; the exploration slice is drawn uniformly from every other eligible entity
    (quotas do not apply to it, so it stays a fair sample) and follows the model's picks.
    Returns the listed rows with rank (1..), exploration (bool) and inclusion_probability.
    """
    quotas = dict(quotas or {})
    missing = [c for c in quotas if c not in scores.columns]
    if missing:
        raise RiskEngineError(
            f"scoring spec [quotas] names column(s) the entities table does not have: {', '.join(missing)}"
        )
    ids = scores["entity_id"].astype(str).to_numpy()
    score = scores["score"].to_numpy(dtype=float)
    if np.isnan(score).any():
        raise RiskEngineError(f"{int(np.isnan(score).sum())} entities have no score (NaN): the model's input has gaps it cannot rank")
    excluded = scores["excluded"].fillna("").astype(str).to_numpy() != "" if "excluded" in scores else np.zeros(len(scores), bool)
    eligible = np.flatnonzero(~excluded)
    n_explore = int(round(exploration_share * capacity))
    n_model = min(capacity - n_explore, len(eligible))

    size = min(len(eligible), max(4 * capacity, capacity + 1000))
    while True:
        pool = _top_pool(score, eligible, size)
        order = pool[rank_order(score[pool], ids[pool])]
        picked = _within_quotas(order, _groups(scores, quotas, order), quotas, n_model)
        if len(picked) == n_model or len(pool) == len(eligible):
            break
        size = min(len(eligible), size * 4)
    picked = np.asarray(picked, dtype=np.int64)

    rest = np.setdiff1d(eligible, picked, assume_unique=True)
    drawn = _draw(ids, rest, min(n_explore, len(rest)), seed, as_of)
    drawn = drawn[rank_order(score[drawn], ids[drawn])]
    inclusion = len(drawn) / len(rest) if len(rest) else 0.0

    rows = np.concatenate([picked, drawn])
    out = scores.iloc[rows].drop(columns=["excluded"], errors="ignore").reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(rows) + 1))
    out["exploration"] = np.r_[np.zeros(len(picked), bool), np.ones(len(drawn), bool)]
    out["inclusion_probability"] = np.r_[np.ones(len(picked)), np.full(len(drawn), inclusion)]
    return out
