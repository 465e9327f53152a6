"""`riskengine profile SPEC`: the profiling loop's stages 1-5 and 8 in one run, one page.

1 data: read each service table, refuse (or drop) columns beyond id, UPRN, address, postcode;
2 match: addresses to properties (riskengine.link) and to areas and segments;
3 map: take-up by area, users' density, segments; 4 analyse: users against the population
by segment and area, overlap between services; 5 check: staff's expected shares against
what was observed; 8 measure again: before and after an action, a difference in differences.

Writes profile.html and profile.json (aggregates only, small counts suppressed) and
run_log.json (what ran, row counts, files deleted); nothing personal leaves memory.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from riskengine.errors import DataError
from riskengine.profiling import _analyse, _change, _map
from riskengine.profiling._match import delete_input, match_users, minimise
from riskengine.profiling._page import interval_chart, jsonable, line_chart, read_table, write_page
from riskengine.spec import ProfileSpec, ProfileService, load_spec_as


@dataclass
class ProfileResult:
    """What `profile` returns: the published figures, the output folder and its files."""

    data: dict
    out_dir: Path
    paths: dict[str, Path] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)


def _areas(spec: ProfileSpec) -> pd.DataFrame:
    a = spec.areas
    t = read_table(a.path, "areas table")
    for col in (a.area_col, a.segment_col, a.population_col):
        if col not in t.columns:
            raise DataError(f"{a.path}: no column {col!r} (areas.area_col / segment_col / population_col); "
                            f"columns: {', '.join(map(str, t.columns))}")
    pop = pd.to_numeric(t[a.population_col], errors="coerce")
    bad = pop.isna() & t[a.population_col].notna() & (t[a.population_col].astype("string").str.strip() != "")
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise DataError(f"{a.path}: line {row + 2}, column {a.population_col!r} must be a number of residents; "
                        f"it holds {t[a.population_col].iloc[row]!r}")
    out = pd.DataFrame({"area": t[a.area_col].astype("string").str.strip(),
                        "segment": t[a.segment_col].astype("string").str.strip(), "population": pop})
    out["name"] = t[a.segment_name_col].astype("string") if a.segment_name_col and a.segment_name_col in t.columns else ""
    out = out.dropna(subset=["area"]).drop_duplicates("area").set_index("area")
    if out["population"].isna().all():
        raise DataError(f"{a.path}: column {a.population_col!r} has no numbers")
    out["population"] = out["population"].fillna(0)
    return out


def _read_service(name: str, svc: ProfileService, path: Path | None = None) -> tuple[pd.DataFrame, list[str]]:
    df = read_table(path or svc.path, f"service table ({name})")
    return minimise(df, svc if path is None else ProfileService(**{**svc.__dict__, "path": path}), name)


def profile(spec: ProfileSpec | str | Path, out_dir: str | Path | None = None, *, quiet: bool = True,
            log_mlflow: bool = False) -> ProfileResult:
    """Run a profiling spec: match each service's users, analyse, map and measure change; write the page."""
    from riskengine.outputs import final_paths, run_folder
    from riskengine.progress import Steps

    spec = load_spec_as(spec, ProfileSpec)
    out = Path(out_dir or spec.out_dir or Path("out/profile") / spec.name)
    steps = Steps(quiet=quiet, total=6)
    log = [f"{dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')} profile {spec.name}"]

    steps("stage 1: reading the service tables (only id, UPRN, address and postcode are kept)", "read")
    areas = _areas(spec)
    names = areas["name"].dropna().groupby(areas["segment"]).first().astype(str).to_dict()
    tables, dropped = {}, {}
    for name, svc in spec.services.items():
        df, extra = _read_service(name, svc)
        tables[name] = (df, svc)
        if extra:
            dropped[name] = extra
    if spec.change is not None:
        base = spec.services[spec.change.service]
        df, extra = _read_service(spec.change.service, base, spec.change.after)
        tables[f"{spec.change.service}__after"] = (df, ProfileService(**{**base.__dict__, "path": spec.change.after}))
        if extra:
            dropped[f"{spec.change.service} (after)"] = extra
    register = read_table(spec.register.path, "property register")

    steps("stage 2: matching addresses to properties and areas (riskengine.link)", "match")
    matched = match_users(tables, register, spec.register, areas["segment"], spec.link, progress=not quiet)
    del register
    labels = {n: matched[n].label for n in spec.services}

    steps("stage 4: users against the population by segment and by area; overlap", "analyse")
    population = areas.groupby("segment")["population"].sum().rename("population").reset_index()
    services = {}
    counted = {n: matched[n].counted(spec.duplicates) for n in spec.services}
    for name, svc in spec.services.items():
        users = counted[name]
        seg = _analyse.by_segment(users, population, spec.min_count, names)
        area = _analyse.by_area(users, areas["population"], spec.min_count)
        suppressed = set(seg.loc[seg["flag"] == "suppressed", "segment"])
        entry = {"name": name, "label": labels[name], "matching": matched[name].report,
                 "dropped_columns": dropped.get(name, []), "counted": int(len(users)),
                 "segments": seg, "areas_suppressed": int(area["suppressed"].sum()),
                 "most_non_users": area.sort_values("non_users", ascending=False).head(10),
                 "lowest_take_up": area[~area["suppressed"]].sort_values("take_up").head(10),
                 "overall_take_up": 1000 * len(users) / float(areas["population"].sum()), "expected": None}
        if svc.expected is not None:
            exp = read_table(svc.expected, f"expected shares ({name})")
            entry["expected"] = _analyse.expected_vs_observed(users, exp, suppressed, str(svc.expected),
                                                              spec.min_count)
        shown = seg[seg["flag"] != "suppressed"]
        entry["chart"] = interval_chart(
            [f"{s} {n}".strip() for s, n in zip(shown["segment"], shown["name"])], shown["index"].tolist(),
            shown["index_lo"].tolist(), shown["index_hi"].tolist(), reference=100.0,
            xlabel="index (100 = same share as the population)", marks=(shown["difference"] != "").tolist())
        entry["_area_table"] = area
        services[name] = entry
    homes = {n: set(counted[n]["entity_id"].dropna()) for n in spec.services}
    overlap = _analyse.overlap(homes, labels, spec.min_count) if len(homes) > 1 else pd.DataFrame()

    change = None
    if spec.change is not None:
        steps("stage 8: take-up before and after the action (difference in differences over areas)", "change")
        c = spec.change
        t = read_table(c.targeted, "targeted areas")
        if c.targeted_col not in t.columns:
            raise DataError(f"{c.targeted}: no column {c.targeted_col!r} (change.targeted_col)")
        targeted = set(t[c.targeted_col].astype("string").str.strip().dropna())
        after = matched[f"{c.service}__after"].counted(spec.duplicates)
        change = _change.change(counted[c.service], after, areas["population"], targeted, where=str(c.targeted))
        change["service"] = c.service
        change["label"] = labels[c.service]
        change["matching_after"] = matched[f"{c.service}__after"].report
        m = change["means"]
        change["chart"] = line_chart([0, 1], {"targeted areas": [m["treated"]["before"], m["treated"]["after"]],
                                              "other areas": [m["comparison"]["before"], m["comparison"]["after"]]},
                                     xlabel="0 = before, 1 = after", ylabel="users per 1,000 residents")
        before_area = services[c.service]["_area_table"].set_index("area")
        after_area = _analyse.by_area(after, areas["population"], spec.min_count).set_index("area")
        diff = after_area["take_up"] - before_area["take_up"]
        change["_map"] = (diff, before_area["suppressed"] | after_area["suppressed"], targeted)
    else:
        steps("stage 8: no [change] in the spec", "change")

    steps("stage 3: the map", "map")
    if spec.areas.boundaries is not None:
        shapes = _map.read_boundaries(spec.areas.boundaries, spec.areas.code_property)
    else:
        shapes = _map.voronoi_cells(_register_centroids(spec, areas))
    shapes = {k: v for k, v in shapes.items() if k in areas.index}
    if not shapes:
        raise DataError(f"{spec.areas.boundaries or spec.register.path}: no area of the boundaries matches an area "
                        f"code of {spec.areas.path}")
    layers = [_map.categories("segments", "segments", areas["segment"], names)]
    for name, entry in services.items():
        a = entry["_area_table"].set_index("area")
        layers.append(_map.choropleth(f"take-up-{name}", f"take-up: {labels[name]}", a["take_up"], a["suppressed"],
                                      "users per 1,000 residents"))
        rate = entry["overall_take_up"] or 1.0
        layers.append(_map.choropleth(f"index-{name}", f"take-up index: {labels[name]}", 100 * a["take_up"] / rate,
                                      a["suppressed"], "(100 = the borough's rate)"))
    if change is not None:
        diff, hidden, _ = change.pop("_map")
        layers.append(_map.choropleth(f"change-{change['service']}", f"change in take-up: {change['label']}",
                                      diff, hidden, "users per 1,000 (after - before)", diverging=True))
    for name in spec.services:
        layers.append(_map.density(f"users-{name}", f"users: {labels[name]}", counted[name], spec.min_count))
    the_map = _map.render(shapes, layers)

    steps(f"writing {out}", "write")
    for entry in services.values():
        entry.pop("_area_table")
    data = {"title": f"Who uses the services: {spec.name}", "name": spec.name, "duplicates": spec.duplicates,
            "purpose": dataclasses.asdict(spec.purpose) if spec.purpose else None,
            "min_count": spec.min_count, "areas": int(len(areas)), "population": float(areas["population"].sum()),
            "segment_col": spec.areas.segment_col, "segment_names": names, "services": list(services.values()),
            "overlap": overlap, "change": change,
            "map_source": "boundary file " + str(spec.areas.boundaries) if spec.areas.boundaries else
            "Voronoi cells of each area's properties' centroid (no boundary file given)"}
    charts = {n: e.pop("chart") for n, e in services.items()}
    change_chart = change.pop("chart") if change else None
    target = out
    with run_folder(target) as out:  # the page and its log appear together; the last good ones stay till then
        paths = write_page(data, out, "profile", "profiling_profile.html", charts=charts, the_map=the_map,
                           change_chart=change_chart)
        for name, svc in spec.services.items():
            if svc.delete_input:
                log.append(delete_input(Path(svc.path)))
        if spec.change is not None and spec.change.delete_input:
            log.append(delete_input(Path(spec.change.after)))
        run_log = {"spec": spec.name, "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                   "rows": {n: u.report["rows"] for n, u in matched.items()},
                   "dropped_columns": dropped, "log": log}
        paths["log"] = out / "run_log.json"
        paths["log"].write_text(json.dumps(run_log, indent=2) + "\n", encoding="utf-8")
        paths = final_paths(paths)
    out = target
    if log_mlflow:
        paths["mlflow_run"] = Path(_log_mlflow(spec, data, paths))
    steps.close()
    return ProfileResult(jsonable(data), out, paths, log)


def _register_centroids(spec: ProfileSpec, areas: pd.DataFrame) -> pd.DataFrame:
    reg = spec.register
    if not reg.lat_col or not reg.lon_col:
        raise DataError(f"{spec.areas.path}: no boundary file (areas.boundaries) and no register coordinates "
                        "(register.lat_col / lon_col) to draw the areas from")
    t = read_table(reg.path, "property register")
    c = pd.DataFrame({"area": t[reg.area_col].astype("string").str.strip(),
                      "lat": pd.to_numeric(t[reg.lat_col], errors="coerce"),
                      "lon": pd.to_numeric(t[reg.lon_col], errors="coerce")})
    c = c[c["area"].isin(areas.index)]
    return c.groupby("area")[["lat", "lon"]].mean()


def _log_mlflow(spec: ProfileSpec, data: dict, paths: dict[str, Path]) -> str:
    """Aggregates only: match rates, counts and the change estimate; the page and its JSON."""
    import mlflow

    from riskengine.tracking import use_experiment

    use_experiment(f"profile-{spec.name}")
    with mlflow.start_run(run_name="profile") as run:
        mlflow.set_tag("riskengine.stage", "profiling")
        mlflow.log_params({"duplicates": spec.duplicates, "min_count": spec.min_count,
                           "services": ",".join(spec.services)})
        metrics = {}
        for s in data["services"]:
            metrics[f"{s['name']}.matched_share"] = s["matching"]["matched_share"]
            metrics[f"{s['name']}.counted"] = s["counted"]
            metrics[f"{s['name']}.take_up_per_1000"] = s["overall_take_up"]
        if data["change"]:
            metrics["change.did"] = data["change"]["estimate"]
            metrics["change.p_value"] = data["change"]["p_value"]
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        for key in ("html", "json"):
            mlflow.log_artifact(str(paths[key]))
    return run.info.run_id
