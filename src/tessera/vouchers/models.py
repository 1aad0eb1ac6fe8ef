"""Offers own batches of codes; a code is redeemed by users; every change is audited."""

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from tessera.catalog.models import CourseSession
from tessera.vouchers.permissions import MANAGE_VOUCHERS_CODENAME


class Product(models.TextChoices):
    ENROLLMENT = "enrollment", "Enrollment"
    PROCTORING = "proctoring", "Proctoring"
    REACTIVATION = "reactivation", "Reactivation"


STORE_URL_MAX_LENGTH = 500


class Offer(models.Model):
    """What seed 000 calls an event: a product of a course session, sold offline through codes.

    An offer without a session is valid for any session that offers its product, as Xikolo's
    vouchers are (a reactivation voucher is not bound to one course).
    """

    class PaymentMode(models.TextChoices):
        OFFLINE = "offline", "Offline"

    name = models.CharField(max_length=200)
    product = models.CharField(max_length=16, choices=Product)
    session = models.ForeignKey(CourseSession, on_delete=models.PROTECT, null=True, blank=True, related_name="offers")
    price = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, default="EUR")
    payment_mode = models.CharField(max_length=16, choices=PaymentMode, default=PaymentMode.OFFLINE)
    sale_starts_at = models.DateTimeField(null=True, blank=True)
    sale_ends_at = models.DateTimeField(null=True, blank=True)
    auto_subscribe = models.BooleanField(default=True, help_text="Redeeming a code activates the product at once.")
    # Where a learner without a code buys one: the course page links to it beside the code field,
    # with the price (when above zero). Display only, so it may change after codes exist. A plain
    # CharField: offer_validate judges it (http and https only, which a URLField's check is not).
    store_url = models.CharField(
        max_length=STORE_URL_MAX_LENGTH, blank=True,
        help_text="Where learners buy a code (http or https); blank: no link.",
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        # Staff pages, the staff API and the admin's voucher actions let in only holders of this
        # permission (or superusers); see tessera.vouchers.permissions.
        permissions = [(MANAGE_VOUCHERS_CODENAME, "Can manage offers, batches, codes and redemptions")]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_product_display()})"

    @property
    def display_price(self) -> str:
        """The price as learners see it ("49.00 EUR"), or "" for an offer priced at zero."""
        return f"{self.price:.2f} {self.currency}" if self.price > 0 else ""


class Batch(models.Model):
    class RefundPolicy(models.TextChoices):
        RETURN_USE = "return_use", "A reversed redemption gives the use back"
        KEEP_USE = "keep_use", "A reversed redemption keeps the use spent"

    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="batches")
    count = models.PositiveIntegerField()
    uses_per_code = models.PositiveIntegerField(default=1)
    expires_at = models.DateTimeField(null=True, blank=True)
    tag = models.CharField(max_length=100, default="untagged")
    country = models.CharField(max_length=2, blank=True)
    restricted_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.TextField(blank=True)
    prefix = models.CharField(max_length=8, blank=True)
    refund_policy = models.CharField(max_length=16, choices=RefundPolicy, default=RefundPolicy.RETURN_USE)
    # Codes made elsewhere and imported as given (services.imports), rather than generated here:
    # they have no check symbol and are shown as stored, not in groups of four.
    imported = models.BooleanField(default=False)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "batches"
        indexes = [models.Index(fields=["tag"])]

    def __str__(self) -> str:
        return f"Batch {self.pk}: {self.count} codes of {self.offer}"

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


class CodeField(models.CharField):
    """A code's text, compared byte by byte on PostgreSQL (collation "C"), as SQLite and Python
    compare it anyway.

    Codes are ASCII digits and capital letters, so "C" orders them as a C.UTF-8 or en_US.UTF-8
    default does (and as batch_create sorts them); but such a default compares
    through the C library's strcoll, and every insert into the code's B-tree index makes some 25
    comparisons. The primary key costs most of a batch's COPY once the table is big; inserting
    sorted codes into it took 2-20% less with "C" (docs/benchmarks.md section 1, "Again for issue
    16"). The foreign keys to the code (Redemption.code) take the same collation.

    Set here, not with db_collation, because SQLite has no collation named C (its default,
    BINARY, already compares bytes). Altering this column later must keep the class: a plain
    CharField would put the database's default collation back.
    """

    def db_parameters(self, connection: Any) -> dict[str, Any]:
        parameters = super().db_parameters(connection)
        if connection.vendor == "postgresql":
            parameters["collation"] = "C"
        return parameters


class Code(models.Model):
    """One code, stored normalised (no dashes; an imported code as codes.imported_key stores it).
    The code is the primary key, so its uniqueness across the whole database, generated and
    imported codes alike, is the primary key's unique index; the only other index is on
    (batch_id, code), for listing and searching a batch's codes."""

    code = CodeField(max_length=31, primary_key=True)
    # Indexed together with the code (Meta.indexes), not alone: the batch page pages through a
    # batch's codes in code order and finds codes by their first symbols within the batch.
    # No database-level foreign key: PostgreSQL checks one with a trigger per row, which costs
    # more than the whole rest of a million-row COPY. The only writers of codes are batch_create
    # and codes_import, inside the transaction that creates their batch; batches are never deleted.
    batch = models.ForeignKey(
        Batch, on_delete=models.PROTECT, related_name="codes", db_constraint=False, db_index=False
    )
    # Plain integers with one combined CHECK: PositiveIntegerField would add a CHECK of its own
    # per column, each evaluated for every row of a million-row COPY.
    uses = models.IntegerField(default=0)
    max_uses = models.IntegerField(default=1)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(uses__gte=0, uses__lte=F("max_uses")), name="code_uses_within_max"),
        ]
        indexes = [
            models.Index(fields=["batch", "code"], name="vouchers_code_batch_code"),
            # Used codes only (migration 0005): counts and lists of used codes per batch read it,
            # and a batch's COPY adds nothing to it. Declared here so a table rebuild keeps it.
            models.Index(fields=["batch", "code"], condition=Q(uses__gt=0), name="vouchers_code_used_by_batch"),
        ]

    def __str__(self) -> str:
        return self.code


class BatchJob(models.Model):
    """A batch too large for one request (more than `jobs.IN_REQUEST_MAX` codes), written by the
    task worker; the staff page shows its progress. `fields` holds its checked BatchSpec but for
    restricted_to and note, which have columns (tessera.vouchers.services.jobs)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="+")
    count = models.PositiveIntegerField()
    fields = models.JSONField(default=dict)
    restricted_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.TextField(blank=True)
    status = models.CharField(max_length=8, choices=Status, default=Status.QUEUED)
    written = models.PositiveIntegerField(default=0, help_text="Codes written so far.")
    batch = models.OneToOneField(Batch, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    error = models.TextField(blank=True)
    # Runs started: a claim adds one; a job whose worker died is queued again while this is
    # below TESSERA_JOB_ATTEMPTS (tessera.vouchers.services.jobs.batch_jobs_requeue_stalled).
    attempts = models.PositiveSmallIntegerField(default=0)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # The worker's heartbeat: set when it claims the job and with every progress report.
    updated_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Job {self.pk}: {self.count} codes of {self.offer} ({self.status})"

    @staticmethod
    def lease() -> timedelta:
        """How long a running job may go without a heartbeat before it counts as stalled:
        TESSERA_JOB_LEASE_SECONDS, far above the worst gap between two heartbeats (a million
        codes take seconds; on SQLite, with no progress reports, the whole job is one gap)."""
        return timedelta(seconds=settings.TESSERA_JOB_LEASE_SECONDS)

    def is_stalled(self, now: datetime) -> bool:
        """Running with no sign of life for a lease: its worker died (the batch's transaction
        then rolled back, so nothing was written) and it can be queued again."""
        beat = self.updated_at or self.started_at
        return self.status == self.Status.RUNNING and (beat is None or beat < now - self.lease())

    @property
    def percent(self) -> int:
        return min(100, 100 * self.written // self.count) if self.count else 0


class Redemption(models.Model):
    code = models.ForeignKey(Code, on_delete=models.PROTECT, related_name="redemptions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="redemptions")
    session = models.ForeignKey(CourseSession, on_delete=models.PROTECT, related_name="redemptions")
    product = models.CharField(max_length=16, choices=Product)
    redeemed_at = models.DateTimeField()
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    # Whether the learner was actively enrolled before this redemption: a reversal puts that back,
    # so refunding a reactivation also ends the enrollment the reactivation created or restored.
    had_active_enrollment = models.BooleanField(default=False)
    reversed_at = models.DateTimeField(null=True, blank=True)
    reversed_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["redeemed_at", "pk"]
        constraints = [
            # A user redeems a code once; a refunded (reversed) redemption frees the pair again.
            models.UniqueConstraint(
                fields=["code", "user"],
                condition=Q(reversed_at__isnull=True),
                name="one_live_redemption_per_code_and_user",
            ),
        ]
        indexes = [models.Index(fields=["redeemed_at"])]

    def __str__(self) -> str:
        return f"{self.code_id} by {self.user_id}"


APPEND_ONLY = "The audit log is append-only."


class AuditQuerySet(models.QuerySet["AuditEvent"]):
    """Refuses every way the ORM changes or removes rows: update(), delete(), bulk_update()
    (which calls update()), and the internal _update/_raw_delete that save() and cascades use.
    The model's base manager too (Meta.base_manager_name), which Django uses internally."""

    def update(self, **kwargs: Any) -> int:
        raise TypeError(APPEND_ONLY)

    def _update(self, values: Any) -> Any:
        raise TypeError(APPEND_ONLY)

    def delete(self) -> tuple[int, dict[str, int]]:
        raise TypeError(APPEND_ONLY)

    def _raw_delete(self, using: Any) -> int:
        raise TypeError(APPEND_ONLY)


class AuditEvent(models.Model):
    """Append-only: every Django path refuses updates and deletes, and the database's triggers
    (migration 0008) refuse UPDATE, DELETE and, on PostgreSQL, TRUNCATE.

    Rows name people by id only (actor "user:<id>"), never by username, email or address, so
    erasing a learner's personal data never needs to touch this table."""

    class Action(models.TextChoices):
        CREATED = "created", "Created"
        IMPORTED = "imported", "Codes imported"
        REDEEMED = "redeemed", "Redeemed"
        REFUSED = "refused", "Refused attempt"
        REVOKED = "revoked", "Revoked"
        REVERSED = "reversed", "Reversed"
        PURGED = "purged", "Addresses purged"
        ERASED = "erased", "Learner erased"
        OFFER_CREATED = "offer_created", "Offer created"
        OFFER_CHANGED = "offer_changed", "Offer changed"
        OFFER_DELETED = "offer_deleted", "Offer deleted"
        # Credentials and shops (shop/ and api/ write these; the log itself is generic).
        SHOP_CREATED = "shop_created", "Shop created"
        SHOP_RENAMED = "shop_renamed", "Shop renamed"
        SHOP_DELETED = "shop_deleted", "Shop deleted"
        TOKEN_ISSUED = "token_issued", "Token issued"
        TOKEN_REVOKED = "token_revoked", "Token revoked"
        WEBHOOK_SET = "webhook_set", "Webhook URL set"
        WEBHOOK_OFF = "webhook_off", "Webhooks turned off"
        SECRET_ROTATED = "secret_rotated", "Webhook secret rotated"
        WEBHOOK_RETRIED = "webhook_retried", "Webhook retried now"
        # Course platforms (platforms/ writes these).
        PLATFORM_CREATED = "platform_created", "Platform created"
        PLATFORM_CHANGED = "platform_changed", "Platform changed"
        PLATFORM_SECRET = "platform_secret", "Platform secret rotated"
        LEARNER_CREATED = "learner_created", "Platform learner created"
        # A platform's catalog (platforms/catalog*.py writes these).
        COURSE_CREATED = "course_created", "Course created"
        COURSE_CHANGED = "course_changed", "Course changed"
        SESSION_CREATED = "session_created", "Session created"
        SESSION_CHANGED = "session_changed", "Session changed"
        SESSION_ARCHIVED = "session_archived", "Session archived"
        CATALOG_IMPORTED = "catalog_imported", "Catalog imported"

    at = models.DateTimeField()
    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=16, choices=Action)
    batch = models.ForeignKey(
        Batch, on_delete=models.DO_NOTHING, null=True, blank=True, db_constraint=False, related_name="+"
    )
    code = models.CharField(max_length=64, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["code"]), models.Index(fields=["action", "at"])]
        base_manager_name = "objects"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.code}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise TypeError(APPEND_ONLY)
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise TypeError(APPEND_ONLY)
