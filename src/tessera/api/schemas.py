"""What every platform API payload shares: text without NUL, moments PostgreSQL can store, and
the shape of an error."""

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from ninja.schema import DjangoGetter
from pydantic import BeforeValidator, field_validator, model_validator

ProductName = Literal["enrollment", "proctoring", "reactivation", "assessment"]


def _end_of_a_bare_date(value: Any) -> Any:
    """A bare date (YYYY-MM-DD) means the end of that day, UTC, as on the command line: a batch
    that expires on 2099-01-01 is still good all of that day."""
    if not (isinstance(value, str) and len(value) == 10):
        return value  # a date-time, or nonsense pydantic refuses in its own words
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return value
    try:
        return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)
    except OverflowError:
        raise ValueError("is outside the range of dates that can be stored") from None


Moment = Annotated[datetime, BeforeValidator(_end_of_a_bare_date)]


class ApiIn(Schema):
    """A request body. Refuses, as invalid_input, what the database would otherwise refuse with
    a server error: NUL characters (PostgreSQL text cannot hold them) and moments whose offset
    PostgreSQL cannot take or that leave the calendar once moved to UTC."""

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, data: Any) -> Any:
        # ninja's Schema reads fields off any object (through its DjangoGetter), so a body of [1]
        # or "yes" would pass as empty and a schema whose fields are all optional would act on
        # its defaults.
        body = data._obj if isinstance(data, DjangoGetter) else data
        if not isinstance(body, dict):
            raise ValueError("The body is a JSON object.")
        return data

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        if isinstance(value, datetime):
            return _in_utc(value)
        return value


def _in_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)  # a moment without an offset is read as UTC, as documented
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("is outside the range of dates that can be stored") from None


class LineProblemOut(Schema):
    """A line of an import to fix: its number, the code as given, what is wrong."""

    line: int
    code: str
    problem: str


class RecipientProblemOut(Schema):
    """A line of a recipient list to fix: its number, the address as given, what is wrong."""

    line: int
    email: str
    problem: str


class ErrorOut(Schema):
    error: str
    detail: object
    field: str | None = Field(None, description="With invalid_input from Tessera's own checks: the input to correct.")
    scope: str | None = Field(None, description="With insufficient_scope: the scope the access token lacks.")
    would_break: dict[str, int] | None = Field(
        None, description="With would_break_codes: the live codes the change would leave unusable, by product."
    )
    problems: list[LineProblemOut | RecipientProblemOut] | None = Field(
        None,
        description="With codes_refused: the lines of an import to fix; with recipients_refused: the recipients "
        "to fix (numbered by their place in the list, from 1); the first 100 in line order.",
    )
    problem_count: int | None = Field(
        None, description="With codes_refused or recipients_refused: how many lines need fixing in all."
    )


# Every platform route may answer with any of these, all in ErrorOut's shape (see tessera.api.v1);
# 503 is database_unavailable (tessera.core.unavailable).
ERRORS: dict[int | str, object] = {status: ErrorOut for status in (401, 403, 404, 409, 422, 429, 503)}
