"""Shops, their bearer tokens, and the vouchers they create through the bridge."""

import secrets
from datetime import datetime
from functools import partial
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from tessera.catalog.models import Assessment, CourseSession
from tessera.core.destinations import url_origin, webhook_url_checked
from tessera.core.errors import InvalidInput
from tessera.core.tokens import token_digest
from tessera.core.validation import fits_text
from tessera.core.webhooks import new_secret
from tessera.shop.models import Shop, ShopBatch, ShopOffer, ShopToken
from tessera.shop.receivers import voucher_voided
from tessera.vouchers.audit import audit_record
from tessera.vouchers.models import AuditEvent, Batch, Code, Offer
from tessera.vouchers.services import BatchSpec, batch_create_in_request, code_revoke, offer_create, redemption_reverse

MAX_QTY = 500  # Xikolo's limit per request, kept so shop integrations see the same answers


def shop_create(*, name: str, actor: str = "system") -> Shop:
    name = _shop_name_checked(name)
    with transaction.atomic():
        shop = Shop.objects.create(name=name)
        _audit(AuditEvent.Action.SHOP_CREATED, actor, shop)
    return shop


def shop_rename(*, shop: Shop, name: str, actor: str = "system") -> Shop:
    """Its bridge vouchers are logged as made by "shop:<name>", so the old name is kept here."""
    name = _shop_name_checked(name, renaming=shop)
    with transaction.atomic():
        old = Shop.objects.select_for_update().values_list("name", flat=True).get(pk=shop.pk)
        Shop.objects.filter(pk=shop.pk).update(name=name)
        shop.name = name
        _audit(AuditEvent.Action.SHOP_RENAMED, actor, shop, old_name=old)
    return shop


def shop_delete(*, shop: Shop, actor: str = "system") -> None:
    """Its tokens go with it; a shop that sold vouchers cannot go (its batches protect it)."""
    with transaction.atomic():
        _audit(AuditEvent.Action.SHOP_DELETED, actor, shop, tokens=shop.tokens.count())
        shop.delete()


def _shop_name_checked(name: str, *, renaming: Shop | None = None) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput("A shop needs a name.", field="name")
    fits_text(Shop, "name", name)
    others = Shop.objects.exclude(pk=renaming.pk) if renaming else Shop.objects.all()
    if others.filter(name=name).exists():
        raise InvalidInput(f"There is a shop named {name!r} already.", field="name")
    return name


def token_issue(*, shop: Shop, label: str = "", actor: str = "system") -> tuple[ShopToken, str]:
    """A new token for `shop`; the plaintext is returned here once and never stored (nor logged:
    the audit row names the token by its id only, as its prefix is a part of the secret)."""
    plaintext = secrets.token_hex(32)  # 64 hex characters, the shape Xikolo shops already handle
    with transaction.atomic():
        token = ShopToken.objects.create(
            shop=shop, label=fits_text(ShopToken, "label", label), prefix=plaintext[:8], digest=token_digest(plaintext)
        )
        _audit(AuditEvent.Action.TOKEN_ISSUED, actor, shop, kind="shop_token", token_id=token.pk)
    return token, plaintext


def token_revoke(*, token: ShopToken, actor: str = "system") -> None:
    """Revoking a revoked token again changes nothing and logs nothing."""
    with transaction.atomic():
        if ShopToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()):
            _audit(AuditEvent.Action.TOKEN_REVOKED, actor, token.shop, kind="shop_token", token_id=token.pk)


def _audit(action: str, actor: str, shop: Shop, **detail: Any) -> None:
    """Shops by id and name (names are no one's personal data); never a token or secret."""
    audit_record(action=action, actor=actor, shop_id=shop.pk, shop=shop.name, **detail)


def check_qty(qty: int) -> None:
    """Xikolo's limits and words, checked before anything else about a request."""
    if qty < 1:
        raise InvalidInput("Number must at least be 1", field="qty")
    if qty > MAX_QTY:
        raise InvalidInput("Too many vouchers requested", field="qty")


def shop_vouchers_create(
    *,
    shop: Shop,
    qty: int,
    product: str,
    country: str,
    tag: str = "",
    session: CourseSession | None = None,
    assessment: Assessment | None = None,
    expires_at: datetime | None = None,
    uses_per_code: int = 1,
) -> Batch:
    """`qty` codes for `shop`, all or nothing, in the shop's own offer for the product (and the
    session or assessment, if named)."""
    check_qty(qty)
    with transaction.atomic():
        spec = BatchSpec(
            count=qty, country=country, tag=tag, expires_at=expires_at, uses_per_code=uses_per_code,
            source=Batch.Source.SHOP,
        )  # fmt: skip
        offer = _shop_offer(shop, product, session, assessment)
        batch = batch_create_in_request(offer=offer, spec=spec, actor=f"shop:{shop.name}")
        ShopBatch.objects.create(shop=shop, batch=batch)
    return batch


def _shop_offer(shop: Shop, product: str, session: CourseSession | None, assessment: Assessment | None) -> Offer:
    links = ShopOffer.objects.select_related("offer").filter(
        shop=shop, product=product, session=session, assessment=assessment
    )
    link = links.first()
    if link is not None:
        return link.offer
    where = f" in {session.slug}" if session else f" of {assessment.slug}" if assessment else ""
    try:
        # A savepoint: two first orders of one product may race, and the unique constraint
        # lets one offer in; the loser takes the winner's, committed by the time it is refused.
        with transaction.atomic():
            offer = offer_create(
                name=f"{shop.name}: {product}{where}", product=product, session=session, assessment=assessment,
                actor=f"shop:{shop.name}",
            )  # fmt: skip
            return ShopOffer.objects.create(
                shop=shop, product=product, session=session, assessment=assessment, offer=offer
            ).offer
    except IntegrityError:
        return links.get().offer


def shop_voucher_void(*, shop: Shop, code: Code) -> Code:
    """A refund through the shop: every live redemption is reversed (the entitlement ends, the
    use stays spent) and the code is revoked, so it can never be redeemed again."""
    actor = f"shop:{shop.name}"
    with transaction.atomic():
        # The code's row lock first: a redemption counting its use holds it until it commits, so
        # the loop below sees it; one that comes after finds the code revoked. Two voids queue.
        locked = Code.objects.select_for_update().select_related("batch").get(pk=code.pk)
        was_live = locked.revoked_at is None
        for redemption in locked.redemptions.select_related("user", "session").filter(reversed_at__isnull=True):
            redemption_reverse(redemption=redemption, actor=actor, give_back_use=False)
        revoked = code_revoke(code=locked, actor=actor)
        if was_live:  # voiding a voided code again changes nothing and tells the shop nothing
            transaction.on_commit(partial(voucher_voided, code=revoked))
        return revoked


def webhook_url_check(url: str) -> str:
    """An absolute http or https URL with a host, within the column's length, or InvalidInput;
    WebhookUrlForbidden if the host resolves to an address webhooks may not go to."""
    url = url.strip()
    fits_text(Shop, "webhook_url", url)
    return webhook_url_checked(url)


def shop_webhook_set(
    *, shop: Shop, url: str | None = None, rotate_secret: bool = False, actor: str = "system"
) -> str | None:
    """Points the shop's webhooks at `url` (None keeps the URL it has). A shop gets a signing
    secret with its first URL, and a new one on `rotate_secret`; the new secret is returned, to be
    shown once, and None when the secret stays as it was."""
    if url is not None:
        shop.webhook_url = webhook_url_check(url)
    fresh = None
    if rotate_secret or not shop.webhook_secret:
        fresh = shop.webhook_secret = new_secret()
    with transaction.atomic():
        shop.save(update_fields=["webhook_url", "webhook_secret"])
        if url is None:
            _audit(AuditEvent.Action.SECRET_ROTATED, actor, shop)
        else:
            destination = url_origin(shop.webhook_url)
            _audit(AuditEvent.Action.WEBHOOK_SET, actor, shop, destination=destination, new_secret=bool(fresh))
    return fresh


def shop_webhook_off(*, shop: Shop, actor: str = "system") -> None:
    """No more webhooks to this shop; the secret is kept, for the day its URL is set again.
    Deliveries still waiting give up at their next attempt."""
    shop.webhook_url = ""
    with transaction.atomic():
        shop.save(update_fields=["webhook_url"])
        _audit(AuditEvent.Action.WEBHOOK_OFF, actor, shop)
