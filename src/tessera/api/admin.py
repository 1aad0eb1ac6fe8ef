from django import forms
from django.contrib import admin
from django.http import HttpRequest

from tessera.api.models import ApiToken
from tessera.api.services import api_token_issue, api_token_revoke
from tessera.core.admin import IssuedTokenAdmin
from tessera.vouchers.admin import VoucherAdmin
from tessera.vouchers.audit import actor_of


class NewApiTokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ("user", "label")


@admin.register(ApiToken)
class ApiTokenAdmin(IssuedTokenAdmin, VoucherAdmin):
    """Issued and revoked by superusers only (IssuedTokenAdmin): a token acts as its user, with all
    of that user's permissions, and only a superuser holds them all already."""

    list_display = ("user", "prefix", "label", "created_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("user__username", "prefix")
    autocomplete_fields = ("user",)
    form = NewApiTokenForm

    def issue(self, request: HttpRequest, token: ApiToken) -> tuple[ApiToken, str]:
        return api_token_issue(user=token.user, label=token.label, actor=actor_of(request.user))

    def revoke(self, request: HttpRequest, token: ApiToken) -> None:
        api_token_revoke(token=token, actor=actor_of(request.user))
