"""user_for_token, written by hand (docs/architecture.md, "Where Tessera writes SQL by hand"),
finds the user the ORM finds."""

from django.contrib.auth.models import User

from tessera.api.models import ApiToken
from tessera.api.selectors import user_for_token
from tessera.api.services import api_token_issue, api_token_revoke
from tessera.core.tokens import token_digest
from tests.rows import columns_of


def user_by_orm(plaintext: str) -> User | None:
    token = ApiToken.objects.select_related("user").filter(digest=token_digest(plaintext), revoked_at=None).first()
    return token.user if token is not None and token.user.is_active else None


class TestUserForToken:
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
