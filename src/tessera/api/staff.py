"""Staff endpoints of the platform API: offers, batches, imports of codes made elsewhere, codes,
statistics, CSV exports, printable cards, and codes sent to recipients by email.

Only users with the manage_vouchers permission get in (403 for anyone else signed in). Routes
parse, call one service or selector, and shape the answer.
"""

from datetime import datetime
from decimal import Decimal
from typing import Literal

from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import PageNumberPagination, paginate

from tessera.api.auth import STAFF_AUTH, caller
from tessera.api.schemas import ERRORS, ApiIn, Moment, ProductName
from tessera.catalog.selectors import assessment_by_slug, session_by_slug
from tessera.core.csvstream import csv_download
from tessera.core.users import user_named
from tessera.vouchers.audit import actor_of
from tessera.vouchers.models import Assignment, Batch, Code, Offer, SendJob
from tessera.vouchers.selectors.assignments import (
    assignment_numbered,
    batch_assignments,
    send_job_numbered,
)
from tessera.vouchers.selectors.batches import batch_numbered, batches_of
from tessera.vouchers.selectors.codes import (
    CodeDetails,
    batch_codes,
    code_details,
    display_of,
    redemption_numbered,
    status_of,
)
from tessera.vouchers.selectors.entitlements import redemption_place
from tessera.vouchers.selectors.exports import EXPORT_HEADER, batches_for_export, export_rows
from tessera.vouchers.selectors.offers import offer_numbered, offers_listed
from tessera.vouchers.selectors.stats import code_stats
from tessera.vouchers.services import (
    IN_REQUEST_MAX,
    MAX_USES_PER_CODE,
    BatchSpec,
    CodeList,
    Recipient,
    assignment_resend,
    assignment_withdraw,
    assignments_create,
    assignments_remind,
    assignments_resend_failed,
    batch_create_in_request,
    batch_revoke,
    code_revoke,
    codes_import,
    offer_create,
    redemption_reverse,
)
from tessera.vouchers.services.assignments import MAX_RECIPIENTS, MAX_REMIND_DAYS
from tessera.web.cards import cards_download, public_base

router = Router(auth=STAFF_AUTH, tags=["staff"])


class StaffPages(PageNumberPagination):
    class Input(Schema):
        page: int = Field(1, ge=1, le=1_000_000)
        page_size: int = Field(50, ge=1, le=500)


# --- offers -----------------------------------------------------------------------------------


class OfferFieldsIn(ApiIn):
    """An offer of a course session's product (the course platforms' API shares it)."""

    name: str = Field(min_length=1, max_length=200)
    product: ProductName
    session: str | None = Field(None, max_length=50, description="A course session's slug; none: any session.")
    price: Decimal = Field(Decimal("0"), ge=0, max_digits=10, decimal_places=2)
    currency: str = Field("EUR", pattern=r"^[A-Za-z]{3}$")
    sale_starts_at: Moment | None = None
    sale_ends_at: Moment | None = None
    auto_subscribe: bool = True
    store_url: str = Field(
        "", description="Where learners buy a code, shown on the course page (http or https); "
        "empty: no link. A bad address is refused as invalid_store_url.",
    )  # fmt: skip


class OfferIn(OfferFieldsIn):
    """An offer of a course session's product, or of an assessment."""

    assessment: str | None = Field(
        None, max_length=50, description="Product assessment: the assessment's slug (and no session)."
    )
    attempts: int | None = Field(
        None, ge=1, le=32767, description="Product assessment: attempts one code gives; none: the assessment's."
    )
    adds_attempts: bool = Field(
        False, description="Product assessment: a learner holding the assessment gets the attempts added."
    )


class OfferOut(Schema):
    id: int
    name: str
    product: str
    session: str | None
    course: str | None
    assessment: str | None
    attempts: int | None
    adds_attempts: bool
    price: Decimal
    currency: str
    payment_mode: str
    sale_starts_at: datetime | None
    sale_ends_at: datetime | None
    auto_subscribe: bool
    store_url: str
    created_at: datetime

    @staticmethod
    def resolve_session(offer: Offer) -> str | None:
        return offer.session.slug if offer.session else None

    @staticmethod
    def resolve_course(offer: Offer) -> str | None:
        course = offer.session.course if offer.session else offer.assessment.course if offer.assessment else None
        return course.slug if course else None

    @staticmethod
    def resolve_assessment(offer: Offer) -> str | None:
        return offer.assessment.slug if offer.assessment else None


@router.get("/offers", response={200: list[OfferOut], **ERRORS}, summary="Offers, newest first")
@paginate(StaffPages)
def offers_list(request: HttpRequest) -> QuerySet[Offer]:
    return offers_listed()


@router.post("/offers", response={201: OfferOut, **ERRORS}, summary="Create an offer")
def offers_create(request: HttpRequest, payload: OfferIn) -> Status[Offer]:
    fields = payload.dict()
    slug, assessment = fields.pop("session"), fields.pop("assessment")
    offer = offer_create(
        session=session_by_slug(slug) if slug else None,
        assessment=assessment_by_slug(assessment) if assessment else None,
        actor=actor_of(caller(request)), **fields,
    )  # fmt: skip
    return Status(201, offer)


@router.get("/offers/{offer_id}", response={200: OfferOut, **ERRORS}, summary="One offer")
def offers_show(request: HttpRequest, offer_id: int) -> Offer:
    return offer_numbered(offer_id)


# --- batches ----------------------------------------------------------------------------------


class BatchSettingsIn(ApiIn):
    """A batch's settings, as a batch of codes made here and an import of codes made elsewhere
    share them."""

    uses_per_code: int = Field(1, ge=1, le=MAX_USES_PER_CODE)
    expires_at: Moment | None = None
    tag: str = Field("untagged", min_length=1, max_length=100)
    country: str = Field(min_length=2, max_length=2, description="ISO 3166-1 alpha-2, in any case.")
    note: str = Field("", max_length=2000)
    refund_policy: Literal["return_use", "keep_use"] = "return_use"


class BatchSpecIn(BatchSettingsIn):
    """A batch as BatchSpec takes it, less whom it is restricted to (the course platforms' API
    shares it: a platform names no Tessera user)."""

    # The service's limit, shown in the schema; larger batches: the staff pages or the CLI.
    count: int = Field(ge=1, le=IN_REQUEST_MAX)
    prefix: str | None = Field(None, max_length=8, description="Printed before the random part; default: none.")


class BatchIn(BatchSpecIn):
    restricted_to: str | None = Field(None, max_length=150, description="Only this username may redeem.")


class BatchOut(Schema):
    id: int
    offer: int
    product: str
    count: int
    uses_per_code: int
    expires_at: datetime | None
    tag: str
    country: str
    restricted_to: str | None
    note: str
    prefix: str
    refund_policy: str
    imported: bool = Field(description="Codes made elsewhere and imported as given, not generated here.")
    created_by: str
    created_at: datetime
    revoked_at: datetime | None

    @staticmethod
    def resolve_product(batch: Batch) -> str:
        return batch.offer.product

    @staticmethod
    def resolve_offer(batch: Batch) -> int:
        return batch.offer_id

    @staticmethod
    def resolve_restricted_to(batch: Batch) -> str | None:
        return batch.restricted_to.get_username() if batch.restricted_to else None


@router.get("/offers/{offer_id}/batches", response={200: list[BatchOut], **ERRORS}, summary="An offer's batches")
@paginate(StaffPages)
def batches_list(request: HttpRequest, offer_id: int) -> QuerySet[Batch]:
    return batches_of(offer_numbered(offer_id))


@router.post("/offers/{offer_id}/batches", response={201: BatchOut, **ERRORS}, summary="Create a batch of codes")
def batches_create(request: HttpRequest, offer_id: int, payload: BatchIn) -> Status[Batch]:
    fields = payload.dict()
    username = fields.pop("restricted_to")
    restricted_to = user_named(username, field="restricted_to") if username else None
    spec = BatchSpec(restricted_to=restricted_to, **fields)
    batch = batch_create_in_request(offer=offer_numbered(offer_id), spec=spec, actor=caller(request).get_username())
    return Status(201, batch)


class ImportIn(BatchSettingsIn):
    """Codes made elsewhere, and the settings of the batch they become (services.imports)."""

    # The most one request writes, as for a batch; larger imports: `tessera import-codes`.
    codes: list[str] = Field(
        min_length=1, max_length=IN_REQUEST_MAX,
        description="The codes as given; an error names each by its place in this list, from 1, as its line.",
    )  # fmt: skip
    source: str = Field("api", min_length=1, max_length=200, description="Where they came from (a file's name).")
    restricted_to: str | None = Field(None, max_length=150, description="Only this username may redeem.")


@router.post(
    "/offers/{offer_id}/imports", response={201: BatchOut, **ERRORS}, summary="Import codes made elsewhere as a batch"
)
def imports_create(request: HttpRequest, offer_id: int, payload: ImportIn) -> Status[Batch]:
    fields = payload.dict()
    codes = CodeList.numbered(fields.pop("codes"), source=fields.pop("source"))
    username = fields.pop("restricted_to")
    restricted_to = user_named(username, field="restricted_to") if username else None
    spec = BatchSpec(count=len(codes.codes), restricted_to=restricted_to, **fields)
    batch = codes_import(offer=offer_numbered(offer_id), codes=codes, spec=spec, actor=caller(request).get_username())
    return Status(201, batch)


@router.get("/batches/{batch_id}", response={200: BatchOut, **ERRORS}, summary="One batch")
def batches_show(request: HttpRequest, batch_id: int) -> Batch:
    return batch_numbered(batch_id)


@router.post("/batches/{batch_id}/revoke", response={200: BatchOut, **ERRORS}, summary="Revoke a batch's live codes")
def batches_revoke(request: HttpRequest, batch_id: int) -> Batch:
    batch = batch_numbered(batch_id)
    batch_revoke(batch=batch, actor=caller(request).get_username())
    return batch


class CodeRowOut(Schema):
    code: str
    uses: int
    max_uses: int
    status: str

    @staticmethod
    def resolve_code(code: Code) -> str:
        return display_of(code)

    @staticmethod
    def resolve_status(code: Code) -> str:
        return status_of(code, timezone.now())


@router.get("/batches/{batch_id}/codes", response={200: list[CodeRowOut], **ERRORS}, summary="A batch's codes")
@paginate(StaffPages)
def batches_codes(request: HttpRequest, batch_id: int) -> QuerySet[Code]:
    return batch_codes(batch_numbered(batch_id))


# --- codes and redemptions --------------------------------------------------------------------


class RedemptionRowOut(Schema):
    id: int
    user: str
    session: str | None  # a session's product; None for an assessment's
    course: str | None  # the session's course, or the assessment's (None if it stands alone)
    assessment: str | None = None
    redeemed_at: datetime
    client_ip: str | None
    reversed_at: datetime | None
    reversed_by: str


class CodeOut(Schema):
    code: str
    status: str
    uses: int
    max_uses: int
    batch: int
    offer: int
    product: str
    tag: str
    expires_at: datetime | None
    revoked_at: datetime | None
    redemptions: list[RedemptionRowOut]

    @staticmethod
    def of(details: CodeDetails) -> "CodeOut":
        code, batch = details.code, details.code.batch
        return CodeOut(
            code=details.display, status=details.status, uses=code.uses, max_uses=code.max_uses, batch=batch.pk,
            offer=batch.offer_id, product=batch.offer.product, tag=batch.tag, expires_at=batch.expires_at,
            revoked_at=code.revoked_at or batch.revoked_at,
            redemptions=[
                RedemptionRowOut(id=r.pk, user=r.user.get_username(), **redemption_place(r),
                                 redeemed_at=r.redeemed_at, client_ip=r.client_ip,
                                 reversed_at=r.reversed_at, reversed_by=r.reversed_by)
                for r in details.redemptions
            ],
        )  # fmt: skip


@router.get("/codes/{code}", response={200: CodeOut, **ERRORS}, summary="Query a code: status, who, when, where")
def codes_show(request: HttpRequest, code: str) -> CodeOut:
    return CodeOut.of(code_details(code))


@router.post("/codes/{code}/revoke", response={200: CodeOut, **ERRORS}, summary="Revoke one code")
def codes_revoke(request: HttpRequest, code: str) -> CodeOut:
    code_revoke(code=code_details(code).code, actor=caller(request).get_username())
    return CodeOut.of(code_details(code))


class ReverseIn(ApiIn):
    give_back_use: bool | None = Field(None, description="Default: the batch's refund policy decides.")


@router.post(
    "/redemptions/{redemption_id}/reverse", response={200: CodeOut, **ERRORS}, summary="Reverse a redemption (refund)"
)
def redemptions_reverse(request: HttpRequest, redemption_id: int, payload: ReverseIn | None = None) -> CodeOut:
    give_back_use = payload.give_back_use if payload else None  # no body at all: the refund policy decides
    redemption = redemption_numbered(redemption_id)
    redemption_reverse(redemption=redemption, actor=caller(request).get_username(), give_back_use=give_back_use)
    return CodeOut.of(code_details(redemption.code_id))


# --- statistics and exports -------------------------------------------------------------------


class StatsRowOut(Schema):
    key: str
    issued: int
    redeemed: int
    percent: float
    uses: int
    max_uses: int


class StatsQuery(Schema):
    by: Literal["product", "tag", "course"] = "product"


@router.get("/stats", response={200: list[StatsRowOut], **ERRORS}, summary="Codes issued and redeemed, grouped")
def stats(request: HttpRequest, query: Query[StatsQuery]) -> list[StatsRowOut]:
    return [
        StatsRowOut(key=row.key, issued=row.issued, redeemed=row.redeemed, percent=round(row.percent, 2),
                    uses=row.uses, max_uses=row.max_uses)
        for row in code_stats(query.by)
    ]  # fmt: skip


CSV_RESPONSE = {200: {"description": "CSV, one row per code and redemption", "content": {"text/csv": {}}}}


@router.get("/batches/{batch_id}/export.csv", response=ERRORS, openapi_extra={"responses": CSV_RESPONSE},
            summary="A batch's codes as CSV, streamed")  # fmt: skip
def batches_export(request: HttpRequest, batch_id: int) -> StreamingHttpResponse:
    batch = batch_numbered(batch_id)
    return csv_download(EXPORT_HEADER, export_rows(batches_for_export(batch=batch)), f"batch-{batch.pk}.csv")


@router.get("/offers/{offer_id}/export.csv", response=ERRORS, openapi_extra={"responses": CSV_RESPONSE},
            summary="An offer's codes as CSV, streamed")  # fmt: skip
def offers_export(request: HttpRequest, offer_id: int) -> StreamingHttpResponse:
    offer = offer_numbered(offer_id)
    return csv_download(EXPORT_HEADER, export_rows(batches_for_export(offer_id=offer.pk)), f"offer-{offer.pk}.csv")


PDF_RESPONSE = {200: {"description": "A PDF of cards to print, ten to an A4 page", "content": {"application/pdf": {}}}}


class CardsQuery(Schema):
    uses: Literal["", "unused"] = Field("", description="unused: only the codes never used")


@router.get("/batches/{batch_id}/cards.pdf", response=ERRORS, openapi_extra={"responses": PDF_RESPONSE},
            summary="A batch's codes as printable cards (PDF)")  # fmt: skip
def batches_cards(request: HttpRequest, batch_id: int, query: Query[CardsQuery]) -> StreamingHttpResponse:
    return cards_download(batch_numbered(batch_id), request=request, uses=query.uses)


# --- codes sent to recipients (docs/sending-codes.md) ---------------------------------------------


class RecipientIn(ApiIn):
    email: str = Field(min_length=1, max_length=254)
    name: str = Field("", max_length=200)
    language: str = Field("", max_length=16, description='e.g. "de"; empty: the default language.')


class AssignIn(ApiIn):
    recipients: list[RecipientIn] = Field(
        min_length=1, max_length=MAX_RECIPIENTS,
        description="One code each; an error names a recipient by its place in this list, from 1, as its line.",
    )  # fmt: skip


class SendJobOut(Schema):
    id: int
    batch: int
    kind: str = Field(description="send: the codes; remind: reminders.")
    status: str = Field(description="queued, running, done or failed.")
    total: int
    sent: int
    failed: int
    attempts: int
    error: str
    created_at: datetime
    finished_at: datetime | None

    @staticmethod
    def resolve_batch(job: SendJob) -> int:
        return job.batch_id


class AssignmentOut(Schema):
    id: int
    batch: int
    code: str
    email: str
    name: str
    language: str
    state: str = Field(description="queued, sent, failed or withdrawn.")
    redeemed: bool = Field(description="Whether the code has been used.")
    assigned_at: datetime
    sent_at: datetime | None
    reminded_at: datetime | None
    withdrawn_at: datetime | None
    attempts: int
    last_error: str

    @staticmethod
    def resolve_batch(assignment: Assignment) -> int:
        return assignment.batch_id

    @staticmethod
    def resolve_code(assignment: Assignment) -> str:
        return display_of(assignment.code)

    @staticmethod
    def resolve_redeemed(assignment: Assignment) -> bool:
        return assignment.code.uses > 0


class RemindIn(ApiIn):
    days: int = Field(7, ge=1, le=MAX_REMIND_DAYS, description="Remind those whose code was sent this many days ago.")


class WithdrawIn(ApiIn):
    replacement: RecipientIn | None = Field(None, description="Send a fresh code of the batch to this recipient.")


class WithdrawOut(Schema):
    assignment: AssignmentOut
    job: SendJobOut | None = Field(description="The mail job sending the replacement its code, if one was named.")


NOTHING_TO_SEND = {204: None}


def recipients_of(payload: list[RecipientIn]) -> list[Recipient]:
    return [Recipient(line, r.email, r.name, r.language) for line, r in enumerate(payload, start=1)]


@router.post("/batches/{batch_id}/assignments", response={202: SendJobOut, **ERRORS},
             summary="Send a code of the batch to each recipient (all or nothing)")  # fmt: skip
def assignments_send(request: HttpRequest, batch_id: int, payload: AssignIn) -> Status[SendJob]:
    job = assignments_create(
        batch=batch_numbered(batch_id), recipients=recipients_of(payload.recipients),
        actor=actor_of(caller(request)), source="the recipients", link_base=public_base(request),
    )  # fmt: skip
    return Status(202, job)


@router.get("/batches/{batch_id}/assignments", response={200: list[AssignmentOut], **ERRORS},
            summary="To whom the batch's codes were sent, newest first")  # fmt: skip
@paginate(StaffPages)
def assignments_list(request: HttpRequest, batch_id: int) -> QuerySet[Assignment]:
    return batch_assignments(batch_numbered(batch_id))


@router.post("/batches/{batch_id}/assignments/resend-failed", response={202: SendJobOut, **NOTHING_TO_SEND, **ERRORS},
             summary="Send the batch's failed codes again (204: none failed)")  # fmt: skip
def assignments_resend(request: HttpRequest, batch_id: int) -> Status[SendJob | None]:
    batch = batch_numbered(batch_id)
    job = assignments_resend_failed(batch=batch, actor=actor_of(caller(request)), link_base=public_base(request))
    return Status(202, job) if job else Status(204, None)


@router.post("/batches/{batch_id}/assignments/remind", response={202: SendJobOut, **NOTHING_TO_SEND, **ERRORS},
             summary="Remind those whose code is still unredeemed (204: nobody is due)")  # fmt: skip
def assignments_remind_route(request: HttpRequest, batch_id: int, payload: RemindIn) -> Status[SendJob | None]:
    job = assignments_remind(
        batch=batch_numbered(batch_id), days=payload.days, actor=actor_of(caller(request)),
        link_base=public_base(request),
    )  # fmt: skip
    return Status(202, job) if job else Status(204, None)


@router.post("/assignments/{assignment_id}/resend", response={202: SendJobOut, **ERRORS},
             summary="Send one assignment's code again")  # fmt: skip
def assignment_resend_route(request: HttpRequest, assignment_id: int) -> Status[SendJob]:
    assignment = assignment_numbered(assignment_id)
    return Status(
        202, assignment_resend(assignment=assignment, actor=actor_of(caller(request)), link_base=public_base(request))
    )


@router.post("/assignments/{assignment_id}/withdraw", response={200: WithdrawOut, **ERRORS},
             summary="Withdraw an assignment (its code is revoked), optionally for another address")  # fmt: skip
def assignment_withdraw_route(
    request: HttpRequest, assignment_id: int, payload: WithdrawIn | None = None
) -> dict[str, object]:
    assignment = assignment_numbered(assignment_id)
    replacement = recipients_of([payload.replacement])[0] if payload and payload.replacement else None
    job = assignment_withdraw(
        assignment=assignment, actor=actor_of(caller(request)), replacement=replacement,
        link_base=public_base(request),
    )  # fmt: skip
    return {"assignment": assignment_numbered(assignment_id), "job": job}


@router.get("/mail-jobs/{job_id}", response={200: SendJobOut, **ERRORS}, summary="A mail job's progress")
def mail_jobs_show(request: HttpRequest, job_id: int) -> SendJob:
    return send_job_numbered(job_id)
