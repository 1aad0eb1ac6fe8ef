"""Shared tables that know nothing of vouchers."""

from django.db import models


class FailureCounter(models.Model):
    """Failed attempts under one key in one fixed window: the database's rate-limit store.

    Written only by raw upserts in tessera.core.ratelimit, which count atomically. Times are
    Unix seconds, so a window is a plain number that every server process computes alike.
    """

    key = models.CharField(max_length=100, help_text="Who and which limit, e.g. ip:203.0.113.9/60.")
    window_start = models.BigIntegerField()
    window_end = models.BigIntegerField(db_index=True, help_text="Counters whose window has ended are pruned.")
    count = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "window_start"], name="one_failure_counter_per_key_and_window"),
        ]

    def __str__(self) -> str:
        return f"{self.key} @ {self.window_start}: {self.count}"


class IssuedToken(models.Model):
    """A bearer token, shown once at creation and stored only as its SHA-256 digest (shops' and
    users' tokens alike; each adds whom the token speaks for)."""

    label = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=8, help_text="The first characters, to tell tokens apart.")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-pk"]
