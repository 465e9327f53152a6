"""The whole run: data validated once per process, rows linked once, and no shortcut changes a result."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from riskengine import ingest, prepare
from riskengine.ingest import load_data
from riskengine.link import link, read_borough
from riskengine.spec import DataSpec, LinkSpec, Source

synth = pytest.importorskip("riskengine.synth")
TODAY = dt.date(2026, 11, 22)
KEY = "whole-run-test-key-0123456789"


@pytest.fixture(scope="module")
def borough(tmp_path_factory):
    folder = tmp_path_factory.mktemp("borough_whole_run")
    synth.synth(folder, properties=1000, seed=3)
    return folder


def _spec(folder) -> DataSpec:
    events = {p.stem: Source(p) for p in sorted((folder / "events").glob("*.csv"))}
    return DataSpec(entities=Source(folder / "entities.csv"), events=events, outcomes=Source(folder / "outcomes.csv"))


def _equal_sources(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name])


def test_the_same_files_are_validated_once_and_each_caller_gets_its_own_copy(borough, monkeypatch):
    calls = []
    real = ingest._load_data
    monkeypatch.setattr(ingest, "_load_data", lambda *a, **k: calls.append(1) or real(*a, **k))
    ingest._VALIDATED.clear()
    first = load_data(_spec(borough), today=TODAY)
    first.entities.loc[0, "entity_id"] = "changed by the caller"
    first.sources["complaints"].drop(first.sources["complaints"].index, inplace=True)
    second = load_data(_spec(borough), today=TODAY)
    assert len(calls) == 1 and second.content_key == first.content_key
    assert second.entities.loc[0, "entity_id"] != "changed by the caller" and len(second.sources["complaints"]) > 0
    load_data(_spec(borough), today=TODAY + dt.timedelta(days=1))  # another date: validated again
    assert len(calls) == 2


def test_a_changed_file_is_validated_again(tmp_path, monkeypatch):
    (tmp_path / "entities.csv").write_text("entity_id\n100000000001\n100000000002\n")
    spec = DataSpec(entities=Source(tmp_path / "entities.csv"))
    ingest._VALIDATED.clear()
    assert len(load_data(spec, today=TODAY).entities) == 2
    (tmp_path / "entities.csv").write_text("entity_id\n100000000001\n100000000002\n100000000003\n")
    assert len(load_data(spec, today=TODAY).entities) == 3


def _counting_link(monkeypatch) -> list:
    import riskengine.link as link_pkg

    calls = []
    real = link_pkg.link
    monkeypatch.setattr(link_pkg, "link", lambda *a, **k: calls.append(k.get("sources_only")) or real(*a, **k))
    return calls


def test_scoring_after_training_links_nothing_and_gets_trainings_rows(borough, tmp_path, monkeypatch):
    monkeypatch.setenv("RISKENGINE_PSEUDONYM_KEY", KEY)
    calls = _counting_link(monkeypatch)
    spec = LinkSpec(store=tmp_path / "store")
    trained = load_data(_spec(borough), today=TODAY)
    prepare.link_sources(trained, spec, out_dir=tmp_path / "train_link")  # training: the full link, kept
    assert (tmp_path / "store" / prepare.LINKED_FILE).stat().st_mode & 0o077 == 0  # the owner's alone
    prepare._LINKED.clear()  # a new process: only the file beside the store remains
    scored = load_data(_spec(borough), today=TODAY)
    prepare.link_sources(scored, spec)
    assert calls == [False]  # scoring linked nothing
    _equal_sources(scored.sources, trained.sources)
    plain = load_data(_spec(borough), today=TODAY)
    plain.sources = link(plain.entities, plain.sources, LinkSpec(store=tmp_path / "other"), sources_only=True).sources
    _equal_sources(scored.sources, plain.sources)  # what a fresh link gives


def test_a_changed_key_decision_date_or_setting_is_linked_again(borough, tmp_path, monkeypatch):
    monkeypatch.setenv("RISKENGINE_PSEUDONYM_KEY", KEY)
    spec = LinkSpec(store=tmp_path / "store")
    data = load_data(_spec(borough), today=TODAY)
    key = prepare._linked_key(data, spec)
    assert key == prepare._linked_key(load_data(_spec(borough), today=TODAY), spec)
    decisions = tmp_path / "decisions.csv"
    decisions.write_text("review_id,entity_id,decision\n")
    others = [prepare._linked_key(data, LinkSpec(store=tmp_path / "store", review_decisions=decisions)),
              prepare._linked_key(data, LinkSpec(store=tmp_path / "store", upper=0.99)),
              prepare._linked_key(load_data(_spec(borough), today=TODAY + dt.timedelta(days=1)), spec)]
    decisions.write_text("review_id,entity_id,decision\nabc,1,match\n")
    others.append(prepare._linked_key(data, LinkSpec(store=tmp_path / "store", review_decisions=decisions)))
    monkeypatch.setenv("RISKENGINE_PSEUDONYM_KEY", KEY + "-rotated")
    others.append(prepare._linked_key(data, spec))
    assert len({key, *others}) == 6
    monkeypatch.delenv("RISKENGINE_PSEUDONYM_KEY")
    assert prepare._linked_key(data, spec) is None  # no key: nothing kept, link() says what is missing


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_calibration_folds_are_scikit_learns_fold_for_fold(seed):
    from sklearn.model_selection import StratifiedGroupKFold

    from riskengine.training._calibration import stratified_group_folds

    rng = np.random.default_rng(seed)
    for n_groups, rate, k, classes in [(1500, 0.1, 5, 2), (400, 0.4, 3, 2), (200, 0.3, 4, 3)]:
        groups = rng.integers(0, n_groups, size=n_groups * 3)  # uneven group sizes, many tied counts
        y = (rng.random(len(groups)) < rate).astype(int) + (rng.random(len(groups)) < rate) * (classes - 2)
        want = np.full(len(y), -1)
        for f, (_, test) in enumerate(StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(y, y, groups)):
            want[test] = f
        np.testing.assert_array_equal(stratified_group_folds(y, groups, k, seed), want)


def test_a_command_reads_the_kept_validated_copy_and_never_a_stale_one(tmp_path, monkeypatch):
    (tmp_path / "entities.csv").write_text("entity_id,ward\n100000000001,North\n100000000002,South\nbad id,South\n")
    spec = DataSpec(entities=Source(tmp_path / "entities.csv"), max_reject_share=1.0)
    keep = tmp_path / "cache"
    calls = []
    real = ingest._load_data
    monkeypatch.setattr(ingest, "_load_data", lambda *a, **k: calls.append(1) or real(*a, **k))
    ingest._VALIDATED.clear()
    first = load_data(spec, today=TODAY, keep=keep)
    assert (keep / ingest.KEPT_FILE).is_file() and (keep / ingest.KEPT_FILE).stat().st_mode & 0o077 == 0
    ingest._VALIDATED.clear()  # the next command: a new process
    again = load_data(spec, today=TODAY, keep=keep)
    assert len(calls) == 1
    pd.testing.assert_frame_equal(again.entities, first.entities)
    pd.testing.assert_frame_equal(again.rejects, first.rejects)
    assert again.fingerprints == first.fingerprints
    (tmp_path / "entities.csv").write_text("entity_id,ward\n100000000001,North\n")
    ingest._VALIDATED.clear()
    assert len(load_data(spec, today=TODAY, keep=keep).entities) == 1 and len(calls) == 2
    (keep / ingest.KEPT_FILE).write_bytes(b"not a pickle")
    ingest._VALIDATED.clear()
    assert len(load_data(spec, today=TODAY, keep=keep).entities) == 1 and len(calls) == 3
    monkeypatch.setenv("RISKENGINE_CACHE", "0")
    assert ingest.validated_copy_folder() is None


def test_with_the_cache_off_no_copy_of_the_records_is_left_on_disk(borough, tmp_path, monkeypatch):
    monkeypatch.setenv("RISKENGINE_PSEUDONYM_KEY", KEY)
    monkeypatch.setenv("RISKENGINE_CACHE", "0")
    monkeypatch.chdir(tmp_path)
    ingest._VALIDATED.clear()
    data = load_data(_spec(borough), today=TODAY, keep=ingest.validated_copy_folder())
    prepare.link_sources(data, LinkSpec(store=tmp_path / "store"), out_dir=tmp_path / "link")
    assert not (tmp_path / "store" / prepare.LINKED_FILE).exists()
    assert not (tmp_path / ".riskengine").exists()
