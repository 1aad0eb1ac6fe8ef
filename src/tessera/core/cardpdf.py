"""Printable cards as a PDF: A4 pages of ten cards the size of a bank card (85 x 54 mm, two
columns of five), each with a title, a code, a line on how to use it and a QR code of a link.

fpdf2 lays the pages out and segno draws the QR codes. The cards come from an iterator and are
laid out one page at a time, so the rows behind them are never all in memory; the document
itself is not streamed: fpdf2 keeps every page it has laid out until it writes the file, so the
memory a PDF takes grows with its pages (docs/benchmarks.md, "Printable code cards").
"""

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import BinaryIO

import segno
from fpdf import FPDF

CARDS_PER_PAGE = 10
COLUMNS = 2
CARD_WIDTH, CARD_HEIGHT = 85.0, 54.0  # mm: ISO/IEC 7810 ID-1, the size of a bank card
LEFT, TOP = (210.0 - COLUMNS * CARD_WIDTH) / 2, (297.0 - 5 * CARD_HEIGHT) / 2
PADDING = 4.0
QR_SIZE = 27.0
TEXT_WIDTH = CARD_WIDTH - 3 * PADDING - QR_SIZE
CODE_POINTS = 12.0  # the code's largest size; a long code is set smaller to fit its column
# PDF's built-in fonts need no file and know Windows-1252 only: a character outside it is
# printed as "?" rather than failing the whole document.
TEXT_ENCODING = "cp1252"


@dataclass(frozen=True)
class Card:
    title: str  # the course, or what the code is for
    subtitle: str  # the product, say
    code: str  # as printed, grouped
    expiry: str  # "Redeem by 2027-03-31 (UTC)"
    how_to: str  # one or two short sentences on how to redeem
    link: str  # what the QR code holds


def write_cards(cards: Iterable[Card], target: BinaryIO) -> int:
    """Writes the cards to `target` as a PDF, ten to an A4 page; returns the number of pages
    (a PDF with no card has one empty page: a document needs one)."""
    sheet = _Sheet()
    for page in _pages(iter(cards)):
        sheet.pdf.add_page()
        for place, card in enumerate(page):
            sheet.draw(card, *_corner(place))
    if sheet.pdf.page == 0:
        sheet.pdf.add_page()
    sheet.pdf.output(target)
    return sheet.pdf.page


def cards_pdf(cards: Iterable[Card]) -> bytes:
    target = io.BytesIO()
    write_cards(cards, target)
    return target.getvalue()


def _pages(cards: Iterator[Card]) -> Iterator[list[Card]]:
    while page := list(islice(cards, CARDS_PER_PAGE)):
        yield page


def _corner(place: int) -> tuple[float, float]:
    row, column = divmod(place, COLUMNS)
    return LEFT + column * CARD_WIDTH, TOP + row * CARD_HEIGHT


class _Sheet:
    """The document being laid out. Lines fitted to a width are kept by their text: a batch's
    cards share their title, expiry and how-to, and fpdf2's line breaking costs milliseconds."""

    def __init__(self) -> None:
        self.pdf = FPDF(orientation="portrait", unit="mm", format="A4")
        self.pdf.set_auto_page_break(auto=False)
        self.pdf.set_margins(0, 0, 0)
        self.pdf.core_fonts_encoding = TEXT_ENCODING
        self.pdf.set_creator("Tessera")
        self.pdf.set_draw_color(190)  # a light cutting line around each card
        self.pdf.set_line_width(0.2)
        self._fitted: dict[tuple[str, str, float, float], list[str]] = {}

    def draw(self, card: Card, x: float, y: float) -> None:
        self.pdf.rect(x, y, CARD_WIDTH, CARD_HEIGHT)
        left, inner = x + PADDING, CARD_WIDTH - 2 * PADDING
        self._text(card.title, left, y + PADDING + 3.5, inner, style="B", points=10)
        self._text(card.subtitle, left, y + PADDING + 8, inner, style="", points=8)
        top = y + PADDING + 11
        self._text("Your code", left, top + 2.5, TEXT_WIDTH, style="", points=7)
        self._text(card.code, left, top + 8, TEXT_WIDTH, style="B", points=CODE_POINTS, font="Courier")
        self._text(card.expiry, left, top + 13, TEXT_WIDTH, style="", points=7)
        self._text(card.how_to, left, top + 18, TEXT_WIDTH, style="", points=7, lines=3)
        self.pdf.image(_qr_png(card.link), x=x + CARD_WIDTH - PADDING - QR_SIZE, y=top, w=QR_SIZE, h=QR_SIZE)

    def _text(self, text: str, x: float, baseline: float, width: float, *, style: str, points: float,
              font: str = "Helvetica", lines: int = 1) -> None:  # fmt: skip
        """Up to `lines` lines of text from `baseline` down, wrapped to `width`; one line is set
        smaller to fit (the code: it must be printed whole), more are cut after the last."""
        self.pdf.set_font(font, style, points)
        if lines == 1 and font == "Courier":
            self.pdf.set_font_size(points * min(1.0, width / max(self.pdf.get_string_width(text), 1e-6)))
            self.pdf.text(x, baseline, text)
            return
        for number, line in enumerate(self._fit(text, font, style, points, width)[:lines]):
            self.pdf.text(x, baseline + number * points * 0.42, line)

    def _fit(self, text: str, font: str, style: str, points: float, width: float) -> list[str]:
        """The text broken into lines at spaces, greedily, each at most `width` wide (a word wider
        than that on a line of its own)."""
        key = (text, font + style, points, width)
        if key not in self._fitted:
            lines: list[str] = []
            for word in _printable(text).split():
                joined = f"{lines[-1]} {word}" if lines else word
                if lines and self.pdf.get_string_width(joined) <= width:
                    lines[-1] = joined
                else:
                    lines.append(word)
            self._fitted[key] = lines
        return self._fitted[key]


def _printable(text: str) -> str:
    return text.encode(TEXT_ENCODING, "replace").decode(TEXT_ENCODING)


def _qr_png(link: str) -> io.BytesIO:
    """The link's QR code as a black-and-white PNG, one pixel a module, four modules of quiet zone
    (what scanners need around it); the PDF scales it up, and viewers keep small images sharp."""
    image = io.BytesIO()
    # A fixed mask: segno scores all eight in pure Python to pick the best (10 ms a code, most of
    # the time a card took); any mask makes a valid symbol, and the tests scan what it draws.
    segno.make(link, error="m", micro=False, mask=0).save(image, kind="png", scale=1, border=4)
    image.seek(0)
    return image
