"""The link store: each address's link kept between runs, so that a run links only rows it has not seen.

Scoring used to re-link every source row on every run (most of its time). With
`[link] store = "folder"` a full run keeps, beside its outputs:

- rows.parquet: a fingerprint of each unkeyed row's address text (and postcode) -> its
  prepared columns (the address field kinds' parts), so a row seen before is not parsed again;
- best.parquet: per distinct parsed address (review id) its best candidate, probability,
  the runner-up's probability and the match weight (so a later run can list it for review again);
- model.json: the trained match model (m and u per comparison level, the match rate) and a
  fingerprint of the register it was trained against.

A later run against the same register takes seen rows from the store and matches only the
new addresses, with the stored model (no retraining), so seen rows get exactly the result
they had. A changed register makes the store stale: the run matches everything and rebuilds it.
Thresholds and clerical decisions are applied afresh every run, after the store.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

VERSION = 3  # 2: review ids keyed with the pseudonymisation key; runner-up and weight kept; 3: field-kind parts
PARTS = ["flat", "house_number", "street", "town", "postcode"]  # a register's address columns, where it has them
BEST_NUMBERS = ["match_probability", "runner_up_probability", "match_weight"]  # per address, for the review


def row_fingerprints(frame: pd.DataFrame) -> pd.Series:
    """A 64-bit fingerprint of each row's address and postcode text, as given."""
    cols = [c for c in ("address", "postcode") if c in frame.columns]
    text = frame[cols].astype("string").fillna("\x00")
    return pd.Series(pd.util.hash_pandas_object(text, index=False).to_numpy().view(np.int64), index=frame.index)


def register_fingerprint(entities: pd.DataFrame) -> str:
    """Changes whenever the register's ids or any of its address columns change."""
    cols = [c for c in ["entity_id", "address", "town", *PARTS] if c in entities.columns]
    cols = list(dict.fromkeys(cols))
    h = pd.util.hash_pandas_object(entities[cols].astype("string").fillna("\x00"), index=False).to_numpy()
    return hashlib.sha256(h.tobytes() + ",".join(cols).encode()).hexdigest()[:32]


class LinkStore:
    """Rows, best candidates and model of earlier runs against one register."""

    def __init__(self, folder: Path, register: str):
        self.folder = Path(folder)
        self.register = register
        self.rows = pd.DataFrame({"fp": pd.Series(dtype="int64")})
        self.best = pd.DataFrame({"record_id": pd.Series(dtype="string"), "entity_id": pd.Series(dtype="string"),
                                  **{c: pd.Series(dtype="float64") for c in BEST_NUMBERS}})
        self.model: dict | None = None

    @classmethod
    def open(cls, folder: Path, entities: pd.DataFrame) -> "LinkStore":
        """The store in `folder` if it was made against this register, else an empty one."""
        store = cls(folder, register_fingerprint(entities))
        meta = store.folder / "model.json"
        if meta.is_file():
            saved = json.loads(meta.read_text())
            if saved.get("version") == VERSION and saved.get("register") == store.register:
                store.model = {"levels": pd.DataFrame(saved["levels"]), "match_rate": saved["match_rate"]}
                store.rows = pd.read_parquet(store.folder / "rows.parquet")
                store.best = pd.read_parquet(store.folder / "best.parquet")
        return store

    @property
    def usable(self) -> bool:
        return self.model is not None

    def parts(self, fp: pd.Series) -> pd.DataFrame:
        """Stored prepared columns for each fingerprint (all NA where the row is new)."""
        stored = self.rows.drop_duplicates("fp").set_index("fp")
        out = stored.reindex(fp.to_numpy())
        out.index = fp.index
        return out.astype("string")

    def seen(self, fp: pd.Series) -> pd.Series:
        return fp.isin(self.rows["fp"])

    def save(self, rows: pd.DataFrame, best: pd.DataFrame, levels: pd.DataFrame, match_rate: float) -> None:
        """Keep `rows` (fp + prepared columns) and `best` (record_id, entity_id, BEST_NUMBERS) with the model."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.rows = pd.concat([self.rows, rows], ignore_index=True).drop_duplicates("fp")
        parts = [c for c in self.rows.columns if c != "fp"]
        best = best.reindex(columns=["record_id", "entity_id", *BEST_NUMBERS])  # older rows: no runner-up kept
        self.best = pd.concat([self.best, best], ignore_index=True).drop_duplicates("record_id", keep="last")
        self.rows.astype({p: "string" for p in parts}).to_parquet(self.folder / "rows.parquet", index=False)
        self.best.astype({"record_id": "string", "entity_id": "string"}).to_parquet(self.folder / "best.parquet",
                                                                                  index=False)
        lv = levels[["comparison", "level", "cvv", "m", "u"]].copy()
        self.model = {"levels": lv, "match_rate": float(match_rate)}
        (self.folder / "model.json").write_text(json.dumps({
            "version": VERSION, "register": self.register, "match_rate": float(match_rate),
            "levels": json.loads(lv.to_json(orient="records"))}, indent=1))
