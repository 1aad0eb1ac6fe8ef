"""Voucher codes: generation, check symbol, normalisation and display.

Pure standard library, no Django, no database: everything here runs before any
lookup, so a mistyped code is rejected without touching the database.

Alphabet
    Crockford base32, ``0123456789ABCDEFGHJKMNPQRSTVWXYZ``. I, L, O and U are
    left out because they are easily confused (I/L/1, O/0) or spell words (U).
    A symbol's value is its index in ``ALPHABET`` (0..31, five bits).

Shape
    A normalised code is ``prefix + random symbols + one check symbol``:
    upper case, no separators. The prefix (0..``MAX_PREFIX`` symbols) names a
    campaign and carries no randomness. ``length`` counts the random symbols
    plus the check symbol, so a code has ``random_bits(length) == 5 * (length - 1)``
    random bits: 75 at ``DEFAULT_LENGTH == MIN_LENGTH == 16``. A whole code is at
    most ``MAX_TOTAL == 31`` symbols, which is what the check symbol can protect.

Randomness
    Every random symbol comes from the operating system's CSPRNG (``os.urandom``)
    and never from ``random``. A random byte maps to ``ALPHABET[byte & 31]``;
    256 is a multiple of 32, so every symbol is exactly equally likely.

Check symbol
    Arithmetic in GF(32), the field of 32 elements built with the primitive
    polynomial x^5 + x^2 + 1; addition is XOR. Number the symbols of a code from
    the right, starting at 0 for the check symbol, and give position i the
    weight alpha^i, alpha being the primitive element x (the value 2). The check
    symbol is chosen so that a valid code v_0..v_{n-1} satisfies

        sum_i alpha^i * v_i == 0        (in GF(32))

    The check symbol has weight alpha^0 == 1, so it is simply the weighted sum
    of all other symbols (in characteristic 2, minus is plus). The prefix is
    covered like every other symbol.

    Why every single-symbol substitution is caught: replacing a by b != a at
    position i changes the sum by w_i * (a + b). A field has no zero divisors,
    w_i is non-zero and a + b is non-zero, so the sum is no longer zero.

    Why every transposition is caught, adjacent or not: swapping a != b at
    positions i != j changes the sum by w_i*a + w_j*b + w_i*b + w_j*a, which is
    (w_i + w_j) * (a + b). The weights alpha^0..alpha^30 are distinct because
    alpha has order 31, so w_i + w_j != 0, and again the product is non-zero.
    That is why codes are at most 31 symbols long.

    A dropped or doubled symbol changes the length; if the result is still a
    legal length, it slips past the check with probability 1/32 and is then
    stopped by the database lookup, because no such code was issued.

Normalisation
    People read codes aloud, retype them and paste them from emails: case is
    ignored, whitespace and dashes are ignored, O is read as 0, and I and L as 1.
    Anything else (U included) is not part of any code: ``MalformedCode``.

Imported codes
    Codes made elsewhere (printed or sold by a reseller) are imported as given, with no check
    symbol: ``imported_key`` is how one is stored and looked up. Case is ignored and whitespace
    and dashes are dropped, as for our codes; what remains must be 6 to 31 ASCII letters and
    digits (31: the width of the code column). Look-alikes are not merged: O stays O, since the
    issuer's codes may hold both O and 0 as different codes.

    One exception keeps the two kinds apart and the redemption's lookup single: a given code
    that ``parse`` accepts (a string of our alphabet with a valid check symbol, which 1 in 32
    such strings of 16 to 31 symbols is) is stored in ``parse``'s form. A typed code is looked
    up by ``parse`` first and by ``imported_key`` only if ``parse`` refuses it, so both reach
    the same row: ``imported_key`` is ``parse`` wherever ``parse`` succeeds. Every stored code,
    generated or imported, holds only digits and capital letters.

Speed
    ``generate`` makes a million codes in a fraction of a second. There is no
    loop per code: the codes are rows of one byte buffer, and the check symbols
    are computed per column. Column c of all codes is the slice ``rows[c::width]``;
    a 256-entry table turns each symbol into its weighted value, and the XOR of
    all columns is done on big integers, all at C speed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence

__all__ = [
    "ALPHABET",
    "DEFAULT_LENGTH",
    "MAX_PREFIX",
    "MAX_TOTAL",
    "MIN_IMPORTED",
    "MIN_LENGTH",
    "InvalidCode",
    "InvalidPrefix",
    "MalformedCode",
    "MistypedCode",
    "check_symbol",
    "format_code",
    "generate",
    "imported_key",
    "imported_keys",
    "is_well_formed",
    "normalize",
    "normalize_imported",
    "normalize_prefix",
    "parse",
    "random_bits",
]

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
DEFAULT_LENGTH = 16
MIN_LENGTH = 16
MAX_TOTAL = 31
MAX_PREFIX = 8
# Shorter codes made elsewhere are refused: a six-symbol code of letters and digits is one of
# 2 billion, and shorter ones are too easily guessed, rate limits or not.
MIN_IMPORTED = 6

# The single source of randomness, a module attribute so tests can replace it.
_random_bytes: Callable[[int], bytes] = os.urandom

# A duplicate among 75-bit codes is practically impossible; a long run of them
# means the entropy source is broken, and looping forever would hide that.
_MAX_TOP_UPS = 8

# parse() runs on untrusted input before any database lookup; a display form
# of the longest code is 38 characters, so anything far longer is rejected
# before doing any work on it.
_MAX_INPUT_CHARS = 128

_POLYNOMIAL = 0b100101  # x^5 + x^2 + 1, primitive: x generates all 31 non-zero elements
_ALPHA = 0b00010  # the element x


class InvalidCode(ValueError):
    """The text is not a voucher code."""


class MalformedCode(InvalidCode):
    """The text has characters no code contains, or a length no code has."""


class MistypedCode(InvalidCode):
    """The text looks like a code but its check symbol does not match: a typo."""


class InvalidPrefix(ValueError):
    """A campaign prefix that no code can carry."""


def _gf_multiply(a: int, b: int) -> int:
    """Multiply in GF(32): carry-less multiplication reduced by the polynomial."""
    product = 0
    while b:
        if b & 1:
            product ^= a
        b >>= 1
        a <<= 1
        if a & 0b100000:
            a ^= _POLYNOMIAL
    return product


def _weights() -> list[int]:
    """alpha^0 .. alpha^(MAX_TOTAL - 1): the weight of each position from the right."""
    weights = [1]
    while len(weights) < MAX_TOTAL:
        weights.append(_gf_multiply(weights[-1], _ALPHA))
    return weights


# _WEIGHTED_VALUE[position][symbol] == weight(position) * value(symbol), in GF(32).
_WEIGHTED_VALUE = tuple(
    {symbol: _gf_multiply(weight, value) for value, symbol in enumerate(ALPHABET)} for weight in _weights()
)
_ALPHABET_SET = frozenset(ALPHABET)


def _byte_table(symbol_to_value: dict[str, int]) -> bytes:
    """A bytes.translate table from a symbol's ASCII byte to a value (0 elsewhere)."""
    return bytes(symbol_to_value.get(chr(byte), 0) for byte in range(256))


# The same weighted values as translate tables, for whole columns at once.
_COLUMN_TABLES = tuple(_byte_table(weighted) for weighted in _WEIGHTED_VALUE)
# Random byte -> symbol; uniform because 256 is a multiple of 32.
_BYTE_TO_SYMBOL = bytes(ord(ALPHABET[byte & 31]) for byte in range(256))
# Value 0..31 -> symbol (only the low five bits ever occur).
_VALUE_TO_SYMBOL = _BYTE_TO_SYMBOL

# Whitespace is removed before this table is applied (str.split knows all of it).
_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212"  # ASCII and typographic dashes
_INPUT_TABLE = str.maketrans(
    {
        **{dash: None for dash in _DASHES},
        **{letter: letter.upper() for letter in "abcdefghijklmnopqrstuvwxyz"},
        "O": "0", "o": "0",
        "I": "1", "i": "1",
        "L": "1", "l": "1",
    }
)  # fmt: skip


def normalize(text: str) -> str:
    """Upper-case, drop whitespace and dashes, read O as 0 and I, L as 1.

    Raises MalformedCode for any other character outside the alphabet. Only
    ASCII letters are upper-cased: ``str.upper`` would turn e.g. 'ß' into 'SS'.
    """
    normalised = "".join(text.split()).translate(_INPUT_TABLE)
    unknown = set(normalised) - _ALPHABET_SET
    if unknown:
        shown = ", ".join(repr(char) for char in sorted(unknown))
        raise MalformedCode(
            f"Not a voucher code: it contains {shown}. Codes use only digits and the letters A to Z except U."
        )
    return normalised


def _weighted_sum(symbols: str) -> int:
    """sum of alpha^i * value, i counted from the right end starting at 0."""
    total = 0
    for position, symbol in enumerate(reversed(symbols)):
        total ^= _WEIGHTED_VALUE[position][symbol]
    return total


def check_symbol(symbols: str) -> str:
    """The check symbol to append to a normalised code that lacks it."""
    if len(symbols) >= MAX_TOTAL:
        raise MalformedCode(f"A code has at most {MAX_TOTAL} symbols, check symbol included.")
    if not set(symbols) <= _ALPHABET_SET:
        raise MalformedCode("check_symbol() needs normalised symbols of the code alphabet.")
    # A zero in the check position contributes nothing, so the weighted sum of
    # the others is what the check symbol must cancel (in GF(32), -x == x).
    return ALPHABET[_weighted_sum(symbols + ALPHABET[0])]


def is_well_formed(code: str) -> bool:
    """Whether a normalised code has a legal length, only alphabet symbols and a valid check."""
    return MIN_LENGTH <= len(code) <= MAX_TOTAL and set(code) <= _ALPHABET_SET and _weighted_sum(code) == 0


def parse(text: str) -> str:
    """Normalise user input and validate it; return the normalised code.

    Raises MalformedCode (impossible characters or length) or MistypedCode
    (check symbol mismatch). Cheap by design: it runs before the database lookup.
    """
    if len(text) > _MAX_INPUT_CHARS:
        raise MalformedCode("Not a voucher code: far too long.")
    code = normalize(text)
    if not MIN_LENGTH <= len(code) <= MAX_TOTAL:
        raise MalformedCode(
            f"Not a voucher code: a code has {MIN_LENGTH} to {MAX_TOTAL} symbols, this has {len(code)}."
        )
    if _weighted_sum(code) != 0:
        raise MistypedCode(
            "This code contains a typo: its check symbol does not match. "
            "Please compare it with the original and try again."
        )
    return code


# Imported codes: whitespace is removed first, then dashes are dropped and ASCII letters upper-cased.
_IMPORTED_TABLE = str.maketrans(
    {**{dash: None for dash in _DASHES}, **{letter: letter.upper() for letter in "abcdefghijklmnopqrstuvwxyz"}}
)
_IMPORTED_SYMBOLS = re.compile("[0-9A-Z]*")


def normalize_imported(text: str) -> str:
    """Upper-case ASCII letters, drop whitespace and dashes, keep look-alikes as they are (the
    start of an imported code, say). Raises MalformedCode for anything but letters and digits."""
    normalised = "".join(text.split()).translate(_IMPORTED_TABLE)
    if not _IMPORTED_SYMBOLS.fullmatch(normalised):
        raise _not_importable(normalised)
    return normalised


def imported_key(text: str) -> str:
    """How a code made elsewhere is stored and looked up (see "Imported codes" above): ``parse``'s
    form if ``parse`` accepts it, else upper-cased without whitespace and dashes.

    Raises MalformedCode, saying why, for any character but ASCII letters, digits, whitespace
    and dashes, and for fewer than MIN_IMPORTED or more than MAX_TOTAL symbols.

    Written out rather than calling ``parse`` and catching its refusal; every text ``parse``
    accepts passes the checks here, and the last steps are ``parse``'s own (the test suite holds
    the two to each other).
    """
    key = _imported_form(text)
    if _may_read_as_ours(key):
        generated = _as_ours(key)
        if _weighted_sum(generated) == 0:
            return generated
    return key


def imported_keys(texts: Sequence[str]) -> list[str | MalformedCode]:
    """``imported_key`` of each text, or the MalformedCode it would raise, for a whole file at
    once: the check symbols of the codes that could read as ours are summed column by column,
    as ``generate`` computes them (see "Speed"), not code by code, which took longer than all
    the rest of an import of a million 16-symbol codes."""
    keys: list[str | MalformedCode] = []
    by_length: dict[int, list[int]] = {}  # the places of the keys that could read as ours
    for place, text in enumerate(texts):
        try:
            key = _imported_form(text)
        except MalformedCode as error:
            keys.append(error)
            continue
        keys.append(key)
        if len(key) >= MIN_LENGTH and "U" not in key:  # _may_read_as_ours, without a call per code
            by_length.setdefault(len(key), []).append(place)
    for length, places in by_length.items():
        generated = [_as_ours(keys[place]) for place in places]  # type: ignore[arg-type]
        for place, code, total in zip(places, generated, _weighted_sums(generated, length), strict=True):
            if total == 0:
                keys[place] = code
    return keys


def _imported_form(text: str) -> str:
    """Upper case without whitespace and dashes, or MalformedCode. Plain string methods for ASCII
    text, the usual case: ``str.translate`` with a dict and a regular expression each took longer
    than all of this."""
    if len(text) > _MAX_INPUT_CHARS:
        raise MalformedCode("Not a code: far too long.")
    if text.isascii():
        key = text.upper().replace("-", "")
        if not key.isalnum():  # whitespace, or worse: only then split
            key = "".join(key.split())
    else:
        key = "".join(text.split()).translate(_IMPORTED_TABLE)
    if not (MIN_IMPORTED <= len(key) <= MAX_TOTAL and key.isascii() and key.isalnum()):
        raise _not_importable(key)
    return key


def _may_read_as_ours(key: str) -> bool:
    """Whether parse might accept a valid imported form: long enough and no U (I, L and O it reads
    as 1, 1 and 0); then only the check symbol decides."""
    return len(key) >= MIN_LENGTH and "U" not in key


def _as_ours(key: str) -> str:
    return key.replace("O", "0").replace("I", "1").replace("L", "1")  # parse's look-alikes


def _weighted_sums(codes: Sequence[str], length: int) -> bytes:
    """_weighted_sum of each of `codes` (all of `length` symbols of the alphabet), as one byte each."""
    rows = "".join(codes).encode("ascii")
    total = 0
    for column in range(length):
        weighted = rows[column::length].translate(_COLUMN_TABLES[length - 1 - column])
        total ^= int.from_bytes(weighted, "big")
    return total.to_bytes(len(codes), "big")


def _not_importable(key: str) -> MalformedCode:
    unknown = {char for char in key if not ("0" <= char <= "9" or "A" <= char <= "Z")}
    if unknown:
        shown = ", ".join(repr(char) for char in sorted(unknown))
        return MalformedCode(f"Not a code: it contains {shown}. A code holds letters A to Z and digits only.")
    return MalformedCode(
        f"Not a code: a code has {MIN_IMPORTED} to {MAX_TOTAL} letters and digits, this has {len(key)}."
    )


def normalize_prefix(prefix: str) -> str:
    """Normalise a campaign prefix ('' allowed) like a code; raise InvalidPrefix if unusable."""
    try:
        normalised = normalize(prefix)
    except MalformedCode as error:
        raise InvalidPrefix(
            f"Invalid prefix {prefix!r}: prefixes use only digits and the letters A to Z except U."
        ) from error
    if len(normalised) > MAX_PREFIX:
        raise InvalidPrefix(f"Invalid prefix {prefix!r}: at most {MAX_PREFIX} symbols, not {len(normalised)}.")
    return normalised


def random_bits(length: int) -> int:
    """Random bits in a code of ``length`` symbols (prefix excluded): 5 per symbol but the check."""
    if length < 1:
        raise ValueError(f"length must be at least 1, not {length}")
    return 5 * (length - 1)


def generate(count: int, *, length: int = DEFAULT_LENGTH, prefix: str = "") -> list[str]:
    """``count`` fresh normalised codes, all different from each other.

    ``length`` counts the random symbols and the check symbol; ``prefix`` is
    normalised first (so "spring" becomes "SPR1NG").
    """
    prefix = normalize_prefix(prefix)
    _check_generate_arguments(count, length, prefix)
    codes = _draw(count, length, prefix)
    if len(set(codes)) < count:  # practically never at 75 bits, but never let one slip
        codes = _top_up(codes, count, length, prefix)
    return codes


def _check_generate_arguments(count: int, length: int, prefix: str) -> None:
    if count < 0:
        raise ValueError(f"count must be 0 or more, not {count}")
    if length < MIN_LENGTH:
        raise ValueError(f"length must be at least {MIN_LENGTH} ({random_bits(MIN_LENGTH)} random bits), not {length}")
    if len(prefix) + length > MAX_TOTAL:
        raise ValueError(f"prefix plus length must be at most {MAX_TOTAL} symbols, not {len(prefix)} + {length}")


def _top_up(codes: list[str], count: int, length: int, prefix: str) -> list[str]:
    """Drop duplicates and draw replacements until there are ``count`` distinct codes."""
    unique = dict.fromkeys(codes)  # keeps the first of equal codes, in draw order
    for _ in range(_MAX_TOP_UPS):
        unique.update(dict.fromkeys(_draw(count - len(unique), length, prefix)))
        if len(unique) == count:
            return list(unique)
    raise RuntimeError("The entropy source keeps repeating itself; refusing to issue codes.")


def _draw(count: int, length: int, prefix: str) -> list[str]:
    """``count`` codes at C speed, without a loop per code; duplicates are possible.

    Each code is one row of a byte buffer: prefix, random symbols, check symbol,
    newline. The whole buffer is filled with random symbols first, then the
    prefix, check and newline columns are overwritten; a newline-separated
    text splits into the list of codes in one C call.
    """
    width = len(prefix) + length + 1
    rows = bytearray(_random_bytes(count * width).translate(_BYTE_TO_SYMBOL))
    for column, symbol in enumerate(prefix.encode("ascii")):
        rows[column::width] = bytes([symbol]) * count
    check_column = len(prefix) + length - 1
    rows[check_column::width] = _check_symbols(rows, width, check_column)
    rows[width - 1 :: width] = b"\n" * count
    return rows.decode("ascii").splitlines()


def _check_symbols(rows: bytearray, width: int, check_column: int) -> bytes:
    """The check symbol of every row, computed column by column.

    Each column (all codes' symbol at one position) becomes its weighted
    values via a translate table; one big integer per column makes the XOR of
    a million bytes a single C operation, and XOR is addition in GF(32).
    """
    count = len(rows) // width
    total = 0
    for column in range(check_column):
        position = check_column - column  # from the right; the check symbol is 0
        weighted = rows[column::width].translate(_COLUMN_TABLES[position])
        total ^= int.from_bytes(weighted, "big")
    return total.to_bytes(count, "big").translate(_VALUE_TO_SYMBOL)


def format_code(code: str, *, prefix_length: int = 0, group: int = 4) -> str:
    """Display form: the prefix, then the rest in dash-separated groups.

    ``format_code(code)`` gives XXXX-XXXX-XXXX-XXXX; with a six-symbol prefix,
    SPR1NG-XXXX-XXXX-XXXX-XXXX. ``parse`` reads every display form back.
    """
    if group < 1:
        raise ValueError(f"group must be at least 1, not {group}")
    if not 0 <= prefix_length <= len(code):
        raise ValueError(f"prefix_length must be between 0 and {len(code)}, not {prefix_length}")
    prefix, rest = code[:prefix_length], code[prefix_length:]
    groups = [rest[start : start + group] for start in range(0, len(rest), group)]
    return "-".join([prefix, *groups] if prefix else groups)
