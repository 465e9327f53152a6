"""The synthetic borough's hidden truth, as the simulation's inspectors meet it.

A home is an unlicensed HMO on day d when it converted on or before d and held no licence on d
(the generator's truth/properties.parquet). An inspection records that truth with the
generator's own recording error, and a share of listed homes cannot be visited that week.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from riskengine.errors import RiskEngineError
from riskengine.io import read_file
from riskengine.synth import RECORDING_ERROR

REACHED = 0.95  # share of listed homes an officer gets into within the week
VISIT_DAYS = 5  # visits fall on the first five days after the list's date


@dataclass
class World:
    """True status of every home at any date, and how an inspection records it."""

    conversion: pd.Series  # entity_id -> conversion date (NaT: never)
    licensed: pd.Series  # entity_id -> licence date (NaT: never)
    recording_error: float = RECORDING_ERROR

    @classmethod
    def read(cls, truth_folder: str | Path) -> "World":
        path = Path(truth_folder) / "properties.parquet"
        if not path.is_file():
            raise RiskEngineError(
                f"{path}: not found. `riskengine simulate` runs on the synthetic borough, whose hidden truth it "
                "needs to say what each inspection finds; the training spec's [truth] must point at its truth/ folder"
            )
        props = read_file(path, "synthetic truth", columns=["entity_id", "conversion_date", "licensed_date"])
        ids = props["entity_id"].astype(str)
        return cls(pd.Series(pd.to_datetime(props["conversion_date"]).to_numpy(), index=ids),
                   pd.Series(pd.to_datetime(props["licensed_date"]).to_numpy(), index=ids))

    def status(self, entity_ids: pd.Series | np.ndarray, dates: pd.Series | np.ndarray | pd.Timestamp) -> np.ndarray:
        """1 where the home is an unlicensed HMO on the date, else 0 (unknown homes: 0)."""
        ids = pd.Index(np.asarray(entity_ids, dtype=object).astype(str))
        conv = self.conversion.reindex(ids).to_numpy(dtype="datetime64[ns]")
        lic = self.licensed.reindex(ids).to_numpy(dtype="datetime64[ns]")
        when = np.broadcast_to(np.asarray(pd.to_datetime(dates), dtype="datetime64[ns]"), conv.shape)
        converted = ~np.isnat(conv) & (conv <= when)
        unlicensed = np.isnat(lic) | (lic > when)
        return (converted & unlicensed).astype(int)

    def inspect(self, listed: pd.DataFrame, as_of: pd.Timestamp, rng: np.random.Generator) -> pd.DataFrame:
        """Results of a week's visits to the listed homes: entity_id, date, outcome (recorded), truth."""
        reached = listed[rng.random(len(listed)) < REACHED]
        dates = pd.Timestamp(as_of) + pd.to_timedelta(rng.integers(0, VISIT_DAYS, len(reached)), unit="D")
        truth = self.status(reached["entity_id"], dates)
        flip = rng.random(len(reached)) < self.recording_error
        return pd.DataFrame({"entity_id": reached["entity_id"].astype(str).to_numpy(), "date": dates,
                             "outcome": np.where(flip, 1 - truth, truth), "truth": truth,
                             "list_date": pd.Timestamp(as_of)})
