"""Two database-level index changes for the hot paths, outside Django's model state like 0003.

* An index of used codes only (uses > 0), by batch then code: the shop bridge counts and lists
  a shop's claimed and unclaimed codes per batch from it (tessera.shop.selectors), instead of
  reading every code of the shop. Codes are written with uses = 0, so a batch's COPY adds
  nothing to it; a code enters it on its first redemption.
* On PostgreSQL, drop the varchar_pattern_ops index Django adds beside the index on
  vouchers_redemption.code_id: it serves LIKE 'abc%', which Tessera never asks of redemptions,
  and every redemption paid for updating it.
"""

from django.db import migrations

CREATE_USED_INDEX = "CREATE INDEX vouchers_code_used_by_batch ON vouchers_code (batch_id, code) WHERE uses > 0"
DROP_USED_INDEX = "DROP INDEX IF EXISTS vouchers_code_used_by_batch"
FIND_LIKE_INDEXES = """
SELECT indexname FROM pg_indexes
WHERE tablename = 'vouchers_redemption' AND indexname LIKE 'vouchers_redemption_code_id_%%_like'
"""


def drop_like_index(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(FIND_LIKE_INDEXES)
        names = [row[0] for row in cursor.fetchall()]
    for name in names:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [("vouchers", "0004_manage_vouchers_permission")]
    operations = [
        migrations.RunSQL(CREATE_USED_INDEX, DROP_USED_INDEX),
        migrations.RunPython(drop_like_index, migrations.RunPython.noop),
    ]
