"""Migration 0006: the index of used codes that 0005 made outside the model state is kept on both
databases (SQLite rebuilt the table without it)."""

from django.db import connection


class TestIndexes:
    def test_the_used_codes_index_survives_the_migrations(self, db):
        with connection.cursor() as cursor:
            names = connection.introspection.get_constraints(cursor, "vouchers_code")
        assert {"vouchers_code_used_by_batch", "vouchers_code_batch_code"} <= set(names)
