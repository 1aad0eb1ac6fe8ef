"""Printable cards as a PDF: A4 pages of ten cards the size of a bank card (85 x 54 mm, two
columns of five), each with a title, a code, a line on how to use it and a QR code of a link.

The PDF is streamed: each page is put out, as bytes, as soon as its ten cards are laid out, and
then forgotten, so a batch of 100,000 codes takes no more memory than one of ten
(docs/benchmarks.md, "Printable code cards"). What is kept until the end is the position of
each object in the file, 16 bytes a page, which the cross-reference table at the end must list.

Why not fpdf2, which laid the cards out before: it keeps every page it has laid out in memory
(`FPDF.pages`) until `output()` puts the whole document into one buffer, and it has no way to put
a finished page out earlier; a batch of 100,000 codes grew the process by over 400 MB. The
cards need very little of PDF, so this module writes it itself (PDF 1.4, ISO 32000-1):

* the built-in fonts Helvetica, Helvetica-Bold and Courier-Bold, which need no font file, in
  Windows-1252 (WinAnsiEncoding): a character outside it is printed as "?" rather than failing
  the whole document. Text is fitted with the fonts' widths as fpdf2 ships them.
* one resource dictionary that every page shares, and a page tree of one level.
* each page's drawing as one zlib-compressed content stream; each QR code (segno's matrix) as one
  filled path of rectangles, one a run of dark modules in a row, in module units scaled by `cm`.
"""

import re
import zlib
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import BinaryIO

import segno
from fpdf.fonts import CORE_FONTS_CHARWIDTHS

CARDS_PER_PAGE = 10
COLUMNS = 2
PAGE_WIDTH, PAGE_HEIGHT = 210.0, 297.0  # mm: A4
CARD_WIDTH, CARD_HEIGHT = 85.0, 54.0  # mm: ISO/IEC 7810 ID-1, the size of a bank card
LEFT, TOP = (PAGE_WIDTH - COLUMNS * CARD_WIDTH) / 2, (PAGE_HEIGHT - 5 * CARD_HEIGHT) / 2
PADDING = 4.0
QR_SIZE = 27.0  # mm, with the quiet zone
QR_BORDER = 4  # modules of quiet zone, what scanners need around a QR code
TEXT_WIDTH = CARD_WIDTH - 3 * PADDING - QR_SIZE
CODE_POINTS = 12.0  # the code's largest size; a long code is set smaller to fit its column
TEXT_ENCODING = "cp1252"  # what WinAnsiEncoding is
POINTS_PER_MM = 72 / 25.4

# The fonts by the name the resource dictionary gives them, with their metrics in fpdf2.
FONTS = {b"F1": (b"Helvetica", "helvetica"), b"F2": (b"Helvetica-Bold", "helveticaB"),
         b"F3": (b"Courier-Bold", "courierB")}  # fmt: skip
REGULAR, BOLD, CODE = b"F1", b"F2", b"F3"

# Object numbers: the fixed objects first, then each page and its content stream in turn.
CATALOG, PAGE_TREE, RESOURCES, INFO = 1, 2, 3, 4
FIRST_FONT = 5
FIRST_PAGE = FIRST_FONT + len(FONTS)
DARK_RUN = re.compile(rb"\x01+")
FITTED_KEPT = 1024  # fitted lines remembered; a batch's cards share theirs


@dataclass(frozen=True)
class Card:
    title: str  # the course, or what the code is for
    subtitle: str  # the product, say
    code: str  # as printed, grouped
    expiry: str  # "Redeem by 2027-03-31 (UTC)"
    how_to: str  # one or two short sentences on how to redeem
    link: str  # what the QR code holds


class CardsPdf:
    """The cards as a PDF, ten to an A4 page: iterating gives the file's bytes in chunks, a page's
    worth each, made as they are asked for; then `pages` is the number of pages (a PDF with no
    card has one empty page: a document needs one). Iterate it once."""

    def __init__(self, cards: Iterable[Card]) -> None:
        self.cards = cards
        self.pages = 0
        self._offsets = array("Q", [0] * FIRST_PAGE)  # where each object starts; 0 is no object
        self._written = 0
        self._fitted: dict[tuple[str, bytes, float, float], list[bytes]] = {}

    def __iter__(self) -> Iterator[bytes]:
        yield self._put(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        yield b"".join(self._fixed_objects())
        for page in _pages(iter(self.cards)):
            yield self._page(page)
        if self.pages == 0:
            yield self._page([])
        yield from self._page_tree()
        yield from self._cross_references()

    def _put(self, chunk: bytes) -> bytes:
        self._written += len(chunk)
        return chunk

    def _object(self, number: int, body: bytes) -> bytes:
        if number < FIRST_PAGE:
            self._offsets[number] = self._written
        else:
            assert number == len(self._offsets), "pages are numbered in the order they are written"
            self._offsets.append(self._written)
        return self._put(b"%d 0 obj\n%b\nendobj\n" % (number, body))

    def _fixed_objects(self) -> Iterator[bytes]:
        fonts = b" ".join(b"/%b %d 0 R" % (name, FIRST_FONT + n) for n, name in enumerate(FONTS))
        yield self._object(CATALOG, b"<< /Type /Catalog /Pages %d 0 R >>" % PAGE_TREE)
        yield self._object(RESOURCES, b"<< /Font << %b >> /ProcSet [/PDF /Text] >>" % fonts)
        yield self._object(INFO, b"<< /Producer (Tessera) /Creator (Tessera) >>")
        for n, (base_font, _) in enumerate(FONTS.values()):
            font = b"<< /Type /Font /Subtype /Type1 /BaseFont /%b /Encoding /WinAnsiEncoding >>" % base_font
            yield self._object(FIRST_FONT + n, font)

    def _page(self, cards: list[Card]) -> bytes:
        number = FIRST_PAGE + 2 * self.pages
        self.pages += 1
        drawing = b"".join([b"0 g 0.745 G %.2f w\n" % (0.2 * POINTS_PER_MM)] + [
            self._card(card, *_corner(place)) for place, card in enumerate(cards)
        ])  # fmt: skip
        content = zlib.compress(drawing)
        page = b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %.2f %.2f] /Resources %d 0 R /Contents %d 0 R >>" % (
            PAGE_TREE, *_point(PAGE_WIDTH, 0), RESOURCES, number + 1)  # fmt: skip
        stream = b"<< /Length %d /Filter /FlateDecode >>\nstream\n%b\nendstream" % (len(content), content)
        return self._object(number, page) + self._object(number + 1, stream)

    def _page_tree(self) -> Iterator[bytes]:
        """The page tree, the Kids array in pieces: its length grows with the pages."""
        self._offsets[PAGE_TREE] = self._written
        yield self._put(b"%d 0 obj\n<< /Type /Pages /Count %d /Kids [" % (PAGE_TREE, self.pages))
        for start in range(0, self.pages, 1000):
            pages = range(start, min(start + 1000, self.pages))
            yield self._put(b"".join(b"%d 0 R " % (FIRST_PAGE + 2 * page) for page in pages))
        yield self._put(b"] >>\nendobj\n")

    def _cross_references(self) -> Iterator[bytes]:
        start, count = self._written, len(self._offsets)
        yield b"xref\n0 %d\n0000000000 65535 f \n" % count
        for first in range(1, count, 1000):
            yield b"".join(b"%010d 00000 n \n" % offset for offset in self._offsets[first : first + 1000])
        yield b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
            count, CATALOG, INFO, start)  # fmt: skip

    def _card(self, card: Card, x: float, y: float) -> bytes:
        left, inner, top = x + PADDING, CARD_WIDTH - 2 * PADDING, y + PADDING + 11
        frame = b"%.2f %.2f %.2f %.2f re S\n" % (*_point(x, y + CARD_HEIGHT), CARD_WIDTH * POINTS_PER_MM,
                                                  CARD_HEIGHT * POINTS_PER_MM)  # fmt: skip
        return b"".join([
            frame,
            self._text(card.title, left, y + PADDING + 3.5, inner, font=BOLD, points=10),
            self._text(card.subtitle, left, y + PADDING + 8, inner, font=REGULAR, points=8),
            self._text("Your code", left, top + 2.5, TEXT_WIDTH, font=REGULAR, points=7),
            _code(card.code, left, top + 8, TEXT_WIDTH),
            self._text(card.expiry, left, top + 13, TEXT_WIDTH, font=REGULAR, points=7),
            self._text(card.how_to, left, top + 18, TEXT_WIDTH, font=REGULAR, points=7, lines=3),
            _qr_code(card.link, x + CARD_WIDTH - PADDING - QR_SIZE, top),
        ])  # fmt: skip

    def _text(self, text: str, x: float, baseline: float, width: float, *, font: bytes, points: float,
              lines: int = 1) -> bytes:  # fmt: skip
        """Up to `lines` lines of text from `baseline` down, wrapped to `width`, cut after the last."""
        fitted = self._fit(text, font, points, width)[:lines]
        return b"".join(_line(line, x, baseline + n * points * 0.42, font, points) for n, line in enumerate(fitted))

    def _fit(self, text: str, font: bytes, points: float, width: float) -> list[bytes]:
        """The text broken into lines at spaces, greedily, each at most `width` wide (a word wider
        than that on a line of its own). Remembered by their text, a bounded number of them."""
        key = (text, font, points, width)
        if key not in self._fitted:
            lines: list[bytes] = []
            for word in _encoded(text).split():
                joined = b"%b %b" % (lines[-1], word) if lines else word
                if lines and _width(joined, font, points) <= width:
                    lines[-1] = joined
                else:
                    lines.append(word)
            if len(self._fitted) >= FITTED_KEPT:
                self._fitted.clear()
            self._fitted[key] = lines
        return self._fitted[key]


def write_cards(cards: Iterable[Card], target: BinaryIO) -> int:
    """Writes the cards to `target` as a PDF, page by page as they are laid out; returns the
    number of pages."""
    document = CardsPdf(cards)
    for chunk in document:
        target.write(chunk)
    return document.pages


def cards_pdf(cards: Iterable[Card]) -> bytes:
    """The whole PDF at once, for a few cards."""
    return b"".join(CardsPdf(cards))


def _pages(cards: Iterator[Card]) -> Iterator[list[Card]]:
    while page := list(islice(cards, CARDS_PER_PAGE)):
        yield page


def _corner(place: int) -> tuple[float, float]:
    row, column = divmod(place, COLUMNS)
    return LEFT + column * CARD_WIDTH, TOP + row * CARD_HEIGHT


def _point(x: float, y: float) -> tuple[float, float]:
    """A point in millimetres from the page's top left as PDF has it: points from the bottom left."""
    return x * POINTS_PER_MM, (PAGE_HEIGHT - y) * POINTS_PER_MM


def _encoded(text: str) -> bytes:
    return text.encode(TEXT_ENCODING, "replace")


def _width(text: bytes, font: bytes, points: float) -> float:
    """The width of the text in millimetres, from the font's widths in thousandths of its size."""
    widths = CORE_FONTS_CHARWIDTHS[FONTS[font][1]]
    return sum(widths[chr(byte)] for byte in text) * points / 1000 / POINTS_PER_MM


def _line(text: bytes, x: float, baseline: float, font: bytes, points: float) -> bytes:
    escaped = text.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)").replace(b"\r", b"\\r")
    return b"BT /%b %.2f Tf %.2f %.2f Td (%b) Tj ET\n" % (font, points, *_point(x, baseline), escaped)


def _code(code: str, x: float, baseline: float, width: float) -> bytes:
    """The code on one line, set smaller if it is too wide: it must be printed whole."""
    text = _encoded(code)
    points = CODE_POINTS * min(1.0, width / max(_width(text, CODE, CODE_POINTS), 1e-6))
    return _line(text, x, baseline, CODE, points)


def _qr_code(link: str, x: float, y: float) -> bytes:
    """The link's QR code, QR_SIZE wide with its quiet zone, its top left corner at (x, y): one
    path, a rectangle for each run of dark modules in a row, drawn in modules and scaled by `cm`."""
    # A fixed mask: segno scores all eight in pure Python to pick the best (10 ms a code, most of
    # the time a card took); any mask makes a valid symbol, and the tests scan what it draws.
    symbol = segno.make(link, error="m", micro=False, mask=0)
    modules, _ = symbol.symbol_size(scale=1, border=0)
    module = QR_SIZE / (modules + 2 * QR_BORDER)
    left, top = _point(x + QR_BORDER * module, y + QR_BORDER * module)
    scale = module * POINTS_PER_MM
    runs = [
        b"%d %d %d 1 re\n" % (run.start(), row, run.end() - run.start())
        for row, modules_in_row in enumerate(symbol.matrix)  # a bytearray a row, 1 for a dark module
        for run in DARK_RUN.finditer(modules_in_row)
    ]
    return b"q %.4f 0 0 %.4f %.2f %.2f cm\n%bf Q\n" % (scale, -scale, left, top, b"".join(runs))
