"""Segment profiling: index and interval by hand, suppression of small counts, duplicates."""

import json
import re

import pandas as pd
import pytest
from statsmodels.stats.proportion import confint_proportions_2indep

from riskengine.errors import DataError
from riskengine.evaluation import profile


def users_of(counts: dict[str, int]) -> pd.DataFrame:
    segs = [s for s, n in counts.items() for _ in range(n)]
    return pd.DataFrame({"entity_id": [f"id{i}" for i in range(len(segs))], "segment": segs})


def test_index_and_interval_by_hand():
    users = users_of({"A": 60, "B": 40})
    population = pd.DataFrame({"segment": ["A", "B"], "households": [3000, 7000]})
    t = profile(users, population, "segment", weight_col="households").table.set_index("segment")
    # A: user share 0.6, population share 0.3 -> index 200
    assert t.loc["A", "index"] == pytest.approx(200.0)
    assert t.loc["B", "index"] == pytest.approx(100 * 0.4 / 0.7)
    # the interval of a ratio of two independent proportions, on the log scale, by statsmodels
    # (an implementation independent of ours): users 60 of 100 against households 3000 of 10000
    lo, hi = confint_proportions_2indep(60, 100, 3000, 10000, compare="ratio", method="log")
    assert t.loc["A", "index_lo"] == pytest.approx(100 * lo, rel=1e-6)
    assert t.loc["A", "index_hi"] == pytest.approx(100 * hi, rel=1e-6)
    lo_b, hi_b = confint_proportions_2indep(40, 100, 7000, 10000, compare="ratio", method="log")
    assert (t.loc["B", "index_lo"], t.loc["B", "index_hi"]) == (pytest.approx(100 * lo_b), pytest.approx(100 * hi_b))
    assert t.loc["A", "flag"] == "ok" and t.loc["B", "flag"] == "ok"


def test_population_rows_counted_without_weights():
    population = pd.DataFrame({"segment": ["A"] * 30 + ["B"] * 70})
    t = profile(users_of({"A": 60, "B": 40}), population, "segment").table.set_index("segment")
    assert t.loc["A", "index"] == pytest.approx(200.0)


def test_small_counts_suppressed_with_a_second_so_they_cannot_be_derived(tmp_path):
    users = users_of({"A": 200, "B": 150, "C": 40, "D": 4})
    population = pd.DataFrame({"segment": list("ABCDE"), "n": [5000, 4000, 2000, 500, 100]})
    report = profile(users, population, "segment", weight_col="n", out_dir=tmp_path)
    t = report.table.set_index("segment")
    assert t.loc["D", "flag"] == "suppressed"
    assert t.loc["C", "flag"] == "suppressed"  # the next smallest, or D = total - others
    assert t.loc["A", "flag"] == "ok" and t.loc["E", "users"] == 0
    assert pd.isna(t.loc["D", "users"]) and pd.isna(t.loc["C", "index"])
    data = json.loads((tmp_path / "profile.json").read_text())
    rows = {r["segment"]: r for r in data["segments"]}
    assert rows["D"]["users"] is None and rows["C"]["user_share"] is None
    html = (tmp_path / "profile.html").read_text()
    table = html[html.index("<table"):html.index("</table>")]
    cells = {m.group(1): re.findall(r"<td[^>]*>([^<]*)</td>", m.group(0))
             for m in re.finditer(r"<tr><td>([A-E])</td>.*?</tr>", table, flags=re.S)}
    for hidden in ("C", "D"):  # neither the count nor anything it could be derived from is shown
        assert cells[hidden][1:3] == ["*", "–"] and cells[hidden][4:] == ["–", "–", "suppressed"]
    assert cells["A"][1] == "200" and cells["B"][1] == "150"
    assert "<svg" in html


def test_caution_below_thirty_users():
    users = users_of({"A": 500, "B": 20, "C": 300})
    population = pd.DataFrame({"segment": list("ABC"), "n": [100, 100, 100]})
    t = profile(users, population, "segment", weight_col="n").table.set_index("segment")
    assert t.loc["B", "flag"] == "caution" and t.loc["B", "users"] == 20


def test_duplicates_removed_or_counted_as_asked():
    users = users_of({"A": 50, "B": 50})
    users = pd.concat([users, users[users.segment == "A"]])  # every A user appears twice
    population = pd.DataFrame({"segment": ["A", "B"], "n": [1, 1]})
    dropped = profile(users, population, "segment", weight_col="n", dedupe="drop")
    kept = profile(users, population, "segment", weight_col="n", dedupe="keep")
    assert dropped.data["users_total"] == 100 and dropped.data["duplicates_removed"] == 50
    assert kept.data["users_total"] == 150
    assert kept.table.set_index("segment").loc["A", "index"] == pytest.approx(100 * (100 / 150) / 0.5)


def test_missing_segment_is_unclassified_and_bad_weights_are_errors():
    users = users_of({"A": 50, "B": 50})
    users.loc[:9, "segment"] = None
    population = pd.DataFrame({"segment": ["A", "B"], "n": [10, 10]})
    t = profile(users, population, "segment", weight_col="n").table
    assert t["segment"].iloc[-1] == "(unclassified)" and t["users"].iloc[-1] == 10
    with pytest.raises(DataError, match=r"pop.csv: no column 'households'"):
        profile(users, population, "segment", weight_col="households", population_source="pop.csv")
