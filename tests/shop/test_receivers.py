"""What a redemption, a reversal and a void send to the shop that sold the code, once committed;
a queue or a log that fails never undoes the redemption."""

import json
import uuid
from typing import Any

import pytest
from django.db import DatabaseError, transaction
from django_tasks.backends.base import BaseTaskBackend
from django_tasks_db.models import DBTaskResult

from tessera.shop.models import Shop, WebhookDelivery
from tessera.shop.receivers import _subscribed_shop, on_voucher_redeemed
from tessera.shop.services import shop_vouchers_create
from tessera.vouchers.errors import CodeExhausted
from tessera.vouchers.models import Batch, Redemption
from tessera.vouchers.services import redemption_reverse, voucher_redeem
from tests.rows import columns_of
from tests.shop.conftest import BRIDGE
from tests.shop.webhooking import (
    URL_A,
    Status,
    redeem,
    run_due_tasks,
    shop_code,
)


class BrokenQueue(BaseTaskBackend):
    supports_defer = True

    def enqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        raise ConnectionError("the task queue is down")


@pytest.mark.django_db
class TestEvents:
    def test_a_redemption_sends_one_event_to_the_shop_that_sold_the_code(
        self, sender, shop_a, secret_a, shop_b, secret_b, learner, running_session, django_capture_on_commit_callbacks
    ):
        code = shop_code(shop_a.shop, running_session)
        redeem(django_capture_on_commit_callbacks, code, learner, running_session)
        [delivery] = WebhookDelivery.objects.all()
        assert (delivery.shop, delivery.event_type, delivery.url) == (shop_a.shop, "voucher.redeemed", URL_A)
        assert run_due_tasks() == ["delivered"]
        assert [request["url"] for request in sender.requests] == [URL_A]

    def test_the_redeemed_event_says_when_where_and_from_which_address(
        self, sender, shop_a, secret_a, learner, running_session, django_capture_on_commit_callbacks
    ):
        code = shop_code(shop_a.shop, running_session, uses=3)
        redemption = redeem(django_capture_on_commit_callbacks, code, learner, running_session)
        event = json.loads(WebhookDelivery.objects.get().body)
        assert list(event) == ["id", "type", "created_at", "data"]
        assert uuid.UUID(event["id"]) == WebhookDelivery.objects.get().event_id
        assert event["type"] == "voucher.redeemed"
        assert event["data"] == {
            "id": code, "product": "course_enrollment", "tag": "spring", "uses": 1, "max_uses": 3,
            "claimed_at": redemption.redeemed_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "claimant_ip": "203.0.113.7", "claimant_country": "AAA",
            "course_session": running_session.slug, "course": running_session.course.slug,
        }  # fmt: skip

    def test_an_assessment_redemption_names_the_assessment_and_no_session(
        self, sender, shop_a, secret_a, learner, assessment, django_capture_on_commit_callbacks
    ):
        batch = shop_vouchers_create(shop=shop_a.shop, qty=1, product="assessment", country="DE",
                                     assessment=assessment)  # fmt: skip
        with django_capture_on_commit_callbacks(execute=True):
            voucher_redeem(code=batch.codes.get().code, user=learner, assessment=assessment)
        data = json.loads(WebhookDelivery.objects.get().body)["data"]
        assert (data["product"], data["course_session"], data["course"], data["assessment"]) == (
            "assessment",
            None,
            "python",
            "python-exam",
        )

    def test_codes_of_a_shop_without_a_url_and_of_no_shop_send_nothing(
        self, sender, shop_a, learner, other_learner, running_session, enrollment_offer, make_code,
        django_capture_on_commit_callbacks,
    ):  # fmt: skip
        redeem(django_capture_on_commit_callbacks, shop_code(shop_a.shop, running_session), learner, running_session)
        redeem(django_capture_on_commit_callbacks, make_code(enrollment_offer), other_learner, running_session)
        assert Redemption.objects.count() == 2
        assert not WebhookDelivery.objects.exists()
        assert not DBTaskResult.objects.exists()

    def test_a_refused_redemption_sends_nothing(
        self, sender, shop_a, secret_a, learner, other_learner, running_session, django_capture_on_commit_callbacks
    ):
        code = shop_code(shop_a.shop, running_session)
        redeem(django_capture_on_commit_callbacks, code, learner, running_session)
        with pytest.raises(CodeExhausted):
            redeem(django_capture_on_commit_callbacks, code, other_learner, running_session)
        assert WebhookDelivery.objects.count() == 1

    def test_a_redemption_rolled_back_sends_nothing(
        self, sender, shop_a, secret_a, learner, running_session, django_capture_on_commit_callbacks
    ):
        code = shop_code(shop_a.shop, running_session)
        with (  # noqa: PT012
            django_capture_on_commit_callbacks(execute=True),
            pytest.raises(RuntimeError),
            transaction.atomic(),
        ):
            voucher_redeem(code=code, user=learner, session=running_session)
            raise RuntimeError("the caller's transaction fails after the redemption")
        assert not Redemption.objects.exists()
        assert not WebhookDelivery.objects.exists()

    def test_voiding_a_redeemed_code_sends_the_reversal_then_the_void(
        self, client, sender, shop_a, secret_a, learner, running_session, django_capture_on_commit_callbacks
    ):
        code = shop_code(shop_a.shop, running_session)
        redeem(django_capture_on_commit_callbacks, code, learner, running_session)
        with django_capture_on_commit_callbacks(execute=True):
            assert client.post(f"{BRIDGE}/{code}/void", **shop_a.auth).status_code == 200
        events = [json.loads(d.body) for d in WebhookDelivery.objects.order_by("pk")]
        assert [e["type"] for e in events] == ["voucher.redeemed", "voucher.redemption_reversed", "voucher.voided"]
        reversal, void = events[1]["data"], events[2]["data"]
        assert (reversal["id"], reversal["use_returned"], reversal["course_session"]) == (code, False, "python-2026")
        assert reversal["reversed_at"] is not None
        assert (void["id"], void["uses"], void["max_uses"]) == (code, 1, 1)
        assert void["voided_at"] is not None

    def test_voiding_twice_sends_one_void(
        self, client, sender, shop_a, secret_a, running_session, django_capture_on_commit_callbacks
    ):
        code = shop_code(shop_a.shop, running_session)
        for _ in range(2):
            with django_capture_on_commit_callbacks(execute=True):
                assert client.post(f"{BRIDGE}/{code}/void", **shop_a.auth).status_code == 200
        assert list(WebhookDelivery.objects.values_list("event_type", flat=True)) == ["voucher.voided"]

    def test_a_refund_by_staff_sends_the_reversal(
        self, sender, shop_a, secret_a, learner, running_session, django_capture_on_commit_callbacks
    ):
        code = shop_code(shop_a.shop, running_session)
        redemption = redeem(django_capture_on_commit_callbacks, code, learner, running_session)
        with django_capture_on_commit_callbacks(execute=True):
            redemption_reverse(redemption=redemption, actor="cli")
        reversal = WebhookDelivery.objects.get(event_type="voucher.redemption_reversed")
        data = json.loads(reversal.body)["data"]
        assert (data["use_returned"], data["uses"]) == (True, 0)

    def test_a_queue_that_is_down_does_not_undo_the_redemption(
        self, sender, shop_a, secret_a, learner, running_session, django_capture_on_commit_callbacks, settings, caplog
    ):
        settings.TASKS = {"default": {"BACKEND": f"{__name__}.BrokenQueue"}}
        code = shop_code(shop_a.shop, running_session)
        redemption = redeem(django_capture_on_commit_callbacks, code, learner, running_session)
        assert Redemption.objects.get() == redemption
        delivery = WebhookDelivery.objects.get()
        assert delivery.status == Status.PENDING  # in the log, for "retry now"
        assert "could not be queued" in caplog.text

    def test_an_event_that_cannot_be_recorded_does_not_undo_the_redemption(
        self, sender, shop_a, secret_a, learner, running_session, capture, monkeypatch, caplog
    ):
        def unavailable(**kwargs: Any) -> None:
            raise DatabaseError("the delivery log is unavailable")

        monkeypatch.setattr("tessera.shop.receivers.webhook_event_record", unavailable)
        redemption = redeem(capture, shop_code(shop_a.shop, running_session), learner, running_session)
        assert Redemption.objects.get() == redemption
        assert "could not be recorded" in caplog.text


@pytest.mark.django_db(transaction=True)
class TestAfterCommit:
    """Real commits and rollbacks, not captured callbacks."""

    def test_a_committed_redemption_is_logged_and_a_rolled_back_one_is_not(
        self, sender, shop_a, secret_a, learner, other_learner, running_session
    ):
        code = shop_code(shop_a.shop, running_session, uses=2)
        with pytest.raises(RuntimeError), transaction.atomic():  # noqa: PT012
            voucher_redeem(code=code, user=learner, session=running_session)
            raise RuntimeError("rolled back")
        assert not WebhookDelivery.objects.exists()
        voucher_redeem(code=code, user=other_learner, session=running_session)
        assert WebhookDelivery.objects.get().event_type == "voucher.redeemed"
        assert run_due_tasks() == ["delivered"]


# The webhook receivers' lookup of a code's shop, written by hand (docs/architecture.md, "Where
# Tessera writes SQL by hand"), finds the shop the ORM finds.


def shop_by_orm(code_id: str) -> Shop | None:
    return Shop.objects.filter(batches__batch__codes__code=code_id).exclude(webhook_url="").first()


class TestSubscribedShop:
    def test_finds_the_shop_the_orm_finds_or_none(self, shop_a, shop_b, enrollment_offer, make_batch):
        Shop.objects.filter(pk=shop_a.shop.pk).update(webhook_url="https://shop-a.example/hooks")
        subscribed = shop_vouchers_create(shop=shop_a.shop, qty=2, product="enrollment", country="DE")
        silent = shop_vouchers_create(shop=shop_b.shop, qty=1, product="enrollment", country="DE")  # no webhook URL
        staffs = make_batch(enrollment_offer)  # no shop's
        codes = [code.pk for batch in (subscribed, silent, staffs) for code in batch.codes.all()]
        for code in [*codes, "NOSUCHCODE"]:
            assert columns_of(_subscribed_shop(code)) == columns_of(shop_by_orm(code))
        assert [_subscribed_shop(code) is not None for code in codes] == [True, True, False, False]


class TestBatchSource:
    """The redeemed receiver reads Batch.source from the code the redemption carries: a code of no
    shop's batch costs it no query; a shop's batch is marked so from its creation."""

    def test_only_the_shops_batches_are_marked(self, shop_a, enrollment_offer, make_batch):
        sold = shop_vouchers_create(shop=shop_a.shop, qty=1, product="enrollment", country="DE")
        assert (sold.source, make_batch(enrollment_offer).source) == (Batch.Source.SHOP, Batch.Source.TESSERA)

    def test_a_code_of_no_shops_batch_asks_nothing(
        self, sender, shop_a, secret_a, learner, running_session, enrollment_offer, make_code,
        django_assert_num_queries,
    ):  # fmt: skip
        redemption = voucher_redeem(code=make_code(enrollment_offer), user=learner, session=running_session)
        with django_assert_num_queries(0):
            on_voucher_redeemed(Redemption, redemption=redemption)
        assert not WebhookDelivery.objects.exists()

    def test_a_shops_code_is_looked_up_even_without_a_webhook(
        self, sender, shop_a, learner, running_session, django_assert_num_queries
    ):
        code = shop_code(shop_a.shop, running_session)
        redemption = voucher_redeem(code=code, user=learner, session=running_session)
        with django_assert_num_queries(1):  # SUBSCRIBED_SHOP, which finds no URL
            on_voucher_redeemed(Redemption, redemption=redemption)
        assert not WebhookDelivery.objects.exists()

    def test_a_bare_redemption_is_looked_up(self, sender, shop_a, secret_a, learner, running_session):
        code = shop_code(shop_a.shop, running_session)
        bare = Redemption.objects.get(pk=voucher_redeem(code=code, user=learner, session=running_session).pk)
        on_voucher_redeemed(Redemption, redemption=bare)  # its code not loaded: SUBSCRIBED_SHOP asks
        assert WebhookDelivery.objects.get().event_type == "voucher.redeemed"
