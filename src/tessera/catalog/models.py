"""The things codes unlock: courses, their sessions (runs), exams and enrollments."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q


class Course(models.Model):
    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class CourseSession(models.Model):
    """One run of a course: the thing an enrollment, a proctoring booking or a reactivation is for."""

    class State(models.TextChoices):
        PREPARATION = "preparation", "Preparation"
        ACTIVE = "active", "Active"
        ARCHIVED = "archived", "Archived"

    class Source(models.TextChoices):
        """Whose catalog the session belongs to. Fixed when it is created."""

        TESSERA = "", "Tessera"
        PLATFORM = "platform", "A course platform"  # kept in step by tessera.platforms

    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="sessions")
    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=200, blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    enrollment_opens_at = models.DateTimeField(null=True, blank=True)
    enrollment_closes_at = models.DateTimeField(null=True, blank=True)
    capacity = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: unlimited.")
    state = models.CharField(max_length=16, choices=State, default=State.PREPARATION)
    reactivation_enabled = models.BooleanField(default=False)
    reactivation_weeks = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Empty: the configured default (TESSERA_REACTIVATION_WEEKS)."
    )
    offers_proctored_certificate = models.BooleanField(default=False)
    # Read on every redemption with the rest of the row: what a platform adds to a redemption (its
    # events, its archived sessions' refusal) costs a session of Tessera's own catalog no query.
    source = models.CharField(max_length=16, choices=Source, blank=True, default=Source.TESSERA, editable=False)

    class Meta:
        ordering = ["course__title", "starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gte=models.F("starts_at")), name="session_ends_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.course.title}: {self.title or self.slug}"

    @property
    def reactivation_period(self) -> timedelta:
        weeks = self.reactivation_weeks or settings.TESSERA_REACTIVATION_WEEKS
        return timedelta(weeks=weeks)

    def has_started(self, now: datetime) -> bool:
        return self.starts_at <= now

    def has_ended(self, now: datetime) -> bool:
        return self.ends_at <= now

    def enrollment_open(self, now: datetime) -> bool:
        opens = self.enrollment_opens_at
        closes = self.enrollment_closes_at or self.ends_at
        return (opens is None or opens <= now) and now < closes


class Exam(models.Model):
    session = models.ForeignKey(CourseSession, on_delete=models.CASCADE, related_name="exams")
    title = models.CharField(max_length=200)
    submission_deadline = models.DateTimeField()
    proctored = models.BooleanField(default=False)
    graded = models.BooleanField(default=True)

    class Meta:
        ordering = ["submission_deadline", "pk"]

    def __str__(self) -> str:
        return self.title


class Enrollment(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrollments")
    session = models.ForeignKey(CourseSession, on_delete=models.PROTECT, related_name="enrollments")
    active = models.BooleanField(default=True)
    proctored = models.BooleanField(default=False)
    reactivated_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "session"], name="one_enrollment_per_user_and_session"),
        ]
        indexes = [models.Index(fields=["session", "active"])]

    def __str__(self) -> str:
        return f"{self.user} in {self.session}"

    def is_reactivated(self, now: datetime) -> bool:
        return self.reactivated_until is not None and self.reactivated_until > now


class Assessment(models.Model):
    """A graded assessment a learner may take: part of a course, or sold on its own (seed 000's
    paid assessment, for which the course-session steps are skipped). An entitlement gives a
    learner a number of attempts; whoever runs the assessment counts the attempts taken."""

    course = models.ForeignKey(
        Course, on_delete=models.PROTECT, null=True, blank=True, related_name="assessments",
        help_text="Empty: the assessment stands alone.",
    )  # fmt: skip
    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    opens_at = models.DateTimeField(null=True, blank=True, help_text="Empty: open from the start.")
    closes_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never closes.")
    attempts = models.PositiveSmallIntegerField(
        default=1, help_text="The most attempts one learner may hold (codes that add attempts stop there)."
    )
    active = models.BooleanField(default=True, help_text="Off: no code for it can be redeemed.")

    class Meta:
        ordering = ["title", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(attempts__gte=1), name="assessment_allows_an_attempt"),
            models.CheckConstraint(
                condition=Q(opens_at__isnull=True) | Q(closes_at__isnull=True) | Q(closes_at__gt=models.F("opens_at")),
                name="assessment_closes_after_it_opens",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def closed_reason(self, now: datetime) -> str | None:
        """Why no one can get this assessment now (in words for the learner), or None if open."""
        if not self.active:
            return "This assessment is not offered."
        if self.opens_at is not None and now < self.opens_at:
            return f"This assessment opens at {self.opens_at:%Y-%m-%d %H:%M} UTC."
        if self.closes_at is not None and self.closes_at <= now:
            return "This assessment has closed."
        return None


class AssessmentEntitlement(models.Model):
    """A learner's right to take an assessment `attempts` times (attempts granted, in total)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assessment_entitlements")
    assessment = models.ForeignKey(Assessment, on_delete=models.PROTECT, related_name="entitlements")
    attempts = models.PositiveSmallIntegerField(default=1)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["user", "assessment"], name="one_entitlement_per_user_and_assessment"),
        ]

    def __str__(self) -> str:
        return f"{self.user} for {self.assessment}"
