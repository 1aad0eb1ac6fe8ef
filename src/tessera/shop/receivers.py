"""Where voucher events become webhooks: the vouchers signals' receivers (connected in
ShopConfig.ready) and the shop's own void.

All of them run after the change has committed. None may raise: the redemption or void stands
whatever happens here, so a failure is logged and the learner or shop still gets their answer.
"""

import functools
import logging
from collections.abc import Callable
from typing import Any, ParamSpec

from tessera.core.db import columns, fetch_one, instance_from_row
from tessera.shop import webhooks
from tessera.shop.models import Shop, WebhookDelivery
from tessera.shop.tasks import webhook_event_record
from tessera.vouchers.models import Batch, Code, Redemption

logger = logging.getLogger(__name__)
P = ParamSpec("P")
Event = WebhookDelivery.Event


def _never_raises(receiver: Callable[P, None]) -> Callable[P, None]:
    @functools.wraps(receiver)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            receiver(*args, **kwargs)
        except Exception:
            logger.exception("A webhook event could not be recorded (%s)", receiver.__name__)

    return guarded


# Runs after a redemption of a shop's code (Batch.source says so, read with the code: the rest ask
# nothing), a reversal, a void: hand-written SQL, as on the
# redemption's own hot path (see tessera.core.db). The ORM's query took 684 µs of CPU against
# 105 µs (PostgreSQL; docs/benchmarks.md section 5); tests/shop/test_receivers.py holds it to the
# ORM's answers.
SUBSCRIBED_SHOP = (
    f"SELECT {columns(Shop, 's')} FROM shop_shop s JOIN shop_shopbatch sb ON sb.shop_id = s.id"  # noqa: S608
    " JOIN vouchers_code c ON c.batch_id = sb.batch_id WHERE c.code = %s AND s.webhook_url <> ''"
)


def _subscribed_shop(code_id: str) -> Shop | None:
    """The shop that sold this code, if it wants webhooks; one query, and None for most codes."""
    row = fetch_one(SUBSCRIBED_SHOP, [code_id])
    return None if row is None else instance_from_row(Shop, row)


def _of_no_shop(redemption: Redemption) -> bool:
    """Whether the redemption's code is of a batch no shop sold, known without a query: a
    redemption's path hands over the code with its batch. Shops' batches are marked so when the
    shop bridge creates them (tessera.shop.services), and a batch's source never changes. False
    when the batch is not at hand (a reversal may pass a bare redemption): then SUBSCRIBED_SHOP asks."""
    if not Redemption.code.is_cached(redemption):
        return False
    code = redemption.code
    return Code.batch.is_cached(code) and code.batch.source != Batch.Source.SHOP


def _redemption(pk: int) -> Redemption:
    return Redemption.objects.select_related("code__batch__offer", "session__course", "assessment__course").get(pk=pk)


@_never_raises
def on_voucher_redeemed(sender: object, *, redemption: Redemption, **kwargs: Any) -> None:
    if _of_no_shop(redemption):
        return
    shop = _subscribed_shop(redemption.code_id)
    if shop is not None:
        data = webhooks.redeemed_data(_redemption(redemption.pk))
        webhook_event_record(shop=shop, event_type=Event.REDEEMED, data=data)


@_never_raises
def on_redemption_reversed(sender: object, *, redemption: Redemption, use_returned: bool, **kwargs: Any) -> None:
    if _of_no_shop(redemption):
        return
    shop = _subscribed_shop(redemption.code_id)
    if shop is not None:
        data = webhooks.reversed_data(_redemption(redemption.pk), use_returned=use_returned)
        webhook_event_record(shop=shop, event_type=Event.REDEMPTION_REVERSED, data=data)


@_never_raises
def voucher_voided(*, code: Code) -> None:
    """After shop_voucher_void commits. Staff revoking a code (CLI, admin) sends no event, as the
    voucher service signals no revocations; staff reversing a redemption does send one."""
    shop = _subscribed_shop(code.code)
    if shop is not None:
        fresh = Code.objects.select_related("batch__offer").get(pk=code.pk)
        webhook_event_record(shop=shop, event_type=Event.VOIDED, data=webhooks.voided_data(fresh))
