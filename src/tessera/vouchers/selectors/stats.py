"""Statistics: codes issued and redeemed by product, tag or course, and redemptions per day."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Case, CharField, Count, Q, Sum, Value, When
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from tessera.vouchers.models import Batch, Code, Redemption


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
    "course": "course_key",  # annotated by _batches, below
}
ANY_COURSE = "(any course)"  # the key of offers without a session, valid for any course
NO_COURSE = "(no course)"  # the key of offers of an assessment that stands alone
# A batch's course: its session's, or its assessment's, or NO_COURSE for a lone assessment (NULL,
# ANY_COURSE, for an offer of any session).
COURSE_OF_BATCH = Coalesce(
    "offer__session__course__slug", "offer__assessment__course__slug",
    Case(When(offer__assessment__isnull=False, then=Value(NO_COURSE))), output_field=CharField(),
)  # fmt: skip


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
    batches = Batch.objects.annotate(course_key=COURSE_OF_BATCH).order_by()
    for pk, count, uses_per_code, *keys in batches.values_list("pk", "count", "uses_per_code", *columns):
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
