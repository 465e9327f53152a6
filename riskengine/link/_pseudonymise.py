"""Pseudonymisation: person identifiers become keyed hashes before anything leaves linkage.

HMAC-SHA256 with a secret key: the same person gets the same token in every source (so
records still join), but nobody without the key can test a guessed name against a token.
The key comes from an environment variable or a key file and is never written anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from riskengine.errors import RiskEngineError
from riskengine.spec import LinkJobSpec, LinkSpec

TOKEN_PREFIX = "pid_"  # marks a pseudonym so readers know it is not the raw value


@dataclass(frozen=True)
class PseudonymKey:
    """The secret key and where it came from (the description, never the key, is reported)."""

    secret: bytes
    origin: str  # "environment variable X", "key file P" or "ephemeral (random, this run only)"

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        return f"PseudonymKey(origin={self.origin!r})"

    @property
    def ephemeral(self) -> bool:
        return self.origin.startswith("ephemeral")


def load_key(spec: LinkSpec | LinkJobSpec, allow_ephemeral_key: bool = False) -> PseudonymKey:
    """Read the hashing key from `spec.key_env`, else `spec.key_file`.

    Without either, stop with an error that says how to set one, unless
    `allow_ephemeral_key`: then a random key for this run only (tokens will not match
    those of any other run).
    """
    value = os.environ.get(spec.key_env, "")
    if value.strip():
        return PseudonymKey(value.strip().encode(), f"environment variable {spec.key_env}")
    if spec.key_file is not None:
        path = Path(spec.key_file)
        if not path.is_file():
            raise RiskEngineError(
                f"{path}: pseudonymisation key file not found (link.key_file, resolved against {Path.cwd()}); "
                f"`riskengine demo` makes one, or set the environment variable {spec.key_env}"
            )
        secret = path.read_bytes().strip()
        if len(secret) < 16:
            raise RiskEngineError(f"{path}: pseudonymisation key is shorter than 16 bytes; use a long random key")
        return PseudonymKey(secret, f"key file {path}")
    if allow_ephemeral_key:
        return PseudonymKey(secrets.token_bytes(32), "ephemeral (random, this run only)")
    raise RiskEngineError(
        f"no pseudonymisation key: set the environment variable {spec.key_env} "
        "(e.g. to the output of `python -c 'import secrets; print(secrets.token_hex(32))'`) "
        "or name a file holding one in the spec's key_file ([link] key_file in a training spec; `riskengine demo` makes "
        ".riskengine/pseudonym.key); for a throwaway run, `riskengine link` takes --ephemeral-key "
        "and the Python API allow_ephemeral_key=True"
    )


def _canonical(value: str) -> str:
    """Case and spacing do not make a different person: 'JOHN  SMITH' == 'John Smith'."""
    return re.sub(r"\s+", " ", value).strip().casefold()


def hash_value(value: str, key: PseudonymKey) -> str:
    """The keyed token of one identifier value."""
    digest = hmac.new(key.secret, _canonical(value).encode(), hashlib.sha256).hexdigest()
    return TOKEN_PREFIX + digest


def keyed_ids(values: pd.Series, key: PseudonymKey, purpose: str, length: int = 16) -> pd.Series:
    """A stable id per distinct value, keyed (HMAC-SHA256 of `purpose|value`): review ids made from
    cleaned names or addresses, which an unkeyed hash would let anyone test a guess against."""
    codes, distinct = pd.factorize(values.astype("string").fillna(""))
    prefix = (purpose + "|").encode()
    ids = [hmac.new(key.secret, prefix + str(s).encode(), hashlib.sha256).hexdigest()[:length] for s in distinct]
    return pd.Series(pd.array(ids, dtype="string")[codes], index=values.index, dtype="string")


def check_decisions_key(key: PseudonymKey, decisions_file: Path | None) -> None:
    """Review ids are keyed: a clerk's decisions can only be matched with the key of the run that
    listed them, which an ephemeral key never is. Say so before the file is read (and deleted)."""
    if key.ephemeral and decisions_file is not None and Path(decisions_file).is_file():
        raise RiskEngineError(f"{decisions_file}: clerical-review decisions need the pseudonymisation key of the run "
                              "that wrote the review file (review ids are keyed with it), not an ephemeral key; "
                              "set the environment variable or key_file and run again")


def pseudonymise(frame: pd.DataFrame, columns: Iterable[str], key: PseudonymKey) -> pd.DataFrame:
    """Return a copy of `frame` with each of `columns` present replaced by keyed tokens.

    Missing values stay missing; each distinct value is hashed once.
    """
    out = frame.copy()
    for col in columns:
        if col not in out.columns:
            continue
        values = out[col].astype("string")
        distinct = pd.unique(values.dropna().to_numpy())
        tokens = pd.Series([hash_value(str(v), key) for v in distinct], index=distinct, dtype="string")
        out[col] = pd.Series(tokens.reindex(values.fillna("").to_numpy()).to_numpy(), index=out.index).astype("string")
    return out


def person_columns(frame: pd.DataFrame, spec: LinkSpec) -> list[str]:
    """The spec's person identifier columns that this frame holds."""
    return [c for c in spec.person_columns if c in frame.columns]
