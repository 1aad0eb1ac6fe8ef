"""The voucher models (tessera.vouchers.models): the audit log refuses every change and removal
that goes through Django, a redemption names a session or an assessment, and codes compare byte
by byte."""

import pytest
from django.db import IntegrityError, connection, transaction

from tessera.vouchers.models import AuditEvent, Redemption

Action = AuditEvent.Action


class TestAppendOnly:
    def test_a_new_event_is_written(self, event):
        stored = AuditEvent.objects.get()
        assert (stored.action, stored.actor, stored.detail) == ("created", "cli", {"count": 3})
        assert stored.at == event.at

    def test_saving_an_existing_event_raises(self, event):
        event.actor = "someone else"
        with pytest.raises(TypeError, match="append-only"):
            event.save()
        assert AuditEvent.objects.get().actor == "cli"

    def test_saving_a_loaded_event_with_update_fields_raises(self, event):
        stored = AuditEvent.objects.get()
        stored.actor = "someone else"
        with pytest.raises(TypeError, match="append-only"):
            stored.save(update_fields=["actor"])
        assert AuditEvent.objects.get().actor == "cli"

    def test_a_queryset_update_raises(self, event):
        with pytest.raises(TypeError, match="append-only"):
            AuditEvent.objects.filter(pk=event.pk).update(actor="someone else")
        assert AuditEvent.objects.get().actor == "cli"

    def test_a_bulk_update_raises(self, event):
        event.actor = "someone else"
        # bulk_update runs in an atomic block of its own; a savepoint keeps the test's transaction usable.
        with pytest.raises(TypeError, match="append-only"), transaction.atomic():
            AuditEvent.objects.bulk_update([event], ["actor"])
        assert AuditEvent.objects.get().actor == "cli"

    def test_deleting_an_event_raises(self, event):
        with pytest.raises(TypeError, match="append-only"):
            event.delete()
        assert AuditEvent.objects.filter(pk=event.pk).exists()

    def test_a_queryset_delete_raises(self, event):
        with pytest.raises(TypeError, match="append-only"):
            AuditEvent.objects.all().delete()
        assert AuditEvent.objects.count() == 1

    def test_the_base_manager_refuses_updates_and_deletes_too(self, event):
        """Django's own machinery (saves, relations, cascades) goes through the base manager."""
        base = AuditEvent._base_manager
        with pytest.raises(TypeError, match="append-only"):
            base.filter(pk=event.pk).update(actor="someone else")
        with pytest.raises(TypeError, match="append-only"):
            base.all().delete()
        with pytest.raises(TypeError, match="append-only"), transaction.atomic():
            base.bulk_update([event], ["actor"])
        assert (AuditEvent.objects.count(), AuditEvent.objects.get().actor) == (1, "cli")

    def test_the_internal_update_and_raw_delete_raise(self, event):
        with pytest.raises(TypeError, match="append-only"):
            AuditEvent._base_manager.filter(pk=event.pk)._update({"actor": "someone else"})
        with pytest.raises(TypeError, match="append-only"):
            AuditEvent.objects.all()._raw_delete(connection.alias)
        assert (AuditEvent.objects.count(), AuditEvent.objects.get().actor) == (1, "cli")


class TestRedemptionPlace:
    """A redemption is for a session or for an assessment: the database refuses both and neither."""

    @pytest.mark.parametrize("places", ["both", "neither"])
    def test_exactly_one_of_session_and_assessment(self, places, assessment_offer, make_batch, learner,
                                                   running_session, assessment, now):  # fmt: skip
        code = make_batch(assessment_offer).codes.get()
        where = {"session": running_session, "assessment": assessment} if places == "both" else {}
        with pytest.raises(IntegrityError), transaction.atomic():
            Redemption.objects.create(code=code, user=learner, product="assessment", redeemed_at=now, **where)
        assert not Redemption.objects.exists()

    def test_one_of_them_is_a_redemption(self, assessment_offer, make_batch, learner, assessment, now):
        code = make_batch(assessment_offer).codes.get()
        Redemption.objects.create(code=code, user=learner, product="assessment", redeemed_at=now, assessment=assessment)
        assert Redemption.objects.get().session is None


class TestCodeCollation:
    """The code and every column pointing at it compare byte by byte: collation "C" on
    PostgreSQL (CodeField), SQLite's own default (BINARY) there."""

    @pytest.mark.parametrize(("table", "column"), [("vouchers_code", "code"), ("vouchers_redemption", "code_id")])
    def test_the_code_columns_compare_bytes(self, db, table, column):
        with connection.cursor() as cursor:
            described = {info.name: info for info in connection.introspection.get_table_description(cursor, table)}
        expected = "C" if connection.vendor == "postgresql" else None
        assert described[column].collation == expected
