"""Fairness audit: every figure against hand computation, suppression, flagging rules, report, CLI."""

from __future__ import annotations

from markupsafe import escape
import json
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame
from typer.testing import CliRunner

from riskengine.audit import audit, flag, write_audit_report
from riskengine.audit import _format as fmt
from riskengine.audit._metrics import _rate_metric, count_band, group_counts, point_estimates, rates_from_counts
from riskengine.cli import app
from riskengine.errors import RiskEngineError
from riskengine.spec import Purpose

RATES = ["base_rate", "selection_rate", "precision", "fdr", "fpr", "fnr", "for", "recall"]


def _rows(group, tp, fp, fn, tn):
    """Rows with the given confusion counts; flagged rows score 0.9, the others 0.1."""
    cells = [(1, 1)] * tp + [(0, 1)] * fp + [(1, 0)] * fn + [(0, 0)] * tn
    return [{"g": group, "y": y, "score": 0.9 if f else 0.1} for y, f in cells]


# Group -> (TP, FP, FN, TN). "c" is the largest, so the default reference; "d" and "e" are below 10
# (and together hold 10, so no further group has to be hidden to protect them).
COUNTS = {"a": (3, 2, 1, 4), "b": (2, 1, 2, 7), "c": (4, 3, 2, 5), "d": (1, 0, 1, 1), "e": (1, 2, 1, 3)}


@pytest.fixture(scope="module")
def hand_table() -> pd.DataFrame:
    rows = [r for g, c in COUNTS.items() for r in _rows(g, *c)]
    return pd.DataFrame(rows).sample(frac=1.0, random_state=1).reset_index(drop=True)


def _by_hand(tp, fp, fn, tn) -> dict:
    n = tp + fp + fn + tn
    return {
        "n": n,
        "flagged": tp + fp,
        "base_rate": (tp + fn) / n,
        "selection_rate": (tp + fp) / n,
        "precision": tp / (tp + fp),
        "fdr": fp / (tp + fp),
        "fpr": fp / (fp + tn),
        "fnr": fn / (fn + tp),
        "for": fn / (fn + tn),
        "recall": tp / (tp + fn),
    }


def test_every_metric_and_ratio_matches_hand_computation(hand_table):
    result = audit(hand_table, "score", "y", ["g"], threshold=0.5, n_boot=50)
    rows = result.groups.set_index("group")
    assert result.reference == {"g": "c"}
    ref = _by_hand(*COUNTS["c"])
    # Written out for group "a" so a reader can check one line by eye: TP 3, FP 2, FN 1, TN 4.
    assert rows.loc["a", "precision"] == pytest.approx(3 / 5, abs=1e-15)
    assert rows.loc["a", "fpr_ratio"] == pytest.approx((2 / 6) / (3 / 8), abs=1e-15)
    for g in ["a", "b", "c"]:
        expected = _by_hand(*COUNTS[g])
        assert rows.loc[g, "n"] == expected["n"]
        assert rows.loc[g, "flagged"] == expected["flagged"]
        for m in RATES:
            assert rows.loc[g, m] == pytest.approx(expected[m], abs=1e-15), (g, m)
            assert rows.loc[g, f"{m}_ratio"] == pytest.approx(expected[m] / ref[m], abs=1e-15), (g, m)
    overall = _by_hand(*np.sum(list(COUNTS.values()), axis=0))
    for m in RATES:
        assert result.overall[m] == pytest.approx(overall[m], abs=1e-15)
    # The published figures are the same numbers rounded: rates to 4 decimals, ratios to 3.
    published = {r["group"]: r for r in result.to_dict()["groups"]}
    assert published["b"]["fpr"] == 0.125
    assert published["b"]["for"] == 0.2222  # 2/9
    assert published["a"]["precision_ratio"] == 1.05  # (3/5) / (4/7)
    assert published["b"]["fnr_ratio"] == 1.5  # (2/4) / (2/6)


def _slow_reference_intervals(df, n_boot, seed, groups, ref):
    """Direct bootstrap: resample rows, recount each group with plain loops, take quantiles."""
    rng = np.random.default_rng(seed)
    rates = {g: {m: [] for m in RATES} for g in groups}
    y, f = df["y"].to_numpy(), (df["score"] >= 0.5).to_numpy()
    g_col = df["g"].to_numpy()
    for _ in range(n_boot):
        idx = rng.integers(0, len(df), size=len(df))
        for g in groups:
            tp = fp = fn = tn = 0
            for i in idx:
                if g_col[i] != g:
                    continue
                if y[i] and f[i]:
                    tp += 1
                elif f[i]:
                    fp += 1
                elif y[i]:
                    fn += 1
                else:
                    tn += 1
            counts = {"base_rate": (tp + fn, tp + fp + fn + tn), "selection_rate": (tp + fp, tp + fp + fn + tn),
                      "precision": (tp, tp + fp), "fdr": (fp, tp + fp), "fpr": (fp, fp + tn),
                      "fnr": (fn, fn + tp), "for": (fn, fn + tn), "recall": (tp, tp + fn)}
            for m, (num, den) in counts.items():
                rates[g][m].append(num / den if den else np.nan)
    out = {}
    for g in groups:
        for m in RATES:
            values = np.array(rates[g][m])
            out[g, m] = tuple(np.nanquantile(values, [0.025, 0.975]))
            with np.errstate(all="ignore"):
                ratios = values / np.where(np.array(rates[ref][m]) == 0, np.nan, rates[ref][m])
            out[g, m, "ratio"] = tuple(np.nanquantile(ratios, [0.025, 0.975]))
    return out


def test_bootstrap_intervals_match_a_slow_loop_with_the_same_seed(hand_table):
    n_boot, seed = 300, 7
    result = audit(hand_table, "score", "y", ["g"], threshold=0.5, n_boot=n_boot, seed=seed)
    slow = _slow_reference_intervals(hand_table, n_boot, seed, ["a", "b", "c"], "c")
    rows = result.groups.set_index("group")
    for g in ["a", "b", "c"]:
        for m in RATES:
            lo, hi = slow[g, m]
            assert rows.loc[g, f"{m}_ci_low"] == pytest.approx(lo, abs=1e-12), (g, m)
            assert rows.loc[g, f"{m}_ci_high"] == pytest.approx(hi, abs=1e-12), (g, m)
            if g != "c":
                lo, hi = slow[g, m, "ratio"]
                assert rows.loc[g, f"{m}_ratio_ci_low"] == pytest.approx(lo, abs=1e-12), (g, m)
                assert rows.loc[g, f"{m}_ratio_ci_high"] == pytest.approx(hi, abs=1e-12), (g, m)
    # Same seed, same intervals; another seed, other intervals.
    again = audit(hand_table, "score", "y", ["g"], threshold=0.5, n_boot=n_boot, seed=seed)
    other = audit(hand_table, "score", "y", ["g"], threshold=0.5, n_boot=n_boot, seed=seed + 1)
    assert again.to_dict() == result.to_dict()
    assert other.groups["fpr_ci_low"].tolist() != result.groups["fpr_ci_low"].tolist()


def test_large_tables_draw_cell_counts_with_the_same_distribution(monkeypatch):
    """Above the row limit the bootstrap draws multinomial cell counts; the intervals must agree."""
    from riskengine.audit import _metrics

    rng = np.random.default_rng(9)
    n = 4000
    df = pd.DataFrame({"g": rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2]),
                       "y": (rng.random(n) < 0.3).astype(int), "score": rng.random(n)})
    by_rows = audit(df, "score", "y", ["g"], top_k=800, n_boot=2000).groups
    monkeypatch.setattr(_metrics, "INDEX_BOOTSTRAP_MAX_ROWS", 0)
    by_cells = audit(df, "score", "y", ["g"], top_k=800, n_boot=2000).groups
    for m in RATES:
        for col in (f"{m}_ci_low", f"{m}_ci_high"):
            np.testing.assert_allclose(by_cells[col], by_rows[col], atol=0.01, err_msg=col)
        # interval widths agree to a tenth
        width = lambda t: t[f"{m}_ci_high"] - t[f"{m}_ci_low"]  # noqa: E731
        np.testing.assert_allclose(width(by_cells), width(by_rows), rtol=0.1, err_msg=m)
    pd.testing.assert_series_equal(by_cells["fpr"], by_rows["fpr"])  # point estimates do not move


def test_rate_of_zero_gets_the_exact_interval_not_a_point():
    # Group "z": 20 entities, none flagged; a bootstrap would say [0%, 0%].
    df = pd.DataFrame(_rows("big", 10, 10, 10, 70) + _rows("z", 0, 0, 5, 15))
    result = audit(df, "score", "y", ["g"], threshold=0.5, n_boot=200)
    z = result.groups.set_index("group").loc["z"]
    assert z["selection_rate"] == 0
    assert z["selection_rate_ci_low"] == 0
    assert z["selection_rate_ci_high"] == pytest.approx(1 - 0.025 ** (1 / 20), abs=1e-12)
    ref_ci_low = result.groups.set_index("group").loc["big", "selection_rate_ci_low"]
    assert z["selection_rate_ratio_ci_high"] == pytest.approx(z["selection_rate_ci_high"] / ref_ci_low)


def test_metricframe_point_estimates_agree_with_the_bootstrap_counts():
    rng = np.random.default_rng(0)
    n = 2000
    y = (rng.random(n) < 0.3).astype(int)
    f = (rng.random(n) < 0.2).astype(int)
    codes = rng.integers(0, 5, size=n)
    frame = point_estimates(y, f, codes, RATES)  # MetricFrame on the collapsed, weighted table
    counts = group_counts(y, f, codes, 5)  # what the bootstrap tallies
    by_counts = rates_from_counts(counts)
    raw = MetricFrame(metrics={m: _rate_metric(m) for m in RATES}, y_true=y, y_pred=f,
                      sensitive_features=pd.Series(codes)).by_group  # MetricFrame on every raw row
    for m in RATES:
        np.testing.assert_allclose(frame[m].to_numpy(), by_counts[m], rtol=0, atol=1e-15)
        np.testing.assert_allclose(raw[m].to_numpy(), by_counts[m], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(frame["n"].to_numpy(), counts.sum(axis=1))
    np.testing.assert_array_equal(frame["flagged"].to_numpy(), counts[:, 1] + counts[:, 3])
    # The bootstrap's joint-cell tally, on the identity resample, gives the same counts.
    from riskengine.audit._metrics import _joint_cells

    joint, membership = _joint_cells(2 * y + f, [(codes, 5)])
    tally = (membership.T @ np.bincount(joint, minlength=membership.shape[0])).reshape(5, 4)
    np.testing.assert_array_equal(tally, counts)


def test_small_groups_are_suppressed_with_a_count_band(hand_table):
    result = audit(hand_table, "score", "y", ["g"], threshold=0.5, n_boot=50)
    d = result.groups.set_index("group").loc["d"]
    assert d["suppressed"] and d["n_band"] == "1-4"
    assert pd.isna(d["n"]) and pd.isna(d["flagged"])
    assert all(pd.isna(d[m]) and pd.isna(d[f"{m}_ratio"]) for m in RATES)
    published = next(r for r in result.to_dict()["groups"] if r["group"] == "d")
    assert published["n"] is None and published["suppressed"] is True and published["n_band"] == "1-4"
    assert all(published[m] is None and published[f"{m}_ci"] is None for m in RATES)
    assert any("'d' (1-4), 'e' (5-9)" in s for s in result.findings)
    assert [count_band(k, 10) for k in (1, 4, 5, 9)] == ["1-4", "1-4", "5-9", "5-9"]
    assert count_band(17, 20) == "15-19" and count_band(6, 7) == "5-6"
    # A larger minimum suppresses more; the band follows it.
    bigger = audit(hand_table, "score", "y", ["g"], threshold=0.5, n_boot=50, min_group_size=12)
    assert bigger.groups.set_index("group").loc["a", "n_band"] == "10-11"


def test_a_lone_small_group_is_protected_by_hiding_the_next_smallest():
    # "x" has 3 entities; publishing every other group and the total would reveal it by subtraction.
    df = pd.DataFrame(_rows("big", 10, 10, 10, 70) + _rows("mid", 5, 5, 5, 25) + _rows("next", 3, 3, 3, 11)
                      + _rows("x", 1, 1, 0, 1))
    result = audit(df, "score", "y", ["g"], threshold=0.5, n_boot=50)
    rows = result.groups.set_index("group")
    assert rows.loc["x", "suppressed_reason"] == "small" and rows.loc["x", "n_band"] == "1-4"
    assert rows.loc["next", "suppressed_reason"] == "secondary" and rows.loc["next", "n_band"] == "10 or more"
    assert pd.isna(rows.loc["next", "n"]) and pd.isna(rows.loc["next", "fpr"])
    assert not rows.loc["mid", "suppressed"]
    assert any("'next' is hidden as well" in s for s in result.findings)
    published = sum(r["n"] for r in result.to_dict()["groups"] if r["n"] is not None)
    assert result.overall["n"] - published == 20 + 3  # only the sum of the two hidden groups can be derived
    # Two groups and one of them small: nothing can be published.
    two = audit(pd.DataFrame(_rows("big", 10, 10, 10, 70) + _rows("x", 1, 1, 0, 1)), "score", "y", ["g"],
                threshold=0.5, n_boot=20)
    assert two.groups["suppressed"].all() and two.reference == {"g": None}
    assert any("no group can be published" in s for s in two.findings)


def test_missing_group_values_form_the_unknown_group():
    rng = np.random.default_rng(5)
    n = 300
    df = pd.DataFrame({"score": rng.random(n), "y": (rng.random(n) < 0.3).astype(int),
                       "ward": rng.choice(["North", "South"], size=n)})
    df.loc[:24, "ward"] = None  # 25 missing
    result = audit(df, "score", "y", ["ward"], top_k=30, n_boot=50)
    rows = result.groups.set_index("group")
    assert list(rows.index) == ["North", "South", "unknown"]
    assert rows.loc["unknown", "n"] == 25
    assert rows["n"].sum() == n  # nobody dropped
    assert "25 entities have no recorded ward; they are audited as the group 'unknown'." in result.findings
    # A real value spelled "unknown" keeps its name; the missing ones get another.
    df.loc[25:40, "ward"] = "unknown"
    result = audit(df, "score", None, ["ward"], top_k=30, n_boot=50)
    assert result.groups["group"].tolist() == ["North", "South", "unknown", "unknown (missing)"]


def test_threshold_flags_ties_at_or_above():
    scores = np.array([0.2, 0.5, 0.5, 0.7, 0.1])
    flags, point = flag(scores, threshold=0.5)
    assert flags.tolist() == [False, True, True, True, False]
    assert point.tied_at_cutoff == 2 and point.flagged_at_cutoff == 2


def test_top_k_takes_exactly_k_breaking_ties_by_row_order():
    scores = np.array([0.3, 0.9, 0.5, 0.5, 0.1, 0.5, 0.8])
    flags, point = flag(scores, top_k=4)  # 0.9, 0.8, then two of the three 0.5s: rows 2 and 3
    assert flags.tolist() == [False, True, True, True, False, False, True]
    assert (point.flagged, point.cutoff_score, point.tied_at_cutoff, point.flagged_at_cutoff) == (4, 0.5, 3, 2)
    df = pd.DataFrame({"score": scores, "g": ["a"] * 7})
    result = audit(df, "score", None, ["g"], top_k=4, n_boot=20, min_group_size=1)
    assert any("3 entities share the cut-off score 0.5; the first 2 of them in table order" in s for s in result.findings)
    flags, point = flag(scores, top_k=10)
    assert flags.all() and point.capped


def test_top_pct_rounds_up_to_whole_rows():
    scores = np.arange(15, dtype=float)
    flags, point = flag(scores, top_pct=10)  # 10% of 15 = 1.5 -> 2 rows
    assert flags.sum() == 2 and flags[-2:].all()
    assert flag(np.arange(20.0), top_pct=10)[0].sum() == 2  # exactly 2, not 3 through rounding error
    assert flag(np.arange(3.0), top_pct=100)[0].all()
    with pytest.raises(RiskEngineError, match="top-pct"):
        flag(scores, top_pct=0)
    with pytest.raises(RiskEngineError, match="exactly one"):
        flag(scores, top_k=3, threshold=0.5)


def test_without_labels_only_selection_rates():
    df = pd.DataFrame({"score": np.linspace(0, 1, 60), "area": ["x", "y", "z"] * 20})
    result = audit(df, "score", None, ["area"], top_k=12, n_boot=50)
    assert result.metrics == ["selection_rate"]
    row = result.to_dict()["groups"][0]
    assert "fpr" not in row and "precision" not in row and "selection_rate_ci" in row
    assert any("No outcomes were given" in s for s in result.findings)


def test_reference_group_can_be_chosen(hand_table):
    result = audit(hand_table, "score", "y", ["g"], threshold=0.5, n_boot=50, reference="b")
    rows = result.groups.set_index("group")
    assert result.reference == {"g": "b"}
    assert rows.loc["c", "fpr_ratio"] == pytest.approx((3 / 8) / (1 / 8))
    assert audit(hand_table, "score", "y", ["g"], threshold=0.5, n_boot=20, reference={"g": "a"}).reference == {"g": "a"}
    with pytest.raises(RiskEngineError, match="fewer entities than the minimum"):
        audit(hand_table, "score", "y", ["g"], threshold=0.5, n_boot=20, reference="d")
    with pytest.raises(RiskEngineError, match="'zzz' is not a group"):
        audit(hand_table, "score", "y", ["g"], threshold=0.5, n_boot=20, reference="zzz")


def test_intersections_combine_two_columns():
    rng = np.random.default_rng(2)
    n = 400
    df = pd.DataFrame({"score": rng.random(n), "sex": rng.choice(["F", "M"], size=n),
                       "age": rng.choice(["<40", "40+"], size=n)})
    result = audit(df, "score", None, ["sex", "age"], top_pct=20, intersections=True, n_boot=50)
    assert list(result.reference) == ["sex", "age", "sex × age"]
    cross = result.groups[result.groups["attribute"] == "sex × age"]
    assert sorted(cross["group"]) == sorted(["F × 40+", "F × <40", "M × 40+", "M × <40"])
    assert cross["n"].sum() == n
    expected = ((df["sex"] == "F") & (df["age"] == "<40")).sum()
    assert cross.set_index("group").loc["F × <40", "n"] == expected


def _twice_as_often() -> pd.DataFrame:
    """Area B is flagged at exactly twice A's rate, with the same cases: 2x the false positives."""
    a = _rows("A", 4, 36, 36, 324)  # 400 rows, 40 flagged (10%), FPR 36/360
    b = _rows("B", 4, 36, 16, 144)  # 200 rows, 40 flagged (20%), FPR 36/180
    df = pd.DataFrame(a + b).rename(columns={"g": "area"})
    return df.sample(frac=1.0, random_state=0).reset_index(drop=True)


def test_a_group_selected_at_twice_the_rate_gets_a_plain_english_finding():
    result = audit(_twice_as_often(), "score", "y", ["area"], threshold=0.5, name="business as usual")
    published = {r["group"]: r for r in result.to_dict()["groups"]}
    assert published["B"]["selection_rate_ratio"] == 2.0 and published["B"]["fpr_ratio"] == 2.0
    assert published["B"]["selection_rate_ratio_ci"][0] > 1.25
    text = " ".join(result.findings)
    assert "By area (reference group 'A'): disparities found on the measures that matter most here (false positive rate)" in text
    assert (
        "By area, group 'B': the share of entities flagged (selection rate) is 20% against 10% in the "
        "reference group 'A': 2 times the reference group's" in text
    )
    assert "the false positive rate" in text and "This is outside the tolerance of 0.8 to 1.25" in text
    statuses = result.disparities.set_index("metric")["status"]
    assert statuses["selection_rate"] == "disparity" and statuses["fpr"] == "disparity"
    assert statuses["precision"] == "within"


def test_a_fair_list_has_no_disparity():
    df = pd.DataFrame(_rows("A", 20, 20, 20, 140) + _rows("B", 20, 20, 20, 140)).rename(columns={"g": "area"})
    result = audit(df, "score", "y", ["area"], threshold=0.5, n_boot=200)
    assert (result.disparities["status"] == "within").all()
    assert any("By area (reference group 'A'): no disparity found" in s for s in result.findings)


def test_mitigation_is_reported_not_applied():
    df = _twice_as_often()
    df["score"] = df["score"] + np.random.default_rng(0).random(len(df)) * 0.01
    plain = audit(df, "score", "y", ["area"], top_k=80, n_boot=100)
    with_quotas = audit(df, "score", "y", ["area"], top_k=80, n_boot=100, mitigation="selection_rate")
    pd.testing.assert_frame_equal(plain.groups, with_quotas.groups)  # nothing applied
    m = with_quotas.mitigation[0]
    groups = {g["group"]: g for g in m["groups"]}
    # Quotas in proportion to size: 80 flags over 400 + 200 rows -> 53 and 27 (largest remainder).
    assert groups["A"]["flagged_after"] + groups["B"]["flagged_after"] == 80
    assert groups["B"]["selection_rate_before"] == 0.2
    assert abs(groups["B"]["ratio_after"] - 1) < 0.05
    assert m["worst_ratio_before"] == 2.0 and m["outside_tolerance_after"] == 0
    assert m["precision_before"] == 0.1 and m["precision_given_up"] == round(m["precision_before"] - m["precision_after"], 4)
    assert any("Equality Act 2010" in n for n in with_quotas.notes)
    fpr = audit(df, "score", "y", ["area"], top_k=80, n_boot=100, mitigation=True)  # punitive -> FPR
    assert fpr.mitigation[0]["constraint"] == "fpr"
    assert fpr.mitigation[0]["outside_tolerance_after"] == 0


class _Cells(HTMLParser):
    """Collect, per table row of the group tables, the text of every element with data-field."""

    def __init__(self):
        super().__init__()
        self.rows: dict[tuple, dict] = {}
        self._row = None
        self._field = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._audit = a.get("data-audit")
        if tag == "tr" and "data-group" in a:
            self._row = self.rows.setdefault((self._audit, a["data-attribute"], a["data-group"]), {})
        if "data-field" in a:
            self._field.append([a["data-field"], ""])
        elif tag == "span" and self._field:
            self._field.append(None)

    def handle_endtag(self, tag):
        if tag == "span" and self._field:
            top = self._field.pop()
            if top is not None:
                self._row[top[0]] = top[1].strip()

    def handle_data(self, data):
        for f in self._field:
            if f is not None:
                f[1] += data


def _formatted(field: str, value):
    if field in ("n", "flagged", "n_band"):
        return str(value)
    name = field.removesuffix("_ci")
    as_text = fmt.ratio if name.endswith("_ratio") else fmt.pct
    if field.endswith("_ci"):
        return f"{as_text(value[0])} to {as_text(value[1])}"
    return as_text(value)


def test_json_twin_holds_exactly_the_page_figures(tmp_path):
    rng = np.random.default_rng(11)
    n = 500
    df = pd.DataFrame({"score": rng.random(n), "y": (rng.random(n) < 0.25).astype(int),
                       "ward": rng.choice(["N", "S", "E", "W<&>"], size=n, p=[0.5, 0.3, 0.18, 0.02])})
    df.loc[:5, "ward"] = None
    result = audit(df, "score", "y", ["ward"], top_k=60, n_boot=200, mitigation=True)
    paths = write_audit_report(result, tmp_path, title="Audit")
    doc = json.loads(paths["json"].read_text())
    page = paths["html"].read_text()
    cells = _Cells()
    cells.feed(page)
    published = doc["audit"]
    shown = 0
    for row in published["groups"]:
        on_page = cells.rows[(published["name"], row["attribute"], row["group"])]
        words = ("attribute", "group", "suppressed", "suppressed_reason", "is_reference")
        expected = {k: v for k, v in row.items() if k not in words}
        expected = {k: v for k, v in expected.items() if v is not None}
        assert set(on_page) == set(expected), row["group"]
        for field, value in expected.items():
            assert on_page[field] == _formatted(field, value), (row["group"], field)
            shown += 1
    assert shown > 80
    overall = cells.rows[(published["name"], "(all)", "(all)")]
    assert overall["n"] == "500" and overall["selection_rate"] == fmt.pct(published["overall"]["selection_rate"])
    for sentence in published["findings"]:
        assert str(escape(sentence)) in page
    assert "null" in paths["json"].read_text() and "NaN" not in paths["json"].read_text()
    for g in published["mitigation"][0]["groups"]:
        if not g["suppressed"]:
            assert f"<td>{g['flagged_after']}</td>" in page


def test_report_prints_purpose_first_and_compares_with_business_as_usual(tmp_path):
    df = _twice_as_often()
    rng = np.random.default_rng(4)
    df["model"] = df["y"] * 0.5 + rng.random(len(df))  # ranks by risk, blind to area
    model = audit(df, "model", "y", ["area"], top_k=80, n_boot=200, name="the model")
    bau = audit(df, "score", "y", ["area"], top_k=80, n_boot=200, name="business as usual")
    purpose = Purpose(problem="Unlicensed HMOs go unseen.", insight="which homes are likely HMOs",
                      datasets="complaints and council tax", action="inspect those first")
    paths = write_audit_report(model, tmp_path, title="HMO audit", purpose=purpose, compare=bau)
    page = paths["html"].read_text()
    assert page.index("Our problem is") < page.index("Unlicensed HMOs go unseen.") < page.index("Findings")
    doc = json.loads(paths["json"].read_text())
    assert doc["purpose"]["action"] == "inspect those first"
    assert doc["compare"]["name"] == "business as usual"
    verdicts = {r["metric"]: r["verdict"] for r in doc["comparison"]["rows"]}
    assert verdicts["fpr"] == "fairer" and verdicts["selection_rate"] == "fairer"
    sentence = next(s for s in doc["comparison"]["findings"] if s.startswith("On the false positive rate by area"))
    assert "the model is fairer than business as usual on this measure" in sentence
    assert str(escape(sentence)) in page
    with pytest.raises(RiskEngineError, match="same rows"):
        model.compare(audit(df.iloc[:300], "score", "y", ["area"], top_k=40, n_boot=20))


def test_user_mistakes_name_the_column_and_rows():
    df = pd.DataFrame({"s": [0.1, None, 0.3], "y": [0, 1, 2], "g": ["a", "b", "c"]})
    with pytest.raises(RiskEngineError, match=r"score column 's'.*rows 2 "):
        audit(df, "s", None, ["g"], top_k=1)
    df["s"] = [0.1, 0.2, 0.3]
    with pytest.raises(RiskEngineError, match=r"label column 'y' must be 0 or 1.*rows 3 "):
        audit(df, "s", "y", ["g"], top_k=1)
    with pytest.raises(RiskEngineError, match="group column 'ward' not found"):
        audit(df, "s", None, ["ward"], top_k=1)
    with pytest.raises(RiskEngineError, match="tolerance"):
        audit(df, "s", None, ["g"], top_k=1, tolerance=(1.2, 0.8))


# --- the command ---------------------------------------------------------------------------

runner = CliRunner()


def _csv(tmp_path, groups) -> str:
    rng = np.random.default_rng(8)
    n = len(groups)
    path = tmp_path / "scores.csv"
    lines = ["entity_id,score,outcome,grp"]
    for i, g in enumerate(groups):
        lines.append(f"E{i},{rng.random():.4f},{int(rng.random() < 0.3)},{g}")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_cli_on_a_csv_with_string_groups(tmp_path):
    groups = ["Castle Hill"] * 120 + ["Riverside"] * 80 + [""] * 15 + ["St Mary's"] * 6
    out = tmp_path / "out"
    res = runner.invoke(app, ["audit", _csv(tmp_path, groups), "--score-col", "score", "--label-col", "outcome",
                              "--group-col", "grp", "--top-k", "25", "--out", str(out), "--n-boot", "200"])
    assert res.exit_code == 0, res.output
    assert "bias_report.html" in res.output
    doc = json.loads((out / "bias_report.json").read_text())
    rows = {r["group"]: r for r in doc["audit"]["groups"]}
    assert list(rows) == ["Castle Hill", "Riverside", "St Mary's", "unknown"]
    assert rows["St Mary's"]["n_band"] == "5-9" and rows["Riverside"]["n"] == 80
    # The missing ones (15) are hidden too: otherwise St Mary's count is the total minus the rest.
    assert rows["unknown"]["n"] is None and rows["unknown"]["suppressed_reason"] == "secondary"
    assert doc["audit"]["reference"] == {"grp": "Castle Hill"}
    assert doc["audit"]["overall"]["flagged"] == 25
    assert (out / "bias_report.html").read_text().count('class="groups"') == 1


def test_cli_on_a_csv_with_integer_groups(tmp_path):
    groups = [3] * 50 + [1] * 60 + [10] * 40 + [2] * 30 + [""] * 12
    out = tmp_path / "out"
    res = runner.invoke(app, ["audit", _csv(tmp_path, groups), "--score-col", "score", "--label-col", "outcome",
                              "--group-col", "grp", "--top-pct", "10", "--reference", "grp=2", "--out", str(out),
                              "--n-boot", "200", "--burden", "assistive"])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "bias_report.json").read_text())
    assert [r["group"] for r in doc["audit"]["groups"]] == ["1", "2", "3", "10", "unknown"]  # numeric order
    assert doc["audit"]["reference"] == {"grp": "2"}
    assert doc["audit"]["overall"]["flagged"] == 20  # ceil(10% of 192)
    assert doc["audit"]["key_metrics"] == ["fnr", "for"]


def test_cli_reads_parquet_and_reports_mistakes_in_one_line(tmp_path):
    df = pd.DataFrame({"score": np.linspace(0, 1, 50), "band": [1, 2] * 25})
    path = tmp_path / "scores.parquet"
    df.to_parquet(path)
    out = tmp_path / "out"
    res = runner.invoke(app, ["audit", str(path), "--score-col", "score", "--group-col", "band",
                              "--threshold", "0.5", "--out", str(out), "--n-boot", "50"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "bias_report.json").read_text())["audit"]["metrics"] == ["selection_rate"]
    res = runner.invoke(app, ["audit", str(path), "--score-col", "score", "--group-col", "ward",
                              "--threshold", "0.5", "--out", str(out)])
    assert res.exit_code == 2
    assert "column 'ward' not found; the file has: score, band" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(app, ["audit", str(path), "--score-col", "score", "--group-col", "band", "--out", str(out)])
    assert res.exit_code == 2 and "exactly one of threshold, top-k or top-pct" in res.output


@pytest.mark.slow
def test_business_as_usual_on_the_synthetic_borough_over_targets_deprived_areas(tmp_path):
    """The generator makes past inspections favour deprived deciles beyond risk; the audit must say so."""
    from riskengine.synth import synth

    synth(tmp_path / "borough", properties=20_000, seed=0, progress=False)
    entities = pd.read_csv(tmp_path / "borough" / "entities.csv", dtype=str).drop_duplicates("entity_id")
    visits = pd.read_csv(tmp_path / "borough" / "outcomes.csv", dtype=str)
    last_year = visits[pd.to_datetime(visits["date"], errors="coerce").between("2025-07-01", "2026-06-30")]
    truth = pd.read_parquet(tmp_path / "borough" / "truth" / "probabilities.parquet")
    truth = truth[truth["date"] == "2025-07-01"].astype({"entity_id": str})
    df = entities[["entity_id", "imd_decile"]].merge(truth[["entity_id", "is_unlicensed_hmo"]], on="entity_id")
    df["inspected"] = df["entity_id"].isin(last_year["entity_id"]).astype(float)
    result = audit(df, "inspected", "is_unlicensed_hmo", ["imd_decile"], threshold=1, reference="10",
                   name="business as usual")
    clear = result.disparities[result.disparities["status"] == "disparity"]
    assert {"1", "2", "3"} <= set(clear[clear["metric"] == "fpr"]["group"])
    assert any(s.startswith("By imd_decile, group '1': the share of entities without a case that were flagged")
               for s in result.findings)
    without_truth = audit(df, "inspected", None, ["imd_decile"], threshold=1, reference="10")
    assert "1" in set(without_truth.disparities.query("status == 'disparity'")["group"])


def test_intersection_cells_cannot_be_recovered_from_the_published_margins():
    # a=x, b=p holds 3 homes: hiding it alone, its count would be margin p (63) minus (y, p) (60)
    from riskengine.audit import audit

    rows = [("x", "p")] * 3 + [("x", "q")] * 50 + [("y", "p")] * 60 + [("y", "q")] * 70
    df = pd.DataFrame(rows, columns=["a", "b"])
    df["score"] = np.arange(len(df)) % 7
    result = audit(df, "score", None, group_cols=["a", "b"], threshold=3, intersections=True, n_boot=50)
    cells = result.groups[result.groups["attribute"] == "a × b"].set_index("group")
    hidden = cells["suppressed"]
    n = {"x × p": 3, "x × q": 50, "y × p": 60, "y × q": 70}
    assert hidden["x × p"]
    for line in (["x × p", "x × q"], ["y × p", "y × q"], ["x × p", "y × p"], ["x × q", "y × q"]):
        total_hidden = sum(n[c] for c in line if hidden[c])
        assert total_hidden == 0 or total_hidden >= 10, line
    margins = result.groups[result.groups["attribute"].isin(["a", "b"])]
    assert not margins["suppressed"].any()  # the margins are published, which is why the cells needed care


def test_a_gap_names_the_compared_and_the_reference_group_and_rounds_as_said():
    from riskengine.audit._judgement import _gap

    assert _gap({"ratio": 10.383, "group": "5", "reference": "10"}) == \
        "10 times as high for '5' as for the reference group '10'"
    assert _gap({"ratio": 2.094, "group": "1", "reference": "10"}).startswith("2.1 times as high for '1'")
    assert _gap({"ratio": 0.8125, "group": "a", "reference": "b"}).startswith("0.81 times")
