"""Reads about vouchers, as ready querysets and plain rows, for the CLI, admin, API and pages."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, F, Q, QuerySet, Sum
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
        uses=code.uses, max_uses=code.max_uses, revoked=bool(code.revoked_at or batch.revoked_at),
        expires_at=batch.expires_at, now=now,
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


def codes_for_export(*, batch: Batch | None = None, offer_id: int | None = None) -> QuerySet[Code]:
    codes = Code.objects.all()
    if batch is not None:
        codes = codes.filter(batch=batch)
    if offer_id is not None:
        codes = codes.filter(batch__offer_id=offer_id)
    return codes.order_by("batch_id", "code")


def export_rows(codes: QuerySet[Code], *, chunk_size: int = 5000) -> Iterator[tuple[object, ...]]:
    """One row per code and redemption (a code never redeemed has one row with empty redeemer).

    Streams: the rows come from a server-side cursor on PostgreSQL and chunked fetches on
    SQLite, so memory stays flat whatever the number of codes.
    """
    now = timezone.now()
    rows = codes.values_list(
        "code", "batch__prefix", "batch_id", "batch__offer__name", "batch__offer__product", "batch__tag",
        "uses", "max_uses", "revoked_at", "batch__revoked_at", "batch__expires_at",
        "redemptions__user__username", "redemptions__redeemed_at", "redemptions__session__slug",
        "redemptions__reversed_at",
    )  # fmt: skip
    for (code, prefix, batch_id, offer, product, tag, uses, max_uses, revoked, batch_revoked, expires,
         user, at, where, reversed_at) in rows.iterator(chunk_size=chunk_size):  # fmt: skip
        status = code_status(
            uses=uses, max_uses=max_uses, revoked=bool(revoked or batch_revoked), expires_at=expires, now=now
        )
        redeemed_by = f"{user} (reversed)" if reversed_at else (user or "")
        yield (
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


STATS_DIMENSIONS = {
    "product": "batch__offer__product",
    "tag": "batch__tag",
    "course": "batch__offer__session__course__slug",
}


def code_stats(by: str) -> list[StatsRow]:
    """Codes issued and redeemed (used at least once), grouped by product, tag or course."""
    column = STATS_DIMENSIONS[by]
    grouped = (
        Code.objects.values(column)
        .annotate(
            issued=Count("pk"), redeemed=Count("pk", filter=Q(uses__gt=0)), uses=Sum("uses"), max_uses=Sum("max_uses")
        )
        .order_by(column)
    )
    return [
        StatsRow(key=row[column] or "(any course)", issued=row["issued"], redeemed=row["redeemed"],
                 uses=row["uses"] or 0, max_uses=row["max_uses"] or 0)
        for row in grouped
    ]  # fmt: skip


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
