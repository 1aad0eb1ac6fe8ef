"""A batch's printable cards (tessera.web.cards): each QR code leads to its code's redeem link,
which the redeem page reads back; an offer for any session leads to the course list."""

import pytest
from django.test import RequestFactory

from tessera.platforms.links import link_target
from tessera.platforms.services import platform_create
from tessera.vouchers.models import Product
from tessera.vouchers.selectors.codes import display_code
from tessera.vouchers.services import voucher_redeem
from tessera.web.cards import batch_cards, cards_download, public_base
from tests.pdfs import pdf_pages, pdf_text, qr_codes_on_page
from tests.platform_sessions import platform_session

BASE = "https://tessera.example"


class TestBatchCards:
    def test_each_card_holds_its_code_and_the_redeem_link_of_its_session(self, enrollment_offer, make_batch):
        batch = make_batch(enrollment_offer, count=3)
        cards = list(batch_cards(batch, base=BASE))
        printed = [display_code(code) for code in sorted(batch.codes.values_list("code", flat=True))]
        assert [card.code for card in cards] == printed
        assert [card.link for card in cards] == [f"{BASE}/redeem?session=python-2026&code={code}" for code in printed]
        assert cards[0].how_to == "Scan the QR code or go to tessera.example, sign in and redeem this code."

    def test_a_platforms_session_is_named_through_its_platform(self, make_offer, make_batch):
        moodle = platform_create(name="Moodle A", slug="moodle-a", return_urls=["https://lms-a.example/"]).platform
        session = platform_session(moodle, "s-1", "a-session")
        [card] = batch_cards(make_batch(make_offer(Product.ENROLLMENT, session)), base=BASE)
        assert card.link == f"{BASE}/redeem?platform=moodle-a&session=s-1&code={card.code}"
        assert getattr(link_target(platform="moodle-a", session="s-1"), "session", None) == session

    def test_an_offer_for_any_session_leads_to_the_course_list(self, make_offer, make_batch):
        cards = list(batch_cards(make_batch(make_offer(Product.REACTIVATION, None), count=2), base=BASE))
        assert [card.link for card in cards] == [f"{BASE}/courses"] * 2
        assert "choose your course" in cards[0].how_to

    def test_an_assessments_cards_lead_to_its_page(self, assessment_offer, make_batch):
        [card] = batch_cards(make_batch(assessment_offer), base=BASE)
        assert card.link == f"{BASE}/assessments/python-exam"
        assert card.how_to == "Go to tessera.example/assessments/python-exam, sign in and enter this code."

    def test_unused_prints_only_the_codes_never_used(self, enrollment_offer, make_batch, learner, running_session):
        batch = make_batch(enrollment_offer, count=3)
        voucher_redeem(code=batch.codes.order_by("code").first().code, user=learner, session=running_session)
        assert len(list(batch_cards(batch, base=BASE, uses="unused"))) == 2


class TestPublicBase:
    def test_the_setting_wins(self, settings):
        settings.TESSERA_PUBLIC_URL = BASE
        assert public_base(RequestFactory().get("/staff/")) == BASE

    def test_without_it_the_requests_own_address(self, settings):
        settings.TESSERA_PUBLIC_URL = ""
        assert public_base(RequestFactory().get("/staff/", secure=True)) == "https://testserver"
        assert public_base() == ""


class TestCardsDownload:
    @pytest.fixture(autouse=True)
    def public_url(self, settings):
        settings.TESSERA_PUBLIC_URL = BASE

    def test_a_pdf_of_every_code_whose_qr_codes_read_as_their_redeem_links(self, enrollment_offer, make_batch):
        batch = make_batch(enrollment_offer, count=12)
        response = cards_download(batch, request=RequestFactory().get("/"))
        assert response["Content-Type"] == "application/pdf"
        assert response["Content-Disposition"] == f'attachment; filename="batch-{batch.pk}-cards.pdf"'
        pdf = response.getvalue()
        codes = [display_code(code) for code in sorted(batch.codes.values_list("code", flat=True))]
        assert pdf_pages(pdf) == 2
        assert all(code in pdf_text(pdf) for code in codes)
        links = [f"{BASE}/redeem?session=python-2026&code={code}" for code in codes]
        assert qr_codes_on_page(pdf, 0) + qr_codes_on_page(pdf, 1) == links

    def test_it_is_sent_a_page_at_a_time_as_the_codes_are_read(self, enrollment_offer, make_batch):
        batch = make_batch(enrollment_offer, count=45)
        response = cards_download(batch, request=RequestFactory().get("/"))
        assert response.streaming
        chunks = list(response.streaming_content)
        pages = [chunk for chunk in chunks if b"/Type /Page " in chunk]
        assert len(pages) == 5
        assert all(chunk.count(b"/Type /Page ") == 1 for chunk in pages)
        assert pdf_pages(b"".join(chunks)) == 5
