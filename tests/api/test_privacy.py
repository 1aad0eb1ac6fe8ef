"""An erased learner's API tokens go with the rest of their personal data (tessera.api.privacy)."""

from tessera.api.models import ApiToken
from tessera.api.privacy import on_learner_erasing
from tessera.api.services import api_token_issue


class TestOnLearnerErasing:
    def test_the_learners_tokens_go_and_are_counted(self, learner, other_learner):
        api_token_issue(user=learner, label="lms")
        api_token_issue(user=learner, label="app")
        kept, _ = api_token_issue(user=other_learner)
        assert on_learner_erasing(None, user=learner) == {"api_tokens": 2}
        assert list(ApiToken.objects.all()) == [kept]

    def test_a_learner_without_tokens_changes_nothing(self, learner):
        assert on_learner_erasing(None, user=learner) == {"api_tokens": 0}
