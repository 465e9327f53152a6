"""Synthetic people for linkage tests and benchmarks, with known truth.

Not the borough: files of people as registries outside the UK write them (given name,
surname, date of birth written YYYYMMDD or day-first or month-first, street address,
suburb, four-digit postcode, state, an identity number), then recorded again with the
mistakes real files carry, in counted shares: typos, nicknames, forename and surname
swapped, day and month swapped, a digit of the date or the identity number wrong, missing
surnames, postcodes and identity numbers, a move to another address.

`two_files` makes a file A and a file B whose rows are in part variants of A's people
(truth: B row -> A row); `duplicates` makes one file holding several records of some
people (truth: row -> person).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

FORENAMES = ["william", "robert", "richard", "james", "john", "michael", "thomas", "charles", "edward", "anthony",
             "christopher", "daniel", "david", "joseph", "matthew", "nicholas", "peter", "samuel", "benjamin",
             "andrew", "elizabeth", "margaret", "katherine", "susan", "jennifer", "rebecca", "victoria", "deborah",
             "patricia", "jacqueline", "samantha", "abigail", "eleanor", "jessica", "amira", "priya", "oluwaseun",
             "siobhan", "grzegorz", "fatima", "yusuf", "chloe", "olivia", "amelia", "noah", "oscar", "harriet",
             "imogen", "zainab", "tobias", "lachlan", "mia", "jack", "isla", "liam", "ava", "ethan", "zoe", "lucas",
             "ruby", "mason", "grace", "hamish", "sienna", "kai", "matilda", "hugo", "ella", "archie", "layla"]
NICKNAMES = {"william": "bill", "robert": "bob", "richard": "rick", "james": "jim", "john": "johnny",
             "michael": "mike", "thomas": "tom", "charles": "charlie", "edward": "ted", "anthony": "tony",
             "christopher": "chris", "daniel": "dan", "david": "dave", "joseph": "joe", "matthew": "matt",
             "nicholas": "nick", "elizabeth": "liz", "margaret": "maggie", "katherine": "kate", "susan": "sue",
             "jennifer": "jenny", "rebecca": "becky", "victoria": "vicky", "samuel": "sam", "benjamin": "ben",
             "andrew": "andy", "patricia": "trish", "abigail": "abby", "jessica": "jess", "deborah": "debbie"}
STEMS = ["okafor", "kowalczyk", "thistle", "aberna", "pember", "quig", "farqu", "oyela", "branni", "castel",
         "delac", "eriks", "fitzw", "galla", "hargre", "ingle", "jankow", "kavan", "lindq", "mcall", "nakam",
         "ogunl", "picker", "ramsb", "sutcl", "trela", "underh", "vasq", "wainw", "yeard", "nguyen", "tran",
         "papad", "rossi", "murph", "oconn", "walsh", "brenn", "schmidt", "muller"]
ENDINGS = ["", "son", "ton", "ley", "worth", "stone", "field", "by", "ham", "ridge", "er", "ova", "elli", "ez"]
STREETS = ["banksia", "wattle", "jacaranda", "kurrajong", "coolabah", "waratah", "yarra", "darling", "murray",
           "flinders", "bourke", "collins", "elizabeth", "george", "pitt", "kent", "macquarie", "hunter",
           "oxford", "victoria", "albert", "king", "queen", "william", "church", "station", "high", "park",
           "bridge", "mill"]
STREET_TYPES = ["street", "road", "avenue", "crescent", "place", "drive", "close", "parade", "way", "lane"]
SUBURBS = ["ashfield", "bondi", "carlton", "dandenong", "epping", "fitzroy", "glebe", "hawthorn", "ivanhoe",
           "joondalup", "kew", "leichhardt", "manly", "newtown", "orange", "parramatta", "queanbeyan", "richmond",
           "st kilda", "toorak", "ultimo", "vaucluse", "waverley", "yarraville", "zetland", "balmain", "coogee",
           "doncaster", "elwood", "footscray"]
STATES = ["nsw", "vic", "qld", "wa", "sa", "tas", "act", "nt"]
# What a second recording changes, and how often (each independently).
RATES = {"typo_forename": 0.08, "typo_surname": 0.08, "nickname": 0.08, "swap_names": 0.04, "missing_surname": 0.05,
         "missing_forename": 0.02, "swap_day_month": 0.04, "date_digit": 0.04, "missing_date": 0.03,
         "typo_address": 0.1, "moved": 0.08, "missing_postcode": 0.1, "missing_id": 0.2, "id_digit": 0.05,
         "upper_case": 0.3}


def _typo(rng: np.random.Generator, word: str) -> str:
    if len(word) < 3:
        return word
    i = int(rng.integers(1, len(word) - 1))
    kind = int(rng.integers(4))
    if kind == 0:
        return word[:i] + word[i + 1:]
    if kind == 1:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == 2:
        return word[:i] + "aeiou"[int(rng.integers(5))] + word[i + 1:]
    return word[:i] + word[i] + word[i:]


def _digit(rng: np.random.Generator, text: str) -> str:
    digits = [i for i, c in enumerate(text) if c.isdigit()]
    if not digits:
        return text
    i = digits[int(rng.integers(len(digits)))]
    return text[:i] + str((int(text[i]) + 1 + int(rng.integers(8))) % 10) + text[i + 1:]


def people(n: int, seed: int = 0) -> pd.DataFrame:
    """`n` distinct people: person_id, given_name, surname, dob (a date), address_1, suburb, postcode, state, soc_sec_id."""
    rng = np.random.default_rng(seed)
    surnames = [s + e for s in STEMS for e in ENDINGS]
    k = int(n * 1.1) + 10
    # common names are common, but no name is most of a population
    wf = 1.0 / (np.arange(len(FORENAMES)) + 4.0)
    ws = 1.0 / (np.arange(len(surnames)) + 8.0)
    first = rng.choice(np.array(FORENAMES), size=k, p=wf / wf.sum())
    last = rng.choice(np.array(surnames), size=k, p=ws / ws.sum())
    born = dt.date(1930, 1, 1).toordinal() + rng.integers(0, 80 * 365, k)
    suburb_i = rng.integers(len(SUBURBS), size=k)
    frame = pd.DataFrame({
        "given_name": first, "surname": last, "dob": [dt.date.fromordinal(int(d)) for d in born],
        "address_1": [f"{int(a)} {STREETS[int(s)]} {STREET_TYPES[int(t)]}" for a, s, t in
                      zip(rng.integers(1, 300, k), rng.integers(len(STREETS), size=k), rng.integers(len(STREET_TYPES), size=k))],
        "suburb": np.array(SUBURBS)[suburb_i],
        "postcode": [str(2000 + 37 * int(i) % 7000) for i in suburb_i],
        "state": np.array(STATES)[suburb_i % len(STATES)],
        "soc_sec_id": [f"{int(x):07d}" for x in rng.choice(10_000_000, size=k, replace=False)],
    })
    frame = frame.drop_duplicates(["given_name", "surname", "dob"]).head(n).reset_index(drop=True)
    frame.insert(0, "person_id", [f"p{i:06d}" for i in range(len(frame))])
    return frame


def _date_text(rng: np.random.Generator, d: dt.date, style: str) -> str:
    if style == "mixed":
        style = ["ymd", "dmy", "iso"][int(rng.integers(3))]
    return {"ymd": d.strftime("%Y%m%d"), "dmy": d.strftime("%d/%m/%Y"), "mdy": d.strftime("%m/%d/%Y"),
            "iso": d.isoformat()}[style]


def recorded(rng: np.random.Generator, p: pd.Series, date_style: str, messy: bool, fresh: pd.Series | None = None,
             rates: dict | None = None) -> dict:
    """One recording of person `p` (a row of `people`); `messy` applies RATES; `fresh` is an address to move to."""
    r = rates or RATES
    first, last, dob = p["given_name"], p["surname"], p["dob"]
    address, suburb, postcode, state, ssid = p["address_1"], p["suburb"], p["postcode"], p["state"], p["soc_sec_id"]
    if messy:
        if rng.random() < r["nickname"] and first in NICKNAMES:
            first = NICKNAMES[first]
        elif rng.random() < r["typo_forename"]:
            first = _typo(rng, first)
        if rng.random() < r["typo_surname"]:
            last = _typo(rng, last)
        if rng.random() < r["swap_names"]:
            first, last = last, first
        if rng.random() < r["swap_day_month"] and dob.day <= 12 and dob.day != dob.month:
            dob = dob.replace(day=dob.month, month=dob.day)
        elif rng.random() < r["date_digit"]:
            try:
                dob = dt.date.fromisoformat(_digit(rng, dob.isoformat()))
            except ValueError:
                pass
        if rng.random() < r["typo_address"]:
            address = _typo(rng, address)
        if fresh is not None and rng.random() < r["moved"]:
            address, suburb, postcode, state = fresh["address_1"], fresh["suburb"], fresh["postcode"], fresh["state"]
        if rng.random() < r["id_digit"]:
            ssid = _digit(rng, ssid)
        if rng.random() < r["missing_surname"]:
            last = None
        elif rng.random() < r["missing_forename"]:
            first = None
        if rng.random() < r["missing_postcode"]:
            postcode = None
        if rng.random() < r["missing_id"]:
            ssid = None
        dob_text = None if rng.random() < r["missing_date"] else _date_text(rng, dob, date_style)
        if rng.random() < r["upper_case"]:
            first, last = (first.upper() if first else None), (last.upper() if last else None)
    else:
        dob_text = _date_text(rng, dob, date_style)
    return {"given_name": first, "surname": last, "date_of_birth": dob_text, "address_1": address, "suburb": suburb,
            "postcode": postcode, "state": state, "soc_sec_id": ssid}


def two_files(n: int = 5000, overlap: float = 0.8, seed: int = 0, date_style_b: str = "ymd"
              ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """File A (n clean people, dates YYYYMMDD), file B (n rows: `overlap` of them messy
    recordings of A's people, the rest people A lacks) and the truth (b_id -> a_id or NA)."""
    rng = np.random.default_rng(seed)
    pool = people(int(n * (2 - overlap)) + 10, seed)
    a_people = pool.iloc[:n]
    others = pool.iloc[n:]
    a = pd.DataFrame([recorded(rng, p, "ymd", False) for _, p in a_people.iterrows()])
    a.insert(0, "rec_id", [f"a-{i}" for i in range(n)])
    n_match = int(round(n * overlap))
    picks = rng.choice(n, size=n_match, replace=False)
    rows, truth = [], []
    for j, i in enumerate(picks):
        fresh = pool.iloc[int(rng.integers(len(pool)))]
        rows.append(recorded(rng, a_people.iloc[int(i)], date_style_b, True, fresh))
        truth.append(f"a-{int(i)}")
    for k in range(n - n_match):
        rows.append(recorded(rng, others.iloc[k % len(others)], date_style_b, True))
        truth.append(None)
    order = rng.permutation(len(rows))
    b = pd.DataFrame(rows).iloc[order].reset_index(drop=True)
    b.insert(0, "rec_id", [f"b-{i}" for i in range(len(b))])
    t = pd.DataFrame({"source": "b", "row_id": b["rec_id"], "true_id": pd.array(np.array(truth, dtype=object)[order],
                                                                                dtype="string")})
    return a, b, t


def duplicates(n: int = 3000, seed: int = 0, date_style: str = "mixed") -> tuple[pd.DataFrame, pd.DataFrame]:
    """One file of `n` people, some recorded two to four times (messy), shuffled; and the truth (row -> person)."""
    rng = np.random.default_rng(seed)
    pool = people(n, seed)
    copies = 1 + rng.choice([0, 1, 2, 3], size=len(pool), p=[0.5, 0.3, 0.15, 0.05])
    rows, truth = [], []
    for (_, p), c in zip(pool.iterrows(), copies):
        for k in range(int(c)):
            fresh = pool.iloc[int(rng.integers(len(pool)))]
            rows.append(recorded(rng, p, date_style, k > 0, fresh))
            truth.append(p["person_id"])
    order = rng.permutation(len(rows))
    df = pd.DataFrame(rows).iloc[order].reset_index(drop=True)
    df.insert(0, "rec_id", [f"r-{i}" for i in range(len(df))])
    t = pd.DataFrame({"source": "people", "row_id": df["rec_id"],
                      "true_id": np.array(truth, dtype=object)[order]})
    return df, t


# How the second file writes an address (each independently), for `address_files`.
ADDRESS_RATES = {"abbreviate": 0.4, "place_in_text": 0.3, "typo_street": 0.06, "missing_postcode": 0.1,
                 "missing_suburb": 0.05, "unit_style": 1.0, "upper_case": 0.3, "number_typo": 0.01}
ABBREVIATIONS = {"street": ["st", "st.", "str"], "road": ["rd", "rd."], "avenue": ["ave", "av"],
                 "crescent": ["cres", "cr"], "place": ["pl"], "drive": ["dr", "drv"], "close": ["cl"],
                 "parade": ["pde"], "way": ["wy"], "lane": ["ln", "la"]}
UNIT_SHARE = 0.25  # addresses that are a unit (flat, apartment) of a numbered building


def address_files(n: int = 4000, overlap: float = 0.8, seed: int = 0, rates: dict | None = None
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Addresses as registries outside the UK write them: a register A (address_1 with the unit written
    "Unit 3, 12 Banksia Street", suburb, state, four-digit postcode) and a file B whose rows are in
    part A's addresses typed again (the rest addresses A lacks), each with the slips of ADDRESS_RATES:
    street types abbreviated (St, Rd, Ave, Pde ...), the unit written "3/12", "Apt 3 12" or "12 ... Unit 3",
    the suburb, state and postcode written at the end of the address (their columns then empty), a
    letter of the street mistyped, the postcode or suburb missing, two digits of the number swapped.
    Returns A, B and the truth (b row id -> a row id or NA)."""
    r = rates or ADDRESS_RATES
    rng = np.random.default_rng(seed)
    pool = people(int(n * (2 - overlap) * 1.3) + 20, seed)
    unit = np.where(rng.random(len(pool)) < UNIT_SHARE, rng.integers(1, 30, len(pool)), 0)
    pool = pool.assign(unit=unit).drop_duplicates(["address_1", "suburb", "unit"]).reset_index(drop=True)
    pool = pool.iloc[: int(n * (2 - overlap))]
    a_rows, others = pool.iloc[:n], pool.iloc[n:]

    def canonical(p) -> str:
        return f"Unit {p['unit']}, {p['address_1'].title()}" if p["unit"] else p["address_1"].title()

    def typed(p) -> dict:
        number, *street = p["address_1"].split()
        if rng.random() < r["number_typo"] and len(number) > 1:
            number = number[1] + number[0] + number[2:]
        if rng.random() < r["typo_street"]:
            street[0] = _typo(rng, street[0])
        if rng.random() < r["abbreviate"] and street[-1] in ABBREVIATIONS:
            street[-1] = str(rng.choice(ABBREVIATIONS[street[-1]]))
        line = f"{number} {' '.join(street)}"
        if p["unit"]:
            style = int(rng.integers(4))
            line = [f"{p['unit']}/{line}", f"Apt {p['unit']} {line}", f"{line} Unit {p['unit']}",
                    f"Unit {p['unit']}, {line}"][style]
        suburb, postcode, state = p["suburb"], p["postcode"], p["state"]
        if rng.random() < r["place_in_text"]:
            line, suburb, postcode, state = f"{line}, {suburb} {state.upper()} {postcode}", None, None, None
        else:
            if rng.random() < r["missing_postcode"]:
                postcode = None
            if rng.random() < r["missing_suburb"]:
                suburb = None
        if rng.random() < r["upper_case"]:
            line = line.upper()
        return {"address_1": line, "suburb": suburb, "state": state, "postcode": postcode}

    a = pd.DataFrame({"rec_id": [f"a-{i}" for i in range(len(a_rows))],
                      "address_1": [canonical(p) for _, p in a_rows.iterrows()],
                      "suburb": a_rows["suburb"].to_numpy(), "state": a_rows["state"].to_numpy(),
                      "postcode": a_rows["postcode"].to_numpy()})
    n_match = int(round(len(a_rows) * overlap))
    picks = rng.choice(len(a_rows), size=n_match, replace=False)
    rows = [typed(a_rows.iloc[int(i)]) for i in picks] + [typed(p) for _, p in others.iterrows()]
    truth = [f"a-{int(i)}" for i in picks] + [None] * len(others)
    order = rng.permutation(len(rows))
    b = pd.DataFrame(rows).iloc[order].reset_index(drop=True)
    b.insert(0, "rec_id", [f"b-{i}" for i in range(len(b))])
    t = pd.DataFrame({"source": "b", "row_id": b["rec_id"],
                      "true_id": pd.array(np.array(truth, dtype=object)[order], dtype="string")})
    return a, b, t
