"""With vouchers off, every voucher surface answers as if it did not exist
(tessera.vouchers.middleware); the rest of the site stays."""


class TestVouchersOff:
    def test_vouchers_off_hides_the_voucher_admin(self, client, staff, settings):
        client.force_login(staff)
        settings.TESSERA_VOUCHERS_ENABLED = False
        assert client.get("/admin/vouchers/code/").status_code == 404
        assert client.get("/admin/catalog/course/").status_code == 200

    def test_vouchers_on_shows_it(self, client, staff):
        client.force_login(staff)
        assert client.get("/admin/vouchers/code/").status_code == 200
