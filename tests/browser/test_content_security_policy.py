"""Pages that run scripts of their own, under the Content-Security-Policy every page carries:
the `page` fixture fails a test whose page has anything blocked by it."""

import pytest
from playwright.sync_api import expect

from tessera.vouchers.models import BatchJob

pytestmark = pytest.mark.django_db(transaction=True)


class TestPagesUnderThePolicy:
    @pytest.mark.parametrize(
        ("docs", "title"),
        [("/docs", "Tessera platform API"), ("/bridges/shop/docs", "Tessera shop bridge")],
        ids=["platform API (by the old address)", "shop bridge"],
    )
    def test_the_api_docs_swagger_ui_renders_the_operations(self, page, docs, title):
        response = page.goto(docs)
        assert response is not None
        assert response.status == 200
        assert "script-src 'self'" in response.headers["content-security-policy"]
        expect(page.get_by_role("heading", name=title)).to_be_visible()
        operation = page.locator(".opblock").first
        operation.locator(".opblock-summary").click()  # opens it: parameters, a select, icons
        expect(operation.get_by_role("button", name="Try it out")).to_be_visible()

    def test_the_admin_index_and_an_add_form_with_its_widgets_work(self, page, log_in, staff):
        log_in(page, staff)
        page.goto("/admin/")
        expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
        page.goto("/admin/catalog/coursesession/add/")
        # The date shortcuts ("Today", the calendar) are added by the admin's scripts.
        expect(page.get_by_role("link", name="Today").first).to_be_visible()

    def test_the_staff_job_page_follows_progress_with_htmx(self, page, log_in, staff, enrollment_offer):
        job = BatchJob.objects.create(offer=enrollment_offer, count=12_000, fields={})
        log_in(page, staff)
        with page.expect_request(f"**/staff/jobs/{job.pk}/progress*"):
            page.goto(f"/staff/jobs/{job.pk}")
