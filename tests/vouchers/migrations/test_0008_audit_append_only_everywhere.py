"""Migration 0008: the database itself refuses to change or remove audit rows (triggers on both
vendors), and rows written before it name users by id and hold no addresses."""

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import DatabaseError, connection, transaction

from tessera.vouchers.audit import audit_record
from tessera.vouchers.models import AuditEvent
from tests.auditing import raw

Action = AuditEvent.Action


class TestDatabaseTriggers:
    """Migration 0008: both vendors refuse UPDATE and DELETE; PostgreSQL also TRUNCATE."""

    def test_a_raw_update_is_refused_by_the_database(self, event):
        with pytest.raises(DatabaseError, match="append-only"):
            raw("UPDATE vouchers_auditevent SET actor = %s", ["someone else"])
        assert AuditEvent.objects.get().actor == "cli"

    def test_a_raw_delete_of_one_row_is_refused_by_the_database(self, event):
        with pytest.raises(DatabaseError, match="append-only"):
            raw("DELETE FROM vouchers_auditevent WHERE id = %s", [event.pk])
        assert AuditEvent.objects.count() == 1

    def test_a_raw_delete_of_every_row_is_refused_by_the_database(self, event):
        with pytest.raises(DatabaseError, match="append-only"):
            raw("DELETE FROM vouchers_auditevent")
        assert AuditEvent.objects.count() == 1

    @pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no TRUNCATE")
    def test_truncate_is_refused_by_the_database(self, event):
        with pytest.raises(DatabaseError, match="append-only"):
            raw("TRUNCATE vouchers_auditevent")
        assert AuditEvent.objects.count() == 1

    def test_inserting_still_works_after_a_refusal(self, event):
        with pytest.raises(DatabaseError):
            raw("DELETE FROM vouchers_auditevent")
        audit_record(action=Action.REVOKED, actor="cli", codes=1)
        assert [e.action for e in AuditEvent.objects.all()] == ["created", "revoked"]


class TestMigration0008:
    def test_rows_written_before_it_name_users_by_id_and_hold_no_addresses(self, learner):
        audit_record(action=Action.REDEEMED, actor="user:learner", session="s", client_ip="198.51.100.4")
        audit_record(action=Action.REVERSED, actor="user:gone", user="learner", use_returned=True)
        migration = importlib.import_module("tessera.vouchers.migrations.0008_audit_append_only_everywhere")
        with transaction.atomic(), connection.cursor() as cursor:
            quote = connection.ops.quote_name
            editor = SimpleNamespace(connection=connection, execute=cursor.execute, quote_name=quote)
            if connection.vendor == "sqlite":
                migration._run(editor, migration.SQLITE_DROP)  # as before 0008, which creates them
            migration.close_the_log(apps, editor)
        redeemed, reversed_ = AuditEvent.objects.all()
        assert (redeemed.actor, redeemed.detail) == (f"user:{learner.pk}", {"session": "s"})
        # A user who no longer exists cannot be named by id; their name stays.
        assert (reversed_.actor, reversed_.detail) == ("user:gone", {"user_id": learner.pk, "use_returned": True})
        with pytest.raises(DatabaseError, match="append-only"):
            raw("DELETE FROM vouchers_auditevent")
