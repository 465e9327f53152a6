"""Addresses of any country through both linkage paths (a link spec, a training spec's [link]), and the
loud failures of the training spec's address path."""

from __future__ import annotations

import pandas as pd
import pytest

from riskengine.errors import RiskEngineError
from riskengine.link import link, run_job
from riskengine.spec import LinkChecks, LinkField, LinkJobSpec, LinkSpec, LinkTable
from riskengine.synth._people import address_files

KEY = {"allow_ephemeral_key": True}


@pytest.fixture(scope="module")
def files():
    return address_files(1500, seed=2)


def _register_and_source(a: pd.DataFrame, b: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same files as a training spec's [link] sees them: a register and an event source without ids."""
    entities = a.rename(columns={"rec_id": "entity_id", "address_1": "address", "suburb": "town"})
    source = b.rename(columns={"address_1": "address", "suburb": "town"}).assign(
        line=range(1, len(b) + 1), entity_id=pd.NA, date="2024-01-01", type="call")
    return entities, source


def test_non_uk_addresses_link_through_a_link_spec(files):
    a, b, truth = files
    fields = {"address_1": LinkField("address"), "suburb": LinkField("locality"), "postcode": LinkField("postcode")}
    spec = LinkJobSpec(name="addresses", register=LinkTable(id="rec_id", fields=fields),
                       sources={"b": LinkTable(id="rec_id", fields=fields)})
    acc = run_job(spec, {"register": a, "b": b}, truth=truth, **KEY).metrics["accuracy"]
    assert acc["precision"] >= 0.98 and acc["recall"] >= 0.95, acc


def test_non_uk_addresses_link_through_a_training_specs_link(files):
    """The training spec's path reads units ("3/12", "Apt 3"), abbreviations and the suburb and postcode
    written in the address text; Australian postcodes are compared as postcodes of any country."""
    a, b, truth = files
    entities, source = _register_and_source(a, b)
    t = truth.assign(line=range(1, len(b) + 1), true_entity_id=truth["true_id"]).set_index("row_id")
    t = t.loc[b["rec_id"]].assign(source="calls", line=range(1, len(b) + 1))
    result = link(entities, {"calls": source}, LinkSpec(), truth=t[["source", "line", "true_entity_id"]], **KEY)
    assert result.metrics["address_fields"] == {"address": "address", "postcode": "postcode", "town": "locality"}
    acc = result.metrics["accuracy"]["without_exact_key"]
    assert acc["precision"] >= 0.98 and acc["recall"] >= 0.95, acc
    assert not result.metrics["warnings"]


def test_a_source_whose_postcodes_do_not_read_warns_and_past_the_limit_stops(files):
    a, b, _ = files
    entities, source = _register_and_source(a.assign(postcode="RB1 1AA"), b)  # the register's: UK postcodes
    source = source.assign(postcode="n/a", address=source["address"].str.replace(r",.*$", "", regex=True))
    with pytest.raises(RiskEngineError, match=r"calls\.postcode \(uk_postcode\): 100% of rows are NULL"):
        link(entities, {"calls": source}, LinkSpec(), **KEY)
    result = link(entities, {"calls": source}, LinkSpec(checks=LinkChecks(null_share_error=1.0)), **KEY)
    assert any("calls.postcode" in w for w in result.metrics["warnings"])


def test_a_run_that_links_almost_nothing_warns_and_can_stop(files):
    a, b, _ = files
    entities, source = _register_and_source(a, b)
    elsewhere = source.assign(address=[f"{i + 1} Nowhere Lane, Atlantis" for i in range(len(source))],
                              postcode="9999", town="Atlantis")
    with pytest.raises(RiskEngineError, match=r"only 0\.0% of the 1,500 rows without a key linked or sent to review.*linked_share_error"):
        link(entities, {"calls": elsewhere}, LinkSpec(), **KEY)
    result = link(entities, {"calls": elsewhere}, LinkSpec(checks=LinkChecks(linked_share_error=0)), **KEY)
    assert any("rows without a key linked" in w for w in result.metrics["warnings"])
