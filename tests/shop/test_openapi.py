"""The shop bridge's OpenAPI document (tessera.shop.openapi) and its docs page."""

import re

from tessera.shop.openapi import COUNT_TEXT, USES_TEXT
from tessera.shop.xikolo import ruby_integer


class TestSchema:
    def test_the_bridge_has_its_own_openapi_schema_and_docs(self, client, db):
        schema = client.get("/bridges/shop/openapi.json")
        assert schema.status_code == 200
        assert set(schema.json()["paths"]) == {"/bridges/shop/vouchers", "/bridges/shop/vouchers/{code}",
                                               "/bridges/shop/vouchers/{code}/void"}  # fmt: skip
        assert client.get("/bridges/shop/openapi").json() == schema.json()  # what its docs page loads
        docs = client.get("/bridges/shop/docs")
        assert docs.status_code == 200
        assert "/bridges/shop/openapi" in docs.content.decode()
        assert "/static/ninja/swagger-ui-bundle.js" in docs.content.decode()
        assert "cdn" not in docs.content.decode().lower()


# Counts as shops send them: plain, padded, signed, with leading zeros, decimals or words after them.
COUNTS = [
    *(str(n) for n in range(520)), " 5 ", "+7", "-5", "007", "000", "2.7", "5 codes", "", "five", "5" * 400,
    "999999", "1000000", "1000001", "0001000000", "+1000000 ",
]  # fmt: skip


class TestCountsAsText:
    """The document's patterns for a count sent as text accept exactly what the bridge reads
    (tessera.shop.xikolo.ruby_integer) as a count in range, so the fuzzing never sends one that
    the bridge refuses and never leaves one out."""

    def test_a_quantity_matches_when_the_bridge_reads_1_to_500(self):
        in_range = [text for text in COUNTS if 1 <= ruby_integer(text) <= 500]
        assert [text for text in COUNTS if re.match(COUNT_TEXT, text)] == in_range

    def test_uses_match_when_the_bridge_reads_1_to_a_million(self):
        in_range = [text for text in COUNTS if 1 <= ruby_integer(text) <= 1_000_000]
        assert [text for text in COUNTS if re.match(USES_TEXT, text)] == in_range
