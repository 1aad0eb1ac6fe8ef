"""The voucher form (one per product on a course page), the redeem link's form, the sign-up form
and the log-in forms."""

import logging
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.core.exceptions import ValidationError
from django.http import QueryDict

from tessera.core.ratelimit.keys import client_ip, login_keys
from tessera.core.ratelimit.limiter import failures_limited
from tessera.vouchers.models import Product

logger = logging.getLogger(__name__)

# What each product's form is called on the page, and what its button says.
FORM_TITLES = {
    Product.ENROLLMENT: ("Enroll with a code", "Enroll"),
    Product.PROCTORING: ("Book proctoring", "Book proctoring"),
    Product.REACTIVATION: ("Reactivate this course", "Reactivate"),
    Product.ASSESSMENT: ("Take this assessment with a code", "Redeem"),
}


class VoucherForm(forms.Form):
    """A code typed for one product; the product travels as a hidden field, so the page knows
    which of its forms was sent."""

    code = forms.CharField(
        label="Voucher code", max_length=100, strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}),
    )  # fmt: skip
    product = forms.ChoiceField(choices=Product.choices, widget=forms.HiddenInput)

    def __init__(self, data: QueryDict | None = None, *, product: str) -> None:
        # Distinct ids per product: one page holds up to three of these forms.
        super().__init__(data, auto_id=f"{product}-%s", initial={"product": product})
        self.product_name = product
        self.title, self.button = FORM_TITLES[Product(product)]


class RedeemForm(forms.Form):
    """A redeem link's code, as the link carried it or as the learner corrected it; the code
    itself says what it unlocks, so there is no product to choose."""

    code = forms.CharField(label="Voucher code", max_length=100, strip=True)


class SignupForm(UserCreationForm):
    """Django's own: a username and a password typed twice, checked by the password validators."""


class LoginForm(AuthenticationForm):
    """Django's own, under TESSERA_LOGIN_ATTEMPTS: a wrong password (or an inactive account)
    counts against the username and the client's address, and while either is at a limit
    every log-in is refused with RateLimited, the right password too, or the limit would
    mean nothing."""

    def clean(self) -> dict[str, Any]:
        username = str(self.cleaned_data.get("username") or "")
        keys = login_keys(self.request, username)
        with failures_limited(keys=keys, counted=(ValidationError,), limits=settings.TESSERA_LOGIN_ATTEMPTS):
            try:
                return super().clean()
            except ValidationError:
                address = client_ip(self.request) if self.request else None
                logger.warning("Failed log-in as %r from %s.", username, address or "an unknown address")
                raise


class AdminLoginForm(LoginForm, AdminAuthenticationForm):
    """The admin's log-in (staff only), under the same limits and counters as the pages'."""
