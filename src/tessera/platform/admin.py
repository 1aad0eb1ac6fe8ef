from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from tessera.platform.models import ApiToken
from tessera.platform.services import api_token_issue, api_token_revoke
from tessera.vouchers.admin import VoucherAdmin


class NewApiTokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ("user", "label")


@admin.register(ApiToken)
class ApiTokenAdmin(VoucherAdmin):
    """Tokens are issued here (shown once, in a message) and revoked; never edited or deleted."""

    list_display = ("user", "prefix", "label", "created_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("user__username", "prefix")
    autocomplete_fields = ("user",)
    actions = ["revoke_tokens"]
    form = NewApiTokenForm

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ApiToken, form: forms.ModelForm, change: bool) -> None:
        issued, plaintext = api_token_issue(user=obj.user, label=obj.label)
        obj.pk, obj.prefix, obj.digest = issued.pk, issued.prefix, issued.digest
        messages.warning(request, f"The new API token for {obj.user}, shown only now: {plaintext}")

    @admin.action(description="Revoke the selected tokens")
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            api_token_revoke(token=token)
        messages.success(request, f"Revoked {queryset.count()} tokens.")
