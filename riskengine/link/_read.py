"""Reading the inputs of `riskengine link`: a synthetic borough's folder, or a spec's data.

Kept in one place so the project's ingest can take over: link() itself takes DataFrames.
Rows are read as text, nothing coerced, with `line` = the 1-based data line.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from riskengine.errors import RiskEngineError
from riskengine.io import read_file
from riskengine.spec import LinkSpec


def _read_csv(path: Path) -> pd.DataFrame:
    return read_file(path, text=True, dtype="string")


def read_borough(folder: str | Path) -> tuple[pd.DataFrame, dict[str, pd.DataFrame], pd.DataFrame | None]:
    """entities.csv, events/<source>.csv and, if present, truth/links.parquet of a borough folder."""
    folder = Path(folder)
    ent_path = folder / "entities.csv"
    if not ent_path.is_file():
        raise RiskEngineError(f"{folder}: no entities.csv here; expected a synthetic borough folder "
                              "(entities.csv, events/*.csv) or a spec file")
    entities = _read_csv(ent_path)
    if "entity_id" not in entities.columns:
        raise RiskEngineError(f"{ent_path}: missing column 'entity_id'")
    sources = {}
    for p in sorted((folder / "events").glob("*.csv")):
        df = _read_csv(p)
        df.insert(0, "line", range(1, len(df) + 1))
        sources[p.stem] = df
    if not sources:
        raise RiskEngineError(f"{folder / 'events'}: no source CSV files to link")
    truth_path = folder / "truth" / "links.parquet"
    truth = pd.read_parquet(truth_path) if truth_path.is_file() else None
    return entities, sources, truth


def read_spec_sources(path: str | Path) -> tuple[pd.DataFrame, dict[str, pd.DataFrame], LinkSpec]:
    """The entities and event sources a spec names, and its [link] section (defaults if absent)."""
    from riskengine.ingest import read_table
    from riskengine.spec import load_spec

    spec = load_spec(path)
    data = getattr(spec, "data", None)
    if data is None:
        raise RiskEngineError(f"{path}: the spec has no [data] section naming entities and events")
    entities, _ = read_table(data.entities, ["entity_id"])
    entities = entities.drop(columns=["_row", "_line"])
    sources = {}
    for name, src in data.events.items():
        df, _ = read_table(src)
        sources[name] = df.rename(columns={"_row": "line"}).drop(columns=["_line"])
    link_spec = getattr(spec, "link", None) or LinkSpec()
    return entities, sources, link_spec
