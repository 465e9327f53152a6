"""Planted mess: what real extracts contain, in small, counted amounts.

Event files get exact duplicate rows, impossible dates (30 February, 1899, years after the
extract) and rows that break the data contract (no type, a value that is not a number, an
entity id with letters in it). The entities get a few repeated UPRNs and homes without
coordinates; outcomes a few unknown entity ids and outcome values that are not 0/1.
Every kind is counted for the manifest; no file gets near 5% bad rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DUPLICATE_SHARE = 0.01
BAD_DATE_SHARE = 0.003
EMPTY_TYPE_SHARE = 0.0015
BAD_VALUE_SHARE = 0.0015
BAD_ID_SHARE = 0.001
NON_NUMERIC = np.array(["n/a", "unknown", "tbc", "see notes"], dtype=object)


@dataclass
class EventMess:
    """Where the planted problems go in one event file (positions are 0-based output rows)."""

    order: np.ndarray  # source row for each output row (duplicates repeat a row)
    dates: dict[int, str] = field(default_factory=dict)
    empty_type: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    values: dict[int, str] = field(default_factory=dict)
    ids: dict[int, str] = field(default_factory=dict)
    counts: dict[str, int | dict[str, int]] = field(default_factory=dict)

    @property
    def bad_rows(self) -> int:
        c = self.counts
        return int(c["duplicates"] + sum(c["bad_dates"].values()) + c["empty_type"]
                   + c["non_numeric_value"] + c["malformed_entity_id"])


def _count(share: float, n: int) -> int:
    return max(1, int(round(share * n))) if n >= 100 else 0


def plan_event_mess(
    rng: np.random.Generator,
    n: int,
    has_id: np.ndarray,
    row_home: np.ndarray,
    row_uprn: np.ndarray,
    start: int,
    end: int,
) -> EventMess:
    """Choose duplicates and broken rows for a file of `n` clean rows (no two alike).

    `has_id` says which rows carry an entity id, `row_home` and `row_uprn` give each row's
    home and its true UPRN. Broken rows are rows with an id, at most one per home, so that
    breaking them can never make two rows alike by accident.
    """
    dup = np.sort(rng.choice(n, size=_count(DUPLICATE_SHARE, n), replace=False)) if n >= 100 else np.zeros(0, np.int64)
    reps = np.ones(n, dtype=np.int64)
    reps[dup] = 2
    order = np.repeat(np.arange(n), reps)
    pool = np.flatnonzero(np.repeat((reps == 1) & has_id, reps))  # not duplicated, with an id
    n_date = _count(BAD_DATE_SHARE, n)
    n_type = _count(EMPTY_TYPE_SHARE, n)
    n_value = _count(BAD_VALUE_SHARE, n)
    n_id = _count(BAD_ID_SHARE, n)
    need = n_date + n_type + n_value + n_id
    sample = rng.choice(pool, size=min(len(pool), 3 * need + 10), replace=False)
    _, first = np.unique(row_home[order[sample]], return_index=True)
    picked = sample[np.sort(first)][:need]
    date_pos, type_pos, value_pos, id_pos = np.split(
        picked, np.cumsum([n_date, n_type, n_value]).clip(max=len(picked))
    )

    kinds = {"impossible": 0, "ancient": 0, "future": 0}
    dates = {}
    for pos, kind in zip(date_pos.tolist(), rng.integers(0, 3, size=len(date_pos)).tolist()):
        dates[pos] = _bad_date(rng, kind, start, end)
        kinds[["impossible", "ancient", "future"][kind]] += 1
    values = {p: str(v) for p, v in zip(value_pos.tolist(), rng.choice(NON_NUMERIC, size=len(value_pos)))}
    ids = {}
    letters = np.array(list("abcdefghjkmnpqrstuvwxyz"))
    for pos in id_pos.tolist():
        cut = int(rng.integers(5, 9))
        ids[pos] = str(row_uprn[order[pos]])[:cut] + "".join(rng.choice(letters, size=3))
    return EventMess(
        order=order,
        dates=dates,
        empty_type=np.sort(type_pos),
        values=values,
        ids=ids,
        counts={
            "duplicates": int(len(dup)),
            "bad_dates": kinds,
            "empty_type": int(len(type_pos)),
            "non_numeric_value": int(len(value_pos)),
            "malformed_entity_id": int(len(ids)),
        },
    )


def _bad_date(rng: np.random.Generator, kind: int, start: int, end: int) -> str:
    y0 = int(np.datetime64(start, "D").astype("datetime64[Y]").astype(int)) + 1970
    y1 = int(np.datetime64(end, "D").astype("datetime64[Y]").astype(int)) + 1970
    if kind == 0:
        year = int(rng.integers(y0, y1 + 1))
        options = [(2, 30), (2, 31), (4, 31), (6, 31), (9, 31), (11, 31), (13, 1), (0, 12)]
        if year % 4:
            options.append((2, 29))
        month, day = options[int(rng.integers(len(options)))]
        return f"{year:04d}-{month:02d}-{day:02d}"
    if kind == 1:
        return str(rng.choice(["1899-01-01", "1900-01-01", "1901-01-01"]))
    future = end + int(rng.integers(4 * 365, 6 * 365))
    return str(np.datetime64(future, "D"))


def entity_mess(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Which homes appear twice (half exact copies, half re-typed) and which lose coordinates."""
    k_dup = max(2, int(round(0.001 * n)))
    k_xy = max(3, int(round(0.002 * n)))
    picked = rng.choice(n, size=k_dup + k_xy, replace=False)
    dup = np.sort(picked[:k_dup])
    return {
        "duplicate": dup,
        "retyped": dup[rng.random(k_dup) < 0.5],
        "no_coordinates": np.sort(picked[k_dup:]),
    }


def outcome_mess(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Which inspection rows get an unknown entity id and which a bad outcome value."""
    k = max(1, int(round(0.005 * n))) if n >= 20 else 0
    picked = rng.choice(n, size=min(n, 2 * k), replace=False)
    return {
        "unknown_entity_id": np.sort(picked[:k]),
        "bad_outcome": np.sort(picked[k:]),
        "bad_outcome_text": rng.choice(np.array(["yes", "2", "no", "Y"], dtype=object), size=len(picked[k:])),
    }
