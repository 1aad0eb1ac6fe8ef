"""What every page's header knows (tessera.web.context_processors.surfaces): the staff link shows
only to those the staff pages let in, and only with vouchers on."""

from tests.web.pages import text


class TestSurfaces:
    def test_the_header_links_to_the_staff_pages_only_for_managers(self, client, voucher_manager, learner, db):
        client.force_login(learner)
        assert 'href="/staff/"' not in text(client.get("/courses"))
        client.force_login(voucher_manager)
        assert 'href="/staff/"' in text(client.get("/courses"))
