"""Course platforms that plug into Tessera: their OAuth clients, the catalog and learners they
bring, and the events they are told of.

Ownership lives here, as the shop's does in tessera.shop: catalog and vouchers know nothing of
platforms. A platform's course, session or learner is a row of Tessera's own (a Course, a
CourseSession, a User) plus a mapping row here naming it by the platform's external id.
"""

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from oauth2_provider.models import Application

from tessera.catalog.models import Course, CourseSession
from tessera.vouchers.models import Redemption

SCOPES = {
    "catalog": "Upsert and archive the platform's courses and sessions; create offers and codes for them.",
    "redeem": "Check and redeem codes on behalf of the platform's learners.",
    "entitlements": "List what the platform's learners hold.",
    "events": "Read the platform's event feed.",
}


class Platform(models.Model):
    name = models.CharField(max_length=100, unique=True)
    # In learner usernames ("moodle:1234") and redeem links; never changes once learners exist.
    slug = models.SlugField(max_length=40, unique=True)
    application = models.OneToOneField(Application, on_delete=models.PROTECT, related_name="platform")
    scopes = models.CharField(
        max_length=200, default=" ".join(SCOPES), help_text="The scopes its access tokens may carry, space-separated."
    )
    return_urls = models.TextField(
        blank=True, help_text="Where redeem links may send a learner back to: one URL prefix per line."
    )
    webhook_url = models.CharField(max_length=500, blank=True, help_text="Where events are sent; empty sends none.")
    # "whsec_<base64>", as a shop's: Tessera signs with it, so it is kept readable.
    webhook_secret = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The last event's sequence number: taken by an UPDATE of this row in the event's own
    # transaction, so events are numbered in the order they commit.
    last_event_seq = models.BigIntegerField(default=0)
    # Webhook delivery (tessera.platforms.delivery): the last event the platform's server took,
    # the lease of the one delivery run at a time, and the back-off after failed attempts.
    delivered_seq = models.BigIntegerField(default=0)
    delivery_lease_until = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Failed attempts in a row; 0 after a delivery.")
    last_error = models.TextField(blank=True)

    # Declared for the type checker, which cannot follow a relation to django-oauth-toolkit's
    # untyped models and so does not see the model's manager and the relation's id on its own.
    objects: ClassVar[models.Manager["Platform"]] = models.Manager()
    application_id: int

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())

    @property
    def actor(self) -> str:
        """How the audit log names it."""
        return f"platform:{self.pk}"


class PlatformCourse(models.Model):
    platform = models.ForeignKey(Platform, on_delete=models.PROTECT, related_name="courses")
    external_id = models.CharField(max_length=255)
    course = models.OneToOneField(Course, on_delete=models.PROTECT, related_name="platform_course")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["platform", "external_id"], name="one_course_per_platform_id"),
        ]

    def __str__(self) -> str:
        return f"{self.platform}: {self.external_id}"


class PlatformSession(models.Model):
    """A session's external id is unique within its platform: redemptions and redeem links name
    a session without its course. Its CourseSession's `source` is PLATFORM, set where both are
    made (tessera.platforms.catalog, catalog_import): the redemption reads that, not this table,
    to tell a platform's session from Tessera's own."""

    platform = models.ForeignKey(Platform, on_delete=models.PROTECT, related_name="sessions")
    external_id = models.CharField(max_length=255)
    course = models.ForeignKey(PlatformCourse, on_delete=models.PROTECT, related_name="sessions")
    session = models.OneToOneField(CourseSession, on_delete=models.PROTECT, related_name="platform_session")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["platform", "external_id"], name="one_session_per_platform_id"),
        ]

    def __str__(self) -> str:
        return f"{self.platform}: {self.external_id}"


class PlatformLearner(models.Model):
    """A platform's learner, created on first use: a User of Tessera's with no password, so
    redemptions, enrollments and the audit log work as for anyone."""

    platform = models.ForeignKey(Platform, on_delete=models.PROTECT, related_name="learners")
    external_id = models.CharField(max_length=255)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="platform_learner")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["platform", "external_id"], name="one_learner_per_platform_id"),
        ]

    def __str__(self) -> str:
        return f"{self.platform}: {self.external_id}"


class PlatformEvent(models.Model):
    """One event a platform must act on, written in the transaction of the change it tells of (a
    transactional outbox), numbered per platform without gaps in commit order."""

    class Type(models.TextChoices):
        ENTITLEMENT_GRANTED = "entitlement.granted", "entitlement.granted"
        ENTITLEMENT_REVOKED = "entitlement.revoked", "entitlement.revoked"
        ENTITLEMENT_EXPIRED = "entitlement.expired", "entitlement.expired"
        CODE_REDEEMED = "code.redeemed", "code.redeemed"
        BATCH_REVOKED = "batch.revoked", "batch.revoked"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    platform = models.ForeignKey(Platform, on_delete=models.PROTECT, related_name="events")
    seq = models.BigIntegerField()
    type = models.CharField(max_length=32, choices=Type)
    occurred_at = models.DateTimeField()
    data = models.JSONField(default=dict)

    class Meta:
        ordering = ["platform", "seq"]
        constraints = [models.UniqueConstraint(fields=["platform", "seq"], name="one_event_per_platform_seq")]

    def __str__(self) -> str:
        return f"{self.platform} #{self.seq} {self.type}"


class PlatformReactivation(models.Model):
    """A reactivation redeemed on a platform's session, kept so that its end becomes one
    entitlement.expired event: written with the entitlement.granted event, claimed once by the
    chore that writes the expired one (expired_event_at), or revoked with its redemption."""

    redemption = models.OneToOneField(Redemption, on_delete=models.PROTECT, primary_key=True, related_name="+")
    platform = models.ForeignKey(Platform, on_delete=models.PROTECT, related_name="+")
    session = models.ForeignKey(PlatformSession, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    until = models.DateTimeField()
    expired_event_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # What the chore looks for every minute: the running ones, by their end.
            models.Index(
                fields=["until"], name="platform_reactivation_running",
                condition=models.Q(expired_event_at__isnull=True, revoked_at__isnull=True),
            ),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.session} until {self.until:%Y-%m-%d}"
