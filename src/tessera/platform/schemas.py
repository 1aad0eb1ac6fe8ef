"""What every platform API payload shares: text without NUL, moments PostgreSQL can store, and
the shape of an error."""

from datetime import UTC, datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import field_validator

ProductName = Literal["enrollment", "proctoring", "reactivation"]


class ApiIn(Schema):
    """A request body. Refuses, as invalid_input, what the database would otherwise refuse with
    a server error: NUL characters (PostgreSQL text cannot hold them) and moments whose offset
    PostgreSQL cannot take or that leave the calendar once moved to UTC."""

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


class ErrorOut(Schema):
    error: str
    detail: object
