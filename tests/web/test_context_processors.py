"""What every page's header knows (tessera.web.context_processors.surfaces): the staff link shows
only to those the staff pages let in, and only with vouchers on; the sign-up link only while
sign-up is on."""

from tests.web.pages import text


class TestSurfaces:
    def test_the_header_links_to_the_staff_pages_only_for_managers(self, client, voucher_manager, learner, db):
        client.force_login(learner)
        assert 'href="/staff/"' not in text(client.get("/courses"))
        client.force_login(voucher_manager)
        assert 'href="/staff/"' in text(client.get("/courses"))

    def test_with_sign_up_off_no_page_links_to_it(self, client, db, settings):
        settings.TESSERA_SIGNUP_ENABLED = False
        for path in ["/courses", "/login"]:
            body = text(client.get(path))
            assert "/signup" not in body
            assert "Sign up" not in body

    def test_by_default_the_header_and_the_log_in_page_link_to_it(self, client, db):
        for path in ["/courses", "/login"]:
            assert 'href="/signup' in text(client.get(path))
