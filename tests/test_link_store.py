"""Link once: with `[link] store`, a run links only rows it has not seen, with the same result."""

from __future__ import annotations

import pandas as pd
import pytest

from riskengine.link import link, read_borough
from riskengine.spec import LinkSpec

synth = pytest.importorskip("riskengine.synth")


@pytest.fixture(scope="module")
def borough(tmp_path_factory):
    folder = tmp_path_factory.mktemp("borough_store")
    synth.synth(folder, properties=1500, seed=5)
    return read_borough(folder)


def _equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        pd.testing.assert_frame_equal(a[name].reset_index(drop=True), b[name].reset_index(drop=True))


def test_a_second_run_links_nothing_again_and_gives_the_same_result(borough, tmp_path, monkeypatch):
    monkeypatch.setenv("RISKENGINE_PSEUDONYM_KEY", "store-test-key-0123456789")
    entities, sources, truth = borough
    spec = LinkSpec(store=tmp_path / "store")
    plain = link(entities, sources, LinkSpec(), truth=truth)
    first = link(entities, sources, spec, truth=truth)
    assert (tmp_path / "store" / "model.json").is_file()
    _equal(first.sources, plain.sources)  # keeping a store changes nothing
    second = link(entities, sources, spec, truth=truth)
    assert second.metrics["candidate_pairs"] == 0  # nothing was matched again
    _equal(second.sources, first.sources)
    assert second.metrics["accuracy"] == first.metrics["accuracy"]


def test_only_new_rows_are_matched_with_the_stored_model(borough, tmp_path, monkeypatch):
    monkeypatch.setenv("RISKENGINE_PSEUDONYM_KEY", "store-test-key-0123456789")
    entities, sources, truth = borough
    spec = LinkSpec(store=tmp_path / "store")
    first = link(entities, sources, spec)
    name = next(n for n, df in first.sources.items() if df["match_provenance"].astype(str).eq("probabilistic").sum() > 20)
    done = first.sources[name]
    picked = done.index[done["match_provenance"].astype(str).eq("probabilistic")][:20]
    new = sources[name].loc[picked].copy()
    # the same places with a letter dropped from the middle: addresses never seen before
    new["address"] = [a[: len(a) // 2] + a[len(a) // 2 + 1:] if a[len(a) // 2].isalpha() else a + " X"
                      for a in new["address"]]
    new["entity_id"] = pd.NA
    new["line"] = range(len(sources[name]) + 1, len(sources[name]) + 1 + len(new))
    grown = dict(sources) | {name: pd.concat([sources[name], new], ignore_index=True)}
    again = link(entities, grown, spec)
    assert 0 < again.model.n_records <= len(new)  # only the new addresses were matched
    assert again.model.em_iterations == 0  # with the stored model, not a retrained one
    old = again.sources[name].iloc[: len(sources[name])]
    pd.testing.assert_frame_equal(old.reset_index(drop=True), done.reset_index(drop=True))
    added = again.sources[name].iloc[len(sources[name]):]
    got = added["entity_id"].reset_index(drop=True)
    want = done.loc[picked, "entity_id"].reset_index(drop=True)
    assert (got[got.notna()] == want[got.notna()]).all() and got.notna().mean() >= 0.3  # linked rightly or not at all


def test_addresses_under_review_are_listed_again_when_they_come_from_the_store(borough, tmp_path, monkeypatch):
    monkeypatch.setenv("RISKENGINE_PSEUDONYM_KEY", "store-test-key-0123456789")
    entities, sources, _ = borough
    spec = LinkSpec(store=tmp_path / "store", lower=0.01, upper=0.9999999)  # a wide band: much to review
    first = link(entities, sources, spec)
    second = link(entities, sources, spec)
    assert second.metrics["candidate_pairs"] == 0  # every address came from the store
    assert second.metrics["review_addresses"] == first.metrics["review_addresses"] > 0
    assert len(second.review) == second.metrics["review_addresses"]  # said N to review, lists N
    cols = ["review_id", "entity_id", "match_probability", "record_street", "entity_street"]
    pd.testing.assert_frame_equal(second.review.sort_values("review_id")[cols].reset_index(drop=True),
                                  first.review.sort_values("review_id")[cols].reset_index(drop=True), check_dtype=False)
