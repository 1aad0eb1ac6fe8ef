import json

from django.db import OperationalError

from tessera.core.unavailable import RETRY_AFTER_SECONDS
from tessera.shop.api import api
from tessera.vouchers.errors import CodeMistyped


class TestErrors:
    def test_a_database_out_of_reach_is_a_503_in_the_bridges_shape_with_retry_after(self, rf):
        response = api.on_exception(rf.get("/bridges/shop/vouchers"), OperationalError("connection refused"))
        assert response.status_code == 503
        body = json.loads(response.content)
        assert body["error"] == "database_unavailable"
        assert body["errors"]["base"]
        assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)

    def test_a_refusal_answers_its_code_and_status_in_the_bridges_shape(self, rf):
        response = api.on_exception(rf.get("/bridges/shop/vouchers/X"), CodeMistyped())
        assert response.status_code == 409  # a well-formed request, refused
        assert json.loads(response.content) == {"errors": {"base": [CodeMistyped.default_message]}, "error": "mistyped"}
