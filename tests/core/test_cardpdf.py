"""Printable cards: ten to an A4 page, every code in the text, every QR code holding its link."""

import io
import math

import pytest

from tessera.core.cardpdf import CARDS_PER_PAGE, Card, cards_pdf, write_cards
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

    def test_a_long_title_is_cut_short_and_a_long_code_still_whole(self) -> None:
        long_code = "TESSERA1-" + "-".join(["ABCD"] * 7) + "-X"
        text = pdf_text(cards_pdf([card(1, title="A very long course title " * 5, code=long_code)]))
        assert long_code in text
        assert "A very long course title " * 5 not in text
