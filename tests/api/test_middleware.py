"""An import of codes may carry more than Django's general body limit; nothing else may."""

import json

import pytest

from tessera.api import middleware
from tessera.vouchers.models import Batch

# Django's general limit, lowered so a small body is over it.
GENERAL_LIMIT = 1000
BODY = json.dumps({"codes": [f"SUMMER-{n:05}" for n in range(200)], "country": "DE"})  # about 3 KB


@pytest.fixture
def low_general_limit(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = GENERAL_LIMIT
    assert len(BODY) > GENERAL_LIMIT


def test_an_import_above_djangos_limit_is_read(client, staff_api, enrollment_offer, low_general_limit):
    response = client.post(f"/api/v1/offers/{enrollment_offer.pk}/imports", BODY, content_type="application/json",
                           **staff_api.auth)  # fmt: skip
    assert response.status_code == 201, response.content
    assert Batch.objects.get().count == 200


def test_an_import_above_its_own_limit_is_413_in_the_apis_shape(client, staff_api, enrollment_offer, monkeypatch):
    monkeypatch.setattr(middleware, "IMPORT_MAX_BYTES", GENERAL_LIMIT)
    response = client.post(f"/api/v1/offers/{enrollment_offer.pk}/imports", BODY, content_type="application/json",
                           **staff_api.auth)  # fmt: skip
    assert (response.status_code, response.json()["error"]) == (413, "too_large")
    assert not Batch.objects.exists()


def test_other_routes_keep_djangos_limit(client, staff_api, enrollment_offer, low_general_limit):
    padded = json.dumps({"count": 1, "country": "DE", "note": "x" * 2000})
    response = client.post(f"/api/v1/offers/{enrollment_offer.pk}/batches", padded, content_type="application/json",
                           **staff_api.auth)  # fmt: skip
    assert response.status_code == 400
    assert not Batch.objects.exists()
