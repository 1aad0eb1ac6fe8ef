"""Reads about a platform's learners (tessera.platforms.learner_selectors): through the calling
platform only, and without creating anyone."""

import pytest
from django.contrib.auth.models import User

from tessera.core.errors import DoesNotExist, InvalidInput
from tessera.platforms.learner_selectors import (
    SessionNames,
    external_id_checked,
    learner_entitlements,
    learner_user,
    platform_code_details,
    session_by_external_id,
)
from tessera.platforms.learners import platform_learner
from tessera.vouchers.errors import CodeNotFound
from tessera.vouchers.models import Product
from tessera.vouchers.services import redemption_reverse, voucher_redeem


class TestExternalIds:
    def test_are_taken_exactly_as_given(self):
        assert external_id_checked(" A1 ", field="learner") == " A1 "

    @pytest.mark.parametrize("external_id", ["", "x" * 256, "\x00"])
    def test_empty_too_long_or_with_nul_are_refused_naming_the_field(self, external_id):
        with pytest.raises(InvalidInput) as refused:
            external_id_checked(external_id, field="session")
        assert refused.value.field == "session"


class TestSessionByExternalId:
    def test_finds_the_platforms_own_with_its_course(self, platform_a, platform_session, platform_b_session):
        found = session_by_external_id(platform_a.platform, "s-1")
        assert found == platform_session
        assert found.session.course.slug == "moodle-a-c-1"

    def test_another_platforms_session_is_not_found(self, platform_b, platform_session):
        with pytest.raises(DoesNotExist):
            session_by_external_id(platform_b.platform, "s-1")


class TestLearnerEntitlements:
    def test_an_unknown_learner_holds_nothing_and_is_not_created(self, platform_a):
        held = learner_entitlements(platform_a.platform, "never-seen")
        assert (held.enrollments, held.redemptions, held.names) == ([], [], {})
        assert not User.objects.exists()
        assert learner_user(platform_a.platform, "never-seen") is None

    def test_lists_what_the_learner_holds_named_by_the_platform(
        self, platform_a, platform_session, make_offer, make_code
    ):
        user = platform_learner(platform=platform_a.platform, external_id="1234")
        offer = make_offer(Product.ENROLLMENT, platform_session.session)
        redemption = voucher_redeem(code=make_code(offer), user=user, session=platform_session.session)
        redemption_reverse(redemption=redemption, actor="staff")
        voucher_redeem(code=make_code(offer), user=user, session=platform_session.session)
        held = learner_entitlements(platform_a.platform, "1234")
        assert [e.session_id for e in held.enrollments] == [platform_session.session.pk]
        assert len(held.redemptions) == 2
        assert held.redemptions[-1].reversed_at is not None  # newest first: the reversed one is the older
        assert held.names == {platform_session.session.pk: SessionNames(session="s-1", course="c-1")}

    def test_only_the_platforms_sessions_count(
        self, platform_a, platform_session, running_session, make_offer, make_code
    ):
        """A learner redeemed for by staff on one of Tessera's own sessions keeps that to Tessera."""
        user = platform_learner(platform=platform_a.platform, external_id="1234")
        own = make_code(make_offer(Product.ENROLLMENT, running_session))
        voucher_redeem(code=own, user=user, session=running_session, limited=False)
        held = learner_entitlements(platform_a.platform, "1234")
        assert (held.enrollments, held.redemptions) == ([], [])

    def test_another_platforms_learner_of_the_same_id_is_not_seen(
        self, platform_a, platform_b, platform_b_session, make_offer, make_code
    ):
        user_at_b = platform_learner(platform=platform_b.platform, external_id="1234")
        code = make_code(make_offer(Product.ENROLLMENT, platform_b_session.session))
        voucher_redeem(code=code, user=user_at_b, session=platform_b_session.session)
        held = learner_entitlements(platform_a.platform, "1234")
        assert (held.enrollments, held.redemptions) == ([], [])
        assert learner_user(platform_a.platform, "1234") is None


class TestPlatformCodeDetails:
    def test_names_the_platforms_learners_only(
        self, platform_a, platform_session, make_offer, make_code, other_learner
    ):
        code = make_code(make_offer(Product.ENROLLMENT, platform_session.session), uses_per_code=2)
        user = platform_learner(platform=platform_a.platform, external_id="1234")
        for someone in (user, other_learner):
            voucher_redeem(code=code, user=someone, session=platform_session.session)
        found = platform_code_details(platform_a.platform, code)
        assert found.session == SessionNames(session="s-1", course="c-1")
        assert found.learners == {user.pk: "1234"}
        assert len(found.details.redemptions) == 2

    def test_another_platforms_code_is_not_found(self, platform_b, platform_session, make_offer, make_code):
        code = make_code(make_offer(Product.ENROLLMENT, platform_session.session))
        with pytest.raises(CodeNotFound):
            platform_code_details(platform_b.platform, code)

    def test_a_code_for_any_session_is_no_platforms(self, platform_a, platform_session, make_offer, make_code):
        with pytest.raises(CodeNotFound):
            platform_code_details(platform_a.platform, make_code(make_offer(Product.ENROLLMENT, None)))
