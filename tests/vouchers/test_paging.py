"""A batch's codes a page at a time (tessera.vouchers.paging): keyset pages in code order, a search
by the start of a code as people type it, used and unused codes told apart, and cursors that let
nothing odd reach the database."""

import pytest
from django.utils import timezone

from tessera.core.errors import InvalidInput
from tessera.vouchers.models import Batch, Code
from tessera.vouchers.paging import PAGE_SIZE, BatchTotals, batch_code_page, batch_totals, cursor, search_prefix
from tessera.vouchers.services import BatchSpec, CodeList, codes_import


@pytest.fixture
def batch(enrollment_offer, make_batch) -> Batch:
    return make_batch(enrollment_offer, count=PAGE_SIZE + 5, uses_per_code=3)


def codes_of(batch: Batch) -> list[str]:
    return list(batch.codes.order_by("code").values_list("code", flat=True))


class TestSearchPrefix:
    def test_dashes_spaces_case_and_look_alikes_are_forgiven(self):
        assert search_prefix(" ab-cd o1 il ") == "ABCD0111"

    def test_a_symbol_no_code_has_is_invalid_input_on_the_search(self):
        with pytest.raises(InvalidInput) as refused:
            search_prefix("AB!")
        assert refused.value.field == "q"

    def test_is_never_longer_than_a_code(self):
        assert len(search_prefix("A" * 500)) == 31

    def test_in_imported_codes_look_alikes_stay_and_every_letter_is_a_symbol(self):
        assert search_prefix(" bo-il u ", imported=True) == "BOILU"

    def test_in_imported_codes_a_symbol_no_code_has_is_invalid_input(self):
        with pytest.raises(InvalidInput):
            search_prefix("AB!", imported=True)


class TestCursor:
    def test_a_stored_code_is_a_cursor(self):
        assert cursor("ABCD0123") == "ABCD0123"

    def test_an_imported_code_with_letters_ours_leave_out_is_a_cursor(self):
        assert cursor("BOILOU24") == "BOILOU24"

    @pytest.mark.parametrize("sent", ["", "abcd", "AB CD", "AB\x00", "AB-CD", "A" * 32])
    def test_anything_else_is_the_first_page(self, sent):
        assert cursor(sent) == ""


class TestBatchCodePage:
    def test_the_first_page_leads_to_the_next_and_not_back(self, batch):
        page = batch_code_page(batch, now=timezone.now())
        assert [row.code for row in page.rows] == codes_of(batch)[:PAGE_SIZE]
        assert (page.after, page.before) == (codes_of(batch)[PAGE_SIZE - 1], None)

    def test_the_last_page_leads_back_and_not_on(self, batch):
        codes = codes_of(batch)
        page = batch_code_page(batch, now=timezone.now(), after=codes[PAGE_SIZE - 1])
        assert [row.code for row in page.rows] == codes[PAGE_SIZE:]
        assert (page.after, page.before) == (None, codes[PAGE_SIZE])

    def test_before_a_cursor_is_the_page_that_ends_there(self, batch):
        codes = codes_of(batch)
        page = batch_code_page(batch, now=timezone.now(), before=codes[PAGE_SIZE])
        assert [row.code for row in page.rows] == codes[:PAGE_SIZE]
        assert (page.after, page.before) == (codes[PAGE_SIZE - 1], None)

    def test_a_search_keeps_the_codes_that_start_with_it(self, batch):
        start = codes_of(batch)[0][:2]
        rows = batch_code_page(batch, now=timezone.now(), search=start).rows
        assert [row.code for row in rows] == [code for code in codes_of(batch) if code.startswith(start)]

    def test_used_and_unused_codes_are_told_apart(self, batch):
        used = codes_of(batch)[3]
        Code.objects.filter(pk=used).update(uses=1)
        now = timezone.now()
        assert [(row.code, row.uses, row.status) for row in batch_code_page(batch, now=now, uses="used").rows] == [
            (used, 1, "partly_redeemed")
        ]
        assert used not in [row.code for row in batch_code_page(batch, now=now, uses="unused").rows]

    def test_a_row_shows_the_code_as_people_read_it_and_its_status(self, enrollment_offer, make_batch):
        batch = make_batch(enrollment_offer, count=1, prefix="SPR1NG")
        Batch.objects.filter(pk=batch.pk).update(revoked_at=timezone.now())
        batch.refresh_from_db()
        [row] = batch_code_page(batch, now=timezone.now()).rows
        assert row.display.startswith("SPR1NG-")
        assert (row.status, row.uses, row.max_uses) == ("revoked", 0, 1)

    def test_imported_codes_page_search_and_show_as_stored(self, enrollment_offer):
        given = [f"BOIL-{n:03}" for n in range(PAGE_SIZE + 2)] + ["LOUD-001"]
        spec = BatchSpec(count=len(given), country="DE")
        batch = codes_import(offer=enrollment_offer, codes=CodeList.numbered(given, source="test"), spec=spec)
        now = timezone.now()
        first = batch_code_page(batch, now=now)
        second = batch_code_page(batch, now=now, after=cursor(first.after or ""))
        assert [row.display for row in second.rows] == ["BOIL050", "BOIL051", "LOUD001"]
        found = batch_code_page(batch, now=now, search=search_prefix("lou", imported=True))
        assert [row.code for row in found.rows] == ["LOUD001"]


class TestBatchTotals:
    def test_codes_used_and_uses_spent(self, batch):
        first, second = codes_of(batch)[:2]
        Code.objects.filter(pk=first).update(uses=3)
        Code.objects.filter(pk=second).update(uses=1)
        assert batch_totals(batch) == BatchTotals(codes=PAGE_SIZE + 5, used=2, uses=4)

    def test_nothing_used_is_zero(self, batch):
        assert batch_totals(batch) == BatchTotals(codes=PAGE_SIZE + 5, used=0, uses=0)
