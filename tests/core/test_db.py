"""The hand-written SQL helpers write and read rows exactly as the ORM does, defaults included."""

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models import Model
from django.utils import timezone

from tessera.catalog.models import CourseSession, Enrollment
from tessera.core.db import columns, fetch_one, from_db, insert, instance_from_row, violates_unique
from tessera.vouchers.models import AuditEvent, Batch, Code, Offer, Redemption
from tessera.vouchers.services import voucher_redeem
from tests.rows import columns_of, rolled_back

FROZEN = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def typed(instance: Model) -> dict[str, Any]:
    """Every column's value with its type: an aware datetime, a Decimal or a dict must come back
    as such, not merely as something equal to it."""
    return {name: (value, type(value)) for name, value in (columns_of(instance) or {}).items()}


def stored(instance: Model) -> dict[str, Any]:
    """Every column of the row as the ORM reads it back, with each value's type."""
    return typed(type(instance)._base_manager.get(pk=instance.pk))


def written_by(write: Callable[[], Model]) -> tuple[dict[str, Any], Model]:
    """The row one path writes, read back; rolled back, so both paths can write the same row."""

    def read_back() -> tuple[dict[str, Any], Model]:
        instance = write()
        return stored(instance), instance

    return rolled_back(read_back)


@pytest.fixture
def redeemed(learner, running_session, enrollment_offer, make_code) -> Redemption:
    """A redemption, with its code, batch, offer, enrollment and audit event."""
    return voucher_redeem(code=make_code(enrollment_offer), user=learner, session=running_session)


# Each: the fewest fields the model needs; everything else is left to its defaults.
NEW_ROWS: dict[str, Callable[[Redemption], tuple[type[Model], dict[str, Any]]]] = {
    "redemption": lambda r: (Redemption, {"code_id": r.code_id, "user_id": User.objects.create(username="new").pk,
                                          "session_id": r.session_id, "product": r.product, "redeemed_at": FROZEN}),
    "audit event": lambda r: (AuditEvent, {"at": FROZEN, "actor": "user:1", "action": AuditEvent.Action.REDEEMED}),
    "enrollment": lambda r: (Enrollment, {"user_id": User.objects.create(username="new").pk,
                                          "session_id": r.session_id}),
    "offer": lambda r: (Offer, {"name": "Defaults", "product": r.product}),
    "code (primary key given)": lambda r: (Code, {"code": "NEWCODE1", "batch_id": r.code.batch_id}),
}  # fmt: skip


class TestInsert:
    @pytest.mark.parametrize("made", NEW_ROWS.values(), ids=NEW_ROWS.keys())
    def test_writes_the_row_model_save_writes_defaults_and_auto_now_included(self, redeemed, made, monkeypatch):
        monkeypatch.setattr(timezone, "now", lambda: FROZEN)  # auto_now_add takes the same moment on both paths
        model, given = made(redeemed)
        by_hand, inserted = written_by(lambda: insert(model(**given)))
        by_orm, created = written_by(lambda: model.objects.create(**given))
        key = model._meta.pk.attname
        assert {**by_hand, key: None} == {**by_orm, key: None}
        assert inserted.pk is not None
        assert not inserted._state.adding
        assert inserted._state.db == created._state.db

    def test_the_instance_returned_holds_the_row_written(self, redeemed):
        event = insert(AuditEvent(at=FROZEN, actor="user:1", action=AuditEvent.Action.REFUSED, detail={"n": 1}))
        assert {name: value for name, (value, _) in stored(event).items()} == columns_of(event)

    def test_a_unique_violation_is_django_s_integrity_error(self, redeemed):
        again = Redemption(code_id=redeemed.code_id, user_id=redeemed.user_id, session_id=redeemed.session_id,
                           product=redeemed.product, redeemed_at=FROZEN)  # fmt: skip
        with pytest.raises(IntegrityError) as raised, transaction.atomic():
            insert(again)
        assert violates_unique(raised.value, "one_live_redemption_per_code_and_user")


def _read_by_hand(model: type[Model], pk: object) -> Model:
    table, key = model._meta.db_table, model._meta.pk.column
    row = fetch_one(f'SELECT {columns(model, "t")} FROM "{table}" t WHERE t."{key}" = %s', [pk])  # noqa: S608
    assert row is not None
    return instance_from_row(model, row)


class TestFromDb:
    @pytest.mark.parametrize(
        ("model", "field"),
        [(Batch, "created_at"), (Redemption, "redeemed_at"), (Redemption, "client_ip"), (Offer, "price"),
         (AuditEvent, "detail")],
    )  # fmt: skip
    def test_converts_a_selected_value_as_the_orm_loads_it(self, redeemed, model, field):
        row = model._base_manager.order_by("pk").first()
        column = model._meta.get_field(field).column
        sql = f'SELECT "{column}" FROM "{model._meta.db_table}" WHERE "{model._meta.pk.column}" = %s'  # noqa: S608
        raw = fetch_one(sql, [row.pk])
        expected = getattr(row, field)
        assert (from_db(model, field, raw[0]), type(from_db(model, field, raw[0]))) == (expected, type(expected))

    def test_none_stays_none(self):
        assert from_db(Redemption, "reversed_at", None) is None


class TestInstanceFromRow:
    @pytest.mark.parametrize("model", [Redemption, Code, Batch, Offer, CourseSession, Enrollment, AuditEvent, User])
    def test_loads_every_column_as_the_orm_loads_it(self, redeemed, model):
        pk = model._base_manager.values_list("pk", flat=True).first()
        by_hand = _read_by_hand(model, pk)
        assert not by_hand._state.adding
        assert by_hand._state.db == connection.alias
        assert typed(by_hand) == stored(by_hand)

    def test_converted_values_keep_their_types(self, redeemed):
        """Timestamps come back aware (SQLite stores text), JSON as objects, decimals as Decimal."""
        event = _read_by_hand(AuditEvent, AuditEvent.objects.filter(action="redeemed").get().pk)
        offer = _read_by_hand(Offer, redeemed.code.batch.offer_id)
        assert timezone.is_aware(event.at)
        assert isinstance(event.detail, dict)
        assert isinstance(offer.price, Decimal)
        assert offer.price == Offer.objects.get().price
