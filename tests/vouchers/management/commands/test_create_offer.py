"""`tessera create-offer`: an offer for a session, or for any session, and what it refuses."""

import pytest
from django.core.management.base import CommandError

from tessera.vouchers.models import AuditEvent, Offer, Product
from tests.commands import run_command
from tests.vouchers.management.commands.conftest import create_offer


class TestCreateOffer:
    def test_creates_an_offer_for_a_session(self, running_session):
        offer = create_offer(running_session.slug)
        assert offer.name == "Spring sale"
        assert offer.product == Product.ENROLLMENT
        assert offer.session == running_session
        assert AuditEvent.objects.get(action=AuditEvent.Action.OFFER_CREATED).actor == "cli"

    def test_an_offer_may_name_no_session(self, db):
        out = run_command("create_offer", "--name", "Anywhere", "--product", "reactivation", "--price", "9.50")
        offer = Offer.objects.get()
        assert f"Created offer {offer.pk}" in out
        assert offer.session is None
        assert str(offer.price) == "9.50"

    def test_an_unknown_product_is_invalid_input(self, running_session):
        with pytest.raises(CommandError, match="invalid_input"):
            run_command("create_offer", "--name", "X", "--product", "bogus", "--session", running_session.slug)
        assert not Offer.objects.exists()

    def test_an_unknown_session_is_invalid_input(self, db):
        with pytest.raises(CommandError, match=r"invalid_input.*no-such-run"):
            run_command("create_offer", "--name", "X", "--product", "enrollment", "--session", "no-such-run")
        assert not Offer.objects.exists()

    def test_a_price_that_is_no_number_is_invalid_input(self, running_session):
        with pytest.raises(CommandError, match="invalid_input"):
            run_command("create_offer", "--name", "X", "--product", "enrollment", "--price", "cheap")
        assert not Offer.objects.exists()

    def test_an_offer_may_carry_a_store_link_and_a_price(self, running_session):
        run_command(
            "create_offer", "--name", "Seat", "--product", "enrollment", "--session", running_session.slug,
            "--price", "49", "--store-url", "https://shop.example/python",
        )  # fmt: skip
        offer = Offer.objects.get()
        assert (offer.store_url, offer.display_price) == ("https://shop.example/python", "49.00 EUR")

    def test_a_bad_store_link_is_invalid_store_url(self, running_session):
        with pytest.raises(CommandError, match=r"^invalid_store_url: The store link must be a full web address"):
            run_command("create_offer", "--name", "X", "--product", "enrollment", "--store-url", "javascript:alert(1)")
        assert not Offer.objects.exists()


class TestCreateAssessmentOffer:
    def test_an_offer_of_an_assessment_with_its_attempts(self, assessment):
        out = run_command("create_offer", "--name", "Retake", "--product", "assessment",
                          "--assessment", assessment.slug, "--attempts", "1", "--adds-attempts")  # fmt: skip
        offer = Offer.objects.get()
        assert f"Created offer {offer.pk}" in out
        assert (offer.assessment, offer.session, offer.attempts, offer.adds_attempts) == (assessment, None, 1, True)

    def test_an_assessment_offer_without_its_assessment_is_refused(self, db):
        with pytest.raises(CommandError, match=r"^offer_place_mismatch: "):
            run_command("create_offer", "--name", "Exam", "--product", "assessment")
        assert not Offer.objects.exists()
