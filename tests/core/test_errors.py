"""The one error hierarchy (tessera.core.errors): a stable code, a message for people, a status."""

import pytest

from tessera.core.errors import DoesNotExist, DomainError, Forbidden, InvalidInput


class TestDomainError:
    def test_without_a_message_it_says_its_default(self):
        assert DomainError().message == "The request could not be completed."
        assert str(DomainError()) == "The request could not be completed."

    def test_a_message_given_replaces_the_default(self):
        assert DomainError("Nothing to do.").message == "Nothing to do."

    def test_as_a_dict_it_carries_its_code_message_and_context(self):
        error = DomainError("Nothing to do.", batch=7)
        assert error.as_dict() == {"error": "error", "detail": "Nothing to do.", "batch": 7}


class TestInvalidInput:
    def test_names_the_field_to_correct(self):
        error = InvalidInput("Too long.", field="tag")
        assert (error.code, error.http_status, error.field) == ("invalid_input", 422, "tag")
        assert error.as_dict() == {"error": "invalid_input", "detail": "Too long.", "field": "tag"}

    def test_cannot_be_raised_without_a_field(self):
        with pytest.raises(TypeError):
            InvalidInput("Too long.")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [(DoesNotExist(), "not_found", 404), (Forbidden(), "forbidden", 403), (DomainError(), "error", 400)],
)
def test_each_kind_has_its_stable_code_and_status(error, code, status):
    assert (error.code, error.http_status) == (code, status)
