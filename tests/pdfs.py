"""Reading printed cards back: a PDF's pages and text (pypdf), and the QR codes on a page as a
scanner would see them, on the page rendered to pixels (pypdfium2) and read by zxing-cpp."""

import io

import pypdfium2
import zxingcpp
from pypdf import PdfReader

# 200 dots per inch: a card's 27 mm QR code is over 200 pixels wide, as from a phone's camera.
RENDER_SCALE = 200 / 72


def pdf_pages(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf), strict=True).pages)


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf), strict=True).pages)


def qr_codes_on_page(pdf: bytes, index: int = 0) -> list[str]:
    """What every QR code on the page holds, top to bottom, left to right."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        image = document[index].render(scale=RENDER_SCALE).to_pil()
    finally:
        document.close()
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    found.sort(key=lambda barcode: (round(barcode.position.top_left.y, -2), barcode.position.top_left.x))
    return [barcode.text for barcode in found]
