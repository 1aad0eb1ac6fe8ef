"""The platform API's own refusals; each carries its status and stable code once."""

from tessera.core.errors import DomainError


class InsufficientScope(DomainError):
    code = "insufficient_scope"
    http_status = 403

    def __init__(self, scope: str) -> None:
        super().__init__(f"This needs an access token with the {scope!r} scope.", scope=scope)
        self.scope = scope
