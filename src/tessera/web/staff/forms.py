"""The staff pages' forms: they parse what was typed; the voucher services judge it.

A service's InvalidInput names the field it is about, so `refusal_shown` puts its message beside
that field (or above the form when the field is not on it).
"""

import codecs
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib.auth.models import User
from django.core.validators import MaxValueValidator

from tessera.catalog.models import Assessment, CourseSession
from tessera.core.errors import DomainError, InvalidInput
from tessera.vouchers.models import Batch, MessageTemplate, Product
from tessera.vouchers.services import BatchSpec, CodeList, Recipient, codes_from_csv, recipients_from_text

MAX_DAY = date(9998, 12, 31)  # the day after still fits every database's date range


def end_of_day(day: date) -> datetime:
    """An expiry date means the end of that day, UTC, as on the API and the command line."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def refusal_shown(form: forms.Form, refusal: DomainError) -> None:
    field = refusal.field if isinstance(refusal, InvalidInput) else None
    field = getattr(form, "field_for_service", {}).get(field, field)
    form.add_error(field if field in form.fields else None, refusal.message)


class StaffForm(forms.Form):
    """Marks each field in error as invalid and points it at its messages (aria-describedby)."""

    def full_clean(self) -> None:
        super().full_clean()
        self._mark_invalid()

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)
        self._mark_invalid()

    def _mark_invalid(self) -> None:
        invalid = [name for name in self.fields if name in self.errors]
        for name in invalid:
            attrs = {"aria-invalid": "true", "aria-describedby": f"{self[name].auto_id}-error"}
            self.fields[name].widget.attrs.update(attrs)
        for name in invalid[1:]:
            self.fields[name].widget.attrs.pop("autofocus", None)
        if invalid:  # the page opens on the first field to mend
            self.fields[invalid[0]].widget.attrs["autofocus"] = True


class OfferForm(StaffForm):
    """Seed 000's event fields (name, product, course session, price, sale window, auto-subscribe),
    the assessment and its attempts for an assessment offer, and the store link the course or
    assessment page shows learners without a code."""

    name = forms.CharField(max_length=200)
    product = forms.ChoiceField(choices=Product.choices)
    session = forms.ModelChoiceField(
        CourseSession.objects.select_related("course").order_by("course__title", "starts_at"), required=False,
        empty_label="Any session that offers the product", label="Course session",
    )  # fmt: skip
    assessment = forms.ModelChoiceField(
        Assessment.objects.select_related("course").order_by("title", "pk"), required=False,
        empty_label="None (a course session's product)", label="Assessment (product assessment only)",
    )  # fmt: skip
    attempts = forms.IntegerField(
        required=False, min_value=1, max_value=32767, label="Attempts a code gives (empty: the assessment's)"
    )
    adds_attempts = forms.BooleanField(
        required=False, label="A learner who holds the assessment gets these attempts added (a retake)"
    )
    price = forms.DecimalField(min_value=0, max_digits=10, decimal_places=2, initial=0)
    currency = forms.CharField(min_length=3, max_length=3, initial="EUR")
    sale_starts_at = forms.DateTimeField(
        required=False, label="Sale starts (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    sale_ends_at = forms.DateTimeField(
        required=False, label="Sale ends (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    auto_subscribe = forms.BooleanField(
        required=False, initial=True, label="Redeeming a code activates the product at once (auto-subscribe)"
    )
    # A plain text field, not a URLField (which would add "http://" to what it takes for a bare
    # host): the service judges the address, length included (InvalidStoreUrl beside this field).
    store_url = forms.CharField(
        required=False, label="Store link (where learners buy a code; optional)",
        widget=forms.URLInput(attrs={"placeholder": "https://shop.example/…"}),
    )  # fmt: skip

    def service_arguments(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


class BatchSettingsForm(StaffForm):
    """A batch's settings, as "Create codes" and "Import codes" ask for them."""

    field_for_service = {"expires_at": "expires_on"}  # the service's name of a field -> the form's

    uses_per_code = forms.IntegerField(min_value=1, max_value=1_000_000, initial=1, label="Uses per code")
    expires_on = forms.DateField(
        required=False, label="Expires after (the end of this day, UTC)", validators=[MaxValueValidator(MAX_DAY)],
        widget=forms.DateInput(attrs={"type": "date"}),
    )  # fmt: skip
    tag = forms.CharField(max_length=100, initial="untagged")
    country = forms.CharField(
        min_length=2, max_length=2, label="Country (ISO 3166-1 alpha-2, e.g. DE)",
        widget=forms.TextInput(attrs={"autocapitalize": "characters", "size": 2}),
    )  # fmt: skip
    restricted_to = forms.CharField(
        max_length=150, required=False, label="Only for this user (username; empty: anyone)"
    )
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    refund_policy = forms.ChoiceField(choices=Batch.RefundPolicy.choices, initial=Batch.RefundPolicy.RETURN_USE)

    def settings_spec(self, restricted_to: User | None, *, count: int) -> BatchSpec:
        """A batch of `count` codes with these settings; `restricted_to`: the user the typed
        username names."""
        data = {name: self.cleaned_data[name] for name in BatchSettingsForm.base_fields}
        day = data.pop("expires_on")
        data.pop("restricted_to")
        return BatchSpec(**data, count=count, expires_at=end_of_day(day) if day else None, restricted_to=restricted_to)


class BatchForm(BatchSettingsForm):
    """ "Create codes" on an offer's page."""

    field_order = ["count"]

    count = forms.IntegerField(min_value=1, max_value=1_000_000, label="Number of codes")

    def batch_spec(self, restricted_to: User | None) -> BatchSpec:
        """The batch asked for; `restricted_to`: the user the typed username names."""
        return self.settings_spec(restricted_to, count=self.cleaned_data["count"])


class ImportForm(BatchSettingsForm):
    """ "Import codes" on an offer's page: a CSV file of codes made elsewhere, and the settings of
    the batch they become. Prefixed, as it shares the page with "Create codes"."""

    prefix = "import"
    field_for_service = {**BatchSettingsForm.field_for_service, "codes": "file"}
    field_order = ["file"]

    file = forms.FileField(label="CSV file: one code a line, in the first column")

    def code_list(self, *, most: int) -> CodeList:
        """The file's codes (see codes_from_csv), or InvalidInput; at most `most` of them."""
        uploaded = self.cleaned_data["file"]
        return codes_from_csv(codecs.iterdecode(uploaded, "utf-8-sig"), source=uploaded.name, most=most)


class SendForm(StaffForm):
    """ "Send codes" on a batch's mail page: recipients pasted (one address a line, or CSV lines
    email,name,language) or uploaded as a CSV file; one of the two."""

    field_for_service = {"recipients": "pasted", "link_base": None}

    pasted = forms.CharField(
        label="Recipients: one address a line, or email,name,language", required=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
    )  # fmt: skip
    file = forms.FileField(label="Or a CSV file (email[,name[,language]])", required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors and bool(data.get("pasted", "").strip()) == bool(data.get("file")):
            raise forms.ValidationError("Paste the recipients or choose a file, one of the two.")
        return data

    def recipients(self) -> tuple[list[Recipient], str]:
        """The recipients (see recipients_from_text) and where they came from, or InvalidInput."""
        uploaded = self.cleaned_data.get("file")
        if uploaded:
            return recipients_from_text(codecs.iterdecode(uploaded, "utf-8-sig"), source=uploaded.name), uploaded.name
        return recipients_from_text(self.cleaned_data["pasted"].splitlines(), source="the list"), "the list"


class ReplacementForm(StaffForm):
    """Withdrawing an assignment, optionally sending a fresh code of the batch to another address."""

    field_for_service = {"recipients": "email"}

    email = forms.CharField(label="Send a fresh code to (optional)", required=False, max_length=254)
    name = forms.CharField(label="Name", required=False, max_length=200)
    language = forms.CharField(label="Language", required=False, max_length=16)

    def replacement(self) -> Recipient | None:
        data = self.cleaned_data
        return Recipient(1, data["email"], data["name"], data["language"]) if data["email"].strip() else None


class RemindForm(StaffForm):
    days = forms.IntegerField(label="Remind those whose code was sent at least this many days ago", initial=7,
                              min_value=1, max_value=365)  # fmt: skip


class TemplateForm(StaffForm):
    """A mail's wording in Django's template language; template_save judges it."""

    kind = forms.ChoiceField(choices=MessageTemplate.Kind.choices, widget=forms.HiddenInput)
    language = forms.CharField(max_length=16, widget=forms.HiddenInput)
    subject = forms.CharField(label="Subject", max_length=200)
    body = forms.CharField(label="Body", widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false"}))
