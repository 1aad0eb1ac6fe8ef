import json

from django.db import OperationalError

from tessera.api.v1 import api
from tessera.core.unavailable import RETRY_AFTER_SECONDS
from tessera.vouchers.errors import CodeExhausted


class TestTheDocuments:
    def test_the_platform_api_has_its_own_openapi_schema_and_docs(self, client, db):
        schema = client.get("/api/v1/openapi.json")
        assert schema.status_code == 200
        paths = schema.json()["paths"]
        assert "/api/v1/redemptions" in paths
        assert not [path for path in paths if not path.startswith("/api/v1/")]
        docs = client.get("/api/v1/docs")
        assert docs.status_code == 200
        assert "/api/v1/openapi.json" in docs.content.decode()
        assert "cdn" not in docs.content.decode().lower()

    def test_operation_ids_stay_the_ones_clients_were_generated_from(self, client, db):
        schema = client.get("/api/v1/openapi.json").json()
        ids = {operation["operationId"] for item in schema["paths"].values() for operation in item.values()}
        assert {"tessera_platform_learner_code_check", "tessera_platform_staff_offers_create"} <= ids
        assert all(id.startswith("tessera_platform_") for id in ids)


class TestErrors:
    def test_a_database_out_of_reach_is_a_503_database_unavailable_with_retry_after(self, rf):
        response = api.on_exception(rf.post("/api/v1/redemptions"), OperationalError("connection refused"))
        assert response.status_code == 503
        assert json.loads(response.content)["error"] == "database_unavailable"
        assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)

    def test_a_refusal_answers_its_code_and_status(self, rf):
        response = api.on_exception(rf.post("/api/v1/redemptions"), CodeExhausted())
        assert response.status_code == 409
        assert json.loads(response.content) == {"error": "exhausted", "detail": CodeExhausted.default_message}
