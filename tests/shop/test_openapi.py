"""The shop bridge's OpenAPI document (tessera.shop.openapi) and its docs page."""


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
