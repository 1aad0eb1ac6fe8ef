"""What the staff pages share (tessera.web.staff.common): a missing offer, batch or job is 404 in
the selector's own words; how each code status reads on a page."""

import pytest
from django.http import Http404

from tessera.core.errors import DoesNotExist
from tessera.vouchers.selectors.codes import Status
from tessera.web.staff.common import found_or_404, status_shown


def missing(pk: int) -> object:
    raise DoesNotExist(f"There is no thing {pk}.")


class TestFoundOr404:
    def test_a_missing_offer_or_batch_is_404(self, manager_client, db):
        assert manager_client.get("/staff/offers/999").status_code == 404
        assert manager_client.get("/staff/batches/999").status_code == 404
        assert manager_client.get("/staff/jobs/999").status_code == 404

    def test_what_the_selector_finds_is_answered(self):
        assert found_or_404(lambda pk: f"thing {pk}", 7) == "thing 7"

    def test_a_selectors_does_not_exist_is_a_404_in_its_words(self):
        with pytest.raises(Http404, match=r"^There is no thing 7\.$"):
            found_or_404(missing, 7)


class TestStatusShown:
    @pytest.mark.parametrize(
        ("status", "shown"),
        [
            (Status.UNUSED, ("Live, not used yet", "live")),
            (Status.PARTLY_REDEEMED, ("Live, partly used", "live")),
            (Status.REDEEMED, ("Used up", "exhausted")),
            (Status.EXPIRED, ("Expired", "expired")),
            (Status.REVOKED, ("Revoked", "revoked")),
        ],
    )
    def test_each_status_reads_in_words_with_its_stylesheet_class(self, status, shown):
        assert status_shown(status) == shown
