"""The shop bridge at /bridges/shop: Xikolo's shop API v1, so Xikolo shop integrations work
unchanged, plus documented extensions (one voucher, void, session/assessment/expiry/uses on create).

Routes parse the wire, call one service or selector, and shape the answer; errors are rendered
by the bridge's one exception handler (tessera.shop.api)."""

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router

from tessera.catalog.selectors import assessment_by_slug, session_by_slug
from tessera.core.countries import COUNTRY_CODES
from tessera.core.errors import InvalidInput
from tessera.shop import openapi, xikolo
from tessera.shop.auth import ShopToken
from tessera.shop.idempotency import idempotent
from tessera.shop.models import Shop
from tessera.shop.selectors import CodesPage, VoucherFilters, shop_code, shop_codes_page, shop_codes_total
from tessera.shop.services import check_qty, shop_voucher_void, shop_vouchers_create
from tessera.vouchers.errors import CodeNotFound
from tessera.vouchers.models import Code
from tessera.vouchers.selectors.codes import details_of, parse_code

router = Router(auth=ShopToken(), tags=["shop bridge"])

PER_PAGE = 50
MAX_PER_PAGE = 100


@router.post("/vouchers", summary="Create vouchers (Xikolo: bulk create)", openapi_extra=openapi.CREATE)
@idempotent
def vouchers_create(request: HttpRequest) -> HttpResponse:
    batch = shop_vouchers_create(shop=_shop(request), **_create_arguments(xikolo.request_params(request)))
    rows = batch.codes.order_by("code").values_list("code", flat=True)
    vouchers = [
        xikolo.voucher(code=code, prefix=batch.prefix, country=batch.country, product=batch.offer.product,
                     tag=batch.tag, created_at=batch.created_at)
        for code in rows
    ]  # fmt: skip
    return xikolo.answer(vouchers)


def _create_arguments(params: dict[str, Any]) -> dict[str, Any]:
    """The create request's fields, checked in Xikolo's order: qty first, then the rest at once,
    listed as Xikolo lists them (country, product, then Tessera's own)."""
    qty = xikolo.ruby_integer(params.get("qty"))
    check_qty(qty)
    errors: dict[str, list[str]] = {}
    product = xikolo.text(params.get("product") or params.get("product_type"))
    country = xikolo.text(params.get("country")).upper()
    if not country or country not in COUNTRY_CODES:
        errors["country"] = ["invalid" if country else "required"]
    if not product or product not in xikolo.WIRE_PRODUCTS:
        errors["product"] = ["invalid" if product else "required"]
    arguments = {"qty": qty, "product": xikolo.WIRE_PRODUCTS.get(product, ""), "country": country,
                 "tag": xikolo.text(params.get("tag")), **_extensions(params, errors)}  # fmt: skip
    if errors:
        raise xikolo.WireErrors(errors)
    return arguments


def _extensions(params: dict[str, Any], errors: dict[str, list[str]]) -> dict[str, Any]:
    """Tessera's additions: a course session or an assessment (each by its slug), an expiry and
    uses per code."""
    found: dict[str, Any] = {}
    if slug := xikolo.text(params.get("course_session")):
        try:
            found["session"] = session_by_slug(slug)
        except InvalidInput:
            errors["course_session"] = ["invalid"]
    if slug := xikolo.text(params.get("assessment")):
        try:
            found["assessment"] = assessment_by_slug(slug)
        except InvalidInput:
            errors["assessment"] = ["invalid"]
    if expires := xikolo.text(params.get("expires_at")):
        found["expires_at"] = xikolo.moment(expires)
        if found["expires_at"] is None:
            errors["expires_at"] = ["invalid"]
    if params.get("uses") not in (None, ""):
        found["uses_per_code"] = xikolo.ruby_integer(params.get("uses"))
    return found


# Two operations, so each has its own operationId and HEAD documents no body.
@router.get("/vouchers", summary="List vouchers (Xikolo: index)", openapi_extra=openapi.LIST)
@router.api_operation(["HEAD"], "/vouchers", summary="Count vouchers: the list's paging headers only",
                      operation_id="tessera_shop_bridge_vouchers_head", openapi_extra=openapi.HEAD_LIST)  # fmt: skip
def vouchers_list(
    request: HttpRequest,
    tag: str | None = None,
    claimed: str | None = Query(None, description=openapi.CLAIMED_TEXT),
    start_date: str | None = Query(None, description=openapi.DATE_TEXT),
    end_date: str | None = Query(None, description=openapi.DATE_TEXT),
    page: str | None = Query(None, description=openapi.PAGE_TEXT),
    per_page: str | None = Query(None, description=openapi.PER_PAGE_TEXT),
) -> HttpResponse:
    claimed_only = xikolo.claimed_filter(claimed)
    dated = claimed_only is not None  # as in Xikolo, the dates count only with `claimed`
    filters = VoucherFilters(
        tag=xikolo.query_text(tag, "tag"),
        claimed=claimed_only,
        claimed_from=xikolo.day_start(start_date, "start_date") if dated and start_date else None,
        claimed_before=xikolo.day_after(end_date, "end_date") if dated and end_date else None,
    )
    size = xikolo.page_size(per_page, default=PER_PAGE, most=MAX_PER_PAGE)
    number = xikolo.page_number(page, size)
    if request.method == "HEAD":  # the paging headers only: the count, and no page read
        rows, total = CodesPage(rows=[], total=shop_codes_total(_shop(request), filters))
    else:
        rows, total = shop_codes_page(_shop(request), filters, page=number, per_page=size)
    response = xikolo.answer([_listed(row) for row in rows])
    for name, value in xikolo.paging_headers(request, number=number, size=size, total=total).items():
        response[name] = value
    if request.method == "HEAD":
        response.content = b""
    return response


def _listed(row: dict[str, Any]) -> dict[str, Any]:
    item = xikolo.voucher(
        code=row["code"],
        prefix=row["batch__prefix"],
        country=row["batch__country"],
        product=row["batch__offer__product"],
        tag=row["batch__tag"],
        created_at=row["batch__created_at"],
    )
    if row["claimed_at"] is not None:
        item.update(
            claimed_at=xikolo.wire_time(row["claimed_at"]),
            claimant_ip=row["claimant_ip"] or "",
            claimant_country=xikolo.claimant_country(row["claimant_ip"]),
        )
    return item


@router.get(
    "/vouchers/{code}", summary="One voucher, with every redemption (Tessera extension)", openapi_extra=openapi.SHOW
)
def voucher_show(request: HttpRequest, code: str) -> HttpResponse:
    return xikolo.answer(_voucher_details(_own_code(request, code)))


@router.post(
    "/vouchers/{code}/void", summary="Void a voucher for a refund (Tessera extension)", openapi_extra=openapi.VOID
)
@idempotent
def voucher_void(request: HttpRequest, code: str) -> HttpResponse:
    voided = shop_voucher_void(shop=_shop(request), code=_own_code(request, code))
    return xikolo.answer(_voucher_details(voided))


def _shop(request: HttpRequest) -> Shop:
    shop: Shop = request.auth  # type: ignore[attr-defined]  # set by ShopToken authentication
    return shop


def _own_code(request: HttpRequest, text: str) -> Code:
    code = shop_code(_shop(request), parse_code(text))
    if code is None:
        raise CodeNotFound()
    return code


def _voucher_details(code: Code) -> dict[str, Any]:
    details = details_of(code)
    batch = details.code.batch
    shown = xikolo.voucher(code=details.code.code, prefix=batch.prefix, country=batch.country,
                         product=batch.offer.product, tag=batch.tag, created_at=batch.created_at)  # fmt: skip
    return {
        **shown, "status": details.status,
        "uses": details.code.uses, "max_uses": details.code.max_uses, "expires_at": xikolo.wire_time(batch.expires_at),
        "redemptions": [
            {"claimed_at": xikolo.wire_time(r.redeemed_at), "claimant_ip": r.client_ip or "",
             **xikolo.claim_place(r),
             "reversed_at": xikolo.wire_time(r.reversed_at)}
            for r in details.redemptions
        ],
    }  # fmt: skip
