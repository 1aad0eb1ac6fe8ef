from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from tessera.shop.models import Shop, ShopToken
from tessera.shop.services import token_issue, token_revoke
from tessera.vouchers.admin import VoucherAdmin


class TokenInline(admin.TabularInline):
    model = ShopToken
    extra = 0
    fields = ("prefix", "label", "created_at", "revoked_at")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Shop)
class ShopAdmin(VoucherAdmin):
    list_display = ("name", "created_at")
    inlines = [TokenInline]


class NewTokenForm(forms.ModelForm):
    class Meta:
        model = ShopToken
        fields = ("shop", "label")


@admin.register(ShopToken)
class ShopTokenAdmin(VoucherAdmin):
    """Tokens are issued here (shown once, in a message) and revoked; never edited or deleted."""

    list_display = ("shop", "prefix", "label", "created_at", "revoked_at")
    list_filter = ("shop",)
    actions = ["revoke_tokens"]
    form = NewTokenForm

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ShopToken, form: forms.ModelForm, change: bool) -> None:
        issued, plaintext = token_issue(shop=obj.shop, label=obj.label)
        obj.pk, obj.prefix, obj.digest = issued.pk, issued.prefix, issued.digest
        messages.warning(request, f"The new token for {obj.shop}, shown only now: {plaintext}")

    @admin.action(description="Revoke the selected tokens")
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[ShopToken]) -> None:
        for token in queryset:
            token_revoke(token=token)
        messages.success(request, f"Revoked {queryset.count()} tokens.")
