"""Reads about vouchers, as ready querysets and plain rows, for the CLI, admin, API and pages."""

from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from tessera.catalog.models import Enrollment
from tessera.core.errors import DoesNotExist
from tessera.vouchers import codes as codebook
from tessera.vouchers.errors import CodeMistyped, CodeNotFound
from tessera.vouchers.models import Batch, Code, Offer, Redemption


def parse_code(text: str) -> str:
    """The normalised code, or a refusal before any database lookup."""
    try:
        return codebook.parse(text)
    except codebook.InvalidCode as error:
        raise CodeMistyped(str(error) or None) from None


class Status:
    REVOKED = "revoked"
    EXPIRED = "expired"
    REDEEMED = "redeemed"
    PARTLY_REDEEMED = "partly_redeemed"
    UNUSED = "unused"


def code_status(*, uses: int, max_uses: int, revoked: bool, expires_at: datetime | None, now: datetime) -> str:
    if revoked:
        return Status.REVOKED
    if uses >= max_uses:
        return Status.REDEEMED
    if expires_at is not None and expires_at <= now:
        return Status.EXPIRED
    return Status.PARTLY_REDEEMED if uses else Status.UNUSED


def display_code(code: str, prefix: str = "") -> str:
    return codebook.format_code(code, prefix_length=len(prefix))


@dataclass(frozen=True)
class CodeDetails:
    code: Code
    status: str
    redemptions: list[Redemption]

    @property
    def display(self) -> str:
        return display_code(self.code.code, self.code.batch.prefix)


def code_details(text: str) -> CodeDetails:
    code = (
        Code.objects.select_related("batch__offer__session__course", "batch__restricted_to")
        .filter(pk=parse_code(text))
        .first()
    )
    if code is None:
        raise CodeNotFound()
    return details_of(code)


def status_of(code: Code, now: datetime) -> str:
    """The status of a code loaded with its batch (revoked with it, expiring with it)."""
    batch = code.batch
    return code_status(
        uses=code.uses,
        max_uses=code.max_uses,
        revoked=bool(code.revoked_at or batch.revoked_at),
        expires_at=batch.expires_at,
        now=now,
    )


def details_of(code: Code) -> CodeDetails:
    status = status_of(code, timezone.now())
    redemptions = list(code.redemptions.select_related("user", "session__course").order_by("redeemed_at", "pk"))
    return CodeDetails(code=code, status=status, redemptions=redemptions)


def live_codes(offer: Offer) -> QuerySet[Code]:
    """The offer's codes that can still be redeemed: not revoked, not expired, uses left."""
    now = timezone.now()
    return (
        Code.objects.select_related("batch")
        .filter(batch__offer=offer, revoked_at__isnull=True, batch__revoked_at__isnull=True, uses__lt=F("max_uses"))
        .exclude(batch__expires_at__lte=now)
        .order_by("batch_id", "code")
    )


def live_redemption(details: CodeDetails, username: str) -> Redemption:
    """The user's redemption of this code that has not been reversed."""
    for redemption in details.redemptions:
        if redemption.user.get_username() == username and redemption.reversed_at is None:
            return redemption
    raise DoesNotExist(f"{username!r} has no live redemption of {details.display}.")


EXPORT_HEADER = (
    "code", "batch", "offer", "product", "tag", "uses", "max_uses", "status", "expires",
    "redeemed_by", "redeemed_at", "where",
)  # fmt: skip


def batches_for_export(*, batch: Batch | None = None, offer_id: int | None = None) -> QuerySet[Batch]:
    batches = Batch.objects.all()
    if batch is not None:
        batches = batches.filter(pk=batch.pk)
    if offer_id is not None:
        batches = batches.filter(offer_id=offer_id)
    return batches.order_by("pk")


EXPORT_COLUMNS = (
    "code", "batch__prefix", "batch_id", "batch__offer__name", "batch__offer__product", "batch__tag",
    "uses", "max_uses", "revoked_at", "batch__revoked_at", "batch__expires_at",
    "redemptions__user__username", "redemptions__redeemed_at", "redemptions__session__slug",
    "redemptions__reversed_at",
)  # fmt: skip


def export_rows(batches: QuerySet[Batch], *, chunk_size: int = 5000) -> Iterator[tuple[object, ...]]:
    """One row per code and redemption (a code never redeemed has one row with empty redeemer),
    batch by batch, each in code order.

    Streams, so memory stays flat whatever the number of codes and the first rows go out at
    once: one batch at a time, read in the order of the (batch_id, code) index (one query over
    several batches is sorted whole before its first row). On PostgreSQL each batch is read
    inside a transaction: outside one, Django declares its server-side cursor WITH HOLD, and
    PostgreSQL computes every row of such a cursor before handing out the first (0.7 s for a
    million-code batch; docs/benchmarks.md section 4). Not on SQLite, where a transaction
    would hold the one write lock for the whole download.
    """
    now = timezone.now()
    for batch_id in batches.values_list("pk", flat=True):
        with transaction.atomic() if connection.vendor == "postgresql" else nullcontext():
            codes = Code.objects.filter(batch_id=batch_id).order_by("code").values_list(*EXPORT_COLUMNS)
            for row in codes.iterator(chunk_size=chunk_size):
                yield _export_row(row, now)


def _export_row(row: tuple[Any, ...], now: datetime) -> tuple[object, ...]:
    (code, prefix, batch_id, offer, product, tag, uses, max_uses, revoked, batch_revoked, expires,
     user, at, where, reversed_at) = row  # fmt: skip
    status = code_status(
        uses=uses, max_uses=max_uses, revoked=bool(revoked or batch_revoked), expires_at=expires, now=now
    )
    redeemed_by = f"{user} (reversed)" if reversed_at else (user or "")
    return (
        display_code(code, prefix), batch_id, offer, product, tag, uses, max_uses, status,
        _iso(expires), redeemed_by, _iso(at), where or "",
    )  # fmt: skip


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


@dataclass(frozen=True)
class StatsRow:
    key: str
    issued: int
    redeemed: int
    uses: int
    max_uses: int

    @property
    def percent(self) -> float:
        return 100.0 * self.redeemed / self.issued if self.issued else 0.0


def stats_total(rows: Iterable[StatsRow], key: str = "Total") -> StatsRow:
    """The rows added up: every dimension covers every code once, so each table has the same total."""
    rows = list(rows)
    return StatsRow(
        key=key, issued=sum(row.issued for row in rows), redeemed=sum(row.redeemed for row in rows),
        uses=sum(row.uses for row in rows), max_uses=sum(row.max_uses for row in rows),
    )  # fmt: skip


# Each dimension as a path from a batch (the counting is per batch, see code_stats_by).
STATS_DIMENSIONS = {
    "product": "offer__product",
    "tag": "tag",
    "course": "offer__session__course__slug",
}
ANY_COURSE = "(any course)"  # the key of offers without a session, valid for any course


def code_stats(by: str) -> list[StatsRow]:
    """Codes issued and redeemed (used at least once), grouped by product, tag or course."""
    return code_stats_by(by)[by]


def code_stats_by(*dimensions: str) -> dict[str, list[StatsRow]]:
    """code_stats for each dimension asked, ordered by key, from one read of the batches and one
    of the used codes, so the cost does not grow with the number of codes issued.

    A batch's codes all exist (batch_create is all or nothing), and each has the batch's
    uses_per_code as its max_uses: the batches table gives codes issued and max uses. Codes
    redeemed and their uses come from the used codes alone, grouped by batch, which PostgreSQL
    finds through the partial index of used codes (vouchers migration 0005). The cost grows with
    the codes used, not with those issued.
    """
    columns = [STATS_DIMENSIONS[by] for by in dimensions]
    used = _used_codes_per_batch()
    totals: dict[str, dict[str, list[int]]] = {by: {} for by in dimensions}
    for pk, count, uses_per_code, *keys in Batch.objects.order_by().values_list(
        "pk", "count", "uses_per_code", *columns
    ):
        redeemed, uses = used.get(pk, (0, 0))
        for by, key in zip(dimensions, keys, strict=True):
            figures = totals[by].setdefault(key or ANY_COURSE, [0, 0, 0, 0])
            figures[0] += count
            figures[1] += redeemed
            figures[2] += uses
            figures[3] += count * uses_per_code
    return {by: [StatsRow(key, *rows[key]) for key in sorted(rows, key=_by_key)] for by, rows in totals.items()}


def _by_key(key: str) -> tuple[bool, str]:
    return key == ANY_COURSE, key  # offers for any course after the named courses


def _used_codes_per_batch() -> dict[int, tuple[int, int]]:
    """Batch -> (codes used at least once, their uses)."""
    per_batch = (
        Code.objects.filter(uses__gt=0).order_by().values("batch_id").annotate(redeemed=Count("pk"), uses=Sum("uses"))
    )
    return {row["batch_id"]: (row["redeemed"], row["uses"]) for row in per_batch}


@dataclass(frozen=True)
class DayCount:
    """Redemptions made on one day; `reversed` of them have been reversed (refunded) since."""

    day: date
    live: int
    reversed: int

    @property
    def total(self) -> int:
        return self.live + self.reversed


def redemptions_per_day(*, days: int) -> list[DayCount]:
    """Redemptions on each of the last `days` days, today included, oldest first; a day without
    any counts 0. Days run from midnight to midnight in the current time zone (settings.TIME_ZONE
    unless one is activated). Reads the window only, through the index on redeemed_at."""
    zone = timezone.get_current_timezone()
    today = timezone.localdate()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time.min, tzinfo=zone)
    end = datetime.combine(today + timedelta(days=1), time.min, tzinfo=zone)
    counted = (
        Redemption.objects.filter(redeemed_at__gte=start, redeemed_at__lt=end)
        .annotate(day=TruncDate("redeemed_at", tzinfo=zone))
        .order_by()
        .values("day")
        .annotate(
            live=Count("pk", filter=Q(reversed_at__isnull=True)),
            reversed=Count("pk", filter=Q(reversed_at__isnull=False)),
        )
    )
    by_day = {row["day"]: (row["live"], row["reversed"]) for row in counted}
    every_day = (first + timedelta(days=offset) for offset in range(days))
    return [DayCount(day, *by_day.get(day, (0, 0))) for day in every_day]


@dataclass(frozen=True)
class Entitlements:
    enrollments: list[Enrollment]
    redemptions: list[Redemption]


def entitlements_of(user: AbstractBaseUser) -> Entitlements:
    """A learner's enrollments (with proctoring and reactivation) and every code they redeemed."""
    enrollments = Enrollment.objects.filter(user_id=user.pk).select_related("session__course").order_by("-created_at")
    redemptions = (
        Redemption.objects.filter(user_id=user.pk)
        .select_related("code__batch", "session")
        .order_by("-redeemed_at", "-pk")
    )
    return Entitlements(enrollments=list(enrollments), redemptions=list(redemptions))


def offer_numbered(pk: int) -> Offer:
    offer = Offer.objects.select_related("session__course").filter(pk=pk).first()
    if offer is None:
        raise DoesNotExist(f"There is no offer {pk}.")
    return offer


def batch_numbered(pk: int) -> Batch:
    batch = Batch.objects.select_related("offer", "restricted_to").filter(pk=pk).first()
    if batch is None:
        raise DoesNotExist(f"There is no batch {pk}.")
    return batch


def redemption_numbered(pk: int) -> Redemption:
    redemption = Redemption.objects.select_related("user", "session", "code__batch").filter(pk=pk).first()
    if redemption is None:
        raise DoesNotExist(f"There is no redemption {pk}.")
    return redemption


def offers_listed() -> QuerySet[Offer]:
    return Offer.objects.select_related("session__course").order_by("-pk")


def batches_of(offer: Offer) -> QuerySet[Batch]:
    return offer.batches.select_related("offer", "restricted_to").order_by("-pk")


def batch_codes(batch: Batch) -> QuerySet[Code]:
    """A batch's codes in a stable order (by code, the primary key), for paging."""
    return Code.objects.filter(batch=batch).select_related("batch").order_by("code")
