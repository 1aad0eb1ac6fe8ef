"""Who gets into the staff pages (tessera.web.staff.access): voucher managers and superusers;
learners get 403, visitors signed out are sent to log in; with vouchers off the pages do not exist."""

from tessera.vouchers.models import Batch, Code, Offer
from tests.web.pages import text
from tests.web.staff.conftest import batch_form, staff_urls


class TestWhoGetsIn:
    def test_signed_out_visitors_are_sent_to_log_in_and_back(self, client, enrollment_offer, make_batch):
        for url in staff_urls(enrollment_offer, make_batch(enrollment_offer)):
            response = client.get(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith("/login?next="), url

    def test_a_learner_gets_403_on_every_page(self, client, learner, enrollment_offer, make_batch):
        client.force_login(learner)
        for url in staff_urls(enrollment_offer, make_batch(enrollment_offer)):
            response = client.get(url)
            assert response.status_code == 403, url
            assert "Not allowed" in text(response)

    def test_a_learner_cannot_create_codes_or_revoke(self, client, learner, enrollment_offer, make_batch):
        batch = make_batch(enrollment_offer, count=2)
        client.force_login(learner)
        assert client.post(f"/staff/offers/{enrollment_offer.pk}/codes", batch_form()).status_code == 403
        assert client.post(f"/staff/batches/{batch.pk}/revoke").status_code == 403
        assert client.post("/staff/offers/new", {"name": "x", "product": "enrollment", "price": 0}).status_code == 403
        assert Batch.objects.count() == 1
        assert Offer.objects.count() == 1
        assert not Code.objects.filter(revoked_at__isnull=False).exists()

    def test_the_staff_root_leads_to_the_offers(self, manager_client):
        assert manager_client.get("/staff/")["Location"] == "/staff/offers"

    def test_the_voucher_manager_and_superusers_get_in(self, client, voucher_manager, staff, enrollment_offer):
        for user in (voucher_manager, staff):
            client.force_login(user)
            assert client.get(f"/staff/offers/{enrollment_offer.pk}").status_code == 200

    def test_with_vouchers_off_the_staff_pages_do_not_exist(self, manager_client, settings, enrollment_offer):
        settings.TESSERA_VOUCHERS_ENABLED = False
        assert manager_client.get("/staff/offers").status_code == 404
        assert manager_client.get(f"/staff/offers/{enrollment_offer.pk}").status_code == 404
        assert 'href="/staff/"' not in text(manager_client.get("/courses"))


class TestPagesThatOnlyRead:
    def test_pages_that_only_read_refuse_a_post(self, manager_client, enrollment_offer):
        for url in ("/staff/offers", f"/staff/offers/{enrollment_offer.pk}", "/staff/stats", "/staff/codes"):
            assert manager_client.post(url).status_code == 405, url
