"""Reads for the bridge: which shop a token names, and a shop's vouchers."""

import hmac
from datetime import datetime

from django.db.models import Exists, OuterRef, QuerySet, Subquery

from tessera.shop.models import Shop, ShopToken
from tessera.shop.services import token_digest
from tessera.vouchers.models import Code, Redemption


def shop_for_token(plaintext: str) -> Shop | None:
    """The shop of a live token, or None. The lookup is by digest; the final comparison runs in
    constant time so the answer's timing says nothing about how much of a token was right."""
    digest = token_digest(plaintext)
    token = ShopToken.objects.select_related("shop").filter(digest=digest, revoked_at__isnull=True).first()
    if token is None or not hmac.compare_digest(token.digest, digest):
        return None
    return token.shop


def shop_code(shop: Shop, normalized: str) -> Code | None:
    """One of the shop's own codes; another shop's code is as unknown as a code that never was."""
    return Code.objects.select_related("batch__offer").filter(pk=normalized, batch__shop_batch__shop=shop).first()


def shop_codes(
    shop: Shop,
    *,
    tag: str | None = None,
    claimed: bool | None = None,
    claimed_from: datetime | None = None,
    claimed_before: datetime | None = None,
) -> QuerySet[Code]:
    """The shop's codes, oldest batch first then by code (a stable order for paging), each
    annotated with its first live redemption: claimed_at and claimant_ip."""
    codes = Code.objects.filter(batch__shop_batch__shop=shop)
    if tag:
        codes = codes.filter(batch__tag=tag)
    if claimed is not None:
        codes = codes.filter(uses__gt=0) if claimed else codes.filter(uses=0)
    if claimed_from is not None or claimed_before is not None:
        codes = codes.filter(Exists(_claims_between(claimed_from, claimed_before)))
    first_claim = Redemption.objects.filter(code=OuterRef("pk"), reversed_at__isnull=True).order_by("redeemed_at", "pk")
    return codes.annotate(
        claimed_at=Subquery(first_claim.values("redeemed_at")[:1]),
        claimant_ip=Subquery(first_claim.values("client_ip")[:1]),
    ).order_by("batch_id", "code")


def _claims_between(start: datetime | None, end: datetime | None) -> QuerySet[Redemption]:
    claims = Redemption.objects.filter(code=OuterRef("pk"), reversed_at__isnull=True)
    if start is not None:
        claims = claims.filter(redeemed_at__gte=start)
    if end is not None:
        claims = claims.filter(redeemed_at__lt=end)
    return claims
