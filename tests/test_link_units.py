"""Unit tests of the link stage's parts: addresses, keys, pseudonyms, the leak scan, survivorship."""

from __future__ import annotations

import pandas as pd
import pytest

from riskengine.errors import RiskEngineError
from riskengine.link import (
    exact_keys,
    golden_records,
    hash_value,
    load_key,
    normalise_postcode,
    parse_address,
    pseudonymisation_scan,
    pseudonymise,
)
from riskengine.spec import LinkSpec

TOWNS = ["Rivermouth", "North Haven", "Bondi", "Berlin", "Springfield"]
UK = {"flat": "A", "number": "12", "street": "SMITH STREET", "street_name": "SMITH", "street_type": "STREET",
      "place": "RIVERMOUTH"}


@pytest.mark.parametrize(
    "text",
    [
        "Flat A, 12 Smith Street, Rivermouth RB4 7QX",
        "12a smith st rivermouth rb47qx",
        "FLAT A 12 SMITH STR, RIVERMOUTH, RB4 7QX",
        "12A Smith St., Rivermouth RB4 7QX",
        "12 A Smith Street Rivermouth RB4 7QX",
        "12 Smith Street Flat A, Rivermouth RB4 7QX",
        "A/12 Smith St Rivermouth RB4 7QX",
    ],
)
def test_spellings_of_one_address_give_the_same_parts(text):
    parts = parse_address(text, TOWNS)
    assert {k: v for k, v in parts.items() if k != "postcode"} == UK
    assert parts["postcode"].replace(" ", "") == "RB47QX"  # the postcode in the text, kept apart


@pytest.mark.parametrize(
    "text, flat, number, street, place, postcode",
    [
        ("3/12 Banksia Pde, Bondi NSW 2026", "3", "12", "BANKSIA PARADE", "BONDI", "2026"),
        ("123 Main St Apt 4, Springfield 62704", "4", "123", "MAIN STREET", "SPRINGFIELD", "62704"),
        ("Hauptstr. 5, 10115 Berlin", None, "5", "HAUPTSTRASSE", "BERLIN", "10115"),
        ("Calle Mayor 5, 28013 Madrid", None, "5", "CALLE MAYOR", "MADRID", "28013"),
        ("12 Main St #4", "4", "12", "MAIN STREET", None, None),
        ("Unit 7, 45 Elizabeth Blvd", "7", "45", "ELIZABETH BOULEVARD", None, None),
        ("221B Baker Street", "B", "221", "BAKER STREET", None, None),
        ("10 Rue de la Paix, 75002 Paris", None, "10", "RUE DE LA PAIX", "PARIS", "75002"),
    ],
)
def test_addresses_of_other_countries(text, flat, number, street, place, postcode):
    got = parse_address(text, TOWNS)
    assert (got["flat"], got["number"], got["street"], got["place"], got["postcode"]) == \
        (flat, number, street, place, postcode)


def test_street_types_are_spelt_out_and_saint_is_read_at_the_start():
    parts = parse_address("3 St Johns Rd, North Haven", TOWNS)
    assert parts["street"] == "SAINT JOHNS ROAD" and parts["place"] == "NORTH HAVEN"
    assert parse_address("Apartment 3, 10 The Grange")["flat"] == "3"
    assert parse_address("Apartment 3, 10 The Grange")["number"] == "10"
    assert parse_address("12 Ashfield")["street_type"] is None  # the type left out: compared by name alone
    assert normalise_postcode("not a postcode") is None and normalise_postcode("rb47qx") == "RB4 7QX"


def test_exact_keys_accept_uprns_with_or_without_leading_zeros():
    register = pd.Series(["000012345678", "000000000042", "B-7"])
    got = exact_keys(pd.Series(["12345678", "000012345678", "42", None, "12 Smith St", "999", "B-7"]), register)
    assert got["entity_id"].tolist()[:3] == ["000012345678", "000012345678", "000000000042"]
    assert got["key_state"].tolist() == ["known", "known", "known", "missing", "malformed", "unknown", "known"]
    # 13 digits is not a UPRN
    assert exact_keys(pd.Series(["1234567890123"]), register)["key_state"].iloc[0] == "malformed"


def test_key_comes_from_env_or_file_and_is_required(tmp_path, monkeypatch):
    spec = LinkSpec(key_env="TEST_LINK_KEY")
    monkeypatch.delenv("TEST_LINK_KEY", raising=False)
    with pytest.raises(RiskEngineError, match="TEST_LINK_KEY"):
        load_key(spec)
    assert load_key(spec, allow_ephemeral_key=True).ephemeral
    keyfile = tmp_path / "key"
    keyfile.write_text("a-long-secret-from-a-file-0123456789")
    from_file = load_key(LinkSpec(key_env="TEST_LINK_KEY", key_file=keyfile))
    assert "key file" in from_file.origin and "secret" not in repr(from_file)
    monkeypatch.setenv("TEST_LINK_KEY", "another-long-secret-0123456789")
    from_env = load_key(LinkSpec(key_env="TEST_LINK_KEY", key_file=keyfile))
    assert from_env.origin == "environment variable TEST_LINK_KEY"
    assert hash_value("Jane Doe", from_env) != hash_value("Jane Doe", from_file)
    with pytest.raises(RiskEngineError, match="not found"):
        monkeypatch.delenv("TEST_LINK_KEY")
        load_key(LinkSpec(key_env="TEST_LINK_KEY", key_file=tmp_path / "missing"))


def test_pseudonyms_are_keyed_stable_and_case_blind(monkeypatch):
    monkeypatch.setenv("TEST_LINK_KEY", "k" * 32)
    key = load_key(LinkSpec(key_env="TEST_LINK_KEY"))
    df = pd.DataFrame({"account_holder": ["Jane Doe", "JANE  DOE", None, "John Roe"], "n": [1, 2, 3, 4]})
    out = pseudonymise(df, ["account_holder", "not_there"], key)
    tokens = out["account_holder"]
    assert tokens[0] == tokens[1] != tokens[3]
    assert pd.isna(tokens[2])
    assert tokens[0].startswith("pid_") and "jane" not in tokens[0].lower()
    assert df["account_holder"][0] == "Jane Doe"  # the input is not changed


def test_scan_finds_a_planted_identifier_in_any_kind_of_file(tmp_path):
    names = ["Jane Doe", "Olu Adeyemi-Brown"]
    (tmp_path / "clean.csv").write_text("entity_id,score\n1,0.5\n")
    (tmp_path / "mlruns" / "artifacts").mkdir(parents=True)
    (tmp_path / "mlruns" / "artifacts" / "notes.txt").write_text("contact: OLU ADEYEMI-BROWN, flat 3")
    pd.DataFrame({"holder": ["pid_abc", "jane doe"]}).to_parquet(tmp_path / "t.parquet")
    leaks = pseudonymisation_scan([tmp_path], names)
    found = {(leak.path.name, leak.identifier) for leak in leaks}
    assert found == {("notes.txt", "Olu Adeyemi-Brown"), ("t.parquet", "Jane Doe")}
    assert "Jane" not in str(leaks[0]) and "Olu" not in str(leaks[0])  # messages mask the name
    (tmp_path / "mlruns" / "artifacts" / "notes.txt").write_text("contact: pid_123, flat 3")
    (tmp_path / "t.parquet").unlink()
    assert pseudonymisation_scan([tmp_path], names) == []


def test_scan_does_not_match_parts_of_words(tmp_path):
    (tmp_path / "a.txt").write_text("Annette Smithson lives at Jane Doeville")
    assert pseudonymisation_scan([tmp_path / "a.txt"], ["Ann Smith", "Jane Doe"]) == []


def _survivorship_inputs():
    entities = pd.DataFrame({"entity_id": ["1", "2"], "postcode": ["RB1 1AA", None], "bedrooms": [3, 2]})
    ctax = pd.DataFrame({
        "entity_id": ["1", "1", "1", "2", "2"],
        "date": ["2020-01-01", "2023-05-01", "2021-01-01", "2022-01-01", "2022-02-01"],
        "postcode": ["RB1 1AB", "rb11ab", "RB1 1AB", "RB2 2BB", "RB2 2BC"],
        "account_holder": ["pid_a", "pid_b", "pid_c", "pid_d", "pid_d"],
    })
    epc = pd.DataFrame({"entity_id": ["2", "2", "2"], "date": ["2019-01-01", "2019-02-01", "2019-03-01"],
                        "postcode": ["RB2 2BC", "RB2 2BC", "RB2 2BC"]})
    return entities, {"council_tax": ctax, "epc": epc}


def test_survivorship_rules_pick_the_stated_value():
    entities, linked = _survivorship_inputs()
    golden, rules = golden_records(entities, linked, LinkSpec())
    g = golden.set_index("entity_id")
    # defaults: register fields most trusted (register first), source-only fields most recent
    assert rules["postcode"]["rule"] == "most_trusted" and rules["account_holder"]["rule"] == "most_recent"
    assert g.loc["1", "postcode"] == "RB1 1AA"  # the register wins
    assert g.loc["2", "postcode"] == "RB2 2BC"  # no register value: latest row of council_tax
    assert g.loc["1", "account_holder"] == "pid_b"  # the latest row
    assert g.loc["1", "bedrooms"] == 3 and g.loc["1", "linked_rows"] == 3 and g.loc["2", "linked_sources"] == 2

    golden, _ = golden_records(entities, linked, LinkSpec(survivorship={"postcode": "most_frequent"}))
    g = golden.set_index("entity_id")
    assert g.loc["1", "postcode"] == "RB1 1AB"  # three spellings of one postcode outvote the register
    assert g.loc["2", "postcode"] == "RB2 2BC"

    golden, rules = golden_records(entities, linked, LinkSpec(trusted_sources=["epc", "council_tax"]))
    assert golden.set_index("entity_id").loc["1", "postcode"] == "RB1 1AB"  # council_tax now above the register
    assert rules["postcode"]["sources"] == ["epc", "council_tax", "entities"]


def test_survivorship_rejects_unknown_rules_and_sources():
    entities, linked = _survivorship_inputs()
    with pytest.raises(RiskEngineError, match="most_recent"):
        golden_records(entities, linked, LinkSpec(survivorship={"postcode": "newest"}))
    with pytest.raises(RiskEngineError, match="no entity or source column"):
        golden_records(entities, linked, LinkSpec(survivorship={"colour": "most_recent"}))
    with pytest.raises(RiskEngineError, match="not sources of this run"):
        golden_records(entities, linked, LinkSpec(trusted_sources=["housing"]))


def test_one_to_one_em_recovers_match_rate_and_m_from_candidate_pairs():
    import numpy as np

    from riskengine.link._pairs import Pairs, one_to_one_em

    rng = np.random.default_rng(0)
    # each record has 7 candidates; with probability 0.7 one of them is its entity. For the
    # model's prior to hold, the register is these candidates (blocking lost no true pair).
    n_candidates, n_records = 7, 3000
    m_true = {"a": [0.9, 0.08, 0.02], "b": [0.8, 0.2]}
    u_true = {"a": [0.05, 0.15, 0.8], "b": [0.1, 0.9]}
    rows = []
    for r in range(n_records):
        true_one = rng.integers(n_candidates) if rng.random() < 0.7 else -1
        for e in range(n_candidates):
            probs = m_true if e == true_one else u_true
            rows.append({"record_id": str(r), "entity_id": str(e),
                         "gamma_a": 2 - rng.choice(3, p=probs["a"]), "gamma_b": 1 - rng.choice(2, p=probs["b"])})
    pairs = Pairs.from_frame(pd.DataFrame(rows), ["a", "b"])
    levels = pd.DataFrame({
        "comparison": ["a", "a", "a", "b", "b"], "level": ["same", "close", "else", "same", "else"],
        "cvv": [2, 1, 0, 1, 0], "m": [0.5, 0.3, 0.2, 0.5, 0.5],
        "u": [0.05, 0.15, 0.8, 0.1, 0.9],
    })
    fitted, pi, iterations = one_to_one_em(pairs, levels, n_entities=n_candidates, n_records=n_records)
    assert abs(pi - 0.7) < 0.03
    got = fitted.set_index(["comparison", "level"])["m"]
    assert abs(got["a", "same"] - 0.9) < 0.03 and abs(got["b", "same"] - 0.8) < 0.04
    assert iterations >= 2  # it moved from the start


def test_scan_reads_markup_and_skips_embedded_images(tmp_path):
    page = tmp_path / "report.html"
    page.write_text('<ul><li>one</li>\n<li>two</li></ul><img alt="chart" src="data:image/png;base64,TGkgTGk=">')
    assert pseudonymisation_scan([page], ["Li Li"]) == []  # tags are not names
    page.write_text('<ul><li title="Li Li">one</li></ul>')
    assert len(pseudonymisation_scan([page], ["Li Li"])) == 1  # attribute values are text


def test_splinks_advice_to_raise_max_pairs_is_not_printed_the_engine_sizes_the_sample(caplog):
    import logging

    from riskengine.link import _match

    _match._quiet_chosen_u_pairs()
    _match._quiet_chosen_u_pairs()  # once is enough, however many runs in a process
    log = logging.getLogger("splink.internals.linker_components.training")
    assert log.filters.count(_match._not_about_max_pairs) == 1
    with caplog.at_level(logging.WARNING, logger="splink"):
        log.warning("You are using the default value for `max_pairs`, which may be too small")
        log.warning("Level x on comparison y not observed in dataset, unable to train m value")
    assert [r.getMessage()[:5] for r in caplog.records] == ["Level"]  # splink's other warnings still show
