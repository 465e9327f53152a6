"""Counter-based randomness: uniform draws that are a pure function of a per-row key.

A row's spelling (of its address, of its account holder's name) is derived from its key
rather than drawn from a shared stream, so an exact duplicate of a row (same key) comes out
byte-identical wherever it is rendered, and rendering can happen in any chunking.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def mix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: a well-spread 64-bit hash of each element (wraps on overflow)."""
    with np.errstate(over="ignore"):
        z = np.asarray(x, dtype=np.uint64) + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def derive(keys: np.ndarray, salt: int) -> np.ndarray:
    """A new key per element, independent of `keys` for a different `salt`."""
    with np.errstate(over="ignore"):
        return mix64(np.asarray(keys, dtype=np.uint64) ^ mix64(np.array([salt], dtype=np.uint64)))


def uniform(keys: np.ndarray, salt: int) -> np.ndarray:
    """Uniform [0, 1) floats, one per key, a different independent stream per `salt`."""
    return (derive(keys, salt) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def random_keys(rng: np.random.Generator, n: int) -> np.ndarray:
    """Fresh uint64 keys from a generator."""
    return rng.integers(0, np.iinfo(np.uint64).max, size=n, dtype=np.uint64, endpoint=True)
