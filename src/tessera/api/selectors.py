"""Which user an API token speaks for."""

import hmac

from django.contrib.auth.models import User

from tessera.core.db import columns, fetch_one, instance_from_row
from tessera.core.tokens import token_digest

# Every token-authenticated request runs this: hand-written SQL, see tessera.core.db. The
# unique index on digest finds the token; the user comes along in the same query. The ORM's
# select_related query took 636 µs of CPU against 118 µs (PostgreSQL; docs/benchmarks.md
# section 5); tests/api/test_selectors.py holds it to the ORM's answers.
USER_FOR_DIGEST = (
    f"SELECT t.digest, {columns(User, 'u')} FROM platform_apitoken t"  # noqa: S608
    " JOIN auth_user u ON u.id = t.user_id WHERE t.digest = %s AND t.revoked_at IS NULL"
)


def user_for_token(plaintext: str) -> User | None:
    """The active user of a live token, or None; compared in constant time, as shop tokens are."""
    digest = token_digest(plaintext)
    row = fetch_one(USER_FOR_DIGEST, [digest])
    if row is None or not hmac.compare_digest(row[0], digest):
        return None
    user = instance_from_row(User, row[1:])
    return user if user.is_active else None
