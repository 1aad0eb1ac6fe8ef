"""Offers own batches of codes; a code is redeemed by users; every change is audited."""

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from tessera.catalog.models import Assessment, CourseSession
from tessera.vouchers.permissions import MANAGE_VOUCHERS_CODENAME


class Product(models.TextChoices):
    ENROLLMENT = "enrollment", "Enrollment"
    PROCTORING = "proctoring", "Proctoring"
    REACTIVATION = "reactivation", "Reactivation"
    ASSESSMENT = "assessment", "Assessment"


STORE_URL_MAX_LENGTH = 500


class Offer(models.Model):
    """What seed 000 calls an event: a product of a course session, sold offline through codes.

    An offer without a session is valid for any session that offers its product, as Xikolo's
    vouchers are (a reactivation voucher is not bound to one course).

    An assessment offer names its assessment and no session: its codes give `attempts` attempts
    (empty: the assessment's allowance). A plain one is for learners who do not hold the
    assessment; one that `adds_attempts` also adds its attempts to a learner who does, up to the
    assessment's allowance (tessera.vouchers.products.AssessmentRule).
    """

    class PaymentMode(models.TextChoices):
        OFFLINE = "offline", "Offline"

    name = models.CharField(max_length=200)
    product = models.CharField(max_length=16, choices=Product)
    session = models.ForeignKey(CourseSession, on_delete=models.PROTECT, null=True, blank=True, related_name="offers")
    assessment = models.ForeignKey(Assessment, on_delete=models.PROTECT, null=True, blank=True, related_name="offers")
    attempts = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Assessment offers: attempts one code gives (empty: the assessment's)."
    )
    adds_attempts = models.BooleanField(
        default=False, help_text="Assessment offers: a learner who holds the assessment gets the attempts added."
    )
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
    def place(self) -> CourseSession | Assessment | None:
        """What the offer is for: its session, its assessment, or None (any session)."""
        return self.session or self.assessment

    @property
    def display_price(self) -> str:
        """The price as learners see it ("49.00 EUR"), or "" for an offer priced at zero."""
        return f"{self.price:.2f} {self.currency}" if self.price > 0 else ""


class Batch(models.Model):
    class Source(models.TextChoices):
        """Who made the batch. Fixed when it is created."""

        TESSERA = "", "Tessera"
        SHOP = "shop", "A shop"  # sold through tessera.shop, which marks its batches so

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
    # Read on every redemption with the rest of the row: what a shop adds to a redemption (its
    # webhook event) costs a code of no shop's batch no query.
    source = models.CharField(max_length=16, choices=Source, blank=True, default=Source.TESSERA, editable=False)

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
    # Exactly one of the two: the session of a session's product, or the assessment.
    session = models.ForeignKey(
        CourseSession, on_delete=models.PROTECT, null=True, blank=True, related_name="redemptions"
    )
    assessment = models.ForeignKey(
        Assessment, on_delete=models.PROTECT, null=True, blank=True, related_name="redemptions"
    )
    product = models.CharField(max_length=16, choices=Product)
    # Assessment redemptions: the attempts this one granted or added, which a reversal takes back.
    attempts = models.PositiveSmallIntegerField(null=True, blank=True)
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
            models.CheckConstraint(
                condition=Q(session__isnull=False, assessment__isnull=True)
                | Q(session__isnull=True, assessment__isnull=False),
                name="redemption_for_a_session_or_an_assessment",
            ),
        ]
        indexes = [models.Index(fields=["redeemed_at"])]

    def __str__(self) -> str:
        return f"{self.code_id} by {self.user_id}"


class SendJob(models.Model):
    """Mails to recipients of a batch's codes, sent by the task worker (services.mailing): the
    codes themselves (kind send) or reminders (kind remind). The assignments it is to mail point
    at it (Assignment.job) until their mail went out or was refused; a run that loses the mail
    server stops, is queued again later and picks up where it stopped."""

    class Kind(models.TextChoices):
        SEND = "send", "Codes"
        REMIND = "remind", "Reminders"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="send_jobs")
    kind = models.CharField(max_length=8, choices=Kind, default=Kind.SEND)
    status = models.CharField(max_length=8, choices=Status, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    sent = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    # The site's address the mails' redeem links start with (TESSERA_PUBLIC_URL, or the address
    # of the staff page that queued the job): the task worker has no request to ask.
    link_base = models.CharField(max_length=300)
    # Runs started; a run that cannot reach the mail server is queued again while this is below
    # TESSERA_MAIL_ATTEMPTS, then the job fails and its unsent assignments with it.
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        kind = self.get_kind_display().lower()
        return f"Mail job {self.pk}: {self.total} {kind} of batch {self.batch_id} ({self.status})"

    @property
    def done_count(self) -> int:
        return self.sent + self.failed

    @property
    def percent(self) -> int:
        return min(100, 100 * self.done_count // self.total) if self.total else 100


class Assignment(models.Model):
    """A code sent to a recipient by email (DOMAIN.md). A code has at most one live (not
    withdrawn) assignment; withdrawing one revokes its code, so a mailed code stops working."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        WITHDRAWN = "withdrawn", "Withdrawn"

    code = models.ForeignKey(Code, on_delete=models.PROTECT, related_name="assignments")
    # The code's batch, kept here so a batch's assignments are listed without a join over codes
    # (Code.batch has no database constraint; this does).
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="assignments")
    email = models.EmailField(max_length=254)
    name = models.CharField(max_length=200, blank=True)
    language = models.CharField(max_length=16, blank=True, help_text='e.g. "de"; blank: the default language.')
    assigned_by = models.CharField(max_length=150, blank=True)
    assigned_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State, default=State.QUEUED)
    # The job that is to mail it next (its code, or a reminder); None once that mail went out or
    # was refused.
    job = models.ForeignKey(SendJob, on_delete=models.SET_NULL, null=True, blank=True, related_name="assignments")
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Mails tried: the code's, resends, reminders.")
    last_error = models.TextField(blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["batch", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["code"], condition=~Q(state="withdrawn"), name="one_live_assignment_per_code"
            ),
        ]
        indexes = [models.Index(fields=["batch", "state"])]

    def __str__(self) -> str:
        return f"Assignment {self.pk} of {self.code_id} ({self.state})"


class MessageTemplate(models.Model):
    """The subject and body of a mail, per kind and language, in Django's template language.
    Without a row the built-in text is used (services.mailing.BUILT_IN)."""

    class Kind(models.TextChoices):
        CODE = "code", "The code"
        REMINDER = "reminder", "A reminder"

    kind = models.CharField(max_length=8, choices=Kind)
    language = models.CharField(max_length=16)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    updated_by = models.CharField(max_length=150, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "language"]
        constraints = [models.UniqueConstraint(fields=["kind", "language"], name="one_template_per_kind_and_language")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.language})"


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
        # Codes sent to recipients by email (services.assignments and services.mailing).
        ASSIGNED = "assigned", "Codes assigned to recipients"
        MAIL_SENT = "mail_sent", "Code mails sent"
        RESENT = "resent", "Code mail queued again"
        REMINDED = "reminded", "Reminders queued"
        WITHDRAWN = "withdrawn", "Assignment withdrawn"
        TEMPLATE_CHANGED = "template_changed", "Mail template changed"

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
