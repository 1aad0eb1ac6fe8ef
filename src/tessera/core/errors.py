"""One error hierarchy with stable codes.

Every refusal or bad input in Tessera is a DomainError: `code` is stable and machine-readable,
`message` is for people, `http_status` is what an HTTP surface answers. Each surface renders them
in exactly one place: the CLI in VoucherCommand (as CommandError), the admin in its action helper
and offer form.
"""

from typing import ClassVar


class DomainError(Exception):
    code: ClassVar[str] = "error"
    http_status: ClassVar[int] = 400
    default_message: ClassVar[str] = "The request could not be completed."

    def __init__(self, message: str | None = None, **context: object) -> None:
        self.message = message or self.default_message
        self.context = context
        super().__init__(self.message)

    def as_dict(self) -> dict[str, object]:
        return {"error": self.code, "detail": self.message, **self.context}


class InvalidInput(DomainError):
    """Bad input: nothing was changed. `field` names the offending input."""

    code = "invalid_input"
    http_status = 422

    def __init__(self, message: str | None = None, *, field: str, **context: object) -> None:
        super().__init__(message, field=field, **context)
        self.field = field


class DoesNotExist(DomainError):
    code = "not_found"
    http_status = 404
    default_message = "No such thing exists."


class Forbidden(DomainError):
    code = "forbidden"
    http_status = 403
    default_message = "You are signed in but not allowed to do this."
