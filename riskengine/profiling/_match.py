"""Service users to segments: minimise the data, match addresses to properties, attach areas.

Stage 1 of the loop says only addresses are needed. A service table may hold the service's own
id, a UPRN, the address and the postcode; any other column is refused (or dropped when the
spec says so, and the report says which). Rows are matched with the linkage stage's public
`link`: a UPRN found in the register attaches directly, the rest go to the address matcher.
Each row then gets the property's area and the area's segment, or the reason it has none.
The duplicates policy counts each person once (by the service id) or every row (each use).

Nothing here is written to disk: the matched rows stay in memory and only counts leave.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from riskengine.errors import DataError
from riskengine.spec import LinkSpec, ProfileRegister, ProfileService

MATCHED = "matched"
REASONS = {
    "no_address": "no address and no UPRN",
    "unmatched": "address not recognised in the register",
    "reviewed": "possible match left for clerical review",
    "no_area": "property has no area code in the register",
    "area_not_classified": "area not in the classification",
}


@dataclass
class ServiceUsers:
    """One service's rows after matching (in memory only) and the counts that may be published."""

    name: str
    label: str
    rows: pd.DataFrame  # person (service id), entity_id, area, segment, status; never written
    report: dict = field(default_factory=dict)

    def counted(self, duplicates: str) -> pd.DataFrame:
        """Matched rows under the duplicates policy: one per person, or every row."""
        ok = self.rows[self.rows["status"] == MATCHED]
        if duplicates == "uses":
            return ok
        person = ok["person"].astype(object).where(ok["person"].notna(), "\0row" + ok.index.astype(str))
        return ok[~person.duplicated(keep="first").to_numpy()]


def minimise(df: pd.DataFrame, svc: ProfileService, name: str) -> tuple[pd.DataFrame, list[str]]:
    """Keep only the id, UPRN, address and postcode columns; refuse (or drop) anything else."""
    allowed = [c for c in (svc.id_col, svc.uprn_col, svc.address_col, svc.postcode_col) if c]
    for need in (svc.id_col, svc.address_col):
        if need not in df.columns:
            raise DataError(f"{svc.path}: no column {need!r} (services.{name}: "
                            f"{'id_col' if need == svc.id_col else 'address_col'}); columns present: "
                            f"{', '.join(map(str, df.columns))}")
    extra = [str(c) for c in df.columns if c not in allowed]
    if extra and not svc.drop_other_columns:
        raise DataError(
            f"{svc.path}: column(s) {', '.join(repr(c) for c in extra)} are not needed to profile users and are "
            f"refused (data minimisation: only {', '.join(allowed)} may be sent). Remove them from the file, or set "
            f"services.{name}.drop_other_columns = true to drop them on reading")
    present = [c for c in allowed if c in df.columns]
    return df[present].copy(), extra


def _register_areas(register: pd.DataFrame, reg: ProfileRegister) -> pd.DataFrame:
    cols = ["entity_id", reg.area_col] + [c for c in (reg.lat_col, reg.lon_col) if c]
    missing = [c for c in cols if c not in register.columns]
    if missing:
        raise DataError(f"{reg.path}: the register lacks column(s) {', '.join(missing)} "
                        "(register.area_col / lat_col / lon_col)")
    out = register[cols].copy()
    out["entity_id"] = out["entity_id"].astype("string").str.strip()
    out = out.drop_duplicates("entity_id").set_index("entity_id")
    out = out.rename(columns={reg.area_col: "area", **({reg.lat_col: "lat"} if reg.lat_col else {}),
                              **({reg.lon_col: "lon"} if reg.lon_col else {})})
    out["area"] = out["area"].astype("string").str.strip()
    for c in ("lat", "lon"):
        if c in out.columns:
            out[c] = pd.to_numeric(out[c], errors="coerce")
    return out


def match_users(tables: dict[str, tuple[pd.DataFrame, ProfileService]], register: pd.DataFrame,
                reg: ProfileRegister, segments: pd.Series, link_spec: LinkSpec | None = None,
                progress: bool = False) -> dict[str, ServiceUsers]:
    """Match every service table (already minimised) in one linkage run; attach area and segment.

    `segments` maps area code -> segment. Returns per service its rows and a matching report.
    """
    from riskengine.link import link

    if "entity_id" not in register.columns:
        raise DataError(f"{reg.path}: the register needs an 'entity_id' column (the UPRN)")
    sources = {}
    for name, (df, svc) in tables.items():
        src = pd.DataFrame({"line": np.arange(1, len(df) + 1)})
        src["entity_id"] = (df[svc.uprn_col].astype("string").str.strip().to_numpy()
                            if svc.uprn_col and svc.uprn_col in df.columns else pd.NA)
        src["address"] = df[svc.address_col].astype("string").str.strip().replace("", pd.NA).to_numpy()
        src["postcode"] = (df[svc.postcode_col].astype("string").to_numpy()
                           if svc.postcode_col and svc.postcode_col in df.columns else pd.NA)
        src["entity_id"] = src["entity_id"].astype("string")
        sources[name] = src
    # the address matcher needs only the register's addresses; no person identifiers are sent
    result = link(register, sources, link_spec or LinkSpec(), progress=progress, allow_ephemeral_key=True)
    areas = _register_areas(register, reg)
    out = {}
    for name, (df, svc) in tables.items():
        linked = result.sources[name]
        prov = linked["match_provenance"].astype(str).to_numpy()
        entity = linked["entity_id"].astype("string")
        area = areas["area"].reindex(entity.to_numpy()).to_numpy()
        seg = segments.reindex(pd.Series(area).astype("string").to_numpy()).to_numpy()
        status = np.full(len(df), MATCHED, dtype=object)
        no_input = sources[name]["entity_id"].isna().to_numpy() & sources[name]["address"].isna().to_numpy()
        status[np.isin(prov, ["unmatched"])] = "unmatched"
        status[np.isin(prov, ["reviewed"])] = "reviewed"
        status[no_input] = "no_address"
        linked_ok = np.isin(prov, ["exact", "probabilistic"]) | (entity.notna().to_numpy() & (prov == "reviewed"))
        status[linked_ok & pd.isna(area)] = "no_area"
        status[linked_ok & ~pd.isna(area) & pd.isna(seg)] = "area_not_classified"
        rows = pd.DataFrame({"person": df[svc.id_col].astype("string").str.strip().to_numpy(),
                             "entity_id": entity.to_numpy(), "area": area, "segment": seg, "status": status})
        if "lat" in areas.columns:
            rows["lat"] = areas["lat"].reindex(entity.to_numpy()).to_numpy()
            rows["lon"] = areas["lon"].reindex(entity.to_numpy()).to_numpy()
        counts = pd.Series(status).value_counts()
        how = pd.Series(prov[status == MATCHED]).value_counts()
        people = rows["person"].nunique(dropna=True)
        report = {
            "rows": int(len(rows)),
            "people": int(people),
            "matched_rows": int(counts.get(MATCHED, 0)),
            "matched_share": float(counts.get(MATCHED, 0) / max(len(rows), 1)),
            "matched_by": {"UPRN": int(how.get("exact", 0)), "address": int(how.get("probabilistic", 0))},
            "not_matched": {REASONS[k]: int(counts.get(k, 0)) for k in REASONS if counts.get(k, 0)},
            "missing_service_id": int(rows["person"].isna().sum()),
        }
        out[name] = ServiceUsers(name, svc.label or name.replace("_", " "), rows, report)
    return out


def delete_input(path: Path) -> str:
    """Remove an input file once profiling succeeded; returns the line for the run's log."""
    path.unlink()
    return f"deleted {path} after a successful run, as the spec asked (delete_input = true)"
