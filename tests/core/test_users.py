"""Finding a user by the name people type (tessera.core.users)."""

import pytest

from tessera.core.errors import InvalidInput
from tessera.core.users import user_named


class TestUserNamed:
    def test_finds_the_user_of_that_username(self, learner, other_learner):
        assert user_named("other_learner") == other_learner

    def test_an_unknown_name_is_invalid_input_on_the_field_named(self, learner):
        with pytest.raises(InvalidInput, match="There is no user 'Learner'") as refused:
            user_named("Learner", field="restricted_to")  # usernames are matched exactly, case too
        assert refused.value.field == "restricted_to"

    def test_the_field_is_user_by_default(self, db):
        with pytest.raises(InvalidInput) as refused:
            user_named("nobody")
        assert refused.value.field == "user"
