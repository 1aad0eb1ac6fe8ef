"""A platform's learners (tessera.platforms.learners): created on first use, once, even when two
first requests race; checking and redeeming codes on their behalf on the platform's sessions only."""

from collections import Counter

import pytest
from django.contrib.auth.models import User
from django.db import connection

from tessera.catalog.models import Enrollment
from tessera.core.errors import DoesNotExist, InvalidInput
from tessera.platforms.learners import (
    LearnerAttempt,
    learner_username,
    platform_code_check,
    platform_code_redeem,
    platform_learner,
)
from tessera.platforms.models import PlatformLearner
from tessera.vouchers import codes as codebook
from tessera.vouchers.errors import AlreadyRedeemed, CodeNotFound
from tessera.vouchers.models import AuditEvent, Product, Redemption
from tests.auditing import audited, row_text
from tests.concurrency import race


class TestUsername:
    def test_is_the_platforms_slug_and_the_learners_id(self, platform_a):
        assert learner_username(platform_a.platform, "1234") == "moodle-a:1234"

    def test_too_long_for_a_username_it_is_a_digest_of_the_id(self, platform_a):
        long_id = "x" * 200
        username = learner_username(platform_a.platform, long_id)
        assert username.startswith("moodle-a:sha256:")
        assert len(username) <= 150
        assert username != learner_username(platform_a.platform, "x" * 201)


class TestFirstUse:
    def test_creates_a_user_without_password_or_email(self, platform_a):
        user = platform_learner(platform=platform_a.platform, external_id="1234")
        user.refresh_from_db()
        assert user.username == "moodle-a:1234"
        assert not user.has_usable_password()
        assert user.email == ""
        assert PlatformLearner.objects.get(platform=platform_a.platform, external_id="1234").user == user

    def test_is_audited_under_the_platform_without_the_learners_id(self, platform_a):
        with audited() as rows:
            user = platform_learner(platform=platform_a.platform, external_id="learner-1234")
        [row] = rows
        assert row.action == AuditEvent.Action.LEARNER_CREATED
        assert row.actor == f"platform:{platform_a.platform.pk}"
        assert row.detail == {"platform_id": platform_a.platform.pk, "user_id": user.pk}
        assert "learner-1234" not in row_text(row)  # the platform's id of a person is kept out of the log

    def test_the_second_use_finds_the_same_learner_and_writes_nothing(self, platform_a):
        first = platform_learner(platform=platform_a.platform, external_id="1234")
        with audited() as rows:
            again = platform_learner(platform=platform_a.platform, external_id="1234")
        assert again == first
        assert rows == []
        assert User.objects.count() == 1

    def test_the_same_id_at_two_platforms_is_two_learners(self, platform_a, platform_b):
        at_a = platform_learner(platform=platform_a.platform, external_id="1234")
        at_b = platform_learner(platform=platform_b.platform, external_id="1234")
        assert at_a != at_b
        assert {at_a.username, at_b.username} == {"moodle-a:1234", "edx-b:1234"}

    def test_ids_differing_only_in_case_or_unicode_form_are_two_learners(self, platform_a):
        ids = ["ab", "AB", "\ufb01", "fi"]  # "ﬁ" would become "fi" under Django's username normalisation
        users = {platform_learner(platform=platform_a.platform, external_id=external_id) for external_id in ids}
        assert len(users) == 4

    def test_a_long_id_is_kept_whole_in_the_mapping(self, platform_a):
        long_id = "é" * 255
        user = platform_learner(platform=platform_a.platform, external_id=long_id)
        assert PlatformLearner.objects.get(user=user).external_id == long_id

    @pytest.mark.parametrize("external_id", ["", "x" * 256, "a\x00b"])
    def test_a_bad_id_is_refused_and_creates_nothing(self, platform_a, external_id):
        with pytest.raises(InvalidInput) as refused:
            platform_learner(platform=platform_a.platform, external_id=external_id)
        assert refused.value.field == "learner"
        assert not User.objects.exists()

    def test_a_username_another_account_holds_is_refused_and_creates_nothing(self, platform_a):
        User.objects.create(username="moodle-a:taken")
        with pytest.raises(InvalidInput):
            platform_learner(platform=platform_a.platform, external_id="taken")
        assert not PlatformLearner.objects.exists()


@pytest.mark.django_db(transaction=True)
class TestFirstUseRace:
    """Proven on PostgreSQL (READ COMMITTED, a unique index that makes the second insert wait);
    SQLite queues the writers."""

    def test_eight_first_requests_at_once_make_one_learner(self, platform_a):
        platform = platform_a.platform
        outcomes = race([lambda: platform_learner(platform=platform, external_id="new-1").pk] * 8, connect_first=True)
        [user] = User.objects.all()
        assert outcomes == Counter({str(user.pk): 8}), connection.vendor
        assert PlatformLearner.objects.get().user == user
        assert AuditEvent.objects.filter(action=AuditEvent.Action.LEARNER_CREATED).count() == 1


def attempt(code: str, *, learner: str = "1234", session: str = "s-1", **fields: object) -> LearnerAttempt:
    return LearnerAttempt(learner=learner, code=code, session=session, **fields)  # type: ignore[arg-type]


class TestCheck:
    def test_answers_what_the_code_would_unlock_and_changes_nothing_but_the_learner(
        self, platform_a, platform_session, make_offer, make_code
    ):
        code = make_code(make_offer(Product.ENROLLMENT, platform_session.session), uses_per_code=3)
        checked = platform_code_check(platform=platform_a.platform, attempt=attempt(code))
        assert (checked.preview.product, checked.preview.uses_left) == (Product.ENROLLMENT, 3)
        assert checked.session == platform_session
        assert PlatformLearner.objects.filter(external_id="1234").exists()  # created on first use, by a check too
        assert not Redemption.objects.exists()
        assert not Enrollment.objects.exists()

    def test_refuses_as_the_redemption_would(self, platform_a, platform_session):
        with pytest.raises(CodeNotFound):
            platform_code_check(platform=platform_a.platform, attempt=attempt(codebook.generate(1)[0]))


class TestRedeem:
    def test_redeems_for_the_learner_and_answers_its_effect(self, platform_a, platform_session, make_offer, make_code):
        code = make_code(make_offer(Product.ENROLLMENT, platform_session.session))
        redeemed = platform_code_redeem(platform=platform_a.platform, attempt=attempt(code, client_ip="2001:DB8::0:1"))
        learner = PlatformLearner.objects.get(platform=platform_a.platform, external_id="1234").user
        assert redeemed.redemption.user == learner
        assert redeemed.redemption.session == platform_session.session
        assert redeemed.redemption.client_ip == "2001:db8::1"  # as the address is written the usual way
        assert redeemed.learner == "1234"
        assert redeemed.enrollment is not None
        assert redeemed.enrollment.active

    def test_a_reactivation_answers_until_when(self, platform_a, platform_ended_session, make_offer, make_code):
        code = make_code(make_offer(Product.REACTIVATION, platform_ended_session.session))
        redeemed = platform_code_redeem(platform=platform_a.platform, attempt=attempt(code, session="s-0"))
        assert redeemed.enrollment is not None
        assert redeemed.enrollment.reactivated_until is not None
        assert redeemed.enrollment.reactivated_until > redeemed.redemption.redeemed_at

    def test_the_learner_is_found_again_and_refused_a_second_time(
        self, platform_a, platform_session, make_offer, make_code
    ):
        code = make_code(make_offer(Product.ENROLLMENT, platform_session.session), uses_per_code=2)
        platform_code_redeem(platform=platform_a.platform, attempt=attempt(code))
        with pytest.raises(AlreadyRedeemed):
            platform_code_redeem(platform=platform_a.platform, attempt=attempt(code))
        assert PlatformLearner.objects.count() == 1

    def test_another_platforms_session_is_not_found_and_no_learner_is_made(
        self, platform_a, platform_b, platform_session, make_offer, make_code
    ):
        code = make_code(make_offer(Product.ENROLLMENT, platform_session.session))
        with pytest.raises(DoesNotExist):
            platform_code_redeem(platform=platform_b.platform, attempt=attempt(code))
        assert not PlatformLearner.objects.exists()
        assert not Redemption.objects.exists()

    @pytest.mark.parametrize("address", ["", "203.0.113", "localhost", "fe80::1%eth0", "203.0.113.9/24"])
    def test_an_address_that_is_none_is_refused_before_anything_is_made(
        self, platform_a, platform_session, make_offer, make_code, address
    ):
        code = make_code(make_offer(Product.ENROLLMENT, platform_session.session))
        with pytest.raises(InvalidInput) as refused:
            platform_code_redeem(platform=platform_a.platform, attempt=attempt(code, client_ip=address))
        assert refused.value.field == "client_ip"
        assert not PlatformLearner.objects.exists()
