"""`tessera import-codes`: codes made elsewhere from a CSV file, with a batch's options; the lines
to fix, and nothing imported, when the file is not clean."""

import re
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tessera.vouchers.models import AuditEvent, Batch, Code, Offer
from tests.commands import run_command
from tests.vouchers.management.commands.conftest import create_offer


def csv_file(tmp_path: Path, *lines: str, name: str = "reseller.csv") -> Path:
    path = tmp_path / name
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def import_codes(offer: Offer, path: Path, *args: str) -> tuple[Batch, str]:
    out = run_command("import_codes", str(path), "--offer", str(offer.pk), "--country", "DE", "--no-progress", *args)
    match = re.search(r"Imported batch (\d+): ", out)
    assert match, out
    return Batch.objects.get(pk=int(match[1])), out


def refused(offer: Offer, path: Path) -> tuple[str, str]:
    """The command's error and what it wrote to standard error."""
    err = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("import_codes", str(path), "--offer", str(offer.pk), "--country", "DE", stderr=err)
    return str(caught.value), err.getvalue()


class TestImportCodes:
    def test_a_file_becomes_an_imported_batch_with_the_options(self, tmp_path, running_session):
        offer = create_offer(running_session.slug)
        path = csv_file(tmp_path, "code,sold to", "summer-01,Ann", "SUMMER-02,Bob")
        batch, out = import_codes(offer, path, "--uses", "3", "--tag", "reseller", "--expires", "2030-06-30")
        assert f"Imported batch {batch.pk}: 2 codes for {offer}" in out
        assert batch.imported
        assert (batch.uses_per_code, batch.tag, batch.country, batch.created_by) == (3, "reseller", "DE", "cli")
        assert batch.expires_at == datetime(2030, 7, 1, tzinfo=UTC)
        assert sorted(batch.codes.values_list("code", flat=True)) == ["SUMMER01", "SUMMER02"]
        audit = AuditEvent.objects.get(action=AuditEvent.Action.IMPORTED)
        assert audit.detail == {"count": 2, "source": "reseller.csv"}

    def test_a_byte_order_mark_is_not_part_of_the_first_code(self, tmp_path, running_session):
        offer = create_offer(running_session.slug)
        path = tmp_path / "excel.csv"
        path.write_bytes(b"\xef\xbb\xbfSUMMER-01\r\nSUMMER-02\r\n")
        batch, _ = import_codes(offer, path)
        assert sorted(batch.codes.values_list("code", flat=True)) == ["SUMMER01", "SUMMER02"]

    def test_the_lines_to_fix_are_listed_and_nothing_is_imported(self, tmp_path, running_session):
        offer = create_offer(running_session.slug)
        path = csv_file(tmp_path, "code", "SUMMER-01", "SUMMER_02", "summer01")
        error, listed = refused(offer, path)
        assert error.startswith("codes_refused: 2 lines need fixing in reseller.csv; nothing was imported.")
        assert listed.splitlines() == [
            "Line 3: 'SUMMER_02': Not a code: it contains '_'. A code holds letters A to Z and digits only.",
            "Line 4: 'summer01': the same code as line 2",
        ]
        assert not Batch.objects.exists()
        assert not Code.objects.exists()

    def test_problems_beyond_those_listed_are_counted(self, tmp_path, running_session):
        offer = create_offer(running_session.slug)
        path = csv_file(tmp_path, *["SUMMER-01"] * 150)
        _, listed = refused(offer, path)
        assert len(listed.splitlines()) == 101
        assert listed.splitlines()[-1] == "... and 49 more."

    def test_an_empty_file_is_refused(self, tmp_path, running_session):
        offer = create_offer(running_session.slug)
        error, _ = refused(offer, csv_file(tmp_path, "code"))
        assert error == "invalid_input: reseller.csv holds no codes."

    def test_a_missing_file_is_refused(self, tmp_path, running_session):
        offer = create_offer(running_session.slug)
        error, _ = refused(offer, tmp_path / "nowhere.csv")
        assert error.startswith("invalid_input: cannot read ")
        assert "No such file or directory" in error

    def test_an_unknown_offer_is_not_found(self, tmp_path, db):
        with pytest.raises(CommandError, match="not_found: there is no offer 999"):
            run_command("import_codes", str(csv_file(tmp_path, "SUMMER-01")), "--offer", "999", "--country", "DE")

    def test_the_progress_bar_goes_to_standard_error(self, tmp_path, running_session, monkeypatch):
        from tessera.vouchers.management.commands import import_codes as command

        monkeypatch.setattr(command, "PROGRESS_FROM", 2)
        offer = create_offer(running_session.slug)
        err = StringIO()
        call_command(
            "import_codes", str(csv_file(tmp_path, "SUMMER-01", "SUMMER-02")), "--offer", str(offer.pk),
            "--country", "DE", stdout=StringIO(), stderr=err,
        )  # fmt: skip
        assert "2/2" in err.getvalue()
