from django import forms
from django.contrib import admin
from django.http import HttpRequest

from tessera.core.admin import IssuedTokenAdmin
from tessera.platform.models import ApiToken
from tessera.platform.services import api_token_issue, api_token_revoke
from tessera.vouchers.admin import VoucherAdmin


class NewApiTokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ("user", "label")


@admin.register(ApiToken)
class ApiTokenAdmin(IssuedTokenAdmin, VoucherAdmin):
    list_display = ("user", "prefix", "label", "created_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("user__username", "prefix")
    autocomplete_fields = ("user",)
    form = NewApiTokenForm

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A token acts as its user, with all of that user's permissions: only a superuser, who
        # holds them all already, may mint one for someone else.
        return request.user.is_superuser and super().has_add_permission(request)

    def issue(self, token: ApiToken) -> tuple[ApiToken, str]:
        return api_token_issue(user=token.user, label=token.label)

    def revoke(self, token: ApiToken) -> None:
        api_token_revoke(token=token)
