"""The audit log is append-only in the database on both vendors, and names people by id only.

PostgreSQL: the row trigger of 0002 (UPDATE, DELETE) plus a statement trigger on TRUNCATE.
SQLite: BEFORE UPDATE and BEFORE DELETE triggers that abort (SQLite has no TRUNCATE; a DELETE
without WHERE fires the delete trigger for every row).

Before the triggers close the table, the rows written so far are pseudonymised once, as new rows
are (tessera.vouchers.audit): "user:<username>" actors become "user:<id>", a reversal's
"user": <username> becomes "user_id": <id>, and client addresses leave the detail (the
redemption row keeps its own, until the address purge). Names of users who no longer exist stay.

The test suite's flush lifts these triggers within its own transaction (tests/conftest.py);
nothing in Tessera does. On SQLite, a later migration that rebuilds this table (most ALTERs do)
drops its triggers with the old table and must create them again.
"""

from django.conf import settings
from django.db import migrations, models

MESSAGE = "the audit log is append-only"

POSTGRES_CREATE = [
    f"""
CREATE OR REPLACE FUNCTION vouchers_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = '{MESSAGE} (' || TG_OP || ' refused)';
END;
$$ LANGUAGE plpgsql;
""",
    """
CREATE TRIGGER vouchers_auditevent_append_only
    BEFORE UPDATE OR DELETE ON vouchers_auditevent
    FOR EACH ROW EXECUTE FUNCTION vouchers_audit_append_only();
""",
    """
CREATE TRIGGER vouchers_auditevent_no_truncate
    BEFORE TRUNCATE ON vouchers_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION vouchers_audit_append_only();
""",
]
POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS vouchers_auditevent_no_truncate ON vouchers_auditevent",
    "DROP TRIGGER IF EXISTS vouchers_auditevent_append_only ON vouchers_auditevent",
]
POSTGRES_PSEUDONYMISE = [
    """
UPDATE vouchers_auditevent a SET actor = 'user:' || u.id
FROM {users} u WHERE a.actor = 'user:' || u.username
""",
    """
UPDATE vouchers_auditevent a SET detail = (a.detail - 'user') || jsonb_build_object('user_id', u.id)
FROM {users} u WHERE a.action = 'reversed' AND a.detail ->> 'user' = u.username
""",
    "UPDATE vouchers_auditevent SET detail = detail - 'client_ip' WHERE detail ? 'client_ip'",
]

SQLITE_CREATE = [
    f"""
CREATE TRIGGER vouchers_auditevent_no_update BEFORE UPDATE ON vouchers_auditevent
BEGIN SELECT RAISE(ABORT, '{MESSAGE} (UPDATE refused)'); END
""",
    f"""
CREATE TRIGGER vouchers_auditevent_no_delete BEFORE DELETE ON vouchers_auditevent
BEGIN SELECT RAISE(ABORT, '{MESSAGE} (DELETE refused)'); END
""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS vouchers_auditevent_no_update",
    "DROP TRIGGER IF EXISTS vouchers_auditevent_no_delete",
]
SQLITE_PSEUDONYMISE = [
    """
UPDATE vouchers_auditevent SET actor = 'user:' || (SELECT u.id FROM {users} u WHERE 'user:' || u.username = actor)
WHERE EXISTS (SELECT 1 FROM {users} u WHERE 'user:' || u.username = actor)
""",
    """
UPDATE vouchers_auditevent SET detail = json_set(
    json_remove(detail, '$.user'), '$.user_id',
    (SELECT u.id FROM {users} u WHERE u.username = json_extract(detail, '$.user'))
) WHERE action = 'reversed'
    AND EXISTS (SELECT 1 FROM {users} u WHERE u.username = json_extract(detail, '$.user'))
""",
    """
UPDATE vouchers_auditevent SET detail = json_remove(detail, '$.client_ip')
WHERE json_type(detail, '$.client_ip') IS NOT NULL
""",
]


def _run(schema_editor, statements, **names):  # type: ignore[no-untyped-def]
    for statement in statements:
        schema_editor.execute(statement.format(**names) if names else statement)


def close_the_log(apps, schema_editor):  # type: ignore[no-untyped-def]
    users = schema_editor.quote_name(apps.get_model(settings.AUTH_USER_MODEL)._meta.db_table)
    if schema_editor.connection.vendor == "postgresql":
        _run(schema_editor, POSTGRES_DROP)  # 0002's trigger would refuse the pseudonymising UPDATEs
        _run(schema_editor, POSTGRES_PSEUDONYMISE, users=users)
        _run(schema_editor, POSTGRES_CREATE)
    elif schema_editor.connection.vendor == "sqlite":
        _run(schema_editor, SQLITE_PSEUDONYMISE, users=users)
        _run(schema_editor, SQLITE_CREATE)


def reopen_the_log(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Back to 0002: PostgreSQL's row trigger only; the pseudonymised rows stay as they are."""
    if schema_editor.connection.vendor == "postgresql":
        _run(schema_editor, POSTGRES_DROP)
        schema_editor.execute(
            "CREATE TRIGGER vouchers_auditevent_append_only BEFORE UPDATE OR DELETE ON vouchers_auditevent"
            " FOR EACH ROW EXECUTE FUNCTION vouchers_audit_append_only()"
        )
    elif schema_editor.connection.vendor == "sqlite":
        _run(schema_editor, SQLITE_DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("vouchers", "0007_batchjob_attempts"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="auditevent",
            options={"base_manager_name": "objects", "ordering": ["at", "pk"]},
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="action",
            field=models.CharField(
                choices=[
                    ("created", "Created"),
                    ("redeemed", "Redeemed"),
                    ("refused", "Refused attempt"),
                    ("revoked", "Revoked"),
                    ("reversed", "Reversed"),
                    ("purged", "Addresses purged"),
                    ("erased", "Learner erased"),
                ],
                max_length=16,
            ),
        ),
        # Last, after any table rebuild above, which would drop the triggers on SQLite.
        migrations.RunPython(close_the_log, reopen_the_log),
    ]
