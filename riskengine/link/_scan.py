"""The pseudonymisation check: search every output file for raw person identifiers.

Text is compared word by word, ignoring case and punctuation, so "SMITH, John" in a CSV
and "john smith" in a list of identifiers are not the same leak but "John Smith" and
"JOHN SMITH" are. Parquet files are read column by column (their compressed bytes would
hide a name). Text files are searched whole, less embedded base64 images; other binary
files through their runs of printable characters (as `strings` does); images are skipped,
as pixels hold no searchable text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

_WORD_RE = re.compile(r"[^\W_]+")
_DATA_URI_RE = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+")
_PRINTABLE_RE = re.compile(rb"[\x20-\x7e]{4,}")
_TAG_NAME_RE = re.compile(r"</?[A-Za-z][\w:-]*")  # "<li>" is markup, not the name "Li"
_MARKUP = {".html", ".htm", ".xml", ".svg"}
_IMAGES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".ico"}
_MAX_BYTES = 512 * 1024 * 1024  # larger files are read in this many bytes at a time


@dataclass(frozen=True)
class Leak:
    """One raw identifier found in one file."""

    path: Path
    identifier: str
    where: str  # "line 12", "column account_holder", "bytes"

    def __str__(self) -> str:
        return f"{self.path}: {self.where}: a raw identifier ({_mask(self.identifier)})"


def _mask(text: str) -> str:
    """Enough of an identifier to find it, not enough to publish it in a log."""
    return " ".join(w[0] + "*" * (len(w) - 1) for w in text.split()) or "*"


def _words(text: str) -> list[str]:
    return _WORD_RE.findall(text.casefold())


def pseudonymisation_scan(paths: Iterable[str | Path], identifiers: Iterable[str]) -> list[Leak]:
    """Return every place where one of `identifiers` appears in the files under `paths`.

    `paths` are files or folders (searched recursively, e.g. a run's output folder and its
    MLflow artefact folder). An empty list means no leak was found.
    """
    wanted: dict[tuple[str, ...], str] = {}
    for ident in identifiers:
        if ident is None or (not isinstance(ident, str) and pd.isna(ident)):
            continue
        words = tuple(_words(str(ident)))
        if words:
            wanted.setdefault(words, str(ident))
    if not wanted:
        return []
    lengths = sorted({len(k) for k in wanted})
    leaks: list[Leak] = []
    for file in _files(paths):
        for where, text in _texts(file):
            found = _find(text, wanted, lengths)
            leaks.extend(Leak(file, wanted[k], where) for k in found)
    return leaks


def _files(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file()))
        elif p.is_file():
            out.append(p)
    return out


def _texts(file: Path):
    """(where, text) pieces of one file."""
    if file.suffix.lower() in {".parquet", ".pq"}:
        try:
            frame = pd.read_parquet(file)
        except Exception:  # not readable as Parquet: fall through to the raw bytes
            frame = None
        if frame is not None:
            for col in frame.columns:
                yield f"column {col}", str(col)
                values = frame[col].dropna()
                if len(values):
                    yield f"column {col}", "\n".join(pd.unique(values.astype(str).to_numpy()))
            return
    if file.suffix.lower() in _IMAGES:
        return
    with file.open("rb") as fh:
        while chunk := fh.read(_MAX_BYTES):
            if b"\x00" in chunk:  # binary: its printable runs only
                yield "bytes", "\n".join(r.decode("ascii") for r in _PRINTABLE_RE.findall(chunk))
            else:
                text = _DATA_URI_RE.sub(" ", chunk.decode("utf-8", errors="replace"))
                yield "text", _TAG_NAME_RE.sub(" ", text) if file.suffix.lower() in _MARKUP else text


def _find(text: str, wanted: dict[tuple[str, ...], str], lengths: list[int]) -> set[tuple[str, ...]]:
    words = _words(text)
    firsts = {k[0] for k in wanted}
    found: set[tuple[str, ...]] = set()
    for i, w in enumerate(words):
        if w in firsts:
            for n in lengths:
                key = tuple(words[i : i + n])
                if key in wanted:
                    found.add(key)
    return found
