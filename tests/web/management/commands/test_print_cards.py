"""`tessera print-cards`: a batch's codes as a PDF of cards, to a file."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tessera.vouchers.selectors.codes import display_code
from tessera.vouchers.services import voucher_redeem
from tests.pdfs import pdf_pages, pdf_text, qr_codes_on_page

BASE = "https://tessera.example"


@pytest.fixture
def public_url(settings):
    settings.TESSERA_PUBLIC_URL = BASE


def print_cards(*args: str) -> str:
    err = StringIO()
    call_command("print_cards", *args, stdout=StringIO(), stderr=err)
    return err.getvalue()


class TestPrintCards:
    def test_writes_every_code_ten_to_a_page_with_its_redeem_link(self, public_url, enrollment_offer, make_batch,
                                                                    tmp_path):  # fmt: skip
        batch = make_batch(enrollment_offer, count=21)
        target = tmp_path / "cards.pdf"
        said = print_cards(str(batch.pk), "-o", str(target))
        pdf = target.read_bytes()
        codes = [display_code(code) for code in sorted(batch.codes.values_list("code", flat=True))]
        assert pdf_pages(pdf) == 3
        assert all(code in pdf_text(pdf) for code in codes)
        assert qr_codes_on_page(pdf, 2) == [f"{BASE}/redeem?session=python-2026&code={codes[20]}"]
        assert f"Wrote 3 pages of cards to {target}." in said

    def test_unused_prints_only_the_codes_never_used(self, public_url, enrollment_offer, make_batch, learner,
                                                     running_session, tmp_path):  # fmt: skip
        batch = make_batch(enrollment_offer, count=2)
        used, unused = batch.codes.order_by("code")
        voucher_redeem(code=used.code, user=learner, session=running_session)
        target = tmp_path / "cards.pdf"
        print_cards(str(batch.pk), "--unused", "-o", str(target))
        text = pdf_text(target.read_bytes())
        assert (display_code(used.code) in text, display_code(unused.code) in text) == (False, True)

    def test_an_unknown_batch_is_refused_and_nothing_written(self, public_url, db, tmp_path):
        target = tmp_path / "cards.pdf"
        with pytest.raises(CommandError, match="not_found: there is no batch 99"):
            print_cards("99", "-o", str(target))
        assert not target.exists()

    def test_without_the_public_url_it_refuses(self, settings, enrollment_offer, make_batch, tmp_path):
        settings.TESSERA_PUBLIC_URL = ""
        target = tmp_path / "cards.pdf"
        with pytest.raises(CommandError, match="TESSERA_PUBLIC_URL"):
            print_cards(str(make_batch(enrollment_offer).pk), "-o", str(target))
        assert not target.exists()
