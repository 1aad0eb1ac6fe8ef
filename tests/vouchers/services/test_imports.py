"""Tests for tessera.vouchers.services.imports: reading a CSV file of codes made elsewhere, and
importing them as a batch, all or nothing."""

import codecs
from datetime import timedelta

import pytest

from tessera.core.errors import InvalidInput
from tessera.vouchers import codes as codebook
from tessera.vouchers.errors import CodesRefused, VouchersDisabled
from tessera.vouchers.models import AuditEvent, Batch, Code, Redemption
from tessera.vouchers.services import BatchSpec, CodeList, codes_from_csv, codes_import, voucher_redeem
from tessera.vouchers.services import imports as imports_module


def counts() -> tuple[int, int, int]:
    """Everything an import could leave behind."""
    return Batch.objects.count(), Code.objects.count(), AuditEvent.objects.count()


def imported(offer, *codes: str, source: str = "codes.csv", **settings) -> Batch:
    settings.setdefault("country", "DE")
    spec = BatchSpec(count=len(codes), **settings)
    return codes_import(offer=offer, codes=CodeList.numbered(list(codes), source=source), spec=spec, actor="cli")


def refused(offer, *codes: str) -> CodesRefused:
    with pytest.raises(CodesRefused) as caught:
        imported(offer, *codes)
    return caught.value


class TestCodesFromCsv:
    def test_each_line_gives_its_first_cell_and_its_line_number(self):
        codes = codes_from_csv(["SUMMER-01,sold\n", '"SUMMER-02",sold\n'], source="a.csv")
        assert (codes.codes, list(codes.lines), codes.source) == (["SUMMER-01", "SUMMER-02"], [1, 2], "a.csv")

    def test_a_header_and_blank_lines_are_skipped_and_lines_keep_their_numbers(self):
        codes = codes_from_csv(["Code,note\n", "\n", "SUMMER-01\n", " , \n", "SUMMER-02\n"], source="a.csv")
        assert (codes.codes, list(codes.lines)) == (["SUMMER-01", "SUMMER-02"], [3, 5])

    def test_code_is_a_header_on_the_first_line_only(self):
        codes = codes_from_csv(["SUMMER-01\n", "code\n"], source="a.csv")
        assert codes.codes == ["SUMMER-01", "code"]

    def test_a_cell_over_several_lines_counts_from_the_line_it_ends_on(self):
        codes = codes_from_csv(['"SUMMER\n', '-01"\n', "SUMMER-02\n"], source="a.csv")
        assert (codes.codes, list(codes.lines)) == (["SUMMER\n-01", "SUMMER-02"], [2, 3])

    def test_an_empty_file_has_no_codes(self):
        assert codes_from_csv([], source="a.csv").codes == []

    def test_more_codes_than_allowed_are_refused_pointing_to_the_command(self):
        with pytest.raises(InvalidInput, match="tessera import-codes") as caught:
            codes_from_csv(["A1B2C3\n"] * 4, source="a.csv", most=3)
        assert caught.value.field == "codes"

    def test_text_that_is_not_utf_8_is_refused(self):
        with pytest.raises(InvalidInput, match=r"a\.csv is not UTF-8 text"):
            codes_from_csv(codecs.iterdecode([b"SUMMER-01\n", b"\xff\xfe\n"], "utf-8"), source="a.csv")

    def test_a_line_that_is_not_csv_is_refused_with_its_number(self):
        with pytest.raises(InvalidInput, match=r"Line 2 of a\.csv is not CSV"):
            codes_from_csv(["SUMMER-01\n", "X" * (200_000) + "\n"], source="a.csv")


class TestCodesImport:
    def test_an_import_is_a_batch_of_the_codes_as_given(self, enrollment_offer, now):
        expires = now + timedelta(days=30)
        batch = imported(
            enrollment_offer, "summer-01-ab", "SUMMER 02 AB", uses_per_code=3, expires_at=expires, tag="reseller",
            country="at",
        )  # fmt: skip
        assert batch.imported
        assert (batch.count, batch.uses_per_code, batch.expires_at, batch.tag, batch.country, batch.prefix) == (
            2, 3, expires, "reseller", "AT", "",
        )  # fmt: skip
        assert sorted(batch.codes.values_list("code", "max_uses", "uses")) == [
            ("SUMMER01AB", 3, 0), ("SUMMER02AB", 3, 0),
        ]  # fmt: skip

    def test_an_import_is_one_audit_row_with_its_count_and_source(self, enrollment_offer):
        batch = imported(enrollment_offer, "SUMMER-01", "SUMMER-02", source="reseller.csv")
        [row] = AuditEvent.objects.exclude(action=AuditEvent.Action.OFFER_CREATED)
        assert (row.action, row.actor, row.batch_id) == (AuditEvent.Action.IMPORTED, "cli", batch.pk)
        assert row.detail == {"count": 2, "source": "reseller.csv"}

    def test_an_imported_code_is_redeemed_by_its_text_in_any_case(
        self, enrollment_offer, learner, other_learner, running_session
    ):
        imported(enrollment_offer, "Summer-Oil-2024", uses_per_code=2)
        voucher_redeem(code="summer-oil-2024", user=learner, session=running_session)
        voucher_redeem(code="SUMMEROIL2024", user=other_learner, session=running_session)
        assert Code.objects.get().uses == 2
        assert Redemption.objects.count() == 2

    def test_a_code_that_reads_as_one_of_ours_is_stored_as_ours_and_redeemed(
        self, enrollment_offer, learner, running_session
    ):
        ours = "0ABCDEF1GHJKMNP" + codebook.check_symbol("0ABCDEF1GHJKMNP")
        given = ours.lower().replace("0", "o")
        batch = imported(enrollment_offer, given)
        assert batch.codes.get().code == ours
        voucher_redeem(code=given, user=learner, session=running_session)
        assert Redemption.objects.get().code_id == ours

    def test_codes_given_twice_are_named_with_their_lines_and_nothing_is_imported(self, enrollment_offer):
        before = counts()
        problems = refused(enrollment_offer, "SUMMER-01", "SUMMER-02", "summer01", "SUMMER-02").problems
        assert [(p.line, p.code, p.problem) for p in problems] == [
            (3, "summer01", "the same code as line 1"), (4, "SUMMER-02", "the same code as line 2"),
        ]  # fmt: skip
        assert counts() == before

    def test_codes_stored_already_are_named_with_their_lines_and_batch(self, enrollment_offer, make_batch):
        generated = make_batch(enrollment_offer, count=1)
        ours = generated.codes.get().code
        earlier = imported(enrollment_offer, "SUMMER-01")
        before = counts()
        error = refused(enrollment_offer, "SUMMER-09", "summer-01", ours.lower())
        assert [(p.line, p.code, p.problem) for p in error.problems] == [
            (2, "summer-01", f"already a code, of batch {earlier.pk}"),
            (3, ours.lower(), f"already a code, of batch {generated.pk}"),
        ]
        assert counts() == before
        assert not Code.objects.filter(pk="SUMMER09").exists()

    def test_lines_that_are_no_codes_are_named_and_nothing_is_imported(self, enrollment_offer):
        before = counts()
        error = refused(enrollment_offer, "SUMMER-01", "SUMMER_02", "ABC", "SUMMER-04")
        assert [(p.line, p.code) for p in error.problems] == [(2, "SUMMER_02"), (3, "ABC")]
        assert "'_'" in error.problems[0].problem
        assert "6 to 31 letters and digits" in error.problems[1].problem
        assert error.message.startswith("2 lines need fixing in codes.csv; nothing was imported. Line 2: ")
        assert counts() == before

    def test_problems_of_every_kind_are_named_in_one_answer(self, enrollment_offer):
        earlier = imported(enrollment_offer, "SUMMER-09")
        error = refused(enrollment_offer, "SUMMER_01", "summer-09", "SUMMER-02", "SUMMER-02")
        assert [(p.line, p.problem.split(":")[0]) for p in error.problems] == [
            (1, "Not a code"), (2, f"already a code, of batch {earlier.pk}"), (4, "the same code as line 3"),
        ]  # fmt: skip

    def test_at_most_a_hundred_problems_are_listed_of_all_counted(self, enrollment_offer):
        error = refused(enrollment_offer, *["SUMMER-01"] * 150)
        assert error.problem_count == 149
        assert [p.line for p in error.problems] == list(range(2, 102))

    def test_an_empty_list_is_refused(self, enrollment_offer):
        with pytest.raises(InvalidInput, match=r"codes\.csv holds no codes") as caught:
            imported(enrollment_offer)
        assert caught.value.field == "codes"
        assert counts() == (0, 0, 1)  # the offer's own audit row

    def test_more_than_an_import_holds_is_refused(self, enrollment_offer, monkeypatch):
        monkeypatch.setattr(imports_module, "MAX_BATCH", 2)
        with pytest.raises(InvalidInput, match="up to 2 codes"):
            imported(enrollment_offer, "SUMMER-01", "SUMMER-02", "SUMMER-03")
        assert not Batch.objects.exists()

    def test_the_settings_are_checked_as_a_batchs_are(self, enrollment_offer, now):
        with pytest.raises(InvalidInput) as caught:
            imported(enrollment_offer, "SUMMER-01", expires_at=now - timedelta(days=1))
        assert caught.value.field == "expires_at"
        assert not Batch.objects.exists()

    def test_vouchers_off_refuses_imports(self, enrollment_offer, settings):
        settings.TESSERA_VOUCHERS_ENABLED = False
        with pytest.raises(VouchersDisabled):
            imported(enrollment_offer, "SUMMER-01")
        assert not Batch.objects.exists()

    def test_codes_are_written_in_chunks_and_reported(self, enrollment_offer, monkeypatch):
        monkeypatch.setattr(imports_module, "CHUNK", 2)
        reported: list[int] = []
        spec = BatchSpec(count=5, country="DE")
        codes = CodeList.numbered([f"SUMMER-0{n}" for n in range(5)], source="codes.csv")
        codes_import(offer=enrollment_offer, codes=codes, spec=spec, progress=reported.append)
        assert reported == [2, 2, 1]
        assert Code.objects.count() == 5
