"""Tests for personal data: the address purge and erasing a learner (tessera.vouchers.services.privacy,
with the shop's and platform's receivers)."""

import json
import time
import uuid
from datetime import timedelta

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.utils import timezone

from tessera.api.models import ApiToken
from tessera.api.services import api_token_issue
from tessera.catalog.models import Enrollment
from tessera.core.models import FailureCounter
from tessera.shop import webhooks
from tessera.shop.models import IdempotencyKey, WebhookDelivery
from tessera.vouchers import codes
from tessera.vouchers.errors import CodeNotFound, StaffNotErasable
from tessera.vouchers.models import AuditEvent, Redemption
from tessera.vouchers.services import redemption_reverse, voucher_redeem
from tessera.vouchers.services.privacy import address_cutoff, address_purge, learner_erase

OLD_IP, NEW_IP = "203.0.113.77", "198.51.100.23"
LONG_AGO = timedelta(days=400)


def redeem(code: str, user: User, session, *, ip: str, age: timedelta = timedelta(0)) -> Redemption:
    redemption = voucher_redeem(code=code, user=user, session=session, client_ip=ip)
    Redemption.objects.filter(pk=redemption.pk).update(redeemed_at=timezone.now() - age)
    return Redemption.objects.get(pk=redemption.pk)


def delivery_of(redemption: Redemption, shop, *, age: timedelta = timedelta(0)) -> WebhookDelivery:
    """A webhook about `redemption` as the shop received it: the body names the claimant's address."""
    body = webhooks.event_body(uuid.uuid4(), "voucher.redeemed", webhooks.redeemed_data(redemption))
    delivery = WebhookDelivery.objects.create(
        shop=shop, event_id=uuid.uuid4(), event_type="voucher.redeemed", url="http://127.0.0.1:9/", body=body
    )
    WebhookDelivery.objects.filter(pk=delivery.pk).update(created_at=timezone.now() - age)
    return delivery


def counter(key: str, *, ended: bool) -> FailureCounter:
    now = int(time.time())
    end = now - 10 if ended else now + 60
    return FailureCounter.objects.create(key=key, window_start=end - 60, window_end=end, count=3)


def audit_rows() -> list[tuple[object, ...]]:
    return list(AuditEvent.objects.values_list("pk", "at", "actor", "action", "code", "batch_id", "detail"))


def ip_of(redemption: Redemption) -> str | None:
    return Redemption.objects.get(pk=redemption.pk).client_ip


@pytest.fixture
def old_and_new(enrollment_offer, make_code, learner, other_learner, running_session):
    """One redemption from 400 days ago, one from today, each with an address."""
    old = redeem(make_code(enrollment_offer), learner, running_session, ip=OLD_IP, age=LONG_AGO)
    new = redeem(make_code(enrollment_offer), other_learner, running_session, ip=NEW_IP)
    return old, new


class TestAddressPurge:
    def test_addresses_older_than_the_cutoff_are_forgotten_and_newer_ones_kept(self, old_and_new):
        old, new = old_and_new
        counts = address_purge(before=address_cutoff(), actor="cli")
        assert counts["redemptions"] == 1
        assert (ip_of(old), ip_of(new)) == (None, NEW_IP)
        assert Redemption.objects.count() == 2

    def test_the_cutoff_is_the_retention_setting_ago(self, settings, now):
        settings.TESSERA_ADDRESS_RETENTION_DAYS = 30
        assert address_cutoff(now=now) == now - timedelta(days=30)

    def test_the_purge_is_audited_once_with_its_counts(self, old_and_new):
        before = address_cutoff()
        address_purge(before=before, actor="task")
        [purged] = AuditEvent.objects.filter(action=AuditEvent.Action.PURGED)
        assert purged.actor == "task"
        assert purged.detail["before"] == before.isoformat()
        assert purged.detail["changed"]["redemptions"] == 1

    def test_a_dry_run_counts_the_same_and_changes_nothing(self, old_and_new, shop_a):
        old, _ = old_and_new
        delivery = delivery_of(old, shop_a.shop, age=LONG_AGO)
        audit_before = audit_rows()
        counted = address_purge(before=address_cutoff(), actor="cli", dry_run=True)
        assert (counted["redemptions"], counted["webhook_deliveries"]) == (1, 1)
        assert ip_of(old) == OLD_IP
        assert WebhookDelivery.objects.get(pk=delivery.pk).body == delivery.body
        assert audit_rows() == audit_before
        assert address_purge(before=address_cutoff(), actor="cli") == counted

    def test_old_webhook_bodies_lose_the_address_and_keep_everything_else(self, old_and_new, shop_a):
        old, new = old_and_new
        old_delivery, new_delivery = delivery_of(old, shop_a.shop, age=LONG_AGO), delivery_of(new, shop_a.shop)
        counts = address_purge(before=address_cutoff(), actor="cli")
        assert counts["webhook_deliveries"] == 1
        sent, kept = (json.loads(WebhookDelivery.objects.get(pk=d.pk).body) for d in (old_delivery, new_delivery))
        as_sent = json.loads(old_delivery.body)
        assert sent == {**as_sent, "data": {**as_sent["data"], "claimant_ip": ""}}
        assert kept["data"]["claimant_ip"] == NEW_IP

    def test_ended_rate_limit_counters_go_and_running_ones_stay(self, db):
        counter(f"ip:{OLD_IP}/60", ended=True)
        running = counter(f"ip:{NEW_IP}/60", ended=False)
        counts = address_purge(before=address_cutoff(), actor="cli")
        assert counts["rate_limit_counters"] == 1
        assert list(FailureCounter.objects.all()) == [running]

    def test_stored_idempotent_responses_that_old_go(self, shop_a, now):
        for key, age in (("old", LONG_AGO), ("new", timedelta(0))):
            IdempotencyKey.objects.create(shop=shop_a.shop, key=key, fingerprint="f", created_at=now - age)
        assert address_purge(before=address_cutoff(), actor="cli")["idempotent_responses"] == 1
        assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]

    def test_the_audit_log_is_left_as_it_was_but_for_its_own_row(self, old_and_new):
        audit_before = audit_rows()
        address_purge(before=address_cutoff(), actor="cli")
        assert audit_rows()[:-1] == audit_before


# --- erasing a learner ------------------------------------------------------------------------

USERNAME, EMAIL = "ada.lovelace", "ada@example.org"


@pytest.fixture
def ada(db) -> User:
    return User.objects.create_user(USERNAME, email=EMAIL, password="ada-pass-1", first_name="Ada", last_name="King")


@pytest.fixture
def ada_with_history(ada, staff, enrollment_offer, proctoring_offer, make_code, running_session, shop_a):
    """Ada redeemed two codes (one refunded since), typed a wrong one, signed in, holds an API
    token, was edited in the admin, and a shop was sent her redemption with her address."""
    kept = redeem(make_code(enrollment_offer), ada, running_session, ip=OLD_IP)
    refunded = redeem(make_code(proctoring_offer), ada, running_session, ip=OLD_IP)
    redemption_reverse(redemption=refunded, actor="cli")
    # Counted by voucher_redeem's limits under her address: ip:<address> and refused:ip:<address>,
    # each for a minute and for a day.
    with pytest.raises(CodeNotFound):
        voucher_redeem(code=codes.generate(1)[0], user=ada, session=running_session, client_ip=OLD_IP)
    delivery_of(kept, shop_a.shop)
    Client().force_login(ada)
    api_token_issue(user=ada, label="Ada's laptop")
    LogEntry.objects.create(
        user=staff, content_type=ContentType.objects.get_for_model(User), object_id=str(ada.pk),
        object_repr=str(ada), action_flag=CHANGE, change_message="Changed email.",
    )  # fmt: skip
    return ada


def tables_mentioning(text: str) -> list[str]:
    """Every "table.column" of the database, whatever its type, whose text holds `text`."""
    found, quote = [], connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            for column in connection.introspection.get_table_description(cursor, table):
                where = f"CAST({quote(column.name)} AS TEXT) LIKE %s"
                cursor.execute(f"SELECT COUNT(*) FROM {quote(table)} WHERE {where}", [f"%{text}%"])  # noqa: S608
                if cursor.fetchone()[0]:
                    found.append(f"{table}.{column.name}")
    return found


def totals() -> dict[str, int]:
    return {
        "redemptions": Redemption.objects.count(),
        "live": Redemption.objects.filter(reversed_at__isnull=True).count(),
        "enrollments": Enrollment.objects.filter(active=True).count(),
        "users": User.objects.count(),
    }


class TestLearnerErase:
    def test_the_scan_finds_what_is_there(self, ada_with_history):
        """The check below could pass by never finding anything; before the erasure it finds all."""
        assert "auth_user.username" in tables_mentioning(USERNAME)
        assert "auth_user.email" in tables_mentioning(EMAIL)
        assert {"vouchers_redemption.client_ip", "shop_webhookdelivery.body", "core_failurecounter.key"} <= set(
            tables_mentioning(OLD_IP)
        )

    def test_no_trace_of_the_name_email_or_address_is_left_in_any_table(self, ada_with_history):
        learner_erase(user=ada_with_history, actor="cli")
        assert tables_mentioning(USERNAME) == []
        assert tables_mentioning(EMAIL) == []
        assert tables_mentioning(OLD_IP) == []

    def test_counts_and_the_audit_trail_stay_as_they_were(self, ada_with_history):
        before, audit_before = totals(), audit_rows()
        learner_erase(user=ada_with_history, actor="cli")
        assert totals() == before
        assert audit_rows()[:-1] == audit_before
        assert {row[2] for row in audit_before if row[3] in ("redeemed", "refused")} == {f"user:{ada_with_history.pk}"}

    def test_the_erasure_is_audited_with_the_user_id_and_what_it_cleared(self, ada_with_history):
        learner_erase(user=ada_with_history, actor="cli")
        [erased] = AuditEvent.objects.filter(action=AuditEvent.Action.ERASED)
        assert erased.actor == "cli"
        assert erased.detail == {
            "user_id": ada_with_history.pk,
            "changed": {
                "redemptions": 2, "rate_limit_counters": 4, "webhook_deliveries": 1, "api_tokens": 1,
                "platform_learners": 0, "sessions": 1, "admin_log_entries": 1,
            },
        }  # fmt: skip

    def test_the_account_stays_renamed_without_a_way_in(self, ada_with_history):
        learner_erase(user=ada_with_history, actor="cli")
        user = User.objects.get(pk=ada_with_history.pk)
        assert (user.username, user.email, user.first_name, user.last_name) == (f"erased-{user.pk}", "", "", "")
        assert not user.has_usable_password()
        assert not user.is_active
        assert not Session.objects.exists()
        assert not ApiToken.objects.filter(user=user).exists()
        assert Redemption.objects.filter(user=user).count() == 2

    def test_other_learners_keep_their_data(
        self, ada_with_history, other_learner, enrollment_offer, make_code, running_session
    ):
        theirs = redeem(make_code(enrollment_offer), other_learner, running_session, ip=NEW_IP)
        learner_erase(user=ada_with_history, actor="cli")
        assert ip_of(theirs) == NEW_IP
        assert User.objects.get(pk=other_learner.pk).username == "other_learner"

    @pytest.mark.parametrize("role", ["is_staff", "is_superuser"])
    def test_staff_and_superusers_are_refused_and_nothing_changes(self, ada, role):
        setattr(ada, role, True)
        ada.save()
        with pytest.raises(StaffNotErasable):
            learner_erase(user=ada, actor="cli")
        assert User.objects.get(pk=ada.pk).username == USERNAME
        assert not AuditEvent.objects.filter(action=AuditEvent.Action.ERASED).exists()
