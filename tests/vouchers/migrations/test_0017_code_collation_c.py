"""Migration 0017: the code column and the redemption's column pointing at it compare bytes on
PostgreSQL (collation "C"); undone, both go back to the database's default, codes and the foreign
key kept."""

import importlib

import pytest
from django.db import connection, transaction
from django.db.migrations.loader import MigrationLoader

from tessera.vouchers.models import Code

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite compares bytes already")

MIGRATION = importlib.import_module("tessera.vouchers.migrations.0017_code_collation_c")


def collations() -> tuple[str | None, str | None]:
    with connection.cursor() as cursor:
        code = {info.name: info for info in connection.introspection.get_table_description(cursor, "vouchers_code")}
        used = {
            info.name: info for info in connection.introspection.get_table_description(cursor, "vouchers_redemption")
        }
    return code["code"].collation, used["code_id"].collation


def foreign_keys_to_the_code() -> list[str]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "vouchers_redemption")
    return [name for name, info in constraints.items() if info["foreign_key"] == ("vouchers_code", "code")]


def test_undone_and_done_again_it_keeps_the_codes_and_the_foreign_key(make_batch, enrollment_offer):
    batch = make_batch(enrollment_offer, count=5)
    loader = MigrationLoader(connection)
    before = loader.project_state(("vouchers", "0016_assessment_offers"))
    after = loader.project_state(("vouchers", "0017_code_collation_c"))
    (operation,) = MIGRATION.Migration.operations
    assert collations() == ("C", "C")
    with transaction.atomic():
        with connection.schema_editor(atomic=False) as editor:
            operation.database_backwards("vouchers", editor, after, before)
        assert collations() == (None, None)
        assert len(foreign_keys_to_the_code()) == 1
        with connection.schema_editor(atomic=False) as editor:
            operation.database_forwards("vouchers", editor, before, after)
        assert collations() == ("C", "C")
        assert len(foreign_keys_to_the_code()) == 1
        assert Code.objects.filter(batch=batch).count() == 5
        transaction.set_rollback(True)
