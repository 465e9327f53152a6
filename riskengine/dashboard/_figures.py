"""The dashboard's figures, week by week, as plain tables; and the verdict that reads them.

A "week" is one list: every result is counted in the week of the list it came from, and a
result from business as usual in the week of the latest list made before it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskengine.dashboard._stats import ipw_prevalence, psi, rate, rate_ratio
from riskengine.dashboard._watch import Watch
from riskengine.spec import DashboardSpec

SLICE_ORDER = ["list", "exploration", "business as usual"]
BANDS = [0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0]


Rules = DashboardSpec  # the verdict's rules come from the scoring spec's [dashboard]


def assign_weeks(rows: pd.DataFrame, list_dates: pd.Series) -> pd.Series:
    """The list each result belongs to: its own list, or the latest list on or before its date."""
    dates = np.sort(pd.to_datetime(list_dates).unique())
    week = pd.to_datetime(rows["list_as_of"]) if "list_as_of" in rows else pd.Series(pd.NaT, index=rows.index)
    if len(dates) == 0:
        return week
    pos = np.searchsorted(dates, rows["date"].to_numpy(dtype="datetime64[ns]"), side="right") - 1
    fallback = pd.Series([dates[p] if p >= 0 else pd.NaT for p in pos], index=rows.index, dtype="datetime64[ns]")
    return week.where(week.notna(), fallback)


def results(watch: Watch, baseline: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every result with its week and slice; `baseline` adds business-as-usual results from elsewhere."""
    rows = watch.store.copy()
    if baseline is not None and len(baseline):
        rows = pd.concat([rows[rows["slice"] != "business as usual"],
                          baseline.assign(slice="business as usual", list_as_of=pd.NaT)], ignore_index=True)
    rows["date"] = pd.to_datetime(rows["date"]).astype("datetime64[ns]")  # typed even when no result is in yet
    rows["week"] = pd.to_datetime(assign_weeks(rows, watch.frames["list_as_of"] if len(watch.frames)
                                               else pd.Series(dtype="datetime64[ns]"))).astype("datetime64[ns]")
    rows["outcome"] = pd.to_numeric(rows["outcome"]).astype("float64")
    return rows[rows["week"].notna()].reset_index(drop=True)


def hit_rates(res: pd.DataFrame) -> pd.DataFrame:
    """Per week and slice: inspected, positives, hit rate with interval; and the same cumulated."""
    out = []
    for sl in SLICE_ORDER:
        part = res[res["slice"] == sl]
        if part.empty:
            continue
        g = part.groupby("week")["outcome"].agg(["size", "sum"]).sort_index()
        cum_n, cum_pos = g["size"].cumsum(), g["sum"].cumsum()
        for week, n, pos, cn, cp in zip(g.index, g["size"], g["sum"], cum_n, cum_pos):
            r, lo, hi = rate(pos, n)
            cr, clo, chi = rate(cp, cn)
            out.append({"week": week, "slice": sl, "inspected": int(n), "positives": int(pos), "rate": r, "low": lo,
                        "high": hi, "cum_inspected": int(cn), "cum_positives": int(cp), "cum_rate": cr,
                        "cum_low": clo, "cum_high": chi})
    return pd.DataFrame(out, columns=["week", "slice", "inspected", "positives", "rate", "low", "high", "cum_inspected",
                                      "cum_positives", "cum_rate", "cum_low", "cum_high"])


def against_bau(res: pd.DataFrame) -> dict:
    """The list's hit rate against business as usual's over all weeks, and positives found against expected."""
    lst, bau = res[res["slice"] == "list"], res[res["slice"] == "business as usual"]
    found, n = int(lst["outcome"].sum()), len(lst)
    ratio, lo, hi = rate_ratio(found, n, int(bau["outcome"].sum()), len(bau))
    bau_rate = bau["outcome"].mean() if len(bau) else None
    return {"list_inspected": n, "list_positives": found, "bau_inspected": len(bau),
            "bau_positives": int(bau["outcome"].sum()), "ratio": ratio, "low": lo, "high": hi,
            "bau_would_have_found": None if bau_rate is None else float(bau_rate * n)}


def calibration(res: pd.DataFrame) -> pd.DataFrame:
    """Predicted (probability at listing) against observed by risk band, for the list and the exploration slice."""
    rows = res[res["slice"].isin(["list", "exploration"]) & res["probability"].notna()]
    out = []
    for sl, part in rows.groupby("slice", sort=False):
        band = np.clip(np.searchsorted(BANDS, part["probability"].to_numpy(), side="left") - 1, 0, len(BANDS) - 2)
        for b, grp in part.groupby(band):
            r, lo, hi = rate(grp["outcome"].sum(), len(grp))
            out.append({"slice": sl, "band": f"{BANDS[b]:.0%}-{BANDS[b + 1]:.0%}", "n": len(grp),
                        "predicted": float(grp["probability"].mean()), "observed": r, "low": lo, "high": hi})
    return pd.DataFrame(out, columns=["slice", "band", "n", "predicted", "observed", "low", "high"])


def prevalence(watch: Watch, res: pd.DataFrame) -> dict:
    """Prevalence among the entities no list picked: from the exploration slice (unbiased), and the model's own guess."""
    expl = res[res["slice"] == "exploration"].groupby("week")["outcome"].agg(["size", "sum"])
    frames = watch.frames.set_index("list_as_of") if len(watch.frames) else pd.DataFrame(columns=["rest"])
    strata = pd.DataFrame({"population": frames["rest"]}).join(expl.rename(columns={"size": "inspected", "sum": "positives"}))
    strata = strata.fillna({"inspected": 0, "positives": 0})
    weekly = []
    for week, r in strata.iterrows():
        est = ipw_prevalence(strata.loc[[week]])
        weekly.append({"week": week, **est,
                       "model_estimate": frames.loc[week, "rest_mean_probability"] if "rest_mean_probability" in frames else None})
    overall = ipw_prevalence(strata) if len(strata) else ipw_prevalence(pd.DataFrame(columns=["population", "inspected", "positives"]))
    model = None
    if len(frames) and frames["rest"].sum() > 0:
        model = float((frames["rest"] * frames["rest_mean_probability"].astype(float)).sum() / frames["rest"].sum())
    return {"overall": overall, "model_estimate": model, "weekly": pd.DataFrame(weekly)}


def drift(watch: Watch) -> pd.DataFrame:
    """PSI of every feature (and the probability) of the latest list against the training data, largest first."""
    if watch.reference is None or watch.current is None:
        return pd.DataFrame(columns=["feature", "psi"])
    cols = [c for c in watch.reference.columns if c in watch.current.columns and c not in ("entity_id", "as_of")]
    out = pd.DataFrame({"feature": cols, "psi": [psi(watch.reference[c], watch.current[c]) for c in cols]})
    return out.sort_values("psi", ascending=False, kind="stable").reset_index(drop=True)


def fairness(watch: Watch, res: pd.DataFrame) -> pd.DataFrame:
    """Per attribute and group over all weeks: selection rate (listed of eligible) and hit rate, suppressed when small."""
    if watch.groups.empty:
        return pd.DataFrame(columns=["attribute", "group", "eligible", "listed", "selection", "sel_low", "sel_high",
                                     "inspected", "positives", "hit_rate", "hit_low", "hit_high", "suppressed"])
    g = watch.groups.groupby(["attribute", "group"])[["eligible", "listed"]].sum().reset_index()
    listed = res[res["slice"].isin(["list", "exploration"])]
    out = []
    for r in g.itertuples():
        small = r.eligible < watch.min_group_size
        sel, slo, shi = rate(r.listed, r.eligible) if not small else (None, None, None)
        row = {"attribute": r.attribute, "group": r.group, "eligible": int(r.eligible), "listed": int(r.listed),
               "selection": sel, "sel_low": slo, "sel_high": shi, "suppressed": bool(small)}
        if r.attribute in listed.columns:
            part = listed[listed[r.attribute].astype(str) == r.group]
            hit_small = len(part) < watch.min_group_size
            hr, hlo, hhi = rate(part["outcome"].sum(), len(part)) if not hit_small else (None, None, None)
            row.update(inspected=None if hit_small else len(part), positives=None if hit_small else int(part["outcome"].sum()),
                       hit_rate=hr, hit_low=hlo, hit_high=hhi)
        out.append(row)
    return pd.DataFrame(out)


def operations(watch: Watch, res: pd.DataFrame) -> pd.DataFrame:
    """Per list: rows listed, inspected, not yet inspected, median days from listing to inspection, alerts raised."""
    out = []
    for f in watch.frames.itertuples():
        on = watch.lists[watch.lists["list_as_of"] == f.list_as_of]
        done = res[(res["week"] == f.list_as_of) & res["slice"].isin(["list", "exploration"])]
        days = (done["date"] - done["week"]).dt.days
        alerts = watch.alerts[watch.alerts["list_as_of"] == f.list_as_of]
        out.append({"week": f.list_as_of, "listed": len(on), "inspected": len(done), "not_yet_inspected": len(on) - len(done),
                    "median_days_to_inspection": float(days.median()) if len(days) else None, "alerts": len(alerts)})
    return pd.DataFrame(out, columns=["week", "listed", "inspected", "not_yet_inspected", "median_days_to_inspection", "alerts"])


def alert_outcomes(watch: Watch, res: pd.DataFrame) -> pd.DataFrame:
    """Alerts raised by kind, how many of those entities were inspected after, and how many were positive."""
    if watch.alerts.empty:
        return pd.DataFrame(columns=["kind", "raised", "inspected", "positives"])
    a = watch.alerts.assign(entity_id=watch.alerts["entity_id"].astype(str))
    kind = "kind" if "kind" in a else a.columns[1]
    m = a.merge(res[["entity_id", "date", "outcome"]], on="entity_id", how="left")
    m = m[m["date"].isna() | (m["date"] >= m["list_as_of"])]
    first = m.sort_values("date").drop_duplicates(["list_as_of", "entity_id", kind])
    g = first.groupby(kind)
    return pd.DataFrame({"raised": g.size(), "inspected": g["date"].count(),
                         "positives": g["outcome"].sum().astype(int)}).reset_index(names="kind")


def verdict(figures: dict, rules: Rules, entity_word: str) -> list[str]:
    """Plain-English sentences, most important first, each following a stated rule."""
    says = []
    bau, res = figures["against_bau"], figures["results"]
    n_list = bau["list_inspected"]
    weeks = res["week"].nunique() if len(res) else 0
    if n_list < rules.min_inspections:
        says.append(f"Too early to judge: {n_list} results from the list so far (at least {rules.min_inspections} needed).")
    elif bau["ratio"] is not None:
        says.append(f"The list found {bau['ratio']:.1f} times as many cases per inspection as business as usual "
                    f"over {weeks} week{'s' if weeks != 1 else ''} ({bau['low']:.1f}-{bau['high']:.1f}); {bau['list_positives']} found where "
                    f"business as usual would have found about {bau['bau_would_have_found']:.0f}.")
    else:
        says.append(f"The list found {bau['list_positives']} in {n_list} inspections over {weeks} week{'s' if weeks != 1 else ''}; no "
                    "business-as-usual results to compare with yet.")
    cal = figures["calibration"]
    off = cal[(cal["n"] >= rules.min_inspections) & ((cal["predicted"] < cal["low"]) | (cal["predicted"] > cal["high"]))]
    if cal.empty or (cal["n"] >= rules.min_inspections).sum() == 0:
        says.append("Calibration: not enough results in any risk band yet.")
    elif off.empty:
        says.append("Calibration holds: in every band with enough results the predicted rate lies within the observed interval.")
    else:
        b = off.iloc[0]
        says.append(f"Calibration is off in {len(off)} band(s), e.g. {b['slice']} {b['band']}: predicted {b['predicted']:.0%}, "
                    f"observed {b['observed']:.0%} ({b['low']:.0%}-{b['high']:.0%}).")
    dr = figures["drift"]
    big = dr[dr["psi"] >= rules.psi_retrain]
    watch = dr[(dr["psi"] >= rules.psi_watch) & (dr["psi"] < rules.psi_retrain)]
    if dr.empty:
        says.append("Drift: no feature samples to compare yet.")
    elif len(big):
        says.append(f"Drift in {', '.join(big['feature'].head(3))} (PSI {big['psi'].iloc[0]:.2f} at most): retrain recommended.")
    elif len(watch):
        says.append(f"Some drift in {', '.join(watch['feature'].head(3))} (PSI under {rules.psi_retrain}): watch it.")
    else:
        says.append(f"No drift: every feature's PSI is under {rules.psi_watch}.")
    fair = figures["fairness"]
    shown = fair[~fair["suppressed"]] if len(fair) else fair
    flagged = []
    for attr, part in shown.groupby("attribute") if len(shown) else []:
        overall = part["listed"].sum() / part["eligible"].sum()
        for r in part.itertuples():
            if overall > 0 and (r.sel_low / overall > rules.fairness_high or r.sel_high / overall < rules.fairness_low):
                flagged.append(f"{attr} {r.group} ({r.selection / overall:.1f} times the overall selection rate)")
    if flagged:
        says.append("Selected more or less often than the whole population: " + "; ".join(flagged[:4]) + ".")
    elif len(shown):
        says.append("Selection rates by group stay within the tolerance of the overall rate, or are not clear of chance.")
    return says
