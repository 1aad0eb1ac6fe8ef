"""Which user an API token speaks for (tessera.api.selectors)."""

from tessera.api.selectors import user_for_token
from tessera.api.services import api_token_issue, api_token_revoke


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
