"""`tessera revoke`: codes, or a whole batch; a list with a typo revokes nothing."""

import pytest
from django.core.management.base import CommandError

from tessera.vouchers import codes
from tessera.vouchers.models import AuditEvent, Code
from tests.commands import run_command


class TestRevoke:
    def test_revokes_a_code(self, enrollment_offer, make_code):
        text = make_code(enrollment_offer)
        out = run_command("revoke", text)
        assert f"Revoked {text}." in out
        assert Code.objects.get(pk=codes.parse(text)).revoked_at is not None
        assert AuditEvent.objects.filter(action="revoked", actor="cli").count() == 1

    def test_revokes_a_whole_batch(self, enrollment_offer, make_batch):
        batch = make_batch(enrollment_offer, count=3)
        out = run_command("revoke", "--batch", str(batch.pk))
        assert f"Revoked batch {batch.pk}: 3 codes." in out
        assert not batch.codes.filter(revoked_at__isnull=True).exists()

    def test_nothing_named_is_invalid_input(self, db):
        with pytest.raises(CommandError, match="invalid_input"):
            run_command("revoke")

    def test_an_unknown_batch_is_not_found(self, db):
        with pytest.raises(CommandError, match="not_found"):
            run_command("revoke", "--batch", "999999")


class TestRevokeAList:
    def test_a_typo_in_the_list_revokes_nothing(self, enrollment_offer, make_code):
        good, other = make_code(enrollment_offer), make_code(enrollment_offer)
        typo = other[:-1] + ("0" if other[-1] != "0" else "1")
        with pytest.raises(CommandError, match=r"^mistyped: "):
            run_command("revoke", good, typo)
        assert not Code.objects.filter(revoked_at__isnull=False).exists()

    def test_an_unknown_code_in_the_list_revokes_nothing(self, enrollment_offer, make_code):
        good = make_code(enrollment_offer)
        with pytest.raises(CommandError, match=r"^not_found: "):
            run_command("revoke", good, "0000-0000-0000-0000")  # well formed, but no such code
        assert not Code.objects.filter(revoked_at__isnull=False).exists()
