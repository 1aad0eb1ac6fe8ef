"""Tests for tessera.vouchers.codes: pure Python, no database, no Django."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.vouchers import codes
from tessera.vouchers.codes import (
    ALPHABET,
    DEFAULT_LENGTH,
    MAX_PREFIX,
    MAX_TOTAL,
    MIN_IMPORTED,
    MIN_LENGTH,
    InvalidCode,
    InvalidPrefix,
    MalformedCode,
    MistypedCode,
    check_symbol,
    format_code,
    generate,
    imported_key,
    imported_keys,
    is_well_formed,
    normalize,
    normalize_imported,
    normalize_prefix,
    parse,
    random_bits,
)

SYMBOL = f"[{ALPHABET}]"
LARGE_DRAW = 200_000
SEPARATORS = ["", "", " ", "-", "\t", "\u00a0", "\u2013"]  # nothing, mostly


@st.composite
def valid_codes(draw: st.DrawFn) -> tuple[str, int]:
    """A valid normalised code of any legal shape, and the length of its prefix."""
    prefix = draw(st.text(ALPHABET, max_size=MAX_PREFIX))
    length = draw(st.integers(MIN_LENGTH, MAX_TOTAL - len(prefix)))
    body = draw(st.text(ALPHABET, min_size=length - 1, max_size=length - 1))
    return prefix + body + check_symbol(prefix + body), len(prefix)


def mangle(data: st.DataObject, code: str) -> str:
    """Retype a code the way people do: any case, look-alike letters, stray separators."""
    typed = []
    for symbol in code:
        if symbol == "0":
            symbol = data.draw(st.sampled_from("0Oo"))
        elif symbol == "1":
            symbol = data.draw(st.sampled_from("1IiLl"))
        elif data.draw(st.booleans()):
            symbol = symbol.lower()
        typed.append(symbol + data.draw(st.sampled_from(SEPARATORS)))
    return " " + "".join(typed) + "\n"


@pytest.fixture(scope="module")
def large_draw() -> list[str]:
    return generate(LARGE_DRAW)


class RepeatingEntropy:
    """Returns the same byte over and over for the first calls, then real randomness."""

    def __init__(self, repeated_calls: int) -> None:
        self.repeated_calls = repeated_calls
        self.calls = 0

    def __call__(self, size: int) -> bytes:
        self.calls += 1
        if self.calls <= self.repeated_calls:
            return b"\x07" * size
        return os.urandom(size)


# The code every draw from a constant 0x07 source consists of.
SEVENS = "7" * 15 + check_symbol("7" * 15)
LETTERS = "ABCDEFGHJKMNPQR" + check_symbol("ABCDEFGHJKMNPQR")


class TestCheckSymbol:
    # Expected values worked out by hand in GF(32) with x^5 = x^2 + 1:
    # a 1 at distance i from the check symbol contributes alpha^i = x^i.
    @pytest.mark.parametrize(
        ("symbols", "expected"),
        [
            ("", "0"),  # nothing to cancel
            ("000000000000000", "0"),
            ("1", "2"),  # x
            ("10", "4"),  # x^2
            ("11", "6"),  # x^2 + x
            ("10000", "5"),  # x^5 = x^2 + 1
            ("100000", "A"),  # x^6 = x^3 + x = 10
            ("1" + "0" * 29, "J"),  # x^30 = x^-1 = x^4 + x = 18
        ],
    )
    def test_matches_values_computed_by_hand(self, symbols: str, expected: str) -> None:
        assert check_symbol(symbols) == expected

    def test_completes_any_symbols_into_a_valid_code(self) -> None:
        body = "SPR1NG" + ALPHABET[:15]
        assert is_well_formed(body + check_symbol(body))

    def test_refuses_symbols_outside_the_alphabet(self) -> None:
        with pytest.raises(MalformedCode):
            check_symbol("abc")

    def test_refuses_more_symbols_than_it_can_protect(self) -> None:
        with pytest.raises(MalformedCode):
            check_symbol("0" * MAX_TOTAL)


class TestNormalize:
    def test_upper_cases_and_drops_spaces_and_dashes(self) -> None:
        assert normalize(" ab-cd ef\tgh\njk ") == "ABCDEFGHJK"

    def test_reads_o_as_zero(self) -> None:
        assert normalize("OoO0") == "0000"

    def test_reads_i_and_l_as_one(self) -> None:
        assert normalize("IiLl1") == "11111"

    def test_drops_typographic_dashes_and_unicode_spaces(self) -> None:
        assert normalize("AB\u2013CD\u2014EF\u00a0GH\u2212JK") == "ABCDEFGHJK"

    @pytest.mark.parametrize("text", ["U", "u", "ABCU", "AB!", "AB_C", "AB.C", "é", "AB\x00"])
    def test_rejects_characters_no_code_contains(self, text: str) -> None:
        with pytest.raises(MalformedCode):
            normalize(text)

    @pytest.mark.parametrize("text", ["\u00df", "\u017f", "\u0131", "\ufb00"])
    def test_does_not_let_unicode_case_mapping_invent_symbols(self, text: str) -> None:
        # sharp s, long s, dotless i, ff ligature: str.upper() makes SS, S, I, FF.
        with pytest.raises(MalformedCode):
            normalize(text)

    def test_names_the_offending_character(self) -> None:
        with pytest.raises(MalformedCode, match="'U'"):
            normalize("ABCU")


class TestParse:
    def test_returns_a_generated_code_unchanged(self) -> None:
        for code in generate(100):
            assert parse(code) == code

    def test_reads_back_the_display_form(self) -> None:
        for code in generate(100, prefix="spring"):
            assert parse(format_code(code, prefix_length=6)) == code

    @settings(max_examples=100)
    @given(valid_codes(), st.data())
    def test_reads_back_codes_retyped_by_people(self, code_and_prefix: tuple[str, int], data: st.DataObject) -> None:
        code, _ = code_and_prefix
        assert parse(mangle(data, code)) == code

    @settings(max_examples=100)
    @given(valid_codes(), st.integers(1, 8))
    def test_reads_back_any_display_grouping(self, code_and_prefix: tuple[str, int], group: int) -> None:
        code, prefix_length = code_and_prefix
        assert parse(format_code(code, prefix_length=prefix_length, group=group)) == code

    def test_rejects_a_code_one_symbol_too_short_even_with_a_valid_check(self) -> None:
        body = "7" * (MIN_LENGTH - 2)
        with pytest.raises(MalformedCode, match=r"16 to 31 symbols, this has 15"):
            parse(body + check_symbol(body))

    def test_rejects_a_code_one_symbol_too_long(self) -> None:
        with pytest.raises(MalformedCode, match="this has 32"):
            parse("7" * (MAX_TOTAL + 1))

    def test_rejects_empty_input(self) -> None:
        with pytest.raises(MalformedCode):
            parse("  -  ")

    def test_rejects_huge_input_without_normalising_it(self) -> None:
        with pytest.raises(MalformedCode, match="far too long"):
            parse(" " * 1_000_000 + generate(1)[0])

    def test_reports_a_wrong_check_symbol_as_a_typo(self) -> None:
        code = generate(1)[0]
        wrong = ALPHABET[(ALPHABET.index(code[-1]) + 1) % 32]
        with pytest.raises(MistypedCode, match="typo"):
            parse(code[:-1] + wrong)

    def test_errors_are_value_errors_with_a_common_base(self) -> None:
        assert issubclass(MalformedCode, InvalidCode)
        assert issubclass(MistypedCode, InvalidCode)
        assert issubclass(InvalidCode, ValueError)
        assert not issubclass(MalformedCode, MistypedCode)


class TestIsWellFormed:
    def test_accepts_a_normalised_valid_code(self) -> None:
        assert is_well_formed(LETTERS)

    def test_accepts_generated_codes(self) -> None:
        assert all(is_well_formed(code) for code in generate(100, prefix="X", length=20))

    @pytest.mark.parametrize(
        "code",
        [
            "",
            "7" * 14 + check_symbol("7" * 14),  # too short
            "7" * 32,  # too long
            LETTERS.lower(),  # not normalised
            "U" + LETTERS[1:],
            LETTERS[:-1] + ALPHABET[(ALPHABET.index(LETTERS[-1]) + 1) % 32],
        ],
    )
    def test_rejects_what_parse_would_reject(self, code: str) -> None:
        assert not is_well_formed(code)


class TestTypoDetection:
    @settings(max_examples=60, deadline=None)
    @given(valid_codes())
    def test_every_single_symbol_substitution_is_caught(self, code_and_prefix: tuple[str, int]) -> None:
        code, _ = code_and_prefix
        for position, original in enumerate(code):
            for typo in ALPHABET.replace(original, ""):
                with pytest.raises(MistypedCode):
                    parse(code[:position] + typo + code[position + 1 :])

    @settings(max_examples=100, deadline=None)
    @given(valid_codes())
    def test_every_swap_of_neighbouring_different_symbols_is_caught(self, code_and_prefix: tuple[str, int]) -> None:
        code, _ = code_and_prefix
        for left in range(len(code) - 1):
            if code[left] != code[left + 1]:
                with pytest.raises(MistypedCode):
                    parse(swap(code, left, left + 1))

    @settings(max_examples=60, deadline=None)
    @given(valid_codes())
    def test_every_swap_of_any_two_different_symbols_is_caught(self, code_and_prefix: tuple[str, int]) -> None:
        code, _ = code_and_prefix
        for left in range(len(code)):
            for right in range(left + 1, len(code)):
                if code[left] != code[right]:
                    with pytest.raises(MistypedCode):
                        parse(swap(code, left, right))

    def test_typos_in_the_prefix_of_generated_codes_are_caught(self) -> None:
        for code in generate(20, prefix="SPRING"):
            with pytest.raises(MistypedCode):
                parse("SPRINC" + code[6:])
            with pytest.raises(MistypedCode):
                parse("PSR1NG" + code[6:])

    def test_the_longest_codes_have_distinct_weights_at_both_ends(self) -> None:
        # Positions 0 and 30 are the pair a weight cycle of 31 would confuse first.
        body = "1" + "0" * (MAX_TOTAL - 2)
        code = body + check_symbol(body)
        with pytest.raises(MistypedCode):
            parse(swap(code, 0, MAX_TOTAL - 1))


def swap(code: str, left: int, right: int) -> str:
    symbols = list(code)
    symbols[left], symbols[right] = symbols[right], symbols[left]
    return "".join(symbols)


class TestGenerate:
    def test_a_large_draw_has_no_duplicates(self, large_draw: list[str]) -> None:
        assert len(large_draw) == LARGE_DRAW
        assert len(set(large_draw)) == LARGE_DRAW

    def test_a_large_draw_is_well_formed_and_normalised(self, large_draw: list[str]) -> None:
        pattern = re.compile(f"{SYMBOL}{{{DEFAULT_LENGTH}}}")
        assert all(pattern.fullmatch(code) for code in large_draw)
        assert all(is_well_formed(code) for code in large_draw)

    def test_every_position_uses_every_symbol_equally_often(self, large_draw: list[str]) -> None:
        # 6250 expected per symbol and position, standard deviation about 78:
        # 10% off is 8 standard deviations, so this fails only for a real bias.
        expected = LARGE_DRAW / len(ALPHABET)
        for position in range(DEFAULT_LENGTH):
            counts = Counter(code[position] for code in large_draw)
            assert set(counts) == set(ALPHABET)
            assert all(abs(n - expected) < expected / 10 for n in counts.values())

    @pytest.mark.parametrize("length", [MIN_LENGTH, 20, MAX_TOTAL])
    def test_makes_codes_of_the_requested_length(self, length: int) -> None:
        drawn = generate(50, length=length)
        assert {len(code) for code in drawn} == {length}
        assert all(is_well_formed(code) for code in drawn)

    def test_puts_the_normalised_prefix_in_front(self) -> None:
        drawn = generate(50, prefix="spring")
        assert all(code.startswith("SPR1NG") and len(code) == 22 for code in drawn)
        assert all(is_well_formed(code) for code in drawn)

    def test_a_full_length_prefixed_code_fits_exactly(self) -> None:
        (code,) = generate(1, length=MAX_TOTAL - MAX_PREFIX, prefix="Z" * MAX_PREFIX)
        assert len(code) == MAX_TOTAL
        assert parse(code) == code

    def test_zero_codes_is_an_empty_list(self) -> None:
        assert generate(0) == []

    @pytest.mark.parametrize("byte", [0x00, 0x07, 0x1F, 0x20, 0xC8, 0xFF])
    def test_maps_each_random_byte_to_a_symbol_by_its_low_five_bits(
        self, byte: int, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(codes, "_random_bytes", lambda size: bytes([byte]) * size)
        (code,) = generate(1)
        assert code[:-1] == ALPHABET[byte & 31] * (DEFAULT_LENGTH - 1)
        assert is_well_formed(code)

    def test_replaces_duplicates_within_a_draw(self, monkeypatch: pytest.MonkeyPatch) -> None:
        entropy = RepeatingEntropy(repeated_calls=1)
        monkeypatch.setattr(codes, "_random_bytes", entropy)
        drawn = generate(50)
        assert entropy.calls == 2  # the first draw was 50 copies of one code
        assert len(set(drawn)) == 50
        assert drawn.count(SEVENS) == 1
        assert all(is_well_formed(code) for code in drawn)

    def test_replacements_do_not_repeat_codes_of_earlier_draws(self, monkeypatch: pytest.MonkeyPatch) -> None:
        entropy = RepeatingEntropy(repeated_calls=3)
        monkeypatch.setattr(codes, "_random_bytes", entropy)
        drawn = generate(50)
        assert entropy.calls == 4  # two top-ups only repeated the first code
        assert len(set(drawn)) == 50
        assert drawn.count(SEVENS) == 1

    def test_gives_up_on_an_entropy_source_that_only_repeats(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(codes, "_random_bytes", RepeatingEntropy(repeated_calls=10**9))
        with pytest.raises(RuntimeError, match="repeating"):
            generate(2)

    def test_never_imports_django_or_random(self) -> None:
        probe = (
            "import sys, tessera.vouchers.codes; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'random')))"
        )
        result = subprocess.run(  # noqa: S603 - fixed command, our own interpreter
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True
        )
        assert result.stdout.strip() == "[]"


class TestGenerateArguments:
    def test_rejects_a_negative_count(self) -> None:
        with pytest.raises(ValueError, match="count"):
            generate(-1)

    def test_rejects_fewer_than_75_random_bits(self) -> None:
        with pytest.raises(ValueError, match="at least 16"):
            generate(1, length=MIN_LENGTH - 1)

    def test_rejects_a_prefix_and_length_longer_than_31(self) -> None:
        with pytest.raises(ValueError, match="at most 31"):
            generate(1, length=MAX_TOTAL - 2, prefix="ABC")

    def test_rejects_a_prefix_that_no_code_could_carry(self) -> None:
        with pytest.raises(InvalidPrefix):
            generate(1, prefix="SUMMER")


class TestFastPathEqualsReference:
    def test_bulk_check_symbols_equal_the_reference(self, large_draw: list[str]) -> None:
        assert all(code[-1] == check_symbol(code[:-1]) for code in large_draw)

    @settings(max_examples=50, deadline=None)
    @given(
        prefix=st.text(ALPHABET, max_size=MAX_PREFIX),
        extra=st.integers(0, MAX_TOTAL - MIN_LENGTH),
    )
    def test_holds_for_every_prefix_and_length(self, prefix: str, extra: int) -> None:
        length = min(MIN_LENGTH + extra, MAX_TOTAL - len(prefix))
        for code in generate(200, length=length, prefix=prefix):
            assert code.startswith(prefix)
            assert len(code) == len(prefix) + length
            assert code[-1] == check_symbol(code[:-1])


class TestNormalizePrefix:
    @pytest.mark.parametrize(
        ("prefix", "expected"),
        [("", ""), ("spring", "SPR1NG"), ("a-b c", "ABC"), ("Z" * MAX_PREFIX, "Z" * MAX_PREFIX)],
    )
    def test_normalises_like_a_code(self, prefix: str, expected: str) -> None:
        assert normalize_prefix(prefix) == expected

    def test_rejects_more_than_eight_symbols(self) -> None:
        with pytest.raises(InvalidPrefix, match="at most 8"):
            normalize_prefix("SPRING-2026")

    @pytest.mark.parametrize("prefix", ["SUMMER", "ÜBER", "A_B"])
    def test_rejects_characters_no_code_contains(self, prefix: str) -> None:
        with pytest.raises(InvalidPrefix):
            normalize_prefix(prefix)

    def test_invalid_prefix_is_a_value_error_but_not_an_invalid_code(self) -> None:
        assert issubclass(InvalidPrefix, ValueError)
        assert not issubclass(InvalidPrefix, InvalidCode)


class TestFormatCode:
    def test_groups_a_plain_code_in_fours(self) -> None:
        assert format_code("ABCDEFGHJKMNPQRS") == "ABCD-EFGH-JKMN-PQRS"

    def test_sets_the_prefix_apart(self) -> None:
        code = "SPR1NG" + "ABCDEFGHJKMNPQRS"
        assert format_code(code, prefix_length=6) == "SPR1NG-ABCD-EFGH-JKMN-PQRS"

    def test_generated_codes_display_in_four_groups(self) -> None:
        pattern = re.compile(f"{SYMBOL}{{4}}(-{SYMBOL}{{4}}){{3}}")
        assert all(pattern.fullmatch(format_code(code)) for code in generate(100))

    def test_a_last_short_group_stays_short(self) -> None:
        assert format_code("ABCDEFGHJ", group=4) == "ABCD-EFGH-J"

    @pytest.mark.parametrize(("prefix_length", "group"), [(-1, 4), (17, 4), (0, 0)])
    def test_rejects_impossible_layouts(self, prefix_length: int, group: int) -> None:
        with pytest.raises(ValueError, match="must be"):
            format_code("ABCDEFGHJKMNPQRS", prefix_length=prefix_length, group=group)


class TestRandomBits:
    def test_a_default_code_has_75_random_bits(self) -> None:
        assert random_bits(DEFAULT_LENGTH) == 75

    def test_every_symbol_but_the_check_carries_five_bits(self) -> None:
        assert [random_bits(n) for n in (1, 2, 16, 31)] == [0, 5, 75, 150]

    def test_rejects_a_length_without_room_for_the_check_symbol(self) -> None:
        with pytest.raises(ValueError, match="at least 1"):
            random_bits(0)


class TestImportedKey:
    def test_upper_cases_and_drops_whitespace_and_dashes(self) -> None:
        assert imported_key(" summer-24 \tab\u2013cd\u00a0") == "SUMMER24ABCD"

    def test_keeps_look_alikes_as_given(self) -> None:
        assert imported_key("boil-o-1l") == "BOILO1L"

    def test_keeps_every_letter_our_alphabet_leaves_out(self) -> None:
        assert imported_key("iluo-IULO") == "ILUOIULO"

    @pytest.mark.parametrize("text", ["AB_CD12", "ABC.123", "ÄBCDEF", "ABCDE\x00F", "ABC/123", "\u00dfABCDEF"])
    def test_refuses_anything_but_letters_and_digits_naming_it(self, text: str) -> None:
        with pytest.raises(MalformedCode, match="letters A to Z and digits only"):
            imported_key(text)

    def test_names_the_offending_character(self) -> None:
        with pytest.raises(MalformedCode, match="'_'"):
            imported_key("AB_CD12")

    @pytest.mark.parametrize("length", [0, 1, MIN_IMPORTED - 1, MAX_TOTAL + 1, 60])
    def test_refuses_a_length_no_code_has(self, length: int) -> None:
        with pytest.raises(MalformedCode, match=f"{MIN_IMPORTED} to {MAX_TOTAL} letters and digits"):
            imported_key("A" * length)

    def test_refuses_far_too_long_input_before_looking_at_it(self) -> None:
        with pytest.raises(MalformedCode, match="far too long"):
            imported_key("-" * 129)

    @pytest.mark.parametrize("length", [MIN_IMPORTED, MAX_TOTAL])
    def test_takes_the_shortest_and_the_longest_code(self, length: int) -> None:
        assert imported_key("X" * length) == "X" * length

    def test_a_code_that_reads_as_one_of_ours_is_stored_as_parse_reads_it(self) -> None:
        ours = "0ABCDEF1GHJKMNP" + check_symbol("0ABCDEF1GHJKMNP")
        typed = ours.lower().replace("0", "o").replace("1", "l")
        assert imported_key(typed) == parse(typed) == ours

    @given(st.data(), valid_codes())
    def test_equals_parse_wherever_parse_accepts(self, data: st.DataObject, valid: tuple[str, int]) -> None:
        typed = mangle(data, valid[0])
        assert imported_key(typed) == parse(typed)

    @given(st.text("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcxyzilou -", max_size=40))
    def test_is_parse_or_the_text_upper_cased_without_separators(self, text: str) -> None:
        try:
            expected = parse(text)
        except InvalidCode:
            expected = text.replace(" ", "").replace("-", "").upper()
            if not MIN_IMPORTED <= len(expected) <= MAX_TOTAL:
                with pytest.raises(MalformedCode):
                    imported_key(text)
                return
        assert imported_key(text) == expected

    def test_a_key_is_its_own_key(self) -> None:
        for text in ["summer-24", "ABCD-EFGH-JKMN-PQR" + check_symbol("ABCDEFGHJKMNPQR")]:
            key = imported_key(text)
            assert imported_key(key) == key


class TestImportedKeys:
    @given(st.lists(st.text("0123456789ABCDEFGHJKMNPQRSTVWXYZabciloU -_", max_size=24), max_size=30))
    def test_gives_what_imported_key_gives_text_by_text(self, texts: list[str]) -> None:
        for text, key in zip(texts, imported_keys(texts), strict=True):
            try:
                expected: str | type[MalformedCode] = imported_key(text)
            except MalformedCode:
                expected = MalformedCode
            assert key == expected if isinstance(expected, str) else isinstance(key, MalformedCode)

    def test_finds_codes_that_read_as_ours_among_many_of_one_length(self) -> None:
        ours = generate(500, length=20)
        others = [code[:-1] + ("U" if code[-1] != "U" else "X") for code in ours]
        keys = imported_keys([code.lower() for code in ours] + others)
        assert keys == ours + others

    def test_a_refusal_is_given_in_its_place(self) -> None:
        keys = imported_keys(["SUMMER-01", "AB_CD12", "SUMMER-02"])
        assert keys[0::2] == ["SUMMER01", "SUMMER02"]
        assert isinstance(keys[1], MalformedCode)
        assert "'_'" in str(keys[1])


class TestNormalizeImported:
    def test_upper_cases_drops_separators_and_keeps_look_alikes(self) -> None:
        assert normalize_imported(" su-mo ") == "SUMO"

    def test_takes_any_length_even_none(self) -> None:
        assert normalize_imported("") == ""

    def test_refuses_anything_but_letters_and_digits(self) -> None:
        with pytest.raises(MalformedCode, match="'#'"):
            normalize_imported("AB#")
