"""Which user an API token speaks for (tessera.api.selectors)."""

from django.contrib.auth.models import User

from tessera.api.models import ApiToken
from tessera.api.selectors import user_for_token
from tessera.api.services import api_token_issue, api_token_revoke
from tessera.core.tokens import token_digest
from tests.rows import columns_of


class TestUserForToken:
    def test_a_live_token_speaks_for_its_user(self, learner, other_learner):
        _, token = api_token_issue(user=learner)
        api_token_issue(user=other_learner)
        assert user_for_token(token) == learner

    def test_a_revoked_token_speaks_for_nobody(self, learner):
        issued, token = api_token_issue(user=learner)
        api_token_revoke(token=issued)
        assert user_for_token(token) is None

    def test_the_token_of_an_inactive_user_speaks_for_nobody(self, learner):
        _, token = api_token_issue(user=learner)
        learner.is_active = False
        learner.save()
        assert user_for_token(token) is None

    def test_an_unknown_token_or_a_part_of_one_speaks_for_nobody(self, learner):
        _, token = api_token_issue(user=learner)
        assert user_for_token(token[:-1]) is None
        assert user_for_token("tsr_" + "A" * 43) is None


# user_for_token, written by hand (docs/architecture.md, "Where Tessera writes SQL by hand"),
# finds the user the ORM finds.


def user_by_orm(plaintext: str) -> User | None:
    token = ApiToken.objects.select_related("user").filter(digest=token_digest(plaintext), revoked_at=None).first()
    return token.user if token is not None and token.user.is_active else None


class TestUserForTokenAgreesWithTheOrm:
    def test_finds_the_user_the_orm_finds_column_for_column(self, learner_api, other_learner_api):
        for persona in (learner_api, other_learner_api):
            found, expected = user_for_token(persona.token), user_by_orm(persona.token)
            assert expected is not None
            assert columns_of(found) == columns_of(expected)

    def test_a_revoked_unknown_or_inactive_users_token_finds_no_one_as_in_the_orm(self, learner, other_learner_api):
        token, revoked = api_token_issue(user=learner)
        api_token_revoke(token=token)
        User.objects.filter(pk=other_learner_api.user.pk).update(is_active=False)
        for tried in (revoked, revoked[:-1] + "x", other_learner_api.token):
            assert user_for_token(tried) is None
            assert user_by_orm(tried) is None
