"""Exact keys: rows that carry a usable UPRN (or entity id) attach to it directly.

A UPRN is up to 12 digits; systems drop or add leading zeros, so "000012345678" and
"12345678" are the same key. Anything else that is not an entity id exactly is not a key.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _digit_key(ids: pd.Series) -> pd.Series:
    """'000012345678' -> '12345678' for strings of 1-12 digits; NA otherwise."""
    s = ids.astype("string").str.strip()
    ok = s.str.fullmatch(r"[0-9]{1,12}").fillna(False).astype(bool)
    stripped = s.str.lstrip("0").mask(lambda x: x == "", "0")
    return stripped.where(ok)


class KeyIndex:
    """The register's ids, looked up as given or, for UPRNs, without their leading zeros."""

    def __init__(self, entity_ids: pd.Series):
        register = entity_ids.astype("string").str.strip().dropna().drop_duplicates()
        self.by_id = pd.Series(register.to_numpy(), index=register.to_numpy())
        digits = _digit_key(register)
        by_digits = pd.Series(register[digits.notna()].to_numpy(), index=digits.dropna().to_numpy())
        self.by_digits = by_digits[~by_digits.index.duplicated()]

    def resolve(self, ids: pd.Series) -> pd.DataFrame:
        """`entity_id` (the register's spelling, NA when unresolved) and `key_state` per row:
        known, missing, malformed (not an entity id and not 1-12 digits) or unknown (well
        formed but not in the register)."""
        codes, distinct = pd.factorize(ids.astype("string"))  # a few ids, many rows: each once
        distinct = pd.Series(distinct, dtype="string").str.strip().mask(lambda x: x == "")
        as_id = pd.Series(self.by_id.reindex(distinct.fillna("").to_numpy()).to_numpy(), dtype="string")
        key = _digit_key(distinct)
        as_digits = pd.Series(self.by_digits.reindex(key.fillna("").to_numpy()).to_numpy(), dtype="string")
        resolved = as_id.fillna(as_digits)
        state = pd.Series("known", index=distinct.index, dtype="string")
        state[resolved.isna()] = "unknown"
        state[resolved.isna() & key.isna()] = "malformed"
        state[distinct.isna()] = "missing"
        # code -1 (a missing id) takes the extra last entry
        entity = np.append(resolved.to_numpy(dtype=object, na_value=None), None)[codes]
        states = np.append(state.to_numpy(dtype=object), "missing")[codes]
        return pd.DataFrame({"entity_id": pd.array(entity, dtype="string"), "key_state": pd.array(states, dtype="string")},
                            index=ids.index)


def exact_keys(ids: pd.Series, entity_ids: pd.Series) -> pd.DataFrame:
    """Resolve each row's key against the register (see KeyIndex.resolve)."""
    return KeyIndex(entity_ids).resolve(ids)


def attach_keys(frames: dict[str, pd.DataFrame], entity_ids: pd.Series) -> tuple[dict, dict]:
    """Per source, each row's key state and the entity its own key resolves to (or <NA>)."""
    keys = KeyIndex(entity_ids)
    states, resolved = {}, {}
    for name, df in frames.items():
        ids = df["entity_id"] if "entity_id" in df.columns else pd.Series(pd.NA, index=df.index, dtype="string")
        ex = keys.resolve(ids)
        states[name], resolved[name] = ex["key_state"], ex["entity_id"]
    return states, resolved
