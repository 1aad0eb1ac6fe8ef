"""The staff pages' forms (tessera.web.staff.forms): they parse what was typed, show a service's
refusal beside the field it names, and point a screen reader at each field's error."""

from datetime import UTC, date, datetime

import pytest

from tessera.core.errors import DomainError, InvalidInput
from tessera.vouchers.services import BatchSpec
from tessera.web.staff.forms import BatchForm, OfferForm, end_of_day, refusal_shown

FILLED = {"count": "3", "uses_per_code": "2", "tag": "spring", "country": "de", "refund_policy": "keep_use"}


class TestEndOfDay:
    def test_a_date_means_the_end_of_that_day_utc(self):
        assert end_of_day(date(2030, 6, 30)) == datetime(2030, 7, 1, tzinfo=UTC)


class TestBatchForm:
    def test_its_batch_spec_has_the_expiry_at_the_end_of_the_day_and_the_user_named(self, learner):
        form = BatchForm({**FILLED, "expires_on": "2030-06-30", "restricted_to": "learner", "note": "fair"})
        assert form.is_valid(), form.errors
        assert form.batch_spec(restricted_to=learner) == BatchSpec(
            count=3, uses_per_code=2, tag="spring", country="de", note="fair", refund_policy="keep_use",
            expires_at=datetime(2030, 7, 1, tzinfo=UTC), restricted_to=learner,
        )  # fmt: skip

    def test_without_an_expiry_the_codes_do_not_expire(self):
        form = BatchForm(FILLED)
        assert form.is_valid(), form.errors
        assert form.batch_spec(restricted_to=None).expires_at is None

    def test_an_expiry_past_what_a_database_holds_is_refused(self):
        assert BatchForm({**FILLED, "expires_on": "9999-12-31"}).errors["expires_on"]

    def test_a_field_in_error_is_marked_and_the_first_one_gets_the_focus(self):
        form = BatchForm({**FILLED, "count": "0", "uses_per_code": "many"})
        assert not form.is_valid()
        count, uses = form.fields["count"].widget.attrs, form.fields["uses_per_code"].widget.attrs
        assert (count["aria-invalid"], count["aria-describedby"]) == ("true", "id_count-error")
        assert (uses["aria-invalid"], uses["aria-describedby"]) == ("true", "id_uses_per_code-error")
        assert (count.get("autofocus"), uses.get("autofocus")) == (True, None)
        assert "aria-invalid" not in form.fields["tag"].widget.attrs


class TestRefusalShown:
    def test_a_refusal_naming_a_field_of_the_form_is_shown_beside_it(self):
        form = BatchForm(FILLED)
        form.is_valid()
        refusal_shown(form, InvalidInput("'XX' is no country.", field="country"))
        assert form.errors["country"] == ["'XX' is no country."]
        assert form.fields["country"].widget.attrs["aria-invalid"] == "true"

    def test_the_services_name_of_a_field_is_read_as_the_forms(self):
        form = BatchForm(FILLED)
        form.is_valid()
        refusal_shown(form, InvalidInput("The expiry date has already passed.", field="expires_at"))
        assert form.errors["expires_on"] == ["The expiry date has already passed."]

    @pytest.mark.parametrize("refusal", [InvalidInput("Too many.", field="elsewhere"), DomainError("Too many.")])
    def test_any_other_refusal_is_shown_above_the_form(self, refusal):
        form = OfferForm({"name": "Seats", "product": "enrollment", "price": "0", "currency": "EUR"})
        form.is_valid()
        refusal_shown(form, refusal)
        assert form.non_field_errors() == ["Too many."]
