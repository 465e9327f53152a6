"""Retention made real: which outputs of a pipeline are older than the spec keeps them, and removing them.

Each output kind (riskengine.spec.RETENTION_KINDS) lives in known folders under the outputs
root. A folder's age is the time since its newest file was written. `clean_expired` removes
what has expired and appends one line per folder to `retention_log.jsonl` beside them, so the
record of what was removed, when and under which rule outlives the data.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from riskengine.spec import information_governance

_AS_OF = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class Expired:
    """One output folder or file past its retention period."""

    kind: str
    path: Path
    age_days: float
    keep_days: int


def _newest_write(path: Path) -> float:
    if path.is_file():
        return path.stat().st_mtime
    times = [p.stat().st_mtime for p in path.rglob("*") if p.is_file()]
    return max(times) if times else path.stat().st_mtime


def _candidates(root: Path) -> list[tuple[str, Path]]:
    """(kind, path) for every retention-managed output under one pipeline's folder."""
    out: list[tuple[str, Path]] = []
    if not root.is_dir():
        return out
    for child in sorted(root.iterdir()):
        if child.is_dir() and _AS_OF.match(child.name):
            out.append(("lists", child))
    train = root / "train"
    if train.is_dir():
        out += [("link", train / "link")] if (train / "link").is_dir() else []
        out += [("rejects", train / "rejects.csv")] if (train / "rejects.csv").is_file() else []
        out += [("training", p) for p in sorted(train.iterdir())
                if p.name not in ("link", "rejects.csv")]
    if (root / "validate").is_dir():
        out.append(("rejects", root / "validate"))
    if (root / "backtest").is_dir():
        out.append(("backtest", root / "backtest"))
    return out


def expired_outputs(spec: Any, outputs_root: str | Path = "out", now: dt.datetime | None = None) -> list[Expired]:
    """Outputs of the spec's pipeline older than its `governance.retention_days`; kinds without a period are kept."""
    keep = information_governance(spec.governance).retention_days
    now_ts = (now or dt.datetime.now()).timestamp()
    found = []
    for kind, path in _candidates(Path(outputs_root) / spec.name):
        if kind not in keep:
            continue
        age = (now_ts - _newest_write(path)) / 86400
        if age > keep[kind]:
            found.append(Expired(kind, path, round(age, 1), keep[kind]))
    return found


def clean_expired(spec: Any, outputs_root: str | Path = "out", now: dt.datetime | None = None,
                  dry_run: bool = False) -> list[Expired]:
    """Remove the expired outputs (unless `dry_run`) and record each removal in retention_log.jsonl."""
    found = expired_outputs(spec, outputs_root, now)
    if dry_run or not found:
        return found
    log = Path(outputs_root) / spec.name / "retention_log.jsonl"
    stamp = (now or dt.datetime.now()).isoformat(timespec="seconds")
    with log.open("a", encoding="utf-8") as fh:
        for item in found:
            if item.path.is_dir():
                shutil.rmtree(item.path)
            else:
                item.path.unlink()
            fh.write(json.dumps({"removed_at": stamp, "pipeline": spec.name, "kind": item.kind,
                                 "path": str(item.path), "age_days": item.age_days,
                                 "retention_days": item.keep_days}) + "\n")
    return found
