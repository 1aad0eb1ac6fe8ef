"""What the staff pages share (tessera.web.staff.common): a missing offer, batch or job is 404."""


class TestFoundOr404:
    def test_a_missing_offer_or_batch_is_404(self, manager_client, db):
        assert manager_client.get("/staff/offers/999").status_code == 404
        assert manager_client.get("/staff/batches/999").status_code == 404
        assert manager_client.get("/staff/jobs/999").status_code == 404
