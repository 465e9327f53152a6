"""An open area classification, built the way the UK's Output Area Classification is.

Counts per small area -> percentages of the denominator each count is measured against
(population, households, residents aged 16+ ...) -> inverse hyperbolic sine -> range
standardisation to [0, 1] -> k-means with many random starts, keeping the best -> a nested
hierarchy: supergroups, then groups inside each supergroup (k-means again on its own areas).

Real tables are untidy: codes arrive as text with spaces, some cells are suppressed ("c",
"x", "-", ".."), a denominator can be zero, a topic may be published as percentages. Missing
percentages are imputed with the variable's median (and counted); an area whose denominators
are all zero or missing cannot be placed and is set aside with its reason.
"""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits
from sklearn.metrics import adjusted_rand_score, calinski_harabasz_score, silhouette_score

from riskengine.errors import DataError

SMALL_TABLE = 20_000  # areas; below this k-means runs on one thread
SILHOUETTE_SAMPLE = 10_000  # areas sampled for the silhouette (exact below this)
MISSING_MARKS = {"", "c", "x", "-", "..", ":", "*", "n/a", "na", "null", "none", "z", "[c]", "[x]", "[z]"}


def ihs(x: np.ndarray | pd.DataFrame) -> np.ndarray | pd.DataFrame:
    """Inverse hyperbolic sine, log(x + sqrt(x^2 + 1)): like a log that copes with zeros."""
    return np.arcsinh(x)


def range_standardise(x: pd.DataFrame, lo: pd.Series | None = None, hi: pd.Series | None = None) -> pd.DataFrame:
    """(x - min) / (max - min) per column; a constant column becomes 0. Bounds may be given (new areas)."""
    lo = x.min() if lo is None else lo
    hi = x.max() if hi is None else hi
    span = (hi - lo).where(lambda s: s > 0)
    return ((x - lo) / span).fillna(0.0)


def parse_counts(values: pd.Series) -> tuple[pd.Series, int]:
    """Numbers from a published column: thousands separators and blanks handled, suppression marks
    ('c', 'x', '-', '..') read as missing. Returns the floats and how many cells were missing."""
    if pd.api.types.is_numeric_dtype(values):
        out = values.astype(float)
        return out, int(out.isna().sum())
    text = values.astype("string").str.strip().str.replace(",", "", regex=False)
    out = pd.to_numeric(text.mask(text.str.lower().isin(MISSING_MARKS)), errors="coerce").astype(float)
    return out, int(out.isna().sum())


def resolve_variables(columns: list[str], denominators: dict[str, str], variables: dict[str, list[str]],
                      percentages: list[str], exclude: list[str], area_col: str, *, where: str) -> dict[str, str | None]:
    """Column -> denominator column (None for a column given as a percentage), in table order.

    Names may be glob patterns; a name or pattern that matches nothing is an error naming it.
    """
    taken = {area_col, *denominators.values()}
    out: dict[str, str | None] = {}

    def match(pattern: str, key: str) -> list[str]:
        if pattern in columns:  # an exact name first: real column names may hold "[" or "?"
            hits = [pattern]
        else:
            hits = [c for c in columns if fnmatch.fnmatchcase(c, pattern)]
        hits = [c for c in hits if c not in taken and not any(fnmatch.fnmatchcase(c, e) for e in exclude)]
        if not hits:
            raise DataError(f"{where}: {key} {pattern!r} matches no count column of the table "
                            f"(columns start: {', '.join(columns[:12])} ...)")
        return hits

    for denom, patterns in variables.items():
        col = denominators[denom]
        if col not in columns:
            raise DataError(f"{where}: denominator {denom!r} names column {col!r}, which the table lacks")
        for p in patterns:
            for c in match(p, f"[data.variables] {denom}:"):
                out.setdefault(c, col)
    for p in percentages:
        for c in match(p, "percentages:"):
            out[c] = None
    return out


@dataclass
class Prepared:
    """The table made ready for clustering: percentages, their transform, and what was set aside."""

    areas: pd.Index
    percent: pd.DataFrame  # areas x variables, 0-100, imputed
    standardised: pd.DataFrame  # areas x variables, in [0, 1]
    rejected: pd.DataFrame  # area, reason
    notes: list[str] = field(default_factory=list)
    missing_cells: int = 0
    imputed: int = 0


def percentages(table: pd.DataFrame, variables: dict[str, str | None]) -> tuple[pd.DataFrame, dict]:
    """100 x count / denominator per variable; percentage columns as given (x100 if they look like
    proportions). Zero or missing denominators give missing values. Returns the table and counts."""
    out = {}
    stats = {"missing_cells": 0, "count_above_denominator": {}, "proportions_scaled": []}
    denoms = {}
    for col, denom in variables.items():
        values, missing = parse_counts(table[col])
        stats["missing_cells"] += missing
        if denom is None:
            if values.max(skipna=True) <= 1.0:
                values = values * 100
                stats["proportions_scaled"].append(col)
            out[col] = values
            continue
        if denom not in denoms:
            denoms[denom] = parse_counts(table[denom])[0]
        d = denoms[denom].where(denoms[denom] > 0)
        over = int((values > d).sum())
        if over:
            stats["count_above_denominator"][col] = over
        out[col] = 100 * values / d
    return pd.DataFrame(out, index=table.index), stats


def prepare(table: pd.DataFrame, area_col: str, variables: dict[str, str | None],
            bounds: tuple[pd.Series, pd.Series] | None = None, medians: pd.Series | None = None,
            *, where: str = "the table") -> tuple[Prepared, pd.Series, tuple[pd.Series, pd.Series]]:
    """Percentages -> impute -> IHS -> range-standardise. `bounds`/`medians` from a fitted model
    place new areas on the same scale. Returns the prepared table, the medians and the bounds."""
    if area_col not in table.columns:
        raise DataError(f"{where}: no area code column {area_col!r}; columns: {', '.join(map(str, table.columns[:15]))}")
    codes = table[area_col].astype("string").str.strip()
    rejected = []
    blank = codes.isna() | (codes == "")
    dup = codes.duplicated(keep="first") & ~blank
    for i in np.flatnonzero(blank.to_numpy()):
        rejected.append({"area": "", "line": int(i) + 2, "reason": "no area code"})
    for i in np.flatnonzero(dup.to_numpy()):
        rejected.append({"area": codes.iloc[i], "line": int(i) + 2, "reason": "area code repeated (first row kept)"})
    keep = ~(blank | dup)
    table, codes = table[keep.to_numpy()], codes[keep]
    pct, stats = percentages(table, variables)
    pct.index = pd.Index(codes.to_numpy(), name="area")
    denom_cols = sorted({d for d in variables.values() if d})
    if denom_cols:
        dvals = pd.DataFrame({d: parse_counts(table[d])[0].to_numpy() for d in denom_cols}, index=pct.index)
        dead = ~(dvals > 0).any(axis=1)
        for area in pct.index[dead.to_numpy()]:
            line = int(np.flatnonzero((codes == area).to_numpy())[0]) + 2
            rejected.append({"area": area, "line": line, "reason": "every denominator is zero or missing"})
        pct = pct[~dead.to_numpy()]
    notes = []
    if stats["proportions_scaled"]:
        notes.append(f"Read as proportions (0-1) and scaled to percentages: {', '.join(stats['proportions_scaled'])}.")
    over = stats["count_above_denominator"]
    if over:
        worst = sorted(over.items(), key=lambda kv: -kv[1])[:5]
        notes.append("Counts above their denominator (check the denominator named in the spec): "
                     + ", ".join(f"{c} in {n} areas" for c, n in worst) + ".")
    empty = [c for c in pct.columns if pct[c].notna().sum() == 0]
    if empty and bounds is None:
        raise DataError(f"{where}: no usable values in column(s) {', '.join(empty[:5])} (all missing or suppressed)")
    if medians is None:
        medians = pct.median()
    n_missing = int(pct.isna().sum().sum())
    pct = pct.fillna(medians)
    if n_missing:
        notes.append(f"{n_missing:,} missing values (suppressed cells, zero denominators) imputed with the "
                     "variable's median.")
    transformed = ihs(pct)
    if bounds is None:
        bounds = (transformed.min(), transformed.max())
        constant = list(transformed.columns[(bounds[1] - bounds[0]) <= 0])
        if constant:
            notes.append(f"Constant in every area, so no help in telling areas apart: {', '.join(constant)}.")
    std = range_standardise(transformed, *bounds).clip(-0.5, 1.5)
    prepared = Prepared(pct.index, pct, std, pd.DataFrame(rejected, columns=["area", "line", "reason"]), notes,
                        stats["missing_cells"], n_missing)
    return prepared, medians, bounds


def fit_kmeans(x: np.ndarray, k: int, n_init: int, seed: int) -> KMeans:
    """k-means (k-means++ starts) with `n_init` random starts; scikit-learn keeps the lowest WSS.

    One thread for small tables (a borough's LSOAs): there OpenMP's start-up costs more than the
    work (10x on a busy machine); a country's output areas get every thread.
    """
    with threadpool_limits(1 if len(x) < SMALL_TABLE else None):
        return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(x)


def diagnostics(x: np.ndarray, k_min: int, k_max: int, n_init: int, seed: int) -> pd.DataFrame:
    """Within-cluster SS, silhouette, Calinski-Harabasz and cluster sizes for each k."""
    rows = []
    for k in range(k_min, min(k_max, len(x) - 1) + 1):
        km = fit_kmeans(x, k, n_init, seed)
        sizes = np.bincount(km.labels_, minlength=k)
        # the silhouette costs n^2 distances: on a country's output areas, a fixed random sample
        sil = silhouette_score(x, km.labels_, sample_size=min(len(x), SILHOUETTE_SAMPLE), random_state=seed)
        rows.append({"k": k, "within_ss": float(km.inertia_), "silhouette": float(sil),
                     "calinski_harabasz": float(calinski_harabasz_score(x, km.labels_)),
                     "smallest": int(sizes.min()), "largest": int(sizes.max())})
    return pd.DataFrame(rows)


def _order_by_size(labels: np.ndarray, k: int) -> np.ndarray:
    """Relabel so that cluster 0 is the largest (ties: lowest original label): stable numbering."""
    sizes = np.bincount(labels, minlength=k)
    order = np.lexsort((np.arange(k), -sizes))
    new = np.empty(k, dtype=int)
    new[order] = np.arange(k)
    return new[labels]


@dataclass
class AreaClassification:
    """A two-level classification: fit on a census table, assign supergroups and groups to areas.

    Parameters are stored as given (scikit-learn style); fitted state ends in an underscore.
    """

    variables: dict[str, str | None]  # column -> denominator column, None for a percentage column
    area_col: str
    supergroups: int = 8
    groups: int = 3
    n_init: int = 100
    seed: int = 0
    min_group_areas: int = 6

    def fit(self, table: pd.DataFrame, *, where: str = "the table") -> AreaClassification:
        prepared, self.medians_, self.bounds_ = prepare(table, self.area_col, self.variables, where=where)
        self.prepared_ = prepared
        x = prepared.standardised.to_numpy()
        if len(x) < self.supergroups + 1:
            raise DataError(f"{where}: {len(x)} usable areas cannot make {self.supergroups} supergroups")
        top = fit_kmeans(x, self.supergroups, self.n_init, self.seed)
        relabel = _order_by_size(top.labels_, self.supergroups)
        perm = np.argsort([relabel[np.flatnonzero(top.labels_ == j)[0]] for j in range(self.supergroups)])
        self.supergroup_centres_ = top.cluster_centers_[perm]
        self.supergroup_labels_ = relabel
        self.within_ss_ = float(top.inertia_)
        self.group_centres_: dict[int, np.ndarray] = {}
        group = np.zeros(len(x), dtype=int)
        for s in range(self.supergroups):
            members = np.flatnonzero(relabel == s)
            k = max(1, min(self.groups, len(members) // self.min_group_areas))
            if k == 1:
                self.group_centres_[s] = x[members].mean(0, keepdims=True)
                continue
            km = fit_kmeans(x[members], k, self.n_init, self.seed)
            lab = _order_by_size(km.labels_, k)
            order = np.argsort([lab[np.flatnonzero(km.labels_ == j)[0]] for j in range(k)])
            self.group_centres_[s] = km.cluster_centers_[order]
            group[members] = lab
        self.group_labels_ = group
        self.columns_ = list(prepared.standardised.columns)
        return self

    def codes(self) -> tuple[list[str], list[str]]:
        """Supergroup codes ('1'..) and group codes ('1a'..) of the fitted areas."""
        sg = [str(s + 1) for s in self.supergroup_labels_]
        gr = [f"{s + 1}{chr(97 + g)}" for s, g in zip(self.supergroup_labels_, self.group_labels_)]
        return sg, gr

    def predict(self, table: pd.DataFrame, *, where: str = "the table") -> pd.DataFrame:
        """Place new (or the same) areas: nearest supergroup centre, then nearest group centre in it."""
        prepared, _, _ = prepare(table, self.area_col, self.variables, self.bounds_, self.medians_, where=where)
        x = prepared.standardised[self.columns_].to_numpy()
        sg = ((x[:, None, :] - self.supergroup_centres_[None]) ** 2).sum(-1).argmin(1)
        gr = np.zeros(len(x), dtype=int)
        for s in np.unique(sg):
            mine = sg == s
            gr[mine] = ((x[mine][:, None, :] - self.group_centres_[s][None]) ** 2).sum(-1).argmin(1)
        return pd.DataFrame({"area": prepared.areas, "supergroup": [str(s + 1) for s in sg],
                             "group": [f"{s + 1}{chr(97 + g)}" for s, g in zip(sg, gr)]})


def stability(x: np.ndarray, reference: np.ndarray, k: int, n_init: int, seed: int, runs: int) -> dict:
    """Adjusted Rand index of re-runs with other seeds against the kept solution."""
    aris = [float(adjusted_rand_score(reference, fit_kmeans(x, k, n_init, seed + 1000 * (r + 1)).labels_))
            for r in range(runs)]
    if not aris:
        return {"runs": 0, "ari": [], "mean": None, "min": None}
    return {"runs": runs, "ari": [round(a, 4) for a in aris], "mean": float(np.mean(aris)), "min": float(np.min(aris))}


# ---- pen portraits -----------------------------------------------------------------------------

def _label(col: str, labels: dict[str, str]) -> str:
    """The variable as a phrase for the middle of a sentence: the spec's label as written, else the column."""
    if col in labels:
        return labels[col]
    return re.sub(r"(\d+)_(\d+)", r"\1-\2", col).replace("_", " ").strip()


def _words(index: float) -> str:
    if index >= 150:
        return "many more"
    if index >= 120:
        return "more"
    if index <= 50:
        return "very few"
    if index <= 80:
        return "fewer"
    return "about as many"


def portraits(percent: pd.DataFrame, codes: pd.Series, labels: dict[str, str], top: int = 5) -> dict[str, dict]:
    """Per cluster: the variables most above and below the whole area's average, as an index
    (100 x cluster mean / overall mean of the percentages) and as a sentence."""
    overall = percent.mean()
    out = {}
    for code in sorted(codes.unique(), key=lambda c: (len(c), c)):
        mine = percent[(codes == code).to_numpy()]
        with np.errstate(divide="ignore", invalid="ignore"):
            index = (100 * mine.mean() / overall).replace([np.inf, -np.inf], np.nan).dropna()
        index = index[overall[index.index] >= 0.5]  # very rare characteristics make noisy indices
        ranked = index.sort_values()
        above = ranked[::-1][:top]
        above = above[above > 110]
        below = ranked[:top]
        below = below[below < 90]
        def phrase(items: pd.Series) -> str:
            return ", ".join(f"{_words(v)} {_label(c, labels)} ({v:.0f})" for c, v in items.items())
        parts = []
        if len(above):
            parts.append(phrase(above))
        if len(below):
            parts.append(phrase(below))
        sentence = ("Compared with the average area: " + "; ".join(parts) + ".") if parts \
            else "Close to the average area on every variable."
        out[code] = {"areas": int(len(mine)),
                     "above": [{"variable": c, "label": _label(c, labels), "index": float(v),
                                "percent": float(mine[c].mean()), "average": float(overall[c])} for c, v in above.items()],
                     "below": [{"variable": c, "label": _label(c, labels), "index": float(v),
                                "percent": float(mine[c].mean()), "average": float(overall[c])} for c, v in below.items()],
                     "sentence": sentence,
                     "auto_name": _auto_name(above, below, labels)}
    return out


def _auto_name(above: pd.Series, below: pd.Series, labels: dict[str, str]) -> str:
    if len(above) >= 2:
        return f"More {_label(above.index[0], labels)} and {_label(above.index[1], labels)}"
    if len(above) == 1:
        return f"More {_label(above.index[0], labels)}"
    if len(below):
        return f"Fewer {_label(below.index[0], labels)}"
    return "Close to average"


def agreement(found: pd.Series, truth: pd.Series) -> float:
    """Adjusted Rand index between two labellings of the same areas (1 = identical partition)."""
    return float(adjusted_rand_score(truth.astype(str), found.astype(str)))


def round_or_none(v, digits: int = 4):
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else round(float(v), digits)
