"""Segment profiling (Mosaic-style): who the users are, against the population they come from.

For each segment: users, their share, the population's share and the index 100 x (user share /
population share) with a 95% interval from the log ratio of two proportions,
se(log index) = sqrt(1/u - 1/U + 1/p - 1/P). Segments with fewer than `min_count` users are
suppressed (with one more if only one would be, so it cannot be worked out from the total);
segments under `caution_count` users carry a caution.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from riskengine.errors import DataError, RiskEngineError
from riskengine.evaluation._io import as_labels, numeric_column, require_columns
from riskengine.evaluation._report import EvaluationReport, interval_chart, write_report

Z95 = 1.959963984540054
UNCLASSIFIED = "(unclassified)"


def _segments(series: pd.Series) -> pd.Series:
    out = as_labels(series).str.strip()
    return out.mask(out.isna() | (out == ""), UNCLASSIFIED)


def profile(users: pd.DataFrame, population: pd.DataFrame, segment_col: str,
            weight_col: str | None = None, dedupe: Literal["drop", "keep"] = "drop",
            id_col: str | None = "entity_id", min_count: int = 10, caution_count: int = 30,
            out_dir: str | Path | None = None, *, users_source: str = "the users table",
            population_source: str = "the population table") -> EvaluationReport:
    """Profile users against the population by segment; index = 100 x share ratio with a 95% CI.

    `weight_col` is a count per population row (e.g. households per segment); without it each
    population row counts once. `dedupe="drop"` counts each user once (by `id_col`, or by the
    whole row when the table has no such column); "keep" counts every row.
    """
    if dedupe not in ("drop", "keep"):
        raise RiskEngineError(f"duplicates must be 'drop' or 'keep', not {dedupe!r}")
    if min_count < 1:
        raise RiskEngineError("min_count must be at least 1")
    require_columns(users, [segment_col], users_source)
    require_columns(population, [segment_col, weight_col], population_source)
    n_rows = len(users)
    key = [id_col] if id_col and id_col in users.columns else None
    if dedupe == "drop":
        users = users.drop_duplicates(subset=key)
    duplicates = n_rows - len(users)
    u = _segments(users[segment_col]).value_counts()
    if weight_col is not None:
        w = numeric_column(population, weight_col, population_source)
        if (w < 0).any():
            raise DataError(f"{population_source}: column {weight_col!r} has negative counts")
        p = w.groupby(_segments(population[segment_col]).to_numpy()).sum()
    else:
        p = _segments(population[segment_col]).value_counts()
    U, P = float(u.sum()), float(p.sum())
    if U == 0 or P == 0:
        raise DataError(f"{users_source if U == 0 else population_source}: no rows to profile")
    table = pd.DataFrame({"users": u, "population": p}).fillna(0.0)
    table.index.name = "segment"
    table = table.reset_index()
    table["users"] = table["users"].astype(int)
    table["user_share"] = table["users"] / U
    table["population_share"] = table["population"] / P
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = table["user_share"] / table["population_share"]
        se = np.sqrt(1 / table["users"] - 1 / U + 1 / table["population"] - 1 / P)
    table["index"] = 100 * ratio
    table["index_lo"] = 100 * ratio * np.exp(-Z95 * se)
    table["index_hi"] = 100 * ratio * np.exp(Z95 * se)
    table.loc[table["users"] == 0, ["index_lo", "index_hi"]] = np.nan
    table.loc[table["population"] == 0, ["index", "index_lo", "index_hi"]] = np.nan
    table["flag"] = _flags(table, min_count, caution_count)
    hidden = table["flag"] == "suppressed"
    table.loc[hidden, ["users", "user_share", "index", "index_lo", "index_hi"]] = np.nan
    table = table.sort_values("segment", key=lambda s: s == UNCLASSIFIED, kind="stable")
    table = table.reset_index(drop=True)
    notes = []
    missing_pop = table.loc[table["population"] == 0, "segment"].tolist()
    if missing_pop:
        notes.append(f"Segments with users but not in the population: {', '.join(missing_pop)}.")
    data = {
        "title": "Segment profile",
        "users_source": users_source,
        "population_source": population_source,
        "segment_col": segment_col,
        "weight_col": weight_col,
        "duplicates": dedupe,
        "duplicates_removed": duplicates,
        "duplicate_key": key[0] if key else "the whole row",
        "users_total": int(U),
        "population_total": P,
        "min_count": min_count,
        "caution_count": caution_count,
        "level": 0.95,
        "segments": table.to_dict(orient="records"),
        "notes": notes,
    }
    report = EvaluationReport(table=table, data=data)
    if out_dir is not None:
        shown = table[table["flag"] != "suppressed"]
        chart = interval_chart(shown["segment"].tolist(), shown["index"].tolist(),
                               shown["index_lo"].tolist(), shown["index_hi"].tolist(),
                               reference=100.0, xlabel="index (100 = same share as the population)")
        report.files = write_report(data, out_dir, "profile", "evaluation_profile.html",
                                    charts={"index": chart})
    return report


def _flags(table: pd.DataFrame, min_count: int, caution_count: int) -> pd.Series:
    """'suppressed' below min_count users (plus one more if only one is), 'caution', or 'ok'."""
    n = table["users"]
    small = (n > 0) & (n < min_count)
    if small.sum() == 1:
        others = n[~small & (n > 0)]
        if len(others):
            small.loc[others.idxmin()] = True
    flags = np.where(small, "suppressed", np.where((n > 0) & (n < caution_count), "caution", "ok"))
    flags = np.where((table["population"] > 0) & (table["population"] < min_count) & ~small,
                     "caution", flags)
    return pd.Series(flags, index=table.index)
