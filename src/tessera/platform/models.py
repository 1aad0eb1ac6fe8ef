"""Tokens with which a course platform's servers call the platform API on a user's behalf."""

from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    """A user's bearer token, shown once at creation and stored only as its SHA-256 digest.

    The API acts as the token's user: a learner's token redeems for that learner, a staff
    member's token reaches the staff endpoints if the user holds the voucher permission.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    label = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=8, help_text="The first characters, to tell tokens apart.")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.user}: {self.prefix}…"
