"""Tokens with which a course platform's servers call the platform API on a user's behalf."""

from django.conf import settings
from django.db import models

from tessera.core.models import IssuedToken


class ApiToken(IssuedToken):
    """A user's bearer token. The API acts as the token's user: a learner's token redeems for
    that learner, a staff member's token reaches the staff endpoints if the user holds the
    voucher permission."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")

    class Meta(IssuedToken.Meta):
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.user}: {self.prefix}…"
