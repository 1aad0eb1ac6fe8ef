"""On PostgreSQL, the database itself refuses UPDATE and DELETE on the audit log."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION vouchers_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER vouchers_auditevent_append_only
    BEFORE UPDATE OR DELETE ON vouchers_auditevent
    FOR EACH ROW EXECUTE FUNCTION vouchers_audit_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS vouchers_auditevent_append_only ON vouchers_auditevent;
DROP FUNCTION IF EXISTS vouchers_audit_append_only();
"""


def create_trigger(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop_trigger(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("vouchers", "0001_initial")]
    operations = [migrations.RunPython(create_trigger, drop_trigger)]
