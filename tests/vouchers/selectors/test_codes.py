"""Reads of single codes (tessera.vouchers.selectors.codes): parsed before any lookup, shown as
people read them, their status, their details with every redemption, and an offer's live codes."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tessera.core.errors import DoesNotExist
from tessera.vouchers import codes as codebook
from tessera.vouchers.errors import CodeMistyped, CodeNotFound
from tessera.vouchers.models import Batch, Code
from tessera.vouchers.selectors.codes import (
    Status,
    batch_codes,
    code_details,
    code_key,
    code_status,
    display_code,
    live_codes,
    live_redemption,
    parse_code,
    redemption_numbered,
)
from tessera.vouchers.services import BatchSpec, CodeList, codes_import, redemption_reverse, voucher_redeem

NOW = timezone.now()


def typo_of(code: str) -> str:
    return code[:-1] + ("0" if code[-1] != "0" else "1")


class TestParseCode:
    def test_a_code_as_typed_is_normalised(self):
        code = codebook.generate(1)[0]
        assert parse_code(display_code(code).lower()) == code

    def test_a_typo_is_refused_as_mistyped(self):
        with pytest.raises(CodeMistyped):
            parse_code(typo_of(codebook.generate(1)[0]))

    def test_text_that_is_no_code_is_refused_as_mistyped_in_its_own_words(self):
        with pytest.raises(CodeMistyped, match="!"):
            parse_code("AB!CD")


class TestCodeKey:
    def test_a_generated_code_is_looked_up_as_parsed_and_missing_is_not_found(self):
        code = codebook.generate(1)[0]
        lookup = code_key(display_code(code).lower())
        assert (lookup.key, type(lookup.missing)) == (code, CodeNotFound)

    def test_other_text_is_looked_up_as_an_imported_code_and_missing_is_mistyped(self):
        typo = typo_of(codebook.generate(1)[0])
        lookup = code_key(typo.lower())
        assert (lookup.key, type(lookup.missing)) == (typo, CodeMistyped)
        assert "typo" in lookup.missing.message  # the parse's own words: most likely a typo of one of ours

    @pytest.mark.parametrize("text", ["", "short", "ÜBER-CODE-####", "x" * 500])
    def test_text_that_can_be_no_code_is_mistyped_at_once(self, text):
        with pytest.raises(CodeMistyped):
            code_key(text)


class TestCodeStatus:
    @pytest.mark.parametrize(
        ("uses", "revoked", "expires_at", "status"),
        [
            (0, False, None, Status.UNUSED),
            (1, False, None, Status.PARTLY_REDEEMED),
            (2, False, None, Status.REDEEMED),
            (0, False, NOW, Status.EXPIRED),
            (2, False, NOW, Status.REDEEMED),  # used up before it expired
            (2, True, NOW, Status.REVOKED),  # revoked tells most
            (0, False, NOW + timedelta(seconds=1), Status.UNUSED),
        ],
    )
    def test_revoked_then_used_up_then_expired_then_by_use(self, uses, revoked, expires_at, status):
        assert code_status(uses=uses, max_uses=2, revoked=revoked, expires_at=expires_at, now=NOW) == status


class TestDisplayCode:
    def test_groups_of_four_with_the_prefix_set_apart(self):
        assert display_code("0123456789ABCDEF") == "0123-4567-89AB-CDEF"
        assert display_code("SPR1NG0123456789ABCDEF", "SPR1NG") == "SPR1NG-0123-4567-89AB-CDEF"

    def test_an_imported_code_is_shown_as_stored(self):
        assert display_code("SUMMER24ABCD", imported=True) == "SUMMER24ABCD"


class TestCodeDetails:
    def test_a_code_with_its_status_and_redemptions_in_order(
        self, enrollment_offer, make_batch, learner, other_learner, running_session
    ):
        code = make_batch(enrollment_offer, count=1, uses_per_code=3, prefix="FAIR").codes.get().code
        first = voucher_redeem(code=code, user=learner, session=running_session)
        second = voucher_redeem(code=code, user=other_learner, session=running_session)
        details = code_details(display_code(code, "FAIR").lower())
        assert (details.code.pk, details.status, details.display) == (
            code,
            Status.PARTLY_REDEEMED,
            display_code(code, "FAIR"),
        )
        assert details.redemptions == [first, second]

    def test_a_revoked_batch_makes_its_code_revoked(self, enrollment_offer, make_batch):
        batch = make_batch(enrollment_offer, count=1)
        Batch.objects.filter(pk=batch.pk).update(revoked_at=timezone.now())
        assert code_details(batch.codes.get().code).status == Status.REVOKED

    def test_an_unknown_code_is_not_found(self, db):
        with pytest.raises(CodeNotFound):
            code_details(codebook.generate(1)[0])

    def test_an_imported_code_is_found_by_its_text_and_shown_as_stored(self, enrollment_offer):
        codes = CodeList.numbered(["summer-24-abcd"], source="test")
        codes_import(offer=enrollment_offer, codes=codes, spec=BatchSpec(count=1, country="DE"))
        details = code_details("Summer 24 ABCD")
        assert (details.code.pk, details.display, details.status) == ("SUMMER24ABCD", "SUMMER24ABCD", Status.UNUSED)

    def test_unknown_text_that_is_no_generated_code_is_mistyped(self, db):
        with pytest.raises(CodeMistyped):
            code_details("SUMMER-24-ABCD")


class TestLiveRedemption:
    def test_the_users_redemption_not_reversed(self, enrollment_offer, make_batch, learner, running_session):
        code = make_batch(enrollment_offer, count=1, uses_per_code=2).codes.get().code
        reversed_one = voucher_redeem(code=code, user=learner, session=running_session)
        redemption_reverse(redemption=reversed_one, actor="cli")
        live = voucher_redeem(code=code, user=learner, session=running_session)
        assert live_redemption(code_details(code), "learner") == live

    def test_none_of_that_user_is_not_found(self, enrollment_offer, make_code, learner, running_session):
        code = make_code(enrollment_offer)
        voucher_redeem(code=code, user=learner, session=running_session)
        with pytest.raises(DoesNotExist, match="'other' has no live redemption"):
            live_redemption(code_details(code), "other")


class TestLiveCodes:
    def test_only_codes_that_can_still_be_redeemed(self, enrollment_offer, make_batch):
        live = make_batch(enrollment_offer, count=2, uses_per_code=2)
        used_up, revoked = live.codes.order_by("code")
        Code.objects.filter(pk=used_up.pk).update(uses=2)
        Code.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
        partly_used = make_batch(enrollment_offer, count=1, uses_per_code=2).codes.get()
        Code.objects.filter(pk=partly_used.pk).update(uses=1)
        expired = make_batch(enrollment_offer, count=1, expires_at=timezone.now() + timedelta(days=1))
        Batch.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        revoked_batch = make_batch(enrollment_offer, count=1)
        Batch.objects.filter(pk=revoked_batch.pk).update(revoked_at=timezone.now())
        assert [code.pk for code in live_codes(enrollment_offer)] == [partly_used.pk]


class TestRedemptionNumbered:
    def test_finds_the_redemption(self, enrollment_offer, make_code, learner, running_session):
        redemption = voucher_redeem(code=make_code(enrollment_offer), user=learner, session=running_session)
        assert redemption_numbered(redemption.pk) == redemption

    def test_an_unknown_number_is_not_found(self, db):
        with pytest.raises(DoesNotExist, match=r"There is no redemption 999\."):
            redemption_numbered(999)


class TestBatchCodes:
    def test_in_code_order(self, enrollment_offer, make_batch):
        batch = make_batch(enrollment_offer, count=5)
        make_batch(enrollment_offer, count=2)
        codes = [code.code for code in batch_codes(batch)]
        assert codes == sorted(batch.codes.values_list("code", flat=True))
