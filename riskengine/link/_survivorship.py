"""Survivorship: which value of each field the golden record keeps when sources disagree.

Every field gets one stated rule:
- most_trusted: the value from the most trusted source that has one (the entity register
  first unless `trusted_sources` says otherwise), the latest among that source's rows;
- most_recent: the value on the latest dated row (the undated register counts as oldest);
- most_frequent: the value most rows agree on (ties go to the more trusted, then the later).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from riskengine.errors import RiskEngineError
from riskengine.link._normalise import normalise_postcodes
from riskengine.spec import LinkSpec

RULES = ("most_recent", "most_frequent", "most_trusted")
REGISTER = "entities"  # the name the entity register goes by in trust orders and reports
# Columns of a linked source that are bookkeeping or events, not attributes of the entity.
NOT_FIELDS = {"line", "entity_id", "date", "type", "value", "match_provenance", "match_probability",
              "review_id", "_row", "_line", "source"}

# Each rule as a sort key, largest wins (ties broken by the value itself, for repeatability).
# d = days since 1970 (the undated register counts as oldest), t = trust rank (0 = most trusted).
_KEY = {
    "most_recent": "(coalesce(d, -1e6) * 1e3 - t)",
    "most_trusted": "(-t * 1e7 + coalesce(d, -1e6))",
    "most_frequent": "(freq * 1e10 - t * 1e7 + coalesce(d, -1e6))",
}


def trust_order(spec: LinkSpec, sources: list[str]) -> list[str]:
    """Sources from most to least trusted: those the spec lists, then the register, then the rest."""
    listed = list(dict.fromkeys(spec.trusted_sources))
    unknown = [s for s in listed if s != REGISTER and s not in sources]
    if unknown:
        raise RiskEngineError(
            f"link.trusted_sources names {unknown}, which are not sources of this run; "
            f"expected some of {[REGISTER, *sources]}"
        )
    rest = [s for s in [REGISTER, *sources] if s not in listed]
    return listed + rest


def field_rules(spec: LinkSpec, register_fields: list[str], source_fields: list[str]) -> dict[str, str]:
    """The rule for every golden field: the spec's choice, else most_trusted for fields the
    register holds and most_recent for fields only sources hold (e.g. the current account holder)."""
    fields = list(dict.fromkeys([*register_fields, *source_fields]))
    for name, rule in spec.survivorship.items():
        if rule not in RULES:
            raise RiskEngineError(f"link.survivorship.{name}: expected one of {', '.join(RULES)}, got {rule!r}")
        if name not in fields:
            raise RiskEngineError(
                f"link.survivorship.{name}: no entity or source column of that name; expected one of {fields}"
            )
    return {f: spec.survivorship.get(f, "most_trusted" if f in register_fields else "most_recent") for f in fields}


def golden_records(
    entities: pd.DataFrame, linked: dict[str, pd.DataFrame], spec: LinkSpec
) -> tuple[pd.DataFrame, dict[str, dict]]:
    """One row per entity: every field chosen by its rule, plus how many rows were linked.

    Returns the golden table and, per field, its rule and where its values came from.
    """
    sources = list(linked)
    order = trust_order(spec, sources)
    trust = {name: i for i, name in enumerate(order)}
    register_fields = [c for c in entities.columns if c != "entity_id"]
    source_fields = list(dict.fromkeys(c for df in linked.values() for c in df.columns if c not in NOT_FIELDS))
    rules = field_rules(spec, register_fields, source_fields)

    long = []
    contested = [f for f in rules if any(f in df.columns for df in linked.values())]
    for f in contested:
        if f in entities.columns:
            long.append(_candidates(entities, f, REGISTER, trust[REGISTER], dated=False))
        for name, df in linked.items():
            if f in df.columns:
                long.append(_candidates(df[df["entity_id"].notna()], f, name, trust[name], dated=True))
    golden = entities[["entity_id"]].copy()
    golden["entity_id"] = golden["entity_id"].astype("string")
    chosen = _choose(pd.concat(long, ignore_index=True), rules) if long else None
    for f in rules:
        if f in contested and chosen is not None:
            pick = chosen[chosen["field"] == f].set_index("entity_id")["value"]
            values = pd.Series(pick.reindex(golden["entity_id"].to_numpy()).to_numpy(), index=golden.index, dtype="string")
            if f in entities.columns and pd.api.types.is_numeric_dtype(entities[f]):
                values = pd.to_numeric(values, errors="coerce")
            golden[f] = values
        else:
            golden[f] = entities[f].to_numpy()
    golden = golden.join(_activity(golden["entity_id"], linked))
    described = {
        f: {
            "rule": rule,
            "sources": [s for s in order if (s == REGISTER and f in entities.columns) or (s in linked and f in linked[s].columns)],
        }
        for f, rule in rules.items()
    }
    return golden, described


def _candidates(df: pd.DataFrame, f: str, source: str, trust: int, dated: bool) -> pd.DataFrame:
    values = df[f].astype("string").str.strip()
    if f == "postcode":  # one postcode, several spellings: compare them as one
        values = normalise_postcodes(values)
    if dated and "date" in df.columns:
        dates = pd.to_datetime(df["date"], errors="coerce", format="ISO8601").to_numpy(dtype="datetime64[ns]")
    else:
        dates = np.full(len(df), np.datetime64("NaT"), dtype="datetime64[ns]")
    out = pd.DataFrame(
        {"entity_id": df["entity_id"].astype("string").to_numpy(), "field": f, "value": values.to_numpy(),
         "source": source, "trust": trust, "date": dates}
    )
    return out[out["value"].notna() & (out["value"] != "")]


def _choose(long: pd.DataFrame, rules: dict[str, str]) -> pd.DataFrame:
    """Apply each field's rule in DuckDB: one (entity_id, field, value) per entity and field."""
    con = duckdb.connect()
    con.register("cand", long)
    parts = []
    for rule, key in _KEY.items():
        fields = [f for f, r in rules.items() if r == rule]
        if not fields:
            continue
        names = ", ".join("'" + f.replace("'", "''") + "'" for f in fields)
        parts.append(f"""
            SELECT entity_id, field, arg_max(value, {key}) AS value
            FROM (
                SELECT entity_id, field, value, min(trust) AS t, max(epoch(date) / 86400) AS d, count(*) AS freq
                FROM cand WHERE field IN ({names})
                GROUP BY entity_id, field, value
            )
            GROUP BY entity_id, field""")
    out = con.execute(" UNION ALL ".join(parts)).df() if parts else pd.DataFrame(columns=["entity_id", "field", "value"])
    con.close()
    return out


def _activity(ids: pd.Series, linked: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Rows linked per entity, from how many sources, first and last event date."""
    frames = []
    for name, df in linked.items():
        rows = df[df["entity_id"].notna()]
        dates = (pd.to_datetime(rows["date"], errors="coerce", format="ISO8601") if "date" in rows.columns
                 else pd.Series(pd.NaT, index=rows.index)).to_numpy(dtype="datetime64[ns]")
        frames.append(pd.DataFrame({"entity_id": rows["entity_id"].astype("string").to_numpy(), "source": name, "date": dates}))
    cols = ["linked_rows", "linked_sources", "first_event", "last_event"]
    if not frames:
        return pd.DataFrame(columns=cols, index=ids.index)
    allrows = pd.concat(frames, ignore_index=True)
    g = allrows.groupby("entity_id")
    act = pd.DataFrame({
        "linked_rows": g.size(),
        "linked_sources": g["source"].nunique(),
        "first_event": g["date"].min(),
        "last_event": g["date"].max(),
    })
    out = act.reindex(ids.to_numpy())
    out.index = ids.index
    out["linked_rows"] = out["linked_rows"].fillna(0).astype("int64")
    out["linked_sources"] = out["linked_sources"].fillna(0).astype("int64")
    return out
