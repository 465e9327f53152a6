"""Street names and address text: the canonical line and the spellings other systems use.

Each source system writes addresses its own way ("Flat A, 12 Ashfield Road" in the gazetteer,
"FLAT A 12 ASHFIELD RD" in council tax, "12a ashfield rd" typed by a call handler, "12 Ashfield
Road, Flat A" with the flat after the street).
`render` builds any of these spellings for many rows at once with Arrow string kernels; the
choices for a row come from its key (see _keys), so duplicated rows render identically.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from riskengine.synth._keys import uniform

_STANDALONE = [
    "Albert", "Alexandra", "Beaconsfield", "Brunel", "Byron", "Chaucer", "Clarence",
    "Cromwell", "Darwin", "Dickens", "Faraday", "Gladstone", "Grosvenor", "Hamilton",
    "Harcourt", "Jubilee", "Kitchener", "Lansdowne", "Livingstone", "Milton", "Nelson",
    "Newton", "Palmerston", "Raleigh", "Shelley", "Smith", "Stanley", "Tennyson",
    "Trafalgar", "Victoria", "Waterloo", "Wellington", "Windsor", "Cavendish", "Osborne",
    "Salisbury", "Carlton", "Belgrave", "Sandringham", "Balmoral", "Coronation", "Station",
    "Church", "Chapel", "Market", "School", "Mill", "Bridge", "Park", "Manor",
]
_PREFIXES = [
    "Ash", "Elm", "Oak", "Beech", "Birch", "Hazel", "Holly", "Maple", "Willow", "Alder",
    "Cedar", "Rowan", "Thorn", "Fern", "Heath", "Moor", "Kings", "Queens", "Abbey", "Priory",
    "Castle", "Marsh", "Stone", "Fair", "Green", "Long", "Nor", "Wes", "Red", "White",
    "Black", "Sand", "Lark", "Swan", "Wren", "Hart", "Fox", "Bram", "Gold", "Silver",
    "Church", "Mill", "Brook", "Hawk", "Crow",
]
_ENDINGS = ["field", "wood", "ley", "ton", "bury", "ham", "dale", "well", "croft", "mead", "hurst"]
THE_NAMES = [
    "The Grange", "The Maltings", "The Green", "The Drive", "The Crescent", "The Paddock",
    "The Chase", "The Ridgeway", "The Spinney", "The Mews", "The Close", "The Avenue",
    "The Parade", "The Hollow", "The Rise", "The Glade", "The Orchard", "The Limes",
    "The Cedars", "The Pines",
]
# (full, abbreviation, second abbreviation)
SUFFIXES = [
    ("Street", "St", "Str"), ("Road", "Rd", "Rd."), ("Avenue", "Ave", "Av"),
    ("Lane", "Ln", "La"), ("Gardens", "Gdns", "Gdn"), ("Place", "Pl", "Pl."),
    ("Crescent", "Cres", "Cresc"), ("Terrace", "Terr", "Ter"), ("Close", "Cl", "Cl."),
    ("Grove", "Gro", "Gr"), ("Drive", "Dr", "Drv"), ("Way", "Wy", "Way"),
    ("Walk", "Wlk", "Wk"), ("Mews", "Mws", "Mews"), ("Court", "Ct", "Crt"),
    ("Rise", "Rse", "Rise"), ("Hill", "Hl", "Hill"), ("Park", "Pk", "Pk."),
]
FLAT_LETTERS = [chr(ord("A") + i) for i in range(26)]


def street_stems(rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """All street stems ("Ashfield", "Nelson", "The Grange") and one misspelling of each."""
    stems = sorted(set(_STANDALONE) | {p + e for p in _PREFIXES for e in _ENDINGS}) + THE_NAMES
    typos = []
    for stem in stems:
        head, _, word = stem.rpartition(" ")
        i = int(rng.integers(1, max(2, len(word) - 1)))
        if len(word) > 4 and rng.random() < 0.5:
            bad = word[:i] + word[i + 1 :]  # a dropped letter
        else:
            bad = word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :] if i < len(word) else word
        typos.append(f"{head} {bad}".strip())
    return stems, typos


@dataclass(frozen=True)
class AddressStyle:
    """How often a system departs from the canonical spelling, per row (probabilities)."""

    abbreviate: float = 0.0  # "Road" -> "Rd"
    typo: float = 0.0  # a letter dropped or swapped in the street name
    flat_inline: float = 0.0  # "12a" for "Flat A, 12"; "Apartment 3" for "Flat 3"
    flat_after: float = 0.0  # the flat written after the street: "12 Ashfield Road, Flat A" (parts swapped)
    no_commas: float = 0.0
    drop_town: float = 0.0
    drop_postcode_text: float = 0.0  # no postcode in the address text
    postcode_nospace: float = 0.0  # "RB47QX"
    postcode_missing: float = 0.0  # the postcode column is empty
    upper: float = 0.0
    lower: float = 0.0
    # typed by hand, one row at a time (each row its own slip, unlike `typo`'s one misspelling per street)
    varied_typo: float = 0.0  # a letter of the street name dropped, doubled, swapped or hit beside its key
    number_typo: float = 0.0  # two digits of the house number swapped ("21" for "12")
    no_suffix: float = 0.0  # the street's type left out ("12 Ashfield")
    town_typo: float = 0.0  # a letter of the town dropped or swapped
    postcode_typo: float = 0.0  # the postcode's last letter mistyped

    def noisier(self, factor: float, floor: float = 0.0) -> "AddressStyle":
        """The same system on a bad day: every departure `factor` times as likely."""
        return AddressStyle(
            **{f.name: min(0.9, max(floor, getattr(self, f.name) * factor)) for f in fields(self)}
        )


CANONICAL = AddressStyle()


@dataclass
class AddressBook:
    """Per-property address parts (numpy, indexed by property) plus the small text tables."""

    stem_id: np.ndarray  # int32 into stems
    suffix_id: np.ndarray  # int16 into SUFFIXES, -1 for "The ..." names
    number: np.ndarray  # int32 house number
    flat_kind: np.ndarray  # int8: 0 none, 1 lettered (Flat A), 2 numbered (Flat 3)
    flat_no: np.ndarray  # int16: letter index + 1, or flat number
    town_id: np.ndarray  # int16 into towns
    postcode: pa.Array  # "RB4 7QX" per property
    stems: list[str]
    typos: list[str]
    towns: list[str]

    def __post_init__(self) -> None:
        self._stem_text = pa.array([s for pair in zip(self.stems, self.typos) for s in pair])
        self._suffix_text = pa.array([s for triple in SUFFIXES for s in triple] + [None], pa.string())
        labels = [None] + FLAT_LETTERS + [str(i) for i in range(1, 1000)]
        self._labels = pa.array(labels, pa.string())
        self._labels_lower = pc.utf8_lower(self._labels)
        self._towns = pa.array(self.towns)

    # Canonical parts, for the entities table -------------------------------------------

    def street_names(self, rows: np.ndarray | None = None) -> pa.Array:
        rows = _all(rows, len(self.number))
        stem = self._stem_text.take(pa.array(self.stem_id[rows].astype(np.int64) * 2))
        return pc.binary_join_element_wise(stem, self._suffix(rows, np.zeros(len(rows), np.int64)), " ",
                                           null_handling="skip")

    def flat_labels(self, rows: np.ndarray | None = None) -> pa.Array:
        rows = _all(rows, len(self.number))
        return pc.binary_join_element_wise("Flat", self._label(rows), " ", null_handling="emit_null")

    def town_names(self, rows: np.ndarray | None = None) -> pa.Array:
        return self._towns.take(pa.array(self.town_id[_all(rows, len(self.number))]))

    # Rendering -----------------------------------------------------------------------------

    def render(
        self,
        rows: np.ndarray,
        keys: np.ndarray,
        style: AddressStyle = CANONICAL,
        messy: np.ndarray | None = None,
        messy_style: AddressStyle | None = None,
    ) -> tuple[pa.Array, pa.Array]:
        """Address text and postcode for property indices `rows`, spelt per `style`.

        Rows where `messy` is true use `messy_style` instead (systems whose records never
        matched the gazetteer tend to be the ones typed carelessly).
        """

        def flag(name: str, salt: int) -> np.ndarray:
            p = getattr(style, name)
            if messy is not None and messy_style is not None:
                p = np.where(messy, getattr(messy_style, name), p)
            return uniform(keys, salt) < p

        n = len(rows)
        typo = flag("typo", 1)
        stem = self._stem_text.take(pa.array(self.stem_id[rows].astype(np.int64) * 2 + typo))
        stem = _slips(stem, flag("varied_typo", 13) & ~typo, keys, 14, _mistype)
        which = np.where(flag("abbreviate", 2), 1 + (uniform(keys, 3) < 0.5), 0)
        suffix = self._suffix(rows, which)
        suffix = pc.if_else(pa.array(flag("no_suffix", 15) & (self.suffix_id[rows] >= 0)), pa.nulls(n, pa.string()),
                            suffix)
        street = pc.binary_join_element_wise(stem, suffix, " ", null_handling="skip")

        kind = self.flat_kind[rows]
        inline = flag("flat_inline", 4)
        number = pa.array(self.number[rows]).cast(pa.string())
        number = _slips(number, flag("number_typo", 16) & (self.number[rows] >= 10), keys, 17, _swap_digits)
        word = pa.array(np.where((kind == 2) & inline, np.where(uniform(keys, 5) < 0.5, "Apartment", "Apt"), "Flat"))
        phrase = pc.binary_join_element_wise(word, self._label(rows), " ", null_handling="emit_null")
        premise = pc.binary_join_element_wise(phrase, number, ", ", null_handling="skip")
        lower_letter = uniform(keys, 6) < 0.6
        suffix_letter = pc.if_else(pa.array(lower_letter), self._label(rows, lower=True), self._label(rows))
        glued = pc.binary_join_element_wise(number, suffix_letter, "", null_handling="emit_null")
        premise = pc.if_else(pa.array((kind == 1) & inline), glued, premise)

        after = (kind > 0) & ~((kind == 1) & inline) & flag("flat_after", 22)
        premise = pc.if_else(pa.array(after), number, premise)
        line = pc.binary_join_element_wise(premise, street, " ", null_handling="skip")
        line = pc.if_else(pa.array(after), pc.binary_join_element_wise(line, phrase, ", ", null_handling="skip"), line)
        town = self._towns.take(pa.array(self.town_id[rows]))
        town = _slips(town, flag("town_typo", 18), keys, 19, _mistype)
        town = pc.if_else(pa.array(flag("drop_town", 7)), pa.nulls(n, pa.string()), town)
        line = pc.binary_join_element_wise(line, town, ", ", null_handling="skip")

        postcode = self.postcode.take(pa.array(rows))
        postcode = _slips(postcode, flag("postcode_typo", 20), keys, 21, _mistype_unit)
        postcode = pc.if_else(pa.array(flag("postcode_nospace", 8)), pc.replace_substring(postcode, " ", ""), postcode)
        in_text = pc.if_else(pa.array(flag("drop_postcode_text", 9)), pa.nulls(n, pa.string()), postcode)
        line = pc.binary_join_element_wise(line, in_text, " ", null_handling="skip")
        line = pc.if_else(pa.array(flag("no_commas", 10)), pc.replace_substring(line, ",", ""), line)

        u = uniform(keys, 11)
        p_upper, p_lower = style.upper, style.lower
        if messy is not None and messy_style is not None:
            p_upper = np.where(messy, messy_style.upper, style.upper)
            p_lower = np.where(messy, messy_style.lower, style.lower)
        upper = pa.array(u < p_upper)
        lower = pa.array((u >= p_upper) & (u < p_upper + p_lower))
        line = pc.if_else(upper, pc.utf8_upper(line), pc.if_else(lower, pc.utf8_lower(line), line))
        postcode = pc.if_else(lower, pc.utf8_lower(postcode), postcode)
        postcode = pc.if_else(pa.array(flag("postcode_missing", 12)), pa.nulls(n, pa.string()), postcode)
        return line, postcode

    def _suffix(self, rows: np.ndarray, which: np.ndarray) -> pa.Array:
        sid = self.suffix_id[rows].astype(np.int64)
        idx = np.where(sid < 0, len(SUFFIXES) * 3, sid * 3 + which)
        return self._suffix_text.take(pa.array(idx))

    def _label(self, rows: np.ndarray, lower: bool = False) -> pa.Array:
        kind = self.flat_kind[rows]
        no = self.flat_no[rows].astype(np.int64)
        idx = np.where(kind == 0, 0, np.where(kind == 1, no, 26 + np.minimum(no, 999)))
        return (self._labels_lower if lower else self._labels).take(pa.array(idx))


_KEYBOARD = {c: n for row in ("qwertyuiop", "asdfghjkl", "zxcvbnm") for c, n in zip(row, row[1:] + row[-2])}


def _slips(text: pa.Array, where: np.ndarray, keys: np.ndarray, salt: int, slip) -> pa.Array:
    """`text` with `slip(value, u)` applied where `where` is true; u is the row's own uniform draw, so
    a duplicated row slips the same way."""
    idx = np.flatnonzero(where)
    if not len(idx):
        return text
    u = uniform(keys[idx], salt)
    changed = [slip(v, x) if v else v for v, x in zip(text.take(pa.array(idx)).to_pylist(), u.tolist())]
    mask = np.zeros(len(text), dtype=bool)
    mask[idx] = True
    return pc.replace_with_mask(text, pa.array(mask), pa.array(changed, pa.string()))


def _mistype(word: str, u: float) -> str:
    """One slip of the hand inside a word: a letter dropped, doubled, swapped with the next, or the key beside it."""
    letters = [i for i, c in enumerate(word) if c.isalpha()][1:-1]  # the first and last letters stay
    if not letters:
        return word
    i = letters[int(u * len(letters)) % len(letters)]
    kind = int(u * 4 * len(letters)) % 4
    if kind == 0:
        return word[:i] + word[i + 1:]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    if kind == 2 and word[i + 1].isalpha():
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    near = _KEYBOARD.get(word[i].lower(), word[i])
    return word[:i] + (near.upper() if word[i].isupper() else near) + word[i + 1:]


def _swap_digits(number: str, u: float) -> str:
    """Two neighbouring digits of a house number swapped ("12" -> "21"); "11" stays as it is."""
    i = int(u * (len(number) - 1))
    return number[:i] + number[i + 1] + number[i] + number[i + 2:]


def _mistype_unit(postcode: str, u: float) -> str:
    """The postcode's last letter replaced by another."""
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    last = postcode[-1]
    other = letters[(letters.find(last) + 1 + int(u * (len(letters) - 1))) % len(letters)]
    return postcode[:-1] + other


def _all(rows: np.ndarray | None, n: int) -> np.ndarray:
    return np.arange(n) if rows is None else rows
