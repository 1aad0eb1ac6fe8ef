"""The voucher form (one per product on a course page) and the sign-up form."""

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.http import QueryDict

from tessera.vouchers.models import Product

# What each product's form is called on the page, and what its button says.
FORM_TITLES = {
    Product.ENROLLMENT: ("Enroll with a code", "Enroll"),
    Product.PROCTORING: ("Book proctoring", "Book proctoring"),
    Product.REACTIVATION: ("Reactivate this course", "Reactivate"),
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


class SignupForm(UserCreationForm):
    """Django's own: a username and a password typed twice, checked by the password validators."""
