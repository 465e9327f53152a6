"""`riskengine segment SPEC`: build the classification, check it, describe it and save it.

Writes, in the spec's out_dir: areas.csv (area -> supergroup, group, their names and the
denominators), model.joblib (to place new areas: `assign_areas`), diagnostics.csv (the
numbers for choosing k), rejects.csv (areas that could not be placed, with the reason) and
segments.html / segments.json (diagnostics, stability, pen portraits with charts).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import pandas as pd

from riskengine.errors import DataError, RiskEngineError
from riskengine.profiling._classify import (
    AreaClassification,
    agreement,
    diagnostics,
    parse_counts,
    portraits,
    resolve_variables,
    stability,
)
from riskengine.profiling._page import bars_chart, jsonable, read_table, write_page
from riskengine.spec import SegmentsSpec, load_spec_as

MODEL_VERSION = 1


@dataclass
class SegmentsResult:
    """What `segment` returns: the area table, the fitted model and the figures of the page."""

    areas: pd.DataFrame
    model: AreaClassification
    data: dict
    out_dir: Path
    paths: dict[str, Path] = field(default_factory=dict)


def _names(codes: list[str], portraits_: dict, given: dict[str, str]) -> dict[str, str]:
    return {c: given.get(c) or portraits_[c]["auto_name"] for c in codes}


def segment(spec: SegmentsSpec | str | Path, out_dir: str | Path | None = None, *, quiet: bool = True) -> SegmentsResult:
    """Build the open area classification a segments spec describes; write its outputs."""
    from riskengine.outputs import final_path, final_paths, run_folder
    from riskengine.progress import Steps

    spec = load_spec_as(spec, SegmentsSpec)
    d, c = spec.data, spec.clusters
    out = Path(out_dir or spec.out_dir or Path("out/segments") / spec.name)
    steps = Steps(quiet=quiet, total=5)
    steps("reading the census table", "read")
    table = read_table(d.table, "census table")
    variables = resolve_variables(list(map(str, table.columns)), d.denominators, d.variables, d.percentages,
                                  d.exclude, d.area_col, where=str(d.table))
    steps(f"transforming {len(variables)} variables and clustering {len(table):,} areas "
          f"({c.supergroups} supergroups, {c.n_init} starts)", "fit")
    model = AreaClassification(variables, d.area_col, c.supergroups, c.groups, c.n_init, c.seed,
                               c.min_group_areas).fit(table, where=str(d.table))
    prep = model.prepared_
    x = prep.standardised.to_numpy()
    sg_codes, gr_codes = model.codes()
    sg = pd.Series(sg_codes, index=prep.areas)
    gr = pd.Series(gr_codes, index=prep.areas)

    steps(f"diagnostics for k = {c.k_min}..{c.k_max} and stability over {c.stability_runs} seeds", "check")
    diag = diagnostics(x, c.k_min, c.k_max, min(c.n_init, 25), c.seed)
    stab = stability(x, model.supergroup_labels_, c.supergroups, c.n_init, c.seed, c.stability_runs)
    sizes = sg.value_counts().sort_index(key=lambda s: s.astype(int))

    steps("pen portraits", "portraits")
    sg_portraits = portraits(prep.percent, sg, spec.labels)
    gr_portraits = portraits(prep.percent, gr, spec.labels)
    sg_names = _names(list(sg_portraits), sg_portraits, spec.names)
    gr_names = _names(list(gr_portraits), gr_portraits, spec.names)

    truth = None
    if d.truth is not None:
        t = read_table(d.truth, "truth table")
        for col in (d.truth_area_col, d.truth_col):
            if col not in t.columns:
                raise DataError(f"{d.truth}: no column {col!r} (data.truth_area_col / data.truth_col)")
        hidden = t.set_index(t[d.truth_area_col].str.strip())[d.truth_col].reindex(prep.areas)
        known = hidden.notna().to_numpy()
        truth = {"areas_compared": int(known.sum()),
                 "ari_supergroups": round(agreement(sg[known], hidden[known]), 4),
                 "ari_groups": round(agreement(gr[known], hidden[known]), 4),
                 "crosstab": pd.crosstab(sg[known].rename("supergroup"), hidden[known].rename("hidden type"))}

    steps(f"writing {out}", "write")
    target = out
    with run_folder(target) as out:  # the last good classification stays until this one is written
        areas = pd.DataFrame({"area": prep.areas, "supergroup": sg.to_numpy(),
                              "supergroup_name": [sg_names[s] for s in sg], "group": gr.to_numpy(),
                              "group_name": [gr_names[g] for g in gr]})
        raw = table.assign(_code=table[d.area_col].astype("string").str.strip()).drop_duplicates("_code").set_index("_code")
        for name, col in d.denominators.items():
            areas[col] = parse_counts(raw[col])[0].reindex(prep.areas).to_numpy()
        paths = {"areas": out / "areas.csv", "model": out / "model.joblib", "diagnostics": out / "diagnostics.csv",
                 "rejects": out / "rejects.csv"}
        areas.to_csv(paths["areas"], index=False)
        diag.to_csv(paths["diagnostics"], index=False)
        prep.rejected.to_csv(paths["rejects"], index=False)
        saved = dataclasses.replace(model)
        for attr in ("medians_", "bounds_", "supergroup_centres_", "group_centres_", "columns_", "within_ss_"):
            setattr(saved, attr, getattr(model, attr))
        joblib.dump({"version": MODEL_VERSION, "model": saved, "supergroup_names": sg_names, "group_names": gr_names},
                    paths["model"])

        charts = {code: bars_chart([a["label"] for a in p["above"]] + [b["label"] for b in p["below"][::-1]],
                                   [a["index"] for a in p["above"]] + [b["index"] for b in p["below"][::-1]],
                                   reference=100, xlabel="index (100 = the average area)")
                  for code, p in sg_portraits.items()}
        groups_by_sg = {s: [g for g in gr_portraits if g[:-1] == s] for s in sg_portraits}
        data = {
            "title": f"Area classification: {spec.name}",
            "name": spec.name,
            "purpose": dataclasses.asdict(spec.purpose) if spec.purpose else None,
            "table": str(d.table),
            "area_col": d.area_col,
            "areas": int(len(prep.areas)),
            "variables": len(variables),
            "denominators": d.denominators,
            "percentages": [col for col, den in variables.items() if den is None],
            "settings": dataclasses.asdict(c),
            "within_ss": model.within_ss_,
            "diagnostics": diag,
            "best_k": {"silhouette": int(diag.loc[diag["silhouette"].idxmax(), "k"]),
                       "calinski_harabasz": int(diag.loc[diag["calinski_harabasz"].idxmax(), "k"])} if len(diag) else None,
            "stability": stab,
            "sizes": {s: int(n) for s, n in sizes.items()},
            "supergroups": [{"code": s, "name": sg_names[s], **sg_portraits[s],
                             "groups": [{"code": g, "name": gr_names[g], **gr_portraits[g]} for g in groups_by_sg[s]]}
                            for s in sg_portraits],
            "rejected": prep.rejected,
            "notes": prep.notes,
            "missing_cells": prep.missing_cells,
            "imputed": prep.imputed,
            "truth": None if truth is None else {k: v for k, v in truth.items() if k != "crosstab"},
            "files": {k: str(final_path(v)) for k, v in paths.items()},
        }
        crosstab = None if truth is None else truth["crosstab"]
        paths.update({f"page_{k}": v for k, v in write_page(data, out, "segments", "profiling_segments.html",
                                                            charts=charts, crosstab=crosstab).items()})
        paths = final_paths(paths)
    steps.close()
    return SegmentsResult(areas, model, jsonable(data), target, paths)


def assign_areas(model_path: str | Path, table: pd.DataFrame) -> pd.DataFrame:
    """Place areas of a census table (same columns) into a saved classification's supergroups and groups."""
    path = Path(model_path)
    if not path.is_file():
        raise RiskEngineError(f"{path}: saved classification not found (a segments run writes model.joblib)")
    saved = joblib.load(path)
    if not isinstance(saved, dict) or saved.get("version") != MODEL_VERSION:
        raise RiskEngineError(f"{path}: not a classification saved by this version of riskengine")
    model: AreaClassification = saved["model"]
    missing = [c for c in [model.area_col, *model.variables, *{d for d in model.variables.values() if d}]
               if c not in table.columns]
    if missing:
        raise DataError(f"the table to assign lacks the classification's column(s): {', '.join(missing[:8])}")
    out = model.predict(table)
    out["supergroup_name"] = out["supergroup"].map(saved["supergroup_names"])
    out["group_name"] = out["group"].map(saved["group_names"]).fillna("")
    return out[["area", "supergroup", "supergroup_name", "group", "group_name"]]


def hidden_types_ari(result: SegmentsResult) -> float | None:
    """The supergroups' adjusted Rand index against the hidden types (synthetic data only)."""
    t = result.data.get("truth")
    return None if not t else float(t["ari_supergroups"])


