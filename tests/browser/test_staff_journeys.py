"""A voucher manager's journey in a real browser: from the offers to a new batch of codes and its CSV."""

import csv

import pytest
from playwright.sync_api import expect

from tessera.vouchers.models import Batch
from tessera.vouchers.selectors.codes import display_code
from tessera.vouchers.selectors.exports import EXPORT_HEADER
from tests.browser.conftest import submit

pytestmark = pytest.mark.django_db(transaction=True)


class TestCreatingCodes:
    def test_a_voucher_manager_creates_three_codes_and_downloads_them_as_csv(
        self, page, log_in, live_server, voucher_manager, enrollment_offer, tmp_path
    ):
        log_in(page, voucher_manager)

        response = page.goto("/staff/offers")
        assert response is not None
        assert response.status == 200
        expect(page.get_by_role("heading", level=1)).to_have_text("Offers and codes")
        page.get_by_role("link", name="enrollment offer").click()
        expect(page).to_have_url(f"{live_server.url}/staff/offers/{enrollment_offer.pk}")

        create = page.get_by_role("region", name="Create codes")
        create.get_by_label("Number of codes").fill("3")
        create.get_by_label("Uses per code").fill("2")
        create.get_by_label("Tag", exact=True).fill("spring-fair")
        create.get_by_label("Country").fill("FR")
        landed = submit(page, create.get_by_role("button", name="Create codes"))

        batch = Batch.objects.get(offer=enrollment_offer)
        assert (batch.count, batch.uses_per_code, batch.tag, batch.country) == (3, 2, "spring-fair", "FR")
        assert batch.created_by == "manager"
        assert landed.url == f"{live_server.url}/staff/batches/{batch.pk}"
        assert landed.request.redirected_from is not None
        assert landed.request.redirected_from.response().status == 303
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Batch {batch.pk}")
        expect(page.get_by_role("status")).to_have_text("3 codes created.")
        codes = sorted(display_code(code, batch.prefix) for code in batch.codes.values_list("code", flat=True))
        listed = page.get_by_role("region", name="Codes").get_by_role("table").locator("tbody tr")
        expect(listed).to_have_count(3)
        expect(listed.get_by_role("link")).to_have_text(codes)
        expect(listed.locator("td.num")).to_have_text(["0 of 2"] * 3)

        with page.expect_download() as started:
            page.get_by_role("link", name="Download CSV").click()
        download = started.value
        assert download.suggested_filename == f"batch-{batch.pk}.csv"
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        header, *rows = list(csv.reader(saved.read_text(encoding="utf-8").splitlines()))
        assert tuple(header) == EXPORT_HEADER
        assert sorted(row[0] for row in rows) == codes
        assert {(row[4], row[5], row[6], row[7]) for row in rows} == {("spring-fair", "0", "2", "unused")}
