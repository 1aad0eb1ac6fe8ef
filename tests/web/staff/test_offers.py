"""The staff pages of offers (tessera.web.staff.offers): the list, a new offer, an offer's page with
"Create codes" (at once, or as a background job whose page shows its progress), "Import codes" and
its export."""

from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from tessera.vouchers.models import AuditEvent, Batch, BatchJob, Code, Offer, Product
from tessera.vouchers.selectors.codes import display_code
from tessera.vouchers.services import IN_REQUEST_MAX, BatchSpec, batch_job_create, batch_job_run
from tessera.vouchers.services import batches as batch_service
from tessera.vouchers.services import jobs as jobs_service
from tests.commands import run_worker
from tests.conftest import clerk_with
from tests.web.pages import SURROGATE_ON_THE_WIRE, post_form, text
from tests.web.staff.conftest import batch_form

on_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="progress is reported on PostgreSQL only")


class TestOffers:
    def test_offers_are_listed_by_course_session_with_codes_issued(self, manager_client, enrollment_offer, make_batch):
        make_batch(enrollment_offer, count=4)
        page = text(manager_client.get("/staff/offers"))
        assert "Python" in page
        assert "python-2026" in page
        assert enrollment_offer.name in page
        assert '<td class="num">4</td>' in page

    def test_one_sessions_offers_are_shown_alone(self, manager_client, enrollment_offer, reactivation_offer):
        page = text(manager_client.get("/staff/offers", {"session": "python-2026"}))
        assert enrollment_offer.name in page
        assert reactivation_offer.name not in page
        assert "Show the offers of every session" in page

    def test_creating_an_assessment_offer(self, manager_client, assessment):
        response = manager_client.post("/staff/offers/new", {
            "name": "Exam retake", "product": "assessment", "assessment": assessment.pk, "attempts": "1",
            "adds_attempts": "on", "price": "19", "currency": "EUR", "auto_subscribe": "on",
        })  # fmt: skip
        offer = Offer.objects.get()
        assert response.status_code == 303
        assert (offer.assessment, offer.session, offer.attempts, offer.adds_attempts) == (assessment, None, 1, True)
        page = text(manager_client.get(f"/staff/offers/{offer.pk}"))
        assert "Python certification exam (python-exam, part of Python)" in page
        assert "1 a code; added for a learner who holds the assessment, up to its 3" in page

    def test_an_assessment_offer_without_its_assessment_is_shown_beside_the_field(self, manager_client, db):
        response = manager_client.post("/staff/offers/new", {
            "name": "Exam", "product": "assessment", "price": "0", "currency": "EUR", "auto_subscribe": "on",
        })  # fmt: skip
        assert response.status_code == 422
        assert "An assessment offer must name its assessment." in text(response)
        assert not Offer.objects.exists()

    def test_assessment_offers_are_listed_under_their_assessment(self, manager_client, assessment_offer,
                                                                enrollment_offer, make_batch):  # fmt: skip
        make_batch(assessment_offer, count=2)
        page = text(manager_client.get("/staff/offers"))
        assert "Assessment: Python certification exam" in page
        assert page.index("python-2026") < page.index("Assessment: Python certification exam")
        assert page.index("Assessment: Python certification exam") < page.index(assessment_offer.name)

    def test_creating_an_offer_with_every_field(self, manager_client, voucher_manager, running_session):
        response = manager_client.post("/staff/offers/new", {
            "name": "Seat, spring run", "product": "enrollment", "session": running_session.pk, "price": "49.50",
            "currency": "eur", "sale_starts_at": "2026-01-01T09:00", "sale_ends_at": "2099-01-01T09:00",
            "auto_subscribe": "on",
        })  # fmt: skip
        offer = Offer.objects.get()
        assert response.status_code == 303
        assert response["Location"] == f"/staff/offers/{offer.pk}"
        assert (offer.name, offer.product, offer.session, str(offer.price), offer.currency) == (
            "Seat, spring run", "enrollment", running_session, "49.50", "EUR",
        )  # fmt: skip
        assert offer.auto_subscribe is True
        assert offer.sale_ends_at is not None
        assert offer.sale_ends_at.year == 2099
        created_by = AuditEvent.objects.get(action=AuditEvent.Action.OFFER_CREATED)
        assert (created_by.actor, created_by.detail["offer_id"]) == (f"user:{voucher_manager.pk}", offer.pk)

    def test_a_refused_offer_shows_why_beside_the_field_and_saves_nothing(self, manager_client, running_session):
        response = manager_client.post("/staff/offers/new", {
            "name": "Backwards", "product": "enrollment", "price": "1", "currency": "EUR",
            "sale_starts_at": "2030-01-02T00:00", "sale_ends_at": "2030-01-01T00:00",
        })  # fmt: skip
        assert response.status_code == 422
        page = text(response)
        assert "The sale window ends before it starts." in page
        assert 'aria-describedby="id_sale_ends_at-error"' in page
        assert not Offer.objects.exists()

    def test_an_offer_with_a_store_link_shows_it_on_its_page(self, manager_client, running_session):
        response = manager_client.post("/staff/offers/new", {
            "name": "Seat", "product": "enrollment", "session": running_session.pk, "price": "49", "currency": "EUR",
            "store_url": "https://shop.example/python",
        })  # fmt: skip
        offer = Offer.objects.get()
        assert (response.status_code, offer.store_url) == (303, "https://shop.example/python")
        page = text(manager_client.get(f"/staff/offers/{offer.pk}"))
        assert '<a href="https://shop.example/python" rel="noopener">https://shop.example/python</a>' in page

    def test_an_offer_without_a_store_link_says_learners_see_no_buy_link(self, manager_client, enrollment_offer):
        page = text(manager_client.get(f"/staff/offers/{enrollment_offer.pk}"))
        assert "none: course pages show no “Buy one” link for this offer" in page

    def test_a_bad_store_link_is_refused_beside_its_field(self, manager_client, running_session):
        response = manager_client.post("/staff/offers/new", {
            "name": "Seat", "product": "enrollment", "price": "49", "currency": "EUR",
            "store_url": "javascript:alert(1)",
        })  # fmt: skip
        assert response.status_code == 422
        page = text(response)
        assert "The store link must be a full web address starting with https:// or http://." in page
        assert 'aria-describedby="id_store_url-error"' in page
        assert not Offer.objects.exists()

    def test_a_product_the_session_does_not_offer_is_refused(self, manager_client, running_session):
        response = manager_client.post("/staff/offers/new", {
            "name": "No reactivation here", "product": "reactivation", "session": running_session.pk,
            "price": "0", "currency": "EUR",
        })  # fmt: skip
        assert response.status_code == 422
        assert "does not offer reactivation" in text(response)
        assert not Offer.objects.exists()


class TestCreateCodes:
    def test_three_codes_with_two_uses_land_on_the_batch_page(self, manager_client, enrollment_offer, voucher_manager):
        response = manager_client.post(f"/staff/offers/{enrollment_offer.pk}/codes", batch_form())
        batch = Batch.objects.get()
        assert response.status_code == 303
        assert response["Location"] == f"/staff/batches/{batch.pk}"
        assert (batch.count, batch.uses_per_code, batch.tag, batch.country) == (3, 2, "spring", "DE")
        assert batch.created_by == voucher_manager.username
        assert list(batch.codes.values_list("max_uses", flat=True)) == [2, 2, 2]
        page = text(manager_client.get(response["Location"]))
        assert "3 codes created." in page
        for code in batch.codes.all():
            assert display_code(code.code, batch.prefix) in page

    def test_expiry_restriction_and_note_reach_the_batch(self, manager_client, enrollment_offer, learner):
        fields = batch_form(expires_on="2099-03-01", restricted_to=learner.username, note="for the partner")
        manager_client.post(f"/staff/offers/{enrollment_offer.pk}/codes", fields)
        batch = Batch.objects.get()
        assert batch.expires_at is not None
        assert batch.expires_at.isoformat() == "2099-03-02T00:00:00+00:00"
        assert batch.restricted_to == learner
        assert batch.note == "for the partner"

    @pytest.mark.parametrize(
        ("fields", "field", "message"),
        [
            ({"restricted_to": "nobody-here"}, "restricted_to", "There is no user 'nobody-here'."),
            ({"country": "XX"}, "country", "'XX' is not an ISO 3166-1 alpha-2 country code."),
            ({"expires_on": "2020-01-01"}, "expires_on", "The expiry date has already passed."),
            ({"count": 0}, "count", "Ensure this value is greater than or equal to 1."),
            ({"uses_per_code": "many"}, "uses_per_code", "Enter a whole number."),
        ],
    )
    def test_bad_input_is_shown_beside_its_field_and_creates_nothing(
        self, manager_client, enrollment_offer, fields, field, message
    ):
        response = manager_client.post(f"/staff/offers/{enrollment_offer.pk}/codes", batch_form(**fields))
        assert response.status_code == 422
        page = text(response)
        assert message in page
        assert f'aria-describedby="id_{field}-error"' in page
        assert f'value="{fields[field]}"' in page or field == "count"  # what was typed is kept
        assert not Batch.objects.exists()
        assert not BatchJob.objects.exists()

    def test_a_switched_off_product_is_refused_in_plain_words(self, manager_client, settings, enrollment_offer):
        settings.TESSERA_PRODUCTS_ENABLED = [Product.PROCTORING, Product.REACTIVATION]
        response = manager_client.post(f"/staff/offers/{enrollment_offer.pk}/codes", batch_form())
        assert response.status_code == 422
        assert "Enrollment vouchers are switched off on this platform." in text(response)
        assert not Batch.objects.exists()

    def test_more_codes_than_a_request_writes_become_a_background_job(
        self, manager_client, enrollment_offer, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = manager_client.post(
                f"/staff/offers/{enrollment_offer.pk}/codes", batch_form(count=IN_REQUEST_MAX + 1)
            )
        job = BatchJob.objects.get()
        assert response.status_code == 303
        assert response["Location"] == f"/staff/jobs/{job.pk}"
        assert (job.status, job.count, job.written) == ("queued", IN_REQUEST_MAX + 1, 0)
        assert not Batch.objects.exists()
        queued = DBTaskResult.objects.get()
        assert queued.task_path.endswith("create_batch_in_background")
        assert queued.args_kwargs["args"] == [job.pk]
        page = text(manager_client.get(response["Location"]))
        assert 'hx-trigger="every 1s"' in page
        assert "<progress" in page

    def test_the_worker_writes_the_job_and_its_page_links_the_batch(self, manager_client, enrollment_offer, settings):
        job = self._queued_job(manager_client, enrollment_offer, count=IN_REQUEST_MAX + 1)
        batch_job_run(job_id=job.pk)
        job.refresh_from_db()
        assert (job.status, job.written, job.batch.count) == ("done", IN_REQUEST_MAX + 1, IN_REQUEST_MAX + 1)
        assert job.batch.codes.count() == IN_REQUEST_MAX + 1
        fragment = text(manager_client.get(f"/staff/jobs/{job.pk}/progress"))
        assert "hx-trigger" not in fragment  # done: the page stops asking
        assert f'href="/staff/batches/{job.batch.pk}"' in fragment

    def test_a_job_runs_once(self, manager_client, enrollment_offer):
        job = self._queued_job(manager_client, enrollment_offer, count=IN_REQUEST_MAX + 1)
        batch_job_run(job_id=job.pk)
        batch_job_run(job_id=job.pk)
        assert Batch.objects.count() == 1

    def test_a_job_whose_input_went_stale_fails_in_plain_words(self, manager_client, enrollment_offer):
        job = self._queued_job(manager_client, enrollment_offer, count=IN_REQUEST_MAX + 1)
        BatchJob.objects.filter(pk=job.pk).update(fields={**job.fields, "expires_at": "2020-01-01T00:00:00+00:00"})
        batch_job_run(job_id=job.pk)
        job.refresh_from_db()
        assert (job.status, job.error) == ("failed", "The expiry date has already passed.")
        assert not Batch.objects.exists()
        assert not Code.objects.exists()
        page = text(manager_client.get(f"/staff/jobs/{job.pk}"))
        assert "The job failed: The expiry date has already passed." in page

    @staticmethod
    def _queued_job(client: Client, offer: Offer, *, count: int) -> BatchJob:
        client.post(f"/staff/offers/{offer.pk}/codes", batch_form(count=count))
        return BatchJob.objects.get()


@pytest.mark.django_db(transaction=True)
class TestJobProgress:
    """The batch's own transaction hides its codes until it commits; the job's count of codes
    written must be seen by the page meanwhile (a second connection, PostgreSQL)."""

    @on_postgres
    def test_progress_is_visible_while_the_batch_is_still_being_written(self, monkeypatch, enrollment_offer):
        monkeypatch.setattr(batch_service, "CHUNK", 4_000)
        job = BatchJob.objects.create(offer=enrollment_offer, count=12_000, fields={
            "count": 12_000, "uses_per_code": 1, "expires_at": None, "country": "DE", "tag": "big",
            "prefix": "", "refund_policy": "return_use",
        })  # fmt: skip
        seen: list[tuple[int, int]] = []
        real_writer = batch_service.codes_writer
        page = connections.create_connection(DEFAULT_DB_ALIAS)  # looks as the staff page's request would

        @contextmanager
        def watched_writer(**kwargs):
            with real_writer(**kwargs) as write:

                def write_and_look(chunk):
                    write(chunk)
                    with page.cursor() as cursor:
                        cursor.execute("SELECT written FROM vouchers_batchjob WHERE id = %s", [job.pk])
                        seen.append((len(chunk), cursor.fetchone()[0]))

                yield write_and_look

        monkeypatch.setattr(batch_service, "codes_writer", watched_writer)
        try:
            batch_job_run(job_id=job.pk)
        finally:
            page.close()
        # Each look happens after the chunk's write and before its report: the count trails by one chunk.
        assert seen == [(4_000, 0), (4_000, 4_000), (4_000, 8_000)]
        job.refresh_from_db()
        assert (job.status, job.written) == ("done", 12_000)


class TestOddRequests:
    @pytest.mark.parametrize("session", ["\x00", "a\x00b", "not a slug"])
    def test_an_odd_session_filter_shows_every_offer(self, manager_client, enrollment_offer, session):
        response = manager_client.get("/staff/offers", {"session": session})
        assert response.status_code == 200
        assert enrollment_offer.name in text(response)

    @pytest.mark.parametrize("field", ["name", "session", "currency", "price"])
    def test_a_lone_surrogate_in_the_offer_form_is_refused(self, manager_client, running_session, field):
        fields = {"name": "Seats", "product": "enrollment", "session": running_session.slug, "price": "1",
                  "currency": "EUR", field: SURROGATE_ON_THE_WIRE}  # fmt: skip
        response = post_form(manager_client, "/staff/offers/new", fields)
        assert response.status_code == 422
        assert not Offer.objects.exists()

    @pytest.mark.parametrize("field", ["country", "expires_on", "restricted_to", "count"])
    def test_a_lone_surrogate_in_the_create_codes_form_is_refused(self, manager_client, enrollment_offer, field):
        fields = {**batch_form(), field: SURROGATE_ON_THE_WIRE}
        response = post_form(manager_client, f"/staff/offers/{enrollment_offer.pk}/codes", fields)
        assert response.status_code == 422
        assert not Batch.objects.exists()

    def test_a_lone_surrogate_in_a_tag_is_kept_as_the_replacement_character(self, manager_client, enrollment_offer):
        fields = {**batch_form(), "tag": "spring" + SURROGATE_ON_THE_WIRE}
        response = post_form(manager_client, f"/staff/offers/{enrollment_offer.pk}/codes", fields)
        assert response.status_code == 303
        assert Batch.objects.get().tag == "spring" + "\ufffd" * 3  # one for each of the three bytes


class TestStalledJobs:
    @pytest.fixture
    def job(self, enrollment_offer) -> BatchJob:
        return batch_job_create(
            offer=enrollment_offer, spec=BatchSpec(count=IN_REQUEST_MAX + 1, country="DE"), actor="manager"
        )

    def test_a_running_job_without_a_heartbeat_shows_as_stalled_and_stops_polling(self, manager_client, job):
        long_ago = timezone.now() - BatchJob.lease() - timedelta(minutes=1)
        BatchJob.objects.filter(pk=job.pk).update(status="running", started_at=long_ago, updated_at=long_ago)
        fragment = text(manager_client.get(f"/staff/jobs/{job.pk}/progress"))
        assert "The job has stalled" in fragment
        assert "hx-trigger" not in fragment
        assert "Queue it again" in fragment

    def test_a_running_job_with_a_recent_heartbeat_is_not_stalled(self, manager_client, job):
        BatchJob.objects.filter(pk=job.pk).update(status="running", updated_at=timezone.now())
        fragment = text(manager_client.get(f"/staff/jobs/{job.pk}/progress"))
        assert 'hx-trigger="every 1s"' in fragment
        assert manager_client.post(f"/staff/jobs/{job.pk}/requeue").status_code == 303
        assert BatchJob.objects.get(pk=job.pk).status == "running"  # refused: it is alive

    def test_queueing_a_stalled_job_again_lets_the_worker_write_it(
        self, manager_client, job, django_capture_on_commit_callbacks
    ):
        long_ago = timezone.now() - BatchJob.lease() - timedelta(minutes=1)
        BatchJob.objects.filter(pk=job.pk).update(status="running", written=50_000, updated_at=long_ago)
        with django_capture_on_commit_callbacks(execute=True):
            response = manager_client.post(f"/staff/jobs/{job.pk}/requeue")
        assert response.status_code == 303
        job.refresh_from_db()
        assert (job.status, job.written) == ("queued", 0)
        assert DBTaskResult.objects.filter(args_kwargs__args=[job.pk]).exists()
        batch_job_run(job_id=job.pk)
        job.refresh_from_db()
        assert (job.status, job.batch.codes.count()) == ("done", IN_REQUEST_MAX + 1)

    def test_a_worker_told_to_stop_mid_job_marks_it_failed_and_writes_nothing(self, monkeypatch, job):
        def stop(**kwargs):
            raise SystemExit(1)

        monkeypatch.setattr(jobs_service, "batch_create", stop)
        with pytest.raises(SystemExit):
            batch_job_run(job_id=job.pk)
        job.refresh_from_db()
        assert (job.status, job.error) == ("failed", jobs_service.STOPPED)
        assert not Batch.objects.exists()


@pytest.mark.django_db(transaction=True)
class TestTheWorkerWritesAJob:
    def test_the_task_worker_picks_up_a_job_queued_by_the_page(self, client, voucher_manager, enrollment_offer):
        client.force_login(voucher_manager)
        client.post(f"/staff/offers/{enrollment_offer.pk}/codes", batch_form(count=IN_REQUEST_MAX + 1))
        job = BatchJob.objects.get()
        assert job.status == "queued"
        run_worker()
        job.refresh_from_db()
        assert (job.status, job.written) == ("done", IN_REQUEST_MAX + 1)
        assert Code.objects.filter(batch=job.batch).count() == IN_REQUEST_MAX + 1
        assert DBTaskResult.objects.get().status == "SUCCESSFUL"


def import_form(content: bytes, *, name: str = "reseller.csv", **fields: object) -> dict[str, object]:
    """The "Import codes" form, filled in (its fields carry the form's prefix): `content` as the
    file, one use a code, tagged reseller; `fields` change or add to it."""
    settings = {"uses_per_code": 1, "tag": "reseller", "country": "de", "refund_policy": "return_use", **fields}
    return {"import-file": SimpleUploadedFile(name, content), **{f"import-{k}": v for k, v in settings.items()}}


class TestImportCodes:
    def test_a_file_of_codes_lands_on_its_batch_page(self, manager_client, enrollment_offer, voucher_manager):
        content = b"code\r\nsummer-01\r\nSUMMER-02\r\n"
        response = manager_client.post(f"/staff/offers/{enrollment_offer.pk}/imports", import_form(content))
        batch = Batch.objects.get()
        assert response.status_code == 303
        assert response["Location"] == f"/staff/batches/{batch.pk}"
        assert (batch.imported, batch.count, batch.tag, batch.country) == (True, 2, "reseller", "DE")
        assert batch.created_by == voucher_manager.username
        page = text(manager_client.get(response["Location"]))
        assert "2 codes imported." in page
        assert "SUMMER01" in page
        assert "SUMMER02" in page
        assert "elsewhere: imported" in page
        audit = AuditEvent.objects.get(action=AuditEvent.Action.IMPORTED)
        assert audit.detail == {"count": 2, "source": "reseller.csv"}

    def test_the_offer_page_offers_the_import_beside_create_codes(self, manager_client, enrollment_offer):
        page = text(manager_client.get(f"/staff/offers/{enrollment_offer.pk}"))
        assert "Import codes" in page
        assert 'enctype="multipart/form-data"' in page
        assert 'id="id_import-file"' in page

    def test_lines_to_fix_are_listed_with_their_numbers_and_nothing_is_imported(self, manager_client, enrollment_offer):
        content = b"SUMMER-01\nSUMMER_02\nsummer-01\n"
        response = manager_client.post(f"/staff/offers/{enrollment_offer.pk}/imports", import_form(content))
        assert response.status_code == 422
        page = text(response)
        assert "2 lines need fixing in reseller.csv; nothing was imported." in page
        assert "Line 2: <span class=\"code\">SUMMER_02</span>: Not a code: it contains '_'." in page
        assert 'Line 3: <span class="code">summer-01</span>: the same code as line 1' in page
        assert 'aria-describedby="id_import-file-error"' in page
        assert not Batch.objects.exists()

    def test_a_code_stored_already_is_named_with_its_batch(self, manager_client, enrollment_offer, make_batch):
        generated = make_batch(enrollment_offer)
        ours = display_code(generated.codes.get().code)
        response = manager_client.post(
            f"/staff/offers/{enrollment_offer.pk}/imports", import_form(f"SUMMER-01\n{ours}\n".encode())
        )
        assert response.status_code == 422
        assert f'Line 2: <span class="code">{ours}</span>: already a code, of batch {generated.pk}' in text(response)
        assert Batch.objects.count() == 1

    @pytest.mark.parametrize(
        ("content", "message"),
        [(b"", "The submitted file is empty."), (b"code\n", "reseller.csv holds no codes."),
         (b"SUMMER-01\n\xff\n", "reseller.csv is not UTF-8 text.")],
    )  # fmt: skip
    def test_a_file_without_codes_is_refused_beside_the_file(self, manager_client, enrollment_offer, content, message):
        response = manager_client.post(f"/staff/offers/{enrollment_offer.pk}/imports", import_form(content))
        assert response.status_code == 422
        assert message in text(response)
        assert not Batch.objects.exists()

    def test_settings_are_refused_beside_their_field(self, manager_client, enrollment_offer):
        form = import_form(b"SUMMER-01\n", expires_on="2020-01-01")
        response = manager_client.post(f"/staff/offers/{enrollment_offer.pk}/imports", form)
        assert response.status_code == 422
        page = text(response)
        assert "The expiry date has already passed." in page
        assert 'aria-describedby="id_import-expires_on-error"' in page
        assert not Batch.objects.exists()

    def test_more_codes_than_a_request_writes_point_to_the_command(self, manager_client, enrollment_offer, monkeypatch):
        from tessera.web.staff import offers as offer_pages

        monkeypatch.setattr(offer_pages, "IN_REQUEST_MAX", 2)
        content = b"SUMMER-01\nSUMMER-02\nSUMMER-03\n"
        response = manager_client.post(f"/staff/offers/{enrollment_offer.pk}/imports", import_form(content))
        assert response.status_code == 422
        assert "One request imports up to 2 codes; import a larger file with `tessera import-codes`" in text(response)
        assert not Batch.objects.exists()

    def test_staff_without_the_permission_get_403_and_nothing_is_imported(self, client, enrollment_offer):
        client.force_login(clerk_with("view_offer"))
        response = client.post(f"/staff/offers/{enrollment_offer.pk}/imports", import_form(b"SUMMER-01\n"))
        assert response.status_code == 403
        assert not Batch.objects.exists()
