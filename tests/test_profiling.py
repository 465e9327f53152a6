"""Profiling: classification transforms by hand, real-table quirks, suppression, overlap, change, minimisation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from riskengine.errors import DataError
from riskengine.profiling import AreaClassification, assign_areas, ihs, range_standardise, segment
from riskengine.profiling._analyse import by_area, expected_vs_observed, overlap, suppress_small
from riskengine.profiling._change import change
from riskengine.profiling._classify import parse_counts, prepare, resolve_variables
from riskengine.profiling._match import minimise
from riskengine.spec import ProfileService, load_spec


# ---- transforms, by hand ----------------------------------------------------------------------

def test_ihs_matches_hand_worked_values():
    # asinh(x) = ln(x + sqrt(x^2 + 1))
    assert ihs(np.array([0.0]))[0] == 0.0
    assert ihs(np.array([1.0]))[0] == pytest.approx(math.log(1 + math.sqrt(2)), abs=1e-12)  # 0.881374
    assert ihs(np.array([12.5]))[0] == pytest.approx(math.log(12.5 + math.sqrt(157.25)), abs=1e-12)  # 3.220472
    assert ihs(np.array([12.5]))[0] == pytest.approx(3.220472, abs=1e-6)


def test_range_standardisation_by_hand_and_constant_columns():
    x = pd.DataFrame({"a": [1.0, 3.0, 5.0], "b": [2.0, 2.0, 2.0]})
    out = range_standardise(x)
    assert out["a"].tolist() == [0.0, 0.5, 1.0]
    assert out["b"].tolist() == [0.0, 0.0, 0.0]  # no spread: no information, not a division by zero


def test_counts_to_percentages_ihs_and_standardised_by_hand():
    # area A: 25 of 200 people (12.5%), B: 50 of 100 (50%), C: 0 of 50 (0%)
    table = pd.DataFrame({"code": ["A", "B", "C"], "pop": ["200", "100", "50"], "kids": ["25", "50", "0"]})
    prep, _, _ = prepare(table, "code", {"kids": "pop"})
    assert prep.percent["kids"].tolist() == pytest.approx([12.5, 50.0, 0.0])
    lo, hi = 0.0, math.asinh(50.0)
    expected = [(math.asinh(12.5) - lo) / (hi - lo), 1.0, 0.0]
    assert prep.standardised["kids"].tolist() == pytest.approx(expected)
    assert expected[0] == pytest.approx(3.220472 / 4.605270, abs=1e-6)


def test_real_table_quirks_codes_suppression_zero_denominators_and_percentages():
    rng = np.random.default_rng(1)
    n, k = 40, 120
    counts = rng.integers(0, 60, size=(n, k))
    table = pd.DataFrame(counts, columns=[f"Topic: value {i}" for i in range(k)]).astype(object)
    table.insert(0, "Output Area code", [f" E0000{i:04d} " for i in range(n)])  # text, with spaces
    table["Total: All usual residents"] = counts.sum(1) + 5
    table.loc[3, "Total: All usual residents"] = 0  # a zero denominator
    table.loc[5, "Topic: value 7"] = "c"  # a suppressed cell
    table.loc[6, "Topic: value 9"] = "-"
    table["Share: born abroad (%)"] = rng.uniform(0, 40, n).round(1)
    variables = resolve_variables(list(table.columns), {"residents": "Total: All usual residents"},
                                  {"residents": ["Topic: *"]}, ["Share: *"], [], "Output Area code", where="t")
    assert len(variables) == k + 1 and variables["Share: born abroad (%)"] is None
    prep, _, _ = prepare(table, "Output Area code", variables)
    assert "E00000000" in prep.areas  # codes trimmed, kept as text with their zeros
    assert prep.rejected["reason"].tolist() == ["every denominator is zero or missing"]
    assert prep.rejected["area"].tolist() == ["E00000003"]
    assert prep.missing_cells == 2 and prep.imputed == 2
    assert not prep.standardised.isna().any().any()
    assert prep.percent["Share: born abroad (%)"].max() <= 40  # used as given
    model = AreaClassification(variables, "Output Area code", supergroups=3, groups=2, n_init=5,
                               min_group_areas=3).fit(table)
    sg, gr = model.codes()
    assert len(sg) == n - 1 and set(sg) <= {"1", "2", "3"} and all(g[0] in "123" for g in gr)


def test_parse_counts_reads_marks_and_thousands():
    values, missing = parse_counts(pd.Series(["1,234", " 7 ", "c", "x", "..", "", None, "12"]))
    assert values.tolist()[:2] == [1234.0, 7.0] and values.iloc[-1] == 12.0
    assert missing == 5  # c, x, .., empty, None


def test_a_pattern_that_matches_nothing_is_named():
    with pytest.raises(DataError, match="'tenure_\\*' matches no count column"):
        resolve_variables(["code", "pop", "age_1"], {"p": "pop"}, {"p": ["tenure_*"]}, [], [], "code", where="t.csv")


# ---- the classification recovers planted types, stably, and is saved -------------------------

@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """90 areas of three planted types over 30 count columns (10 per topic, two denominators)."""
    rng = np.random.default_rng(7)
    n_types, per = 3, 30
    base = rng.dirichlet(np.ones(10) * 2, size=(n_types, 3))
    rows, truth = [], []
    for t in range(n_types):
        for i in range(per):
            code = f"A{t}{i:03d}"
            pop, hh = int(rng.integers(800, 1500)), int(rng.integers(300, 600))
            row = {"code": code, "people": pop, "homes": hh}
            for topic, total in enumerate((pop, hh, pop)):
                p = rng.dirichlet(base[t, topic] * 300)
                for j, c in enumerate(rng.multinomial(total, p)):
                    row[f"t{topic}_{j}"] = c
            rows.append(row)
            truth.append({"code": code, "type": t})
    folder = tmp_path_factory.mktemp("planted")
    pd.DataFrame(rows).sample(frac=1, random_state=1).to_csv(folder / "census.csv", index=False)
    pd.DataFrame(truth).to_csv(folder / "truth.csv", index=False)
    spec = folder / "segments.toml"
    spec.write_text(f"""kind = "segments"
name = "planted"
out_dir = "{folder / 'out'}"
[data]
table = "{folder / 'census.csv'}"
area_col = "code"
truth = "{folder / 'truth.csv'}"
truth_area_col = "code"
truth_col = "type"
[data.denominators]
people = "people"
homes = "homes"
[data.variables]
people = ["t0_*", "t2_*"]
homes = ["t1_*"]
[clusters]
supergroups = 3
groups = 2
k_min = 2
k_max = 5
n_init = 10
stability_runs = 2
""")
    return folder, spec


def test_segment_recovers_planted_types_stably_and_saves_a_model(planted):
    folder, spec = planted
    result = segment(spec)
    assert result.data["truth"]["ari_supergroups"] == pytest.approx(1.0)
    assert result.data["stability"]["min"] == pytest.approx(1.0)
    assert [d["k"] for d in result.data["diagnostics"]] == [2, 3, 4, 5]
    areas = pd.read_csv(folder / "out" / "areas.csv", dtype=str)
    assert len(areas) == 90 and set(areas["supergroup"]) == {"1", "2", "3"}
    html = (folder / "out" / "segments.html").read_text()
    assert "Pen portraits" in html and "<svg" in html and "adjusted Rand index" in html
    # every supergroup's portrait says what is above or below average, in words and as an index
    for s in result.data["supergroups"]:
        assert s["sentence"].startswith("Compared with the average area") and s["above"]
    # new areas (here: the same table) land where the fit put them
    placed = assign_areas(folder / "out" / "model.joblib", pd.read_csv(folder / "census.csv", dtype={"code": str}))
    merged = placed.merge(areas, on="area", suffixes=("_new", ""))
    assert (merged["supergroup_new"] == merged["supergroup"]).all()
    assert (merged["group_new"] == merged["group"]).all()


# ---- suppression -----------------------------------------------------------------------------

def test_small_counts_are_suppressed_with_a_complement():
    counts = pd.Series({"a": 50, "b": 4, "c": 30, "d": 0, "e": 12})
    hidden = suppress_small(counts, 10)
    assert hidden.to_dict() == {"a": False, "b": True, "c": False, "d": False, "e": True}  # b alone would follow from the total
    two = suppress_small(pd.Series({"a": 50, "b": 4, "c": 3}), 10)
    assert two.to_dict() == {"a": False, "b": True, "c": True}


def test_take_up_by_area_hides_small_counts_and_rounds_non_users():
    users = pd.DataFrame({"area": ["A"] * 40 + ["B"] * 3 + ["C"] * 15})
    pop = pd.Series({"A": 1000.0, "B": 500.0, "C": 987.0, "D": 400.0})
    t = by_area(users, pop, 10).set_index("area")
    assert t.loc["A", "take_up"] == pytest.approx(40.0)
    lo, hi = proportion_confint(40, 1000, method="wilson")
    assert (t.loc["A", "take_up_lo"], t.loc["A", "take_up_hi"]) == pytest.approx((1000 * lo, 1000 * hi))
    assert t.loc["B", "suppressed"] and pd.isna(t.loc["B", "users"]) and pd.isna(t.loc["B", "take_up"])
    assert t.loc["C", "suppressed"]  # the complement: B = total - A - C otherwise
    assert not t.loc["D", "suppressed"] and t.loc["D", "users"] == 0  # a zero reveals nobody
    assert t.loc["C", "non_users"] == 970 and t.loc["B", "non_users"] == 500  # to the nearest 10


# ---- overlap and expectations ----------------------------------------------------------------

def test_overlap_arithmetic_and_intervals():
    homes = {"a": set(range(100)), "b": set(range(50, 250)), "c": set(range(95, 300))}
    t = overlap(homes, {"a": "A", "b": "B", "c": "C"}, 10).set_index(["a", "b"])
    assert t.loc[("a", "b"), "both"] == 50 and t.loc[("a", "b"), "share"] == pytest.approx(0.5)
    assert t.loc[("b", "a"), "share"] == pytest.approx(50 / 200)
    lo, hi = proportion_confint(50, 200, method="wilson")
    assert (t.loc[("b", "a"), "share_lo"], t.loc[("b", "a"), "share_hi"]) == pytest.approx((lo, hi))
    assert t.loc[("a", "c"), "suppressed"] and pd.isna(t.loc[("a", "c"), "share"])  # only 5 homes use both


def test_expected_against_observed_chi_square_by_hand():
    users = pd.DataFrame({"segment": ["1"] * 60 + ["2"] * 40})
    expected = pd.DataFrame({"segment": ["1", "2"], "expected_share": ["50", "50"]})  # percentages
    r = expected_vs_observed(users, expected, set(), "staff.csv")
    assert r["chi_square"] == pytest.approx((60 - 50) ** 2 / 50 + (40 - 50) ** 2 / 50)  # 4.0
    assert r["p_value"] == pytest.approx(0.0455, abs=1e-4)
    assert "percentages" in r["notes"][0]
    assert [x["observed_share"] for x in r["rows"]] == [0.6, 0.4]


# ---- measure again ---------------------------------------------------------------------------

def test_difference_in_differences_over_areas_recovers_a_planted_rise():
    pop = pd.Series(1000.0, index=[f"L{i}" for i in range(20)])
    targeted = {f"L{i}" for i in range(5)}
    before = pd.DataFrame({"area": [a for a in pop.index for _ in range(20)]})
    # after: +10 users everywhere, +25 more in targeted areas -> +25 per 1,000 more than elsewhere
    after = pd.DataFrame({"area": [a for a in pop.index for _ in range(30 + (25 if a in targeted else 0))]})
    r = change(before, after, pop, targeted)
    assert r["estimate"] == pytest.approx(25.0)
    assert r["means"]["treated"]["after"] == pytest.approx(55.0)
    assert r["targeted_areas"] == 5 and r["other_areas"] == 15
    with pytest.raises(DataError, match="none of its areas"):
        change(before, after, pop, {"nowhere"})


# ---- data minimisation -----------------------------------------------------------------------

def test_columns_beyond_the_address_are_refused_or_dropped():
    df = pd.DataFrame({"service_id": ["1"], "uprn": ["100"], "address": ["1 High St"], "postcode": ["AB1 2CD"],
                       "name": ["Ada Lovelace"], "dob": ["1815-12-10"]})
    svc = ProfileService(path="users.csv")
    with pytest.raises(DataError, match=r"users.csv: column\(s\) 'name', 'dob' are not needed.*refused"):
        minimise(df, svc, "library")
    kept, dropped = minimise(df, ProfileService(path="users.csv", drop_other_columns=True), "library")
    assert list(kept.columns) == ["service_id", "uprn", "address", "postcode"] and dropped == ["name", "dob"]


def test_the_shipped_specs_load():
    seg = load_spec("evaluation/segments.toml")
    assert seg.kind == "segments" and seg.clusters.supergroups == 8
    prof = load_spec("evaluation/profile_services.toml")
    assert prof.kind == "profile" and set(prof.services) == {"library", "leisure_centre", "parenting_class"}
    assert prof.change.service == "library"


# ---- duplicates policy and the map's geometry ------------------------------------------------

def test_duplicates_policy_counts_people_once_or_every_use():
    from riskengine.profiling._match import ServiceUsers

    rows = pd.DataFrame({"person": ["p1", "p1", "p2", None, None, "p3"], "entity_id": ["a", "a", "b", "c", "c", "d"],
                         "area": ["A"] * 6, "segment": ["1"] * 6,
                         "status": ["matched"] * 5 + ["unmatched"]})
    users = ServiceUsers("s", "S", rows)
    assert len(users.counted("uses")) == 5
    assert len(users.counted("people")) == 4  # p1 once, p2, and each row without an id counts once


def test_voronoi_cells_hold_their_own_centroid_and_tile_the_box():
    from matplotlib.path import Path as MplPath

    from riskengine.profiling._map import Layer, render, voronoi_cells

    rng = np.random.default_rng(0)
    c = pd.DataFrame({"lat": 51.5 + rng.uniform(0, 0.05, 30), "lon": -0.1 + rng.uniform(0, 0.08, 30)},
                     index=[f"L{i}" for i in range(30)])
    cells = voronoi_cells(c)
    assert set(cells) == set(c.index)
    for code, (ring,) in cells.items():
        assert MplPath(ring).contains_point((c.loc[code, "lon"], c.loc[code, "lat"]))
    k = math.cos(math.radians(c["lat"].mean()))
    area = sum(0.5 * abs(np.dot(r[:, 0] * k, np.roll(r[:, 1], 1)) - np.dot(r[:, 1], np.roll(r[:, 0] * k, 1)))
               for (r,) in cells.values())
    lo, hi = np.array([c["lon"].min() * k, c["lat"].min()]), np.array([c["lon"].max() * k, c["lat"].max()])
    span = (hi - lo).max() * 0.02
    assert area == pytest.approx(np.prod(hi - lo + 2 * span), rel=1e-6)  # no gaps, no overlaps
    out = render(cells, [Layer("x", "x", fills={"L0": "#123456"})])
    assert out["areas"] == 30 and out["svg"].count("<path") == 30 and "#123456" in out["svg"]
    assert "http" not in out["svg"].replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_geojson_boundaries_with_multipolygons_and_a_missing_code_property(tmp_path):
    import json

    from riskengine.profiling._map import read_boundaries

    square = [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]
    geo = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"LSOA21CD": "E01"}, "geometry": {"type": "Polygon", "coordinates": [square]}},
        {"type": "Feature", "properties": {"LSOA21CD": "E02"},
         "geometry": {"type": "MultiPolygon", "coordinates": [[square], [[[2, 2], [3, 2], [3, 3], [2, 2]]]]}}]}
    (tmp_path / "b.geojson").write_text(json.dumps(geo))
    shapes = read_boundaries(tmp_path / "b.geojson", "LSOA21CD")
    assert len(shapes["E01"]) == 1 and len(shapes["E02"]) == 2
    with pytest.raises(DataError, match="feature 0 has no property 'code'"):
        read_boundaries(tmp_path / "b.geojson", "code")


def test_a_census_extract_in_excel_is_read_as_text(tmp_path):
    from riskengine.profiling._page import read_table

    pd.DataFrame({"code": ["E00000001", "E00000002"], "pop": [100, 0], "kids": [10, "c"]}).to_excel(
        tmp_path / "c.xlsx", index=False)
    t = read_table(tmp_path / "c.xlsx", "census table")
    assert t["code"].tolist() == ["E00000001", "E00000002"] and t["kids"].tolist() == ["10", "c"]
    prep, _, _ = prepare(t, "code", {"kids": "pop"})
    assert prep.rejected["area"].tolist() == ["E00000002"]
