"""riskengine.features: counts, sums, last values and days since, as of a date, without leakage."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskengine.errors import DataError, RiskEngineError
from riskengine.features import build_features, default_label, describe, feature_columns, period
from riskengine.spec import FeaturesSpec, Source

AS_OF = "2024-01-01"


def _events(rows) -> pd.DataFrame:
    """rows: (source, entity_id, date, type, value)."""
    df = pd.DataFrame(rows, columns=["source", "entity_id", "date", "type", "value"])
    df["date"] = pd.to_datetime(df["date"]).astype("datetime64[ns]")
    df["value"] = df["value"].astype("float64")
    return df


@pytest.fixture
def tiny():
    entities = pd.DataFrame({"entity_id": ["007", "7", "flat 2/b"],
                             "property_type": ["terraced", "flat", "terraced"], "bedrooms": [4, 1, 2]})
    nan = np.nan
    events = _events([
        ("complaints", "007", "2024-01-01", "noise", nan),  # on the as-of date: never counts
        ("complaints", "007", "2023-10-03", "noise", nan),  # as_of - 90: inside the 90-day window
        ("complaints", "007", "2023-10-02", "noise", nan),  # one day outside it
        ("complaints", "007", "2024-02-01", "noise", nan),  # after the as-of date
        ("complaints", "007", "2020-05-05", "noise", nan),
        ("complaints", "7", "2023-12-31", "pest", nan),
        ("housing_benefit", "007", "2023-12-01", "claim", 100.0),
        ("housing_benefit", "007", "2023-12-01", "claim", 60.0),  # same date: the larger is "last"
        ("housing_benefit", "007", "2023-12-20", "claim", nan),  # latest event, but without a value
        ("housing_benefit", "007", "2023-11-15", "claim", 40.5),
        ("housing_benefit", "007", "2022-01-01", "claim", 10.0),
        ("housing_benefit", "007", "2024-01-01", "claim", 999.0),  # on the as-of date
        ("housing_benefit", "7", "2024-03-01", "claim", 5.0),  # after
    ])
    spec = FeaturesSpec(windows=[90, 365], static=["property_type", "bedrooms"], categorical=["property_type"])
    return entities, events, spec


def test_hand_computed_values(tiny):
    entities, events, spec = tiny
    fs = build_features(entities, events, [AS_OF], spec)
    t = fs.table.set_index("entity_id")
    a = t.loc["007"]
    assert (a["complaints__noise__count_90d"], a["complaints__noise__count_365d"],
            a["complaints__noise__count_all"]) == (1, 2, 3)
    assert a["complaints__noise__days_since"] == 90
    assert (a["housing_benefit__claim__count_90d"], a["housing_benefit__claim__count_all"]) == (4, 5)
    assert a["housing_benefit__claim__sum_90d"] == pytest.approx(200.5)
    assert a["housing_benefit__claim__sum_all"] == pytest.approx(210.5)
    assert a["housing_benefit__claim__last"] == 100.0
    assert a["housing_benefit__claim__days_since"] == 12
    assert a["complaints__pest__count_all"] == 0 and np.isnan(a["complaints__pest__days_since"])

    b = t.loc["7"]  # "7" is not "007": ids are strings
    assert b["complaints__pest__count_90d"] == 1 and b["complaints__pest__days_since"] == 1
    assert b["housing_benefit__claim__count_all"] == 0
    assert np.isnan(b["housing_benefit__claim__sum_all"]) and np.isnan(b["housing_benefit__claim__last"])

    none = t.loc["flat 2/b"]  # no events at all
    counts = feature_columns(fs.info, ["count"])
    assert (none[counts] == 0).all()
    assert none[feature_columns(fs.info, ["sum", "last", "days_since"])].isna().all()
    assert list(fs.table["entity_id"]) == ["007", "7", "flat 2/b"]
    assert (fs.table["as_of"] == pd.Timestamp(AS_OF)).all()
    assert fs.table[counts].dtypes.eq("int32").all()  # 4 bytes: a million entities at eight dates fit in memory
    assert fs.table[feature_columns(fs.info, ["days_since"])].dtypes.eq("float32").all()
    assert fs.table[feature_columns(fs.info, ["sum", "last"])].dtypes.eq("float64").all()  # values keep every digit


def test_columns_and_info(tiny):
    entities, events, spec = tiny
    fs = build_features(entities, events, [AS_OF], spec)
    assert list(fs.table.columns[:4]) == ["entity_id", "as_of", "property_type", "bedrooms"]
    assert list(fs.table.columns[2:]) == list(fs.info["name"])
    assert list(fs.info["name"][fs.info["source"] == "housing_benefit"]) == [
        "housing_benefit__claim__count_90d", "housing_benefit__claim__count_365d",
        "housing_benefit__claim__count_all", "housing_benefit__claim__sum_90d",
        "housing_benefit__claim__sum_365d", "housing_benefit__claim__sum_all",
        "housing_benefit__claim__last", "housing_benefit__claim__days_since"]
    assert "complaints__noise__sum_all" not in fs.table  # no values, no sums
    info = fs.info.set_index("name")
    assert info.loc["complaints__noise__count_365d", "label"] == "noise complaints"
    assert info.loc["complaints__noise__count_365d", "window_days"] == 365
    assert pd.isna(info.loc["complaints__noise__count_all", "window_days"])
    assert str(fs.info["window_days"].dtype) == "Int64"
    assert info.loc["property_type", "categorical"] and info.loc["property_type", "categories"] == ["flat", "terraced"]
    assert set(fs.info["stat"]) == {"static", "count", "sum", "last", "days_since"}


def test_labels_from_the_spec(tiny):
    entities, events, spec = tiny
    spec.labels = {"complaints.noise": "noise nuisance reports", "bedrooms": "bedrooms"}
    info = build_features(entities, events, [AS_OF], spec).info.set_index("name")
    assert info.loc["complaints__noise__count_90d", "label"] == "noise nuisance reports"


# --- leakage ---------------------------------------------------------------------------

IDS = st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=5, unique=True)
TYPES = st.sampled_from([("complaints", "noise"), ("complaints", "pest"), ("housing_benefit", "claim"),
                         ("council_tax", "account_change"), ("Complaints", "Noise")])


def _event_rows(draw, ids, first: dt.date, last: dt.date, max_size: int):
    rows = draw(st.lists(st.tuples(st.sampled_from(ids), st.dates(first, last), TYPES,
                                   st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False))),
                         max_size=max_size))
    return [(s, i, d, t, np.nan if v is None else v) for i, d, (s, t), v in rows]


@st.composite
def histories(draw):
    ids = draw(IDS)
    as_of = draw(st.dates(dt.date(2023, 1, 1), dt.date(2023, 12, 31)))
    past = _event_rows(draw, ids, dt.date(2019, 1, 1), as_of - dt.timedelta(days=1), 25)
    future_a = _event_rows(draw, ids, as_of, dt.date(2025, 1, 1), 10)
    future_b = _event_rows(draw, ids, as_of, dt.date(2025, 1, 1), 10)
    windows = draw(st.lists(st.integers(1, 800), min_size=1, max_size=3, unique=True))
    return ids, as_of, past, future_a, future_b, windows


def _by_identity(fs) -> dict:
    """(source, type, stat, window) -> column name: what a feature is, whatever it is called."""
    return {(r.source, r.type, r.stat, None if pd.isna(r.window_days) else int(r.window_days)): r.name
            for r in fs.info.itertuples()}


def _check_no_leakage(history) -> None:
    ids, as_of, past, future_a, future_b, windows = history
    entities = pd.DataFrame({"entity_id": pd.array(ids, dtype="str")})
    spec = FeaturesSpec(windows=windows)
    a = build_features(entities, _events(past + future_a), [as_of], spec)
    b = build_features(entities, _events(past + future_b), [as_of], spec)
    # the future may add or remove whole event types; their columns must then say nothing
    ka, kb = _by_identity(a), _by_identity(b)
    for one, mine, theirs in ((a, ka, kb), (b, kb, ka)):
        extra = one.info[one.info["name"].isin([mine[k] for k in set(mine) - set(theirs)])]
        assert (one.table[extra["name"][extra["stat"] == "count"]] == 0).all().all()
        assert one.table[extra["name"][extra["stat"] != "count"]].isna().all().all()
    common = sorted(set(ka) & set(kb), key=str)
    pd.testing.assert_frame_equal(a.table[[ka[k] for k in common]].set_axis(common, axis=1),
                                  b.table[[kb[k] for k in common]].set_axis(common, axis=1))
    # with the first call's columns as the reference, the two tables are identical
    b_like_a = build_features(entities, _events(past + future_b), [as_of], spec, reference=a.info)
    pd.testing.assert_frame_equal(b_like_a.table, a.table)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_events_on_or_after_the_as_of_date_never_change_features(history):
    _check_no_leakage(history)


@pytest.mark.slow
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_no_leakage_thoroughly(history):
    _check_no_leakage(history)


def _by_hand(entities, events, as_of, windows) -> dict:
    """A slow, obvious reference: {(entity, column): value}."""
    out = {}
    as_of = pd.Timestamp(as_of)
    for eid in entities["entity_id"]:
        for (source, type_), ev in events.groupby(["source", "type"]):
            base = f"{source.lower()}__{type_.lower()}"
            mine = ev[(ev["entity_id"] == eid) & (ev["date"] < as_of)]
            age = (as_of - mine["date"]).dt.days
            for w in windows:
                out[eid, f"{base}__count_{w}d"] = int((age <= w).sum())
                if ev["value"].notna().any():
                    vals = mine["value"][age <= w].dropna()
                    out[eid, f"{base}__sum_{w}d"] = vals.sum() if len(vals) else np.nan
            out[eid, f"{base}__count_all"] = len(mine)
            out[eid, f"{base}__days_since"] = age.min() if len(mine) else np.nan
            if ev["value"].notna().any():
                valued = mine.dropna(subset=["value"]).sort_values(["date", "value"])
                out[eid, f"{base}__sum_all"] = valued["value"].sum() if len(valued) else np.nan
                out[eid, f"{base}__last"] = valued["value"].iloc[-1] if len(valued) else np.nan
    return out


@settings(max_examples=25, deadline=None)
@given(histories())
def test_matches_a_plain_reference(history):
    ids, as_of, past, future, _, windows = history
    rows = [r for r in past + future if r[0] != "Complaints"]  # names that differ only in case are renamed
    entities = pd.DataFrame({"entity_id": ids})
    events = _events(rows)
    fs = build_features(entities, events, [as_of], FeaturesSpec(windows=windows))
    table = fs.table.set_index("entity_id")
    for (eid, col), expected in _by_hand(entities, events, as_of, windows).items():
        got = table.loc[eid, col]
        if pd.isna(expected):
            assert pd.isna(got), (eid, col)
        else:
            assert got == pytest.approx(expected, rel=1e-9, abs=1e-6), (eid, col)


def test_names_differing_only_in_case_stay_apart():
    entities = pd.DataFrame({"entity_id": ["a"]})
    events = _events([("complaints", "a", "2023-06-01", "noise", np.nan),
                      ("Complaints", "a", "2023-06-01", "Noise", np.nan),
                      ("Complaints", "a", "2023-07-01", "Noise", np.nan)])
    fs = build_features(entities, events, [AS_OF], FeaturesSpec(windows=[365]))
    assert fs.info["name"].is_unique
    counts = fs.table[feature_columns(fs.info, ["count"])].iloc[0]
    assert sorted(counts) == [1, 1, 2, 2]


# --- several dates, categories, reference ----------------------------------------------


def test_several_dates_in_one_call_equal_separate_calls(tiny):
    entities, events, spec = tiny
    dates = ["2024-01-01", "2023-06-30", "2024-03-15"]
    together = build_features(entities, events, dates, spec).table
    assert list(together["as_of"].drop_duplicates()) == sorted(pd.to_datetime(dates))
    for d in dates:
        alone = build_features(entities, events, [d], spec).table
        part = together[together["as_of"] == pd.Timestamp(d)].reset_index(drop=True)
        pd.testing.assert_frame_equal(part, alone)


def test_category_codes_are_stable(tiny):
    entities, events, spec = tiny
    more = pd.concat([entities, pd.DataFrame({"entity_id": ["x"], "property_type": ["detached"], "bedrooms": [3]})],
                     ignore_index=True)
    # the same category values in another order and subset: the same codes
    first = build_features(more.iloc[[3, 0, 1]], events, [AS_OF], spec).table
    second = build_features(more.iloc[[1, 2, 3]][::-1], events, [AS_OF], spec).table
    code = lambda t: dict(zip(t["property_type"].astype(str), t["property_type"].cat.codes))  # noqa: E731
    assert code(first) == code(second) == {"detached": 0, "flat": 1, "terraced": 2}
    # scoring a subset that lacks a category: the training info's categories keep the codes
    training = build_features(more, events, [AS_OF], spec)
    scoring = build_features(entities.iloc[[1]], events, [AS_OF], spec, reference=training.info)
    assert list(scoring.table["property_type"].cat.categories) == ["detached", "flat", "terraced"]
    assert scoring.table["property_type"].cat.codes.tolist() == [1]


def test_reference_keeps_the_training_columns(tiny):
    entities, events, spec = tiny
    training = build_features(entities, events, [AS_OF], spec)
    later = pd.concat([events[events["source"] != "housing_benefit"],
                       _events([("licensing", "7", "2023-12-01", "application", np.nan)])])
    scoring = build_features(entities, later, [AS_OF], spec, reference=training.info)
    assert list(scoring.table.columns[2:]) == list(training.info["name"])
    assert (scoring.table["housing_benefit__claim__count_all"] == 0).all()
    assert not any(c.startswith("licensing") for c in scoring.table)
    pd.testing.assert_frame_equal(scoring.info, training.info)
    # the info survives a round trip through CSV (as an MLflow artefact would be stored)
    stored = pd.read_csv(io.StringIO(training.info.to_csv(index=False)))
    again = build_features(entities, later, [AS_OF], spec, reference=stored)
    pd.testing.assert_frame_equal(again.table, scoring.table)


# --- the ready feature table -----------------------------------------------------------


@pytest.fixture
def ready():
    return pd.DataFrame({"entity_id": ["007", "7", "007"], "as_of": pd.to_datetime([AS_OF, AS_OF, "2023-01-01"]),
                         "risk_flag": [1.0, 0.0, 5.0], "tenure": ["rented", "owned", "rented"]})


def test_given_table_joins(tiny, ready):
    entities, events, spec = tiny
    spec.table = Source(path=Path("ready_features.csv"))
    fs = build_features(entities, events, [AS_OF, "2023-01-01"], spec, given=ready)
    t = fs.table.set_index(["entity_id", "as_of"])
    assert t.loc[("007", pd.Timestamp(AS_OF)), "risk_flag"] == 1.0
    assert t.loc[("007", pd.Timestamp("2023-01-01")), "risk_flag"] == 5.0
    assert np.isnan(t.loc[("flat 2/b", pd.Timestamp(AS_OF)), "risk_flag"])
    assert t.loc[("7", pd.Timestamp(AS_OF)), "tenure"] == "owned"
    assert "complaints__noise__count_all" in t
    info = fs.info.set_index("name")
    assert info.loc["risk_flag", "stat"] == "given" and info.loc["tenure", "categorical"]
    assert list(fs.table.columns[-2:]) == ["risk_flag", "tenure"]


def test_given_table_date_without_rows_takes_the_latest_earlier_row(tiny, ready):
    entities, events, spec = tiny
    spec.table = Source(path=Path("ready_features.csv"))
    fs = build_features(entities, events, [AS_OF, "2024-06-30"], spec, given=ready)
    t = fs.table.set_index(["entity_id", "as_of"])
    assert t.loc[("007", pd.Timestamp("2024-06-30")), "risk_flag"] == 1.0  # the row as of AS_OF, the latest earlier
    spec.max_age_days = 10  # older than that: missing, not stale
    fs = build_features(entities, events, [AS_OF, "2024-06-30"], spec, given=ready)
    assert np.isnan(fs.table.set_index(["entity_id", "as_of"]).loc[("007", pd.Timestamp("2024-06-30")), "risk_flag"])
    with pytest.raises(RiskEngineError, match="ready_features.csv"):
        build_features(entities, events, [AS_OF], spec)  # the spec names a table; none passed


def test_given_table_alone(tiny, ready):
    entities, events, _ = tiny
    spec = FeaturesSpec(static=["bedrooms"], table=Source(path=Path("ready.csv")), from_events=False)
    fs = build_features(entities, events, [AS_OF], spec, given=ready)
    assert list(fs.table.columns) == ["entity_id", "as_of", "bedrooms", "risk_flag", "tenure"]
    assert set(fs.info["stat"]) == {"static", "given"}


# --- user mistakes ---------------------------------------------------------------------


def test_user_mistakes_name_what_is_wrong(tiny):
    entities, events, spec = tiny
    with pytest.raises(DataError, match="'type'"):
        build_features(entities, events.drop(columns="type"), [AS_OF], spec)
    with pytest.raises(DataError, match="'7' appears more than once"):
        build_features(pd.concat([entities, entities.iloc[[1]]]), events, [AS_OF], spec)
    with pytest.raises(DataError, match="floor_area"):
        build_features(entities, events, [AS_OF], FeaturesSpec(static=["floor_area"]))
    with pytest.raises(RiskEngineError, match="'last tuesday' is not a date"):
        build_features(entities, events, ["last tuesday"], spec)
    with pytest.raises(DataError, match="without a source or type"):
        build_features(entities, events.assign(type=events["type"].where(events.index != 2)), [AS_OF], spec)
    with pytest.raises(DataError, match="'date' must hold dates"):
        build_features(entities, events.assign(date=events["date"].dt.strftime("%d/%m/%Y")), [AS_OF], spec)


def test_no_events_at_all(tiny):
    entities, events, spec = tiny
    fs = build_features(entities, events.iloc[:0], [AS_OF, "2023-01-01"], spec)
    assert list(fs.table.columns) == ["entity_id", "as_of", "property_type", "bedrooms"]
    assert len(fs.table) == 6


# --- phrases ---------------------------------------------------------------------------


def _row(stat, label, window=None):
    return {"stat": stat, "label": label, "window_days": window}


@pytest.mark.parametrize(("row", "value", "text"), [
    (_row("count", "noise complaints", 365), 9, "9 noise complaints in the last 12 months"),
    (_row("count", "noise complaints", 90), 1, "1 noise complaint in the last 3 months"),
    (_row("count", "noise complaints", None), 0, "no noise complaints on record"),
    (_row("count", "council-tax account changes", 1095), 3, "council-tax account changes: 3 in the last 3 years"),
    (_row("count", "council-tax account changes", 730), 0, "no council-tax account changes in the last 2 years"),
    (_row("count", "licensing applications", 45), 2, "2 licensing applications in the last 45 days"),
    (_row("days_since", "pest complaints"), 23.0, "last pest complaint 23 days ago"),
    (_row("days_since", "EPC lodgements"), 150.0, "last EPC lodgement about 5 months ago"),
    (_row("days_since", "EPC lodgements"), 2330.0, "last EPC lodgement about 6 years ago"),
    (_row("days_since", "pest complaints"), 1.0, "last pest complaint 1 day ago"),
    (_row("days_since", "housing-benefit claims"), np.nan, "no housing-benefit claims on record"),
    (_row("sum", "housing-benefit claims", 365), 1240.0, "total housing-benefit claim value in the last 12 months: 1,240"),
    (_row("sum", "housing-benefit claims", None), 1240.5, "total housing-benefit claim value on record: 1,240.5"),
    (_row("sum", "housing-benefit claims", 90), np.nan, "no housing-benefit claims in the last 3 months"),
    (_row("last", "electoral-register adults"), 6.0, "latest electoral-register adults: 6"),
    (_row("last", "electoral-register adults"), np.nan, "no electoral-register adults on record"),
    (_row("static", "property type"), "terraced", "property type: terraced"),
    (_row("static", "bedrooms"), np.int64(4), "bedrooms: 4"),
    (_row("static", "bedrooms"), None, "bedrooms: not recorded"),
    (_row("given", "licensed"), True, "licensed: yes"),
])
def test_describe(row, value, text):
    assert describe(row, value) == text
    assert describe(pd.Series(row), value) == text


def test_describe_reads_the_info_table(tiny):
    entities, events, spec = tiny
    fs = build_features(entities, events, [AS_OF], spec)
    info = fs.info.set_index("name", drop=False)
    row = fs.table.iloc[0]
    said = {n: describe(info.loc[n], row[n]) for n in info.index}
    assert said["complaints__noise__count_365d"] == "2 noise complaints in the last 12 months"
    assert said["complaints__noise__count_90d"] == "1 noise complaint in the last 3 months"
    assert said["housing_benefit__claim__last"] == "latest housing-benefit claims: 100"
    assert said["property_type"] == "property type: terraced"


def test_periods_and_default_labels():
    assert [period(d) for d in (90, 365, 730, 1095, 30, 180, 45, 1)] == [
        "3 months", "12 months", "2 years", "3 years", "month", "6 months", "45 days", "day"]
    assert default_label("complaints", "noise") == "noise complaints"
    assert default_label("council_tax", "account_change") == "council-tax account changes"
    assert default_label("housing_benefit", "claim") == "housing-benefit claims"
    assert default_label("electoral_register", "adults") == "electoral-register adults"
    assert default_label("inspections", "inspection") == "inspections"
    assert default_label("licensing", "property") == "licensing properties"


def test_levels_get_their_latest_value_and_no_sums():
    import pandas as pd

    from riskengine.features import build_features
    from riskengine.spec import FeaturesSpec

    entities = pd.DataFrame({"entity_id": ["a"]})
    events = pd.DataFrame({"source": "register", "entity_id": "a", "type": "adults",
                           "date": pd.to_datetime(["2023-12-01", "2024-12-01"]), "value": [2.0, 6.0]})
    fs = build_features(entities, events, ["2025-01-01"], FeaturesSpec(windows=[365], levels=["register.adults"]))
    assert set(fs.info["stat"]) == {"count", "last", "days_since"}
    assert fs.table["register__adults__last"].iloc[0] == 6.0
