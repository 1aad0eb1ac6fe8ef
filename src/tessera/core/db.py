"""Small database helpers shared by services."""

from django.db import IntegrityError


def violates_unique(error: IntegrityError, constraint: str) -> bool:
    """Whether `error` is a violation of the named unique constraint.

    PostgreSQL names the constraint; SQLite names its columns or index, so there any unique
    violation counts, which callers use only on inserts into tables with a single unique rule.
    """
    diag = getattr(error.__cause__, "diag", None)
    if diag is not None:
        return bool(diag.constraint_name == constraint)
    return "UNIQUE constraint failed" in str(error)
