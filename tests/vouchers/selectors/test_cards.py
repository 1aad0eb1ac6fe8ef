"""What a batch's cards say: its codes as printed, in order, the unused ones only if asked; the
title and the expiry line."""

from datetime import UTC, datetime

from tessera.vouchers.models import Product
from tessera.vouchers.selectors.cards import card_expiry, card_title, codes_to_print
from tessera.vouchers.selectors.codes import display_code
from tessera.vouchers.services import voucher_redeem


class TestCodesToPrint:
    def test_every_code_as_printed_in_code_order_across_chunks(self, enrollment_offer, make_batch):
        batch = make_batch(enrollment_offer, count=7, prefix="AB")
        printed = list(codes_to_print(batch, chunk_size=3))
        stored = sorted(batch.codes.values_list("code", flat=True))
        assert printed == [display_code(code, "AB") for code in stored]
        assert all(code.startswith("AB-") for code in printed)

    def test_unused_leaves_out_the_codes_used_once_or_more(self, enrollment_offer, make_batch, learner,
                                                           running_session):  # fmt: skip
        batch = make_batch(enrollment_offer, count=4)
        used = batch.codes.order_by("code").first()
        voucher_redeem(code=used.code, user=learner, session=running_session)
        printed = list(codes_to_print(batch, uses="unused"))
        assert len(printed) == 3
        assert display_code(used.code) not in printed

    def test_only_the_batchs_own_codes(self, enrollment_offer, make_batch):
        make_batch(enrollment_offer, count=3)
        batch = make_batch(enrollment_offer, count=2)
        assert len(list(codes_to_print(batch))) == 2


class TestCardWords:
    def test_a_sessions_card_names_the_course_session_and_the_product(self, enrollment_offer, make_batch):
        title, subtitle = card_title(make_batch(enrollment_offer))
        assert (title, subtitle) == ("Python: python-2026", "Enrollment (enrollment offer)")

    def test_an_offer_for_any_session_is_named_by_its_name(self, make_offer, make_batch):
        batch = make_batch(make_offer(Product.REACTIVATION, None))
        assert card_title(batch) == ("reactivation offer", "Reactivation, for any course")

    def test_an_assessments_card_names_the_assessment_and_the_offer(self, assessment_offer, make_batch):
        assert card_title(make_batch(assessment_offer)) == ("Python certification exam", "Assessment (exam offer)")

    def test_the_expiry_in_utc_or_none(self, enrollment_offer, make_batch):
        expiring = make_batch(enrollment_offer, expires_at=datetime(2027, 3, 31, 18, 30, tzinfo=UTC))
        assert card_expiry(expiring) == "Redeem by 2027-03-31 18:30 UTC"
        assert card_expiry(make_batch(enrollment_offer)) == "Does not expire"
