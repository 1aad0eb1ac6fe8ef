from django.http import HttpResponse

from tessera.core.errors import Forbidden, InvalidInput
from tessera.core.ratelimit.limiter import RateLimited
from tessera.core.unavailable import DatabaseUnavailable
from tessera.vouchers.errors import AlreadyReversed, CodeExhausted, CodeNotFound
from tessera.web.errors import page_refusal


def page(*, status: int) -> HttpResponse:
    return HttpResponse("the page, with the refusal", status=status)


class TestPageRefusal:
    def test_a_page_answers_the_status_the_refusal_carries(self):
        assert page_refusal(CodeNotFound(), page).status_code == 404
        assert page_refusal(AlreadyReversed(), page).status_code == 409
        assert page_refusal(Forbidden(), page).status_code == 403
        assert page_refusal(InvalidInput(field="q"), page).status_code == 422

    def test_a_form_sent_back_with_its_refusal_answers_422(self):
        assert page_refusal(CodeExhausted(), page, on_form=True).status_code == 422
        assert page_refusal(CodeNotFound(), page, on_form=True).status_code == 422

    def test_a_rate_limited_visitor_gets_429_and_when_to_come_back_on_a_form_too(self):
        for on_form in (False, True):
            response = page_refusal(RateLimited(retry_after=42), page, on_form=on_form)
            assert response.status_code == 429
            assert response["Retry-After"] == "42"

    def test_a_refusal_is_never_a_server_error_on_a_page(self):
        response = page_refusal(DatabaseUnavailable(), page)
        assert response.status_code == 422
        assert "Retry-After" not in response

    def test_the_page_is_the_one_rendered(self):
        assert page_refusal(CodeNotFound(), page).content == b"the page, with the refusal"
