"""A batch's staff page (tessera.web.staff.batches): its codes page by page, searched and filtered,
its CSV, its printable cards, and revoking it."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from tessera.vouchers.models import Batch, Code
from tessera.vouchers.paging import PAGE_SIZE
from tessera.vouchers.selectors.codes import display_code
from tessera.vouchers.services import voucher_redeem
from tests.conftest import FORMULA_TAG, clerk_with
from tests.pdfs import pdf_pages, pdf_text, qr_codes_on_page
from tests.web.pages import text


class TestBatchPage:
    @pytest.fixture
    def batch(self, make_batch, enrollment_offer) -> Batch:
        return make_batch(enrollment_offer, count=2 * PAGE_SIZE + 20, uses_per_code=2)

    def test_pages_walk_every_code_once_in_order_and_back(self, manager_client, batch):
        url, seen, page_sizes = f"/staff/batches/{batch.pk}", [], []
        response = manager_client.get(url)
        while True:
            codes = response.context["page"].rows
            page_sizes.append(len(codes))
            seen += [row.code for row in codes]
            after = response.context["page"].after
            if not after:
                break
            response = manager_client.get(url, {"after": after})
        assert page_sizes == [PAGE_SIZE, PAGE_SIZE, 20]
        assert seen == sorted(batch.codes.values_list("code", flat=True))
        back = manager_client.get(url, {"before": response.context["page"].before}).context["page"]
        assert [row.code for row in back.rows] == seen[PAGE_SIZE : 2 * PAGE_SIZE]

    def test_a_code_is_found_by_its_first_symbols_as_people_type_them(self, manager_client, batch):
        wanted = batch.codes.order_by("code")[7].code
        typed = display_code(wanted)[:7].lower()  # e.g. "abcd-ef": dashes and case forgiven
        rows = manager_client.get(f"/staff/batches/{batch.pk}", {"q": typed}).context["page"].rows
        assert wanted in [row.code for row in rows]
        assert all(row.code.startswith(wanted[:6]) for row in rows)

    def test_a_search_with_a_symbol_no_code_has_says_so(self, manager_client, batch):
        response = manager_client.get(f"/staff/batches/{batch.pk}", {"q": "AB!"})
        assert response.status_code == 422
        assert "Not a voucher code" in text(response)

    def test_used_codes_are_told_apart_and_counted(self, manager_client, batch, learner, running_session):
        code = batch.codes.order_by("code")[3].code
        voucher_redeem(code=code, user=learner, session=running_session, product="enrollment")
        response = manager_client.get(f"/staff/batches/{batch.pk}", {"uses": "used"})
        assert [(row.code, row.uses, row.status) for row in response.context["page"].rows] == [
            (code, 1, "partly_redeemed")
        ]
        assert "120, of which 1 used (1 use spent)" in text(response)
        unused = manager_client.get(f"/staff/batches/{batch.pk}", {"uses": "unused"}).context["page"].rows
        assert code not in [row.code for row in unused]

    def test_the_csv_has_a_header_and_a_row_per_code(self, manager_client, batch):
        response = manager_client.get(f"/staff/batches/{batch.pk}/export.csv")
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"] == f'attachment; filename="batch-{batch.pk}.csv"'
        rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert rows[0][:3] == ["code", "batch", "offer"]
        assert len(rows) == 1 + batch.count

    @pytest.mark.parametrize("export", ["batches/{batch}", "offers/{offer}"])
    def test_a_shops_formula_tag_is_exported_as_text(self, manager_client, formula_batch, export):
        url = "/staff/" + export.format(batch=formula_batch.pk, offer=formula_batch.offer_id) + "/export.csv"
        response = manager_client.get(url)
        [row] = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
        assert row["tag"] == "'" + FORMULA_TAG

    def test_revoking_the_batch_stops_every_live_code(self, manager_client, batch):
        response = manager_client.post(f"/staff/batches/{batch.pk}/revoke")
        assert response.status_code == 303
        assert Code.objects.filter(batch=batch, revoked_at__isnull=True).count() == 0
        page = text(manager_client.get(response["Location"]))
        assert f"Batch {batch.pk} is revoked: 120 more codes cannot be redeemed." in page
        assert "Revoke this batch" not in page

    def test_expired_codes_show_as_expired(self, manager_client, batch):
        Batch.objects.filter(pk=batch.pk).update(expires_at=timezone.now() - timedelta(days=1))
        rows = manager_client.get(f"/staff/batches/{batch.pk}").context["page"].rows
        assert {row.status for row in rows} == {"expired"}


class TestOddRequests:
    @pytest.mark.parametrize("query", [{"after": "\x00"}, {"before": "\x00"}, {"after": "ZZZ\x00"}, {"after": "a b"}])
    def test_an_odd_cursor_shows_the_first_page(self, manager_client, enrollment_offer, make_batch, query):
        batch = make_batch(enrollment_offer, count=3)
        response = manager_client.get(f"/staff/batches/{batch.pk}", query)
        assert response.status_code == 200
        assert len(response.context["page"].rows) == 3


class TestPagerLinks:
    """The links on the page, followed as a browser would, keep the search and the filter."""

    def test_following_next_and_previous_with_a_filter_visits_each_matching_code_once(
        self, manager_client, enrollment_offer, make_batch, learner, running_session
    ):
        batch = make_batch(enrollment_offer, count=3 * PAGE_SIZE)
        used = set(batch.codes.order_by("code").values_list("code", flat=True)[::3])
        Code.objects.filter(code__in=used).update(uses=1)
        url, seen, pages = f"/staff/batches/{batch.pk}?uses=unused", [], []
        while url:
            page = text(manager_client.get(url))
            pages.append(page)
            seen += re.findall(r'href="/staff/codes/([0-9A-Z]+)"', page)
            following = re.search(r'href="(\?[^"]*)" rel="next"', page)
            url = f"/staff/batches/{batch.pk}{following.group(1)}" if following else ""
        unused = sorted(set(batch.codes.values_list("code", flat=True)) - used)
        assert seen == unused
        assert 'rel="prev"' not in pages[0]
        back = re.search(r'href="(\?[^"]*)" rel="prev"', pages[-1])
        assert back is not None
        assert "uses=unused" in back.group(1)

    def test_a_search_finds_every_code_with_that_start(self, manager_client, enrollment_offer, make_batch):
        batch = make_batch(enrollment_offer, count=300)
        start = batch.codes.order_by("code").first().code[:1]
        wanted = sorted(code for code in batch.codes.values_list("code", flat=True) if code.startswith(start))
        found, after = [], ""
        while True:
            query = {"q": start.lower(), "after": after}
            page = manager_client.get(f"/staff/batches/{batch.pk}", query).context["page"]
            found += [row.code for row in page.rows]
            if not page.after:
                break
            after = page.after
        assert found == wanted

    def test_no_previous_link_leads_to_an_empty_page(self, manager_client, enrollment_offer, make_batch):
        batch = make_batch(enrollment_offer, count=3)
        page = manager_client.get(f"/staff/batches/{batch.pk}", {"after": "0"}).context["page"]
        assert len(page.rows) == 3
        assert page.before is None


class TestBatchCards:
    @pytest.fixture(autouse=True)
    def public_url(self, settings):
        settings.TESSERA_PUBLIC_URL = "https://tessera.example"

    def test_the_page_offers_the_cards_of_every_code_and_of_the_unused_ones(self, manager_client, make_batch,
                                                                            enrollment_offer):  # fmt: skip
        batch = make_batch(enrollment_offer, count=2)
        page = manager_client.get(f"/staff/batches/{batch.pk}").content.decode()
        assert f'href="/staff/batches/{batch.pk}/cards.pdf"' in page
        assert f'href="/staff/batches/{batch.pk}/cards.pdf?uses=unused"' in page

    def test_a_pdf_with_every_code_and_its_redeem_link_in_its_qr_code(self, manager_client, make_batch,
                                                                       enrollment_offer):  # fmt: skip
        batch = make_batch(enrollment_offer, count=11)
        response = manager_client.get(f"/staff/batches/{batch.pk}/cards.pdf")
        assert (response.status_code, response["Content-Type"]) == (200, "application/pdf")
        assert response.streaming
        pdf = response.getvalue()
        codes = [display_code(code) for code in sorted(batch.codes.values_list("code", flat=True))]
        assert pdf_pages(pdf) == 2
        assert all(code in pdf_text(pdf) for code in codes)
        expected = [f"https://tessera.example/redeem?session=python-2026&code={code}" for code in codes[10:]]
        assert qr_codes_on_page(pdf, 1) == expected

    def test_unused_prints_the_codes_never_used(self, manager_client, make_batch, enrollment_offer, learner,
                                                running_session):  # fmt: skip
        batch = make_batch(enrollment_offer, count=3)
        used = batch.codes.order_by("code").first()
        voucher_redeem(code=used.code, user=learner, session=running_session)
        response = manager_client.get(f"/staff/batches/{batch.pk}/cards.pdf", {"uses": "unused"})
        assert response["Content-Disposition"] == f'attachment; filename="batch-{batch.pk}-cards-unused.pdf"'
        text = pdf_text(response.getvalue())
        assert display_code(used.code) not in text
        assert sum(display_code(code) in text for code in batch.codes.values_list("code", flat=True)) == 2

    def test_a_selection_it_does_not_know_prints_every_code(self, manager_client, make_batch, enrollment_offer):
        batch = make_batch(enrollment_offer, count=2)
        response = manager_client.get(f"/staff/batches/{batch.pk}/cards.pdf", {"uses": "bogus"})
        assert response.status_code == 200
        text = pdf_text(response.getvalue())
        assert all(display_code(code) in text for code in batch.codes.values_list("code", flat=True))

    def test_staff_without_the_voucher_permission_get_403_and_no_pdf(self, client, make_batch, enrollment_offer):
        batch = make_batch(enrollment_offer, count=2)
        client.force_login(clerk_with("view_batch", "view_code"))
        response = client.get(f"/staff/batches/{batch.pk}/cards.pdf")
        assert response.status_code == 403
        assert response["Content-Type"].startswith("text/html")

    def test_an_unknown_batch_is_404(self, manager_client):
        assert manager_client.get("/staff/batches/999/cards.pdf").status_code == 404
