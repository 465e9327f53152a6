"""Compile a LightGBM model into a shared library once, keep its bytes, load them anywhere.

`CompiledTrees` pickles as the library's bytes plus the model's hash, so it travels inside
the registered MLflow model: scoring never compiles. It checks that the booster it serves
is the one it was compiled from, and loads the library lazily on first use.
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from riskengine.compiled._csource import ABI, c_source
from riskengine.compiled._forest import Forest, UnsupportedModel, read_forest

log = logging.getLogger("riskengine.compiled")
# -ffp-contract=off: no fused multiply-adds, so TreeSHAP's arithmetic is the same on every machine
CFLAGS = ["-O2", "-fPIC", "-shared", "-fopenmp", "-fno-math-errno", "-ffp-contract=off", "-std=c99"]
# the branch-free trees vectorise over rows: with this processor's vector instructions (AVX2,
# AVX-512) they run 2-4x faster than with the baseline's SSE2. The library is compiled when the
# model is registered and records the instruction sets it needs; a machine without them falls
# back to LightGBM's predict (said once). A compiler without -march=native builds the portable kind.
NATIVE = ["-march=native"]
_ISA = re.compile(r"^(sse|ssse|avx|fma|bmi|f16c|movbe|popcnt|abm|lzcnt|adx|aes|pclmul|sha|vaes|vpclmul|gfni|amx)")
# TreeSHAP tables for leaves at most TABLE_DEPTH features deep, within a budget that stays in the
# core's own cache: measured on a 300 x 31 model, 512 MB of tables for leaves up to 12 deep ran 1.4x
# slower than computing every leaf on the spot (cache misses cost more than the arithmetic), and
# on a shared machine 4 MB ran 2.39x pred_contrib's speed against 2.76x for 512 KB (the L3 cache is
# shared with every other process)
TABLE_BUDGET_BYTES = 512 * 1024
TABLE_DEPTH = 5
_LOADED: dict[str, tuple[ctypes.CDLL, str]] = {}  # model hash -> library (one load per process)


class CompileError(RuntimeError):
    """No C compiler, or the compiler failed: scoring falls back to LightGBM."""


def compiler() -> str | None:
    """The C compiler to use: $CC, else gcc or cc on the PATH."""
    for name in (os.environ.get("CC"), "gcc", "cc"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def cpu_flags() -> set[str] | None:
    """This processor's instruction-set extensions (Linux /proc/cpuinfo); None where unknown."""
    try:
        with open("/proc/cpuinfo") as fh:
            line = next((ln for ln in fh if ln.startswith(("flags", "Features"))), None)
    except OSError:
        return None
    if line is None:
        return None
    return {f for f in line.split(":", 1)[1].split() if _ISA.match(f)}


def _build(source: str) -> tuple[bytes, list[str] | None]:
    """The library's bytes and the instruction sets it needs (None: only the baseline's)."""
    cc = compiler()
    if cc is None:
        raise CompileError("no C compiler found (set CC, or install gcc)")
    with tempfile.TemporaryDirectory(prefix="riskengine-trees-") as tmp:
        src, lib = Path(tmp) / "trees.c", Path(tmp) / "trees.so"
        src.write_text(source)
        for extra in (NATIVE, []):
            proc = subprocess.run([cc, *CFLAGS, *extra, "-o", str(lib), str(src), "-lm"], capture_output=True, text=True)
            if proc.returncode == 0:
                flags = cpu_flags() if extra else None
                return lib.read_bytes(), None if flags is None else sorted(flags)
        raise CompileError(f"{Path(cc).name} failed: {proc.stderr.strip()[:500]}")


class CompiledTrees:
    """A LightGBM model compiled to C: raw scores and exact TreeSHAP contributions.

    Build with `CompiledTrees.from_booster(booster)`; `raw_score(X)` and `contributions(X)`
    take a float64 matrix (rows x features, category codes as floats, NaN for missing).
    """

    def __init__(self, library: bytes, model_hash: str, n_features: int, seconds: float, compiler_name: str,
                 isa: list[str] | None = None):
        self.library = library
        self.isa = isa  # instruction sets the library was compiled for (None: the baseline's)
        self.model_hash = model_hash
        self.n_features = n_features
        self.compile_seconds = seconds
        self.compiler = compiler_name

    @classmethod
    def from_booster(cls, booster) -> "CompiledTrees":
        """Compile; raises CompileError (no compiler) or UnsupportedModel."""
        t = time.perf_counter()
        forest = read_forest(booster)
        return cls.from_forest(forest, t)

    @classmethod
    def from_forest(cls, forest: Forest, t0: float | None = None) -> "CompiledTrees":
        t0 = time.perf_counter() if t0 is None else t0
        depth = np.diff(forest.path_feat_start)
        if len(depth) and depth.max() > 120:
            raise UnsupportedModel("a leaf lies more than 120 distinct features deep")
        library, isa = _build(c_source(forest))
        return cls(library, forest.model_hash, forest.n_features, time.perf_counter() - t0,
                   Path(compiler() or "cc").name, isa)

    # -- loading -----------------------------------------------------------------------
    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def _lib(self) -> ctypes.CDLL:
        hit = _LOADED.get(self.model_hash)
        if hit is not None:
            return hit[0]
        need, here = getattr(self, "isa", None), cpu_flags()
        if need and here is not None and not set(need) <= here:
            raise OSError(f"compiled for a processor with {', '.join(sorted(set(need) - here))}, "
                          "which this one lacks")
        folder = Path(tempfile.mkdtemp(prefix="riskengine-trees-"))
        path = folder / f"trees-{self.model_hash[:16]}.so"
        path.write_bytes(self.library)
        try:
            lib = ctypes.CDLL(str(path))
        finally:
            shutil.rmtree(folder, ignore_errors=True)  # mapped now; nothing left behind in /tmp
        if (ctypes.c_char * 65).in_dll(lib, "RE_MODEL_HASH").value.decode() != self.model_hash:
            raise CompileError("the compiled library does not belong to this model")
        try:
            abi = ctypes.c_int.in_dll(lib, "RE_ABI").value
        except ValueError:
            abi = 1
        if abi != ABI:
            raise OSError(f"compiled by another version of riskengine (calling convention {abi}, this one "
                          f"uses {ABI}); train again to compile it anew")
        dbl = np.ctypeslib.ndpointer(dtype=np.float64, flags="C_CONTIGUOUS")
        lib.re_predict.argtypes = [dbl, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, dbl, ctypes.c_int]
        lib.re_predict.restype = None
        lib.re_shap.argtypes = [dbl, ctypes.c_int64, ctypes.c_int64, dbl, ctypes.c_int]
        lib.re_shap.restype = None
        lib.re_shap_init.argtypes = [ctypes.c_int64, ctypes.c_int]
        lib.re_shap_init.restype = ctypes.c_int
        _LOADED[self.model_hash] = (lib, str(path))
        return lib

    def check(self, booster) -> bool:
        """Whether this library was compiled from exactly this booster (same model text)."""
        from riskengine.compiled._forest import model_hash

        return model_hash(booster) == self.model_hash

    # -- evaluation --------------------------------------------------------------------
    def _input(self, X: np.ndarray, any_order: bool = False) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if not (any_order and X.flags.f_contiguous):
            X = np.ascontiguousarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected a matrix with {self.n_features} columns, got shape {X.shape}")
        return X

    def raw_score(self, X: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Sum of the trees' outputs per row: LightGBM's raw score, bit for bit. Takes the
        matrix row-major or column-major as it comes (no copy)."""
        X = self._input(X, any_order=True)
        out = np.empty(len(X), dtype=np.float64)
        if len(X):
            rs, cs = (s // X.itemsize for s in X.strides)  # X.ravel("K") starts at X[0, 0]: no copy
            self._lib().re_predict(X.ravel(order="K"), len(X), rs, cs, out, int(threads or os.cpu_count() or 1))
        return out

    def contributions(self, X: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Exact path-dependent TreeSHAP: rows x (features + 1), the last column the base value."""
        X = self._input(X)
        lib = self._lib()
        if lib.re_shap_init(TABLE_BUDGET_BYTES // 8, TABLE_DEPTH) != 0:
            raise MemoryError("could not allocate the TreeSHAP tables")
        out = np.zeros((len(X), self.n_features + 1), dtype=np.float64)
        if len(X):
            lib.re_shap(X, len(X), X.shape[1], out, int(threads or os.cpu_count() or 1))
        return out


_WARNED: set[str] = set()


def compile_or_none(booster) -> CompiledTrees | None:
    """Compiled trees, or None after saying once why LightGBM's own predict will be used."""
    try:
        return CompiledTrees.from_booster(booster)
    except (CompileError, UnsupportedModel, OSError) as exc:
        warn_once(f"trees not compiled ({exc}); scoring uses LightGBM's Booster.predict")
        return None


def warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        log.warning(message)
        print(f"riskengine: {message}", file=sys.stderr)
