"""Finding a user by the name people type."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User

from tessera.core.errors import InvalidInput


def user_named(username: str, *, field: str = "user") -> User:
    user: User | None = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise InvalidInput(f"There is no user {username!r}.", field=field)
    return user
