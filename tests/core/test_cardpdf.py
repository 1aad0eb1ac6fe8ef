"""Printable cards: ten to an A4 page, every code in the text, every QR code holding its link."""

import io
import math
import re
import tracemalloc
from collections.abc import Iterator

import pytest

from tessera.core.cardpdf import CARDS_PER_PAGE, FITTED_KEPT, Card, CardsPdf, cards_pdf, write_cards
from tests.pdfs import pdf_pages, pdf_text, qr_codes_on_page


def card(number: int, **fields: str) -> Card:
    code = f"AB{number:02d}-CDEF-GHJK-MNP{number % 10}"
    values = {
        "title": "Python: Spring 2027", "subtitle": "Enrollment (Python spring)", "code": code,
        "expiry": "Redeem by 2027-03-31 00:00 UTC", "how_to": "Scan the QR code, sign in and redeem this code.",
        "link": f"https://tessera.example/redeem?session=python-2027&code={code}",
    }  # fmt: skip
    return Card(**{**values, **fields})


class TestWriteCards:
    @pytest.mark.parametrize("count", [1, 10, 23])
    def test_ten_cards_fill_a_page(self, count: int) -> None:
        pdf = cards_pdf(card(number) for number in range(count))
        assert pdf_pages(pdf) == math.ceil(count / CARDS_PER_PAGE)

    def test_every_code_its_title_and_its_expiry_are_in_the_text(self) -> None:
        cards = [card(number) for number in range(13)]
        text = pdf_text(cards_pdf(cards))
        assert all(each.code in text for each in cards)
        assert "Python: Spring 2027" in text
        assert "Redeem by 2027-03-31 00:00 UTC" in text

    def test_every_qr_code_on_a_page_holds_its_cards_link(self) -> None:
        cards = [card(number) for number in range(12)]
        pdf = cards_pdf(cards)
        assert qr_codes_on_page(pdf, 0) == [each.link for each in cards[:10]]
        assert qr_codes_on_page(pdf, 1) == [each.link for each in cards[10:]]

    def test_no_cards_make_one_empty_page(self) -> None:
        target = io.BytesIO()
        assert write_cards([], target) == 1
        assert pdf_pages(target.getvalue()) == 1

    def test_a_title_the_built_in_fonts_cannot_show_prints_question_marks_rather_than_failing(self) -> None:
        text = pdf_text(cards_pdf([card(1, title="Python \u2013 \u5165\u9580 \u20ac")]))
        assert "Python \u2013 ?? \u20ac" in text  # the en dash and the euro sign are in Windows-1252

    def test_accented_letters_and_the_euro_sign_are_printed_as_they_are(self) -> None:
        text = pdf_text(cards_pdf([card(1, title="Caf\u00e9 f\u00fcr 5 \u20ac (Stra\u00dfe)")]))
        assert "Caf\u00e9 f\u00fcr 5 \u20ac (Stra\u00dfe)" in text

    def test_a_long_title_is_cut_short_and_a_long_code_still_whole(self) -> None:
        long_code = "TESSERA1-" + "-".join(["ABCD"] * 7) + "-X"
        text = pdf_text(cards_pdf([card(1, title="A very long course title " * 5, code=long_code)]))
        assert long_code in text
        assert "A very long course title " * 5 not in text


class _Sink:
    """A file that forgets what is written to it."""

    def write(self, chunk: bytes) -> int:
        return len(chunk)


def numbered_cards(count: int) -> Iterator[Card]:
    for number in range(count):
        code = f"CD{number:06d}-EFGH-JKMN"
        yield card(number, code=code, link=f"https://tessera.example/redeem?session=python-2027&code={code}")


def short_cards(count: int) -> Iterator[Card]:
    """Cards whose links are short, so small QR codes, which segno encodes faster: tracing
    memory slows it fivefold."""
    return (card(number, code=f"{number:06d}", link=f"https://t.example/{number}") for number in range(count))


def traced_peak(count: int) -> int:
    tracemalloc.start()
    try:
        write_cards(short_cards(count), _Sink())
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


class TestStreaming:
    def test_a_page_comes_out_before_the_next_cards_are_read(self) -> None:
        read: list[Card] = []

        def cards() -> Iterator[Card]:
            for each in numbered_cards(35):
                read.append(each)
                yield each

        document = iter(CardsPdf(cards()))
        while b"/Type /Page " not in next(document):
            pass
        assert len(read) == CARDS_PER_PAGE

    def test_memory_does_not_grow_with_the_number_of_cards(self) -> None:
        # Untraced first: Python keeps up to 2,000 freed tuples of each small size for reuse, and
        # segno frees many; that store fills while the first 2,000 cards are written.
        write_cards(short_cards(2000), _Sink())
        # Both counts past FITTED_KEPT: the writer remembers up to that many fitted lines, a
        # bounded store that a smaller count would not fill, which would read as growth.
        few, many = traced_peak(FITTED_KEPT + 200), traced_peak(3 * (FITTED_KEPT + 200))
        # Only each object's place in the file is kept, 16 bytes a page: 250 pages more are
        # 4 KB. fpdf2, which laid the cards out before, grew by 4 MB per 1,000 cards.
        assert many - few < 64 * 1024, (few, many)

    def test_every_object_starts_where_the_cross_reference_table_says(self) -> None:
        pdf = cards_pdf(numbered_cards(25))
        start = int(re.search(rb"startxref\n(\d+)\n%%EOF\n$", pdf)[1])
        header, *entries = pdf[start:].split(b"trailer")[0].splitlines()[1:]
        assert header == b"0 %d" % len(entries)
        offsets = [int(entry[:10]) for entry in entries[1:]]
        assert all(pdf.startswith(b"%d 0 obj\n" % number, offset) for number, offset in enumerate(offsets, 1))
        assert pdf_pages(pdf) == 3
