"""Reads of single codes: parsing and showing one, its status, its details with its redemptions,
an offer's live codes and a batch's codes in paging order."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import F, QuerySet
from django.utils import timezone

from tessera.core.errors import DoesNotExist
from tessera.vouchers import codes as codebook
from tessera.vouchers.errors import CodeMistyped, CodeNotFound, RedemptionRefused
from tessera.vouchers.models import Batch, Code, Offer, Redemption


def parse_code(text: str) -> str:
    """The normalised generated code, or a refusal before any database lookup."""
    try:
        return codebook.parse(text)
    except codebook.InvalidCode as error:
        raise CodeMistyped(str(error) or None) from None


@dataclass(frozen=True)
class CodeKey:
    """Where a typed code is looked up (`key`, a Code's primary key), and the refusal to raise
    if no code is there (`missing`)."""

    key: str
    missing: RedemptionRefused


def code_key(text: str) -> CodeKey:
    """Where to look a typed code up, generated or imported, in one lookup either way.

    Text that parses as a generated code is looked up as that (as an imported code that reads
    as one is stored: codes.imported_key); missing, it is not_found. Text that does not parse
    may still be an imported code: it is looked up as one, and missing it is what it most likely
    is, a generated code mistyped. Text that can be neither is mistyped at once, before any
    lookup. So a generated code costs what it did before imported codes existed."""
    try:
        return CodeKey(key=codebook.parse(text), missing=CodeNotFound())
    except codebook.InvalidCode as error:
        mistyped = CodeMistyped(str(error) or None)
    try:
        return CodeKey(key=codebook.imported_key(text), missing=mistyped)
    except codebook.InvalidCode:
        raise mistyped from None


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


def display_code(code: str, prefix: str = "", *, imported: bool = False) -> str:
    """How people see a code: a generated one in groups of four after its prefix; an imported one
    as stored, since its grouping is its issuer's, not ours."""
    return code if imported else codebook.format_code(code, prefix_length=len(prefix))


def display_of(code: Code) -> str:
    """How people see a code loaded with its batch."""
    return display_code(code.code, code.batch.prefix, imported=code.batch.imported)


@dataclass(frozen=True)
class CodeDetails:
    code: Code
    status: str
    redemptions: list[Redemption]

    @property
    def display(self) -> str:
        return display_of(self.code)


def code_details(text: str) -> CodeDetails:
    lookup = code_key(text)
    code = (
        Code.objects.select_related("batch__offer__session__course", "batch__offer__assessment", "batch__restricted_to")
        .filter(pk=lookup.key)
        .first()
    )
    if code is None:
        raise lookup.missing
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
    redemptions = list(
        code.redemptions.select_related("user", "session__course", "assessment__course").order_by("redeemed_at", "pk")
    )
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


def redemption_numbered(pk: int) -> Redemption:
    redemption = Redemption.objects.select_related("user", "session", "assessment", "code__batch").filter(pk=pk).first()
    if redemption is None:
        raise DoesNotExist(f"There is no redemption {pk}.")
    return redemption


def batch_codes(batch: Batch) -> QuerySet[Code]:
    """A batch's codes in a stable order (by code, the primary key), for paging."""
    return Code.objects.filter(batch=batch).select_related("batch").order_by("code")
