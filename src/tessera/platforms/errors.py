"""The platform API's own refusals; each carries its status and stable code once."""

from tessera.core.errors import DomainError


class InsufficientScope(DomainError):
    code = "insufficient_scope"
    http_status = 403

    def __init__(self, scope: str) -> None:
        super().__init__(f"This needs an access token with the {scope!r} scope.", scope=scope)
        self.scope = scope


class WouldBreakCodes(DomainError):
    """A catalog change that would leave issued codes unusable: turning reactivation or
    proctoring off, or archiving, a session with live codes for it. Nothing was changed; the
    same request with `?force=true` makes the change (and the audit log records what it broke)."""

    code = "would_break_codes"
    http_status = 409

    def __init__(self, would_break: dict[str, int], *, sessions: list[str]) -> None:
        total = sum(would_break.values())
        counts = ", ".join(f"{product}: {count}" for product, count in sorted(would_break.items()))
        named = ", ".join(repr(session) for session in sessions[:5]) + (" ..." if len(sessions) > 5 else "")
        super().__init__(
            f"This would leave {total} live code(s) unusable ({counts}) on session(s) {named}; "
            "send the request again with ?force=true to make the change anyway.",
            would_break=would_break,
        )
        self.would_break = would_break
        self.sessions = sessions
