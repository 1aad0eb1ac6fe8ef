"""Shops sell codes through the bridge API; each sees only the vouchers it created.

Ownership lives here, not in vouchers: the bridge sits on top of the voucher service, which
knows nothing of shops.
"""

from django.db import models

from tessera.catalog.models import Assessment, CourseSession
from tessera.core.models import IssuedToken
from tessera.vouchers.models import Batch, Offer, Product


class Shop(models.Model):
    name = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    webhook_url = models.CharField(
        max_length=500, blank=True, help_text="Where redeem and void events are sent; empty sends none."
    )
    # "whsec_<base64>", the Standard Webhooks form. Kept in plain form, unlike tokens: Tessera
    # signs every webhook with it, so it must be able to read it back. Anyone who can read this
    # column can forge webhooks to this shop (never act for it against Tessera: that takes a
    # token, kept only as a digest).
    webhook_secret = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ShopToken(IssuedToken):
    """A shop's bearer token for the bridge."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="tokens")

    class Meta(IssuedToken.Meta):
        pass

    def __str__(self) -> str:
        return f"{self.shop}: {self.prefix}…"


class ShopOffer(models.Model):
    """The offer a shop's bridge vouchers of one product (and optional session, or assessment)
    belong to."""

    shop = models.ForeignKey(Shop, on_delete=models.PROTECT, related_name="offers")
    product = models.CharField(max_length=16, choices=Product)
    session = models.ForeignKey(CourseSession, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    assessment = models.ForeignKey(Assessment, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    offer = models.OneToOneField(Offer, on_delete=models.PROTECT, related_name="shop_offer")

    class Meta:
        # Two partial constraints rather than NULLS NOT DISTINCT, which SQLite lacks.
        constraints = [
            models.UniqueConstraint(
                fields=["shop", "product"], condition=models.Q(session__isnull=True, assessment__isnull=True),
                name="one_any_session_offer_per_shop",
            ),
            models.UniqueConstraint(
                fields=["shop", "product", "assessment"], condition=models.Q(assessment__isnull=False),
                name="one_assessment_offer_per_shop",
            ),
            models.UniqueConstraint(
                fields=["shop", "product", "session"], condition=models.Q(session__isnull=False),
                name="one_session_offer_per_shop",
            ),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.shop}: {self.offer}"


class ShopBatch(models.Model):
    """Marks a batch as created by a shop, so the shop sees its codes and no other's."""

    shop = models.ForeignKey(Shop, on_delete=models.PROTECT, related_name="batches")
    batch = models.OneToOneField(Batch, on_delete=models.PROTECT, related_name="shop_batch")

    def __str__(self) -> str:
        return f"{self.shop}: {self.batch}"


class IdempotencyKey(models.Model):
    """A POST's Idempotency-Key: claimed before the work starts, then holding its response."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    created_at = models.DateTimeField()
    completed = models.BooleanField(default=False)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.BinaryField(null=True)
    response_type = models.CharField(max_length=100, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["shop", "key"], name="one_idempotency_key_per_shop")]

    def __str__(self) -> str:
        return f"{self.shop}: {self.key}"


class WebhookDelivery(models.Model):
    """One event sent to one shop: the delivery log, and the state its retries work from."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    class Event(models.TextChoices):
        REDEEMED = "voucher.redeemed", "voucher.redeemed"
        REDEMPTION_REVERSED = "voucher.redemption_reversed", "voucher.redemption_reversed"
        VOIDED = "voucher.voided", "voucher.voided"

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="webhook_deliveries")
    event_id = models.UUIDField(unique=True)
    event_type = models.CharField(max_length=32, choices=Event)
    url = models.CharField(max_length=500)
    body = models.TextField(help_text="The exact JSON sent and signed.")
    status = models.CharField(max_length=16, choices=Status, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    # Set while an attempt is being sent, cleared when its outcome is recorded: a delivery still
    # sending after this moment lost its worker, and its watchdog task sends it once more.
    sending_until = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "webhook deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event_type} to {self.shop} ({self.status})"
