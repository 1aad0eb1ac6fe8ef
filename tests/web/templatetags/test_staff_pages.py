"""The staff pages' template filters (tessera.web.templatetags.staff_pages): a code's status in words
and its stylesheet class."""

from django.template import Context, Template


def rendered(status: str) -> str:
    template = Template('{% load staff_pages %}<span class="status-{{ s|status_class }}">{{ s|status_label }}</span>')
    return template.render(Context({"s": status}))


class TestStatusFilters:
    def test_a_status_is_shown_in_words_with_its_class(self):
        assert rendered("partly_redeemed") == '<span class="status-live">Live, partly used</span>'
        assert rendered("revoked") == '<span class="status-revoked">Revoked</span>'
