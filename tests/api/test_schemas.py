"""What every platform API payload shares (tessera.api.schemas): a JSON object, text without NUL,
moments in UTC that PostgreSQL can store, and a bare date meaning the end of that day."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from tessera.api.schemas import ApiIn, Moment


class Payload(ApiIn):
    name: str = ""
    at: Moment | None = None


class TestApiIn:
    def test_text_and_a_moment_with_an_offset_are_read_into_utc(self):
        payload = Payload.model_validate({"name": "Seats", "at": "2030-06-30T12:00:00+02:00"})
        assert payload.name == "Seats"
        assert payload.at == datetime(2030, 6, 30, 10, tzinfo=UTC)
        assert payload.at.tzinfo is UTC

    def test_a_moment_without_an_offset_is_utc(self):
        assert Payload.model_validate({"at": "2030-06-30T12:00:00"}).at == datetime(2030, 6, 30, 12, tzinfo=UTC)

    def test_a_bare_date_is_the_end_of_that_day_utc(self):
        assert Payload.model_validate({"at": "2030-06-30"}).at == datetime(2030, 7, 1, tzinfo=UTC)

    @pytest.mark.parametrize("body", [[1], "yes", 3, None])
    def test_a_body_that_is_no_object_is_refused(self, body):
        with pytest.raises(ValidationError, match="The body is a JSON object"):
            Payload.model_validate(body)

    def test_nul_in_text_is_refused(self):
        with pytest.raises(ValidationError, match="must not contain NUL characters"):
            Payload.model_validate({"name": "a\x00b"})

    @pytest.mark.parametrize("at", ["9999-12-31", "9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+01:00"])
    def test_a_moment_that_leaves_the_calendar_in_utc_is_refused(self, at):
        with pytest.raises(ValidationError, match="outside the range of dates that can be stored"):
            Payload.model_validate({"at": at})

    def test_what_is_no_date_is_refused_in_pydantics_words(self):
        with pytest.raises(ValidationError, match="datetime"):
            Payload.model_validate({"at": "2030-13-01"})
