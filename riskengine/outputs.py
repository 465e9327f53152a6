"""Output folders that are never half-written, and one writer per folder at a time.

Every command that writes a folder a person opens does it through `run_folder`: training's
`out/<pipeline>/train`, a scoring run's `out/<pipeline>/<as-of>`, validate's rejects, the
backtest, `link`, `segment`, `profile` and `simulate` own their folder; `trial design|analyse|did`,
`audit`, `governance` and `dashboard` add their files to a folder they share (`shared=True`):

- the run writes into a fresh hidden folder beside the target (`.<name>.partial-XXXX`);
- only when it has finished is that folder renamed into place (the previous run's folder is
  moved aside first and then deleted), so an interrupted or failed run leaves the last good
  folder as it was, and a partial folder that is plainly marked as such;
- a lock file beside the target (`.<name>.lock`, held with `fcntl.flock`) stops a second run
  from writing the same folder at the same time, with a message naming the first run;
- a shared folder keeps its run's work folder (`.partial-XXXX`) and lock (`.riskengine.lock`)
  inside it, so `--out .` writes nowhere else.

Relative output paths named in specs are resolved under the project's output root (`out/`):
a spec cannot write outside it unless it names an absolute folder explicitly.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from riskengine.errors import RiskEngineError, SpecError

OUTPUT_ROOT = Path("out")
MARKER = ".riskengine-run"  # a folder holding this file was written by riskengine and may be replaced
# a run's folder from before the marker: training, scoring, validate, backtest, link, profile, segment, simulate
_EARLIER_RESULTS = ("summary.json", "run.json", "list.csv", "rejects.csv", "link_report.json", "profile.json",
                    "segments.json", "simulation.html")
_ACTIVE: dict[str, str] = {}  # work folder -> target folder, for the runs in progress in this process


def resolve_output(path: str | Path, key: str, file: str = "spec") -> Path:
    """A spec's output folder: absolute as named, or relative and inside the output root `out/`.

    `out/hmo` and `hmo` both mean `out/hmo`; `../x` or `out/../../x` are SpecErrors.
    """
    p = Path(path)
    if "\x00" in str(p):
        raise SpecError(f"{file}: key '{key}' contains a NUL byte")
    if p.is_absolute():
        return p
    root = OUTPUT_ROOT.resolve()
    parts = p.parts[1:] if p.parts[:1] == (OUTPUT_ROOT.name,) else p.parts
    full = (root.joinpath(*parts)).resolve()
    if full != root and root not in full.parents:
        raise SpecError(f"{file}: key '{key}' = '{path}' resolves outside the output folder {OUTPUT_ROOT}/; "
                        "name an absolute folder to write elsewhere")
    return OUTPUT_ROOT.joinpath(*parts)


def default_output(*parts: str) -> Path:
    """out/<parts...>, each part a checked name (spec names are validated on load)."""
    for part in parts:
        if not part or "/" in part or "\\" in part or part in (".", "..") or "\x00" in part:
            raise SpecError(f"'{part}' cannot name an output folder")
    return OUTPUT_ROOT.joinpath(*parts)


_interrupted = False  # Ctrl-C came during the run in progress (see `watch_interrupts`)


def _on_interrupt(signum: int, frame: Any) -> None:
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


@contextlib.contextmanager
def watch_interrupts() -> Iterator[None]:
    """Remember a Ctrl-C during a run, even one a library swallows.

    DuckDB turns Ctrl-C into an exception that an `except Exception` fallback can catch, and the
    run would then finish and replace the last good folder as if nothing had happened. The flag
    makes the next progress step stop the run, and the run's folder never goes into place.
    """
    import signal
    import threading

    global _interrupted
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    _interrupted = False
    previous = signal.signal(signal.SIGINT, _on_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _interrupted = False


def stop_if_interrupted() -> None:
    """Raise KeyboardInterrupt if Ctrl-C came during the run in progress (called at each progress step)."""
    if _interrupted:
        raise KeyboardInterrupt


class FolderLocked(RiskEngineError):
    """Another run is writing the same output folder."""


@contextlib.contextmanager
def folder_lock(target: Path, inside: bool = False) -> Iterator[None]:
    """Hold `.<name>.lock` beside `target` (or `.riskengine.lock` inside it) for the run; a second
    run fails at once, naming the first."""
    import fcntl

    target = Path(target)
    (target if inside else target.parent).mkdir(parents=True, exist_ok=True)
    lock_path = target / ".riskengine.lock" if inside else target.parent / f".{target.name}.lock"
    fh = open(lock_path, "a+")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise FolderLocked(f"{target}: another riskengine run is writing this folder ({holder}); "
                               f"wait for it to finish, or write elsewhere (lock file {lock_path})") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}, started {dt.datetime.now().isoformat(timespec='seconds')}")
        fh.flush()
        yield
    finally:
        fh.close()  # closing releases the lock


@contextlib.contextmanager
def run_folder(target: str | Path, lock: bool = True, shared: bool = False,
               carry: tuple[str, ...] = ()) -> Iterator[Path]:
    """Yield a fresh work folder beside `target`; on success it replaces `target` in one rename.

    On an error the work folder is renamed `.<name>.failed-XXXX` (kept for a post-mortem, never
    mistaken for a result; removed if the run wrote nothing) and `target` is untouched. An existing `target` is replaced only if
    riskengine wrote it (it holds the marker file or an earlier run's summary, list or rejects) or
    it is empty: a data folder such as out/borough is never replaced.

    `shared=True` is for a folder that also holds other files: a trial's folder holds the design,
    the outcomes recorded since and the analysis; `audit --out` or the dashboard write beside
    other outputs. The run's files are moved into `target` one by one (each an atomic rename)
    when it has finished, replacing only files of the same names; nothing else is touched.
    `carry` names files copied from the existing `target` into the work folder first: state that
    a run reads and updates (a link job's kept decisions).

    A `target` inside another run's work folder (a training run's `link/`) is written directly:
    the outer run already makes it appear all at once.
    """
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise RiskEngineError(f"{target}: is a file, not a folder; name a folder for the outputs")
    if final_path(target) != target:  # nested in a run in progress: atomic with it
        target.mkdir(parents=True, exist_ok=True)
        yield target
        return
    if not shared and target.resolve() in (Path.cwd().resolve(), Path.home().resolve(),
                                           Path(target.anchor or "/").resolve()):
        raise RiskEngineError(f"{target}: refusing to replace this folder with a run's outputs; name a new folder")
    if not shared:
        _check_replaceable(target)
    # a shared folder (perhaps `.`) keeps its run's work and lock inside it; an owned one beside it
    home, prefix = (target, "") if shared else (target.parent, f".{target.name}")
    stack = contextlib.ExitStack()
    try:
        home.mkdir(parents=True, exist_ok=True)
        if lock:
            stack.enter_context(folder_lock(target, inside=shared))
        stack.enter_context(watch_interrupts())
        _sweep(target, home, prefix)
        work = Path(tempfile.mkdtemp(prefix=f"{prefix}.partial-", dir=home))
    except OSError as exc:
        stack.close()
        raise RiskEngineError(f"{target}: cannot write the outputs here: {exc.strerror or exc}") from None
    with stack:
        work.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the result is an ordinary folder
        if not shared:
            (work / MARKER).write_text(json.dumps({"target": target.name}) + "\n")
        for name in carry:
            if (target / name).is_file():
                shutil.copy2(target / name, work / name)
        _ACTIVE[str(work)] = str(target)
        try:
            yield work
            stop_if_interrupted()  # a Ctrl-C that a library swallowed still fails the run
        except BaseException:
            _ACTIVE.pop(str(work), None)
            failed = work.with_name(work.name.replace(".partial-", ".failed-"))
            with contextlib.suppress(OSError):
                shutil.rmtree(failed, ignore_errors=True)
                if {p.name for p in work.iterdir()} <= {MARKER}:  # failed before writing anything
                    shutil.rmtree(work)
                else:
                    work.rename(failed)
            raise
        _ACTIVE.pop(str(work), None)
        if shared:
            _merge(work, target)
        else:
            _swap(work, target)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _check_replaceable(target: Path) -> None:
    if not target.is_dir() or (target / MARKER).is_file():
        return
    if not any(target.iterdir()):
        return
    if any((target / name).is_file() for name in _EARLIER_RESULTS):  # written before folders carried the marker
        return
    raise RiskEngineError(f"{target}: the folder exists and holds files riskengine did not write; name a new "
                          "or empty folder for the outputs (a run replaces its whole folder)")


def _swap(work: Path, target: Path) -> None:
    """Put `work` in place of `target`: move the old one aside, rename, then delete the old one."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        old.rmdir()
        target.rename(old)
    work.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _merge(work: Path, target: Path) -> None:
    """Move each of `work`'s entries into `target` (a rename each), replacing same-named ones only."""
    for entry in sorted(work.iterdir()):
        dest = target / entry.name
        if entry.is_dir() and not entry.is_symlink():
            if dest.is_dir() and not dest.is_symlink():
                _swap(entry, dest)
                continue
            if dest.exists() or dest.is_symlink():
                dest.unlink()
        elif dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        os.replace(entry, dest)
    shutil.rmtree(work, ignore_errors=True)


def _sweep(target: Path, home: Path, prefix: str) -> None:
    """Remove leftovers of earlier runs of this folder that were killed mid-way (we hold the lock).

    A run killed between its two renames leaves the last good folder as `.<name>.old-XXXX`
    and no target: that folder is put back first.
    """
    olds = sorted(home.glob(f"{prefix}.old-*"))
    if prefix and not target.exists() and olds:
        olds[-1].rename(target)
    for p in home.glob(f"{prefix}.*-*" if prefix else ".*-*"):
        if p.is_dir() and (".partial-" in p.name or ".old-" in p.name or ".failed-" in p.name):
            shutil.rmtree(p, ignore_errors=True)


def final_path(path: str | Path) -> Path:
    """Where a path inside a run's work folder will be once the run has finished."""
    text = str(path)
    for work, target in _ACTIVE.items():
        if text == work or text.startswith(work + os.sep):
            return Path(target + text[len(work):])
    return Path(path)


def final_paths(obj: Any) -> Any:
    """`final_path` applied to every path or string inside dicts and lists (summaries, run records)."""
    if isinstance(obj, dict):
        return {k: final_paths(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [final_paths(v) for v in obj]
    if isinstance(obj, Path):
        return final_path(obj)
    if isinstance(obj, str) and _ACTIVE and any(w in obj for w in _ACTIVE):
        return str(final_path(obj))
    return obj


# ---------------------------------------------------------------------------------------
# Same inputs, same bytes: pictures and workbooks without timestamps
# ---------------------------------------------------------------------------------------

PNG_METADATA = {"Software": None}  # matplotlib's savefig(metadata=...): no version stamp in a PNG


def stable_zip(path: str | Path, when: dt.date | dt.datetime) -> Path:
    """Rewrite an Office file (a zip) so its bytes depend on its content and `when` only.

    Every member gets `when` as its zip timestamp, and docProps/core.xml's created and
    modified dates (which openpyxl sets to the moment of saving) become `when` too.
    """
    import re
    import zipfile

    path = Path(path)
    when = dt.datetime(when.year, when.month, when.day)
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    with zipfile.ZipFile(path) as zin:
        members = [(info.filename, zin.read(info.filename)) for info in zin.infolist()]
    tmp = path.with_name(f".{path.name}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zout:
        for name, data in members:
            if name == "docProps/core.xml":
                text = data.decode("utf-8")
                for tag in ("created", "modified"):
                    text = re.sub(rf"(<dcterms:{tag}\b[^>]*>)[^<]*(</dcterms:{tag}>)", rf"\g<1>{stamp}\g<2>", text)
                data = text.encode("utf-8")
            info = zipfile.ZipInfo(name, date_time=when.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            zout.writestr(info, data)
    os.replace(tmp, path)
    return path
