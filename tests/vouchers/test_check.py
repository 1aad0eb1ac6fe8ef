"""voucher_check: the redemption's every check, as a dry run that changes nothing."""

import pytest
from django.contrib.auth.models import AnonymousUser

from tessera.catalog.models import Enrollment
from tessera.core.errors import DomainError
from tessera.vouchers import codes as codebook
from tessera.vouchers.models import AuditEvent, Code, Product, Redemption
from tessera.vouchers.services import voucher_check, voucher_redeem


def _check_refusal(code: str, user, session, **kwargs) -> str:
    with pytest.raises(DomainError) as caught:
        voucher_check(code=code, user=user, session=session, **kwargs)
    return caught.value.code


class TestVoucherCheck:
    def test_a_good_code_previews_its_product_and_changes_nothing(
        self, enrollment_offer, make_code, learner, running_session
    ):
        code = make_code(enrollment_offer, uses_per_code=3)
        preview = voucher_check(code=code, user=learner, session=running_session)
        assert (preview.product, preview.session, preview.uses_left) == (Product.ENROLLMENT, running_session, 3)
        assert not Redemption.objects.exists()
        assert not Enrollment.objects.exists()
        assert Code.objects.get().uses == 0
        assert not AuditEvent.objects.filter(action=AuditEvent.Action.REDEEMED).exists()

    def test_it_refuses_as_the_redemption_would(self, enrollment_offer, make_code, learner, running_session):
        code = make_code(enrollment_offer)
        Enrollment.objects.create(user=learner, session=running_session)
        assert _check_refusal(code, learner, running_session) == "not_eligible"

    def test_an_exhausted_code_is_refused(self, enrollment_offer, make_code, learner, other_learner, running_session):
        code = make_code(enrollment_offer)
        voucher_redeem(code=code, user=other_learner, session=running_session)
        assert _check_refusal(code, learner, running_session) == "exhausted"

    def test_a_code_for_another_product_is_refused(self, enrollment_offer, make_code, learner, running_session):
        code = make_code(enrollment_offer)
        assert _check_refusal(code, learner, running_session, product=Product.PROCTORING) == "wrong_product"

    def test_typos_and_unknown_codes_are_told_apart(self, enrollment_offer, make_code, learner, running_session):
        code = make_code(enrollment_offer)
        typo = ("B" if code[0] == "A" else "A") + code[1:]  # one wrong character: the check symbol catches it
        unknown = codebook.format_code(codebook.generate(1, length=len(codebook.parse(code)))[0])
        assert _check_refusal(typo, learner, running_session) == "mistyped"
        assert _check_refusal(unknown, learner, running_session) == "not_found"

    def test_an_anonymous_user_is_asked_to_sign_in(self, enrollment_offer, make_code, running_session):
        code = make_code(enrollment_offer)
        assert _check_refusal(code, AnonymousUser(), running_session) == "invalid_input"


@pytest.mark.django_db(transaction=True)
class TestCheckOutsideATransaction:
    """As the API calls it: no test transaction around it, so PostgreSQL's rules on row locks apply."""

    def test_a_session_with_a_capacity_is_checked_not_crashed(self, enrollment_offer, make_code, learner,
                                                               running_session):  # fmt: skip
        running_session.capacity = 5
        running_session.save()
        code = make_code(enrollment_offer)
        assert voucher_check(code=code, user=learner, session=running_session).uses_left == 1

    def test_a_full_session_is_refused(self, enrollment_offer, make_code, learner, other_learner, running_session):
        running_session.capacity = 1
        running_session.save()
        Enrollment.objects.create(user=other_learner, session=running_session)
        assert _check_refusal(make_code(enrollment_offer), learner, running_session) == "not_eligible"
