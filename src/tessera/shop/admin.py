from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.db.models import QuerySet
from django.http import HttpRequest

from tessera.core.admin import IssuedTokenAdmin, SuperusersOnly
from tessera.core.errors import DomainError, InvalidInput
from tessera.shop.models import Shop, ShopToken, WebhookDelivery
from tessera.shop.services import (
    shop_create,
    shop_delete,
    shop_rename,
    shop_webhook_off,
    shop_webhook_set,
    token_issue,
    token_revoke,
    webhook_url_check,
)
from tessera.shop.tasks import webhook_delivery_retry
from tessera.vouchers.admin import ReadOnlyAdmin, VoucherAdmin
from tessera.vouchers.audit import actor_of


class TokenInline(admin.TabularInline):
    model = ShopToken
    extra = 0
    fields = ("prefix", "label", "created_at", "revoked_at")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ShopForm(forms.ModelForm):
    class Meta:
        model = Shop
        fields = ("name", "webhook_url")

    def clean_webhook_url(self) -> str:
        url: str = self.cleaned_data.get("webhook_url") or ""
        if not url.strip():
            return ""
        try:
            return webhook_url_check(url)
        except InvalidInput as error:
            raise forms.ValidationError(error.message) from None


@admin.register(Shop)
class ShopAdmin(SuperusersOnly, VoucherAdmin):
    """A shop's webhook URL is edited here; its signing secret is made with the first URL and on
    "rotate", and shown once, in a message. Superusers only: the URL decides where signed events
    go, and the secret lets its holder forge them."""

    list_display = ("name", "webhook_url", "created_at")
    form = ShopForm
    readonly_fields = ("webhook_secret_prefix",)
    inlines = [TokenInline]
    actions = ["rotate_webhook_secrets"]

    @admin.display(description="Webhook secret")
    def webhook_secret_prefix(self, shop: Shop) -> str:
        return f"{shop.webhook_secret[:10]}… (rotate it from the list of shops)" if shop.webhook_secret else "none yet"

    def save_model(self, request: HttpRequest, obj: Shop, form: forms.ModelForm, change: bool) -> None:
        """Through the services, each change in the audit log: a new shop, a new name, and the
        webhook URL set (the secret made with the first one) or cleared."""
        actor = actor_of(request.user)
        if not change:
            created = shop_create(name=obj.name, actor=actor)
            obj.pk, obj.created_at, obj._state.adding = created.pk, created.created_at, False
        elif "name" in form.changed_data:
            shop_rename(shop=obj, name=obj.name, actor=actor)
        if "webhook_url" not in form.changed_data:
            return
        if obj.webhook_url:
            self._show_secret(request, obj, shop_webhook_set(shop=obj, url=obj.webhook_url, actor=actor))
        elif change:
            shop_webhook_off(shop=obj, actor=actor)

    def delete_model(self, request: HttpRequest, obj: Shop) -> None:
        shop_delete(shop=obj, actor=actor_of(request.user))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Shop]) -> None:
        for shop in queryset:
            shop_delete(shop=shop, actor=actor_of(request.user))

    def has_rotate_secret_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    @admin.action(description="Rotate the webhook secret of the selected shops", permissions=["rotate_secret"])
    def rotate_webhook_secrets(self, request: HttpRequest, queryset: QuerySet[Shop]) -> None:
        for shop in queryset:
            secret = shop_webhook_set(shop=shop, rotate_secret=True, actor=actor_of(request.user))
            self._show_secret(request, shop, secret)

    def _show_secret(self, request: HttpRequest, shop: Shop, secret: str | None) -> None:
        if secret:
            messages.warning(request, f"The new webhook secret for {shop}, shown only now: {secret}")


class NewTokenForm(forms.ModelForm):
    class Meta:
        model = ShopToken
        fields = ("shop", "label")


@admin.register(ShopToken)
class ShopTokenAdmin(IssuedTokenAdmin, VoucherAdmin):
    list_display = ("shop", "prefix", "label", "created_at", "revoked_at")
    list_filter = ("shop",)
    form = NewTokenForm

    def issue(self, request: HttpRequest, token: ShopToken) -> tuple[ShopToken, str]:
        return token_issue(shop=token.shop, label=token.label, actor=actor_of(request.user))

    def revoke(self, request: HttpRequest, token: ShopToken) -> None:
        token_revoke(token=token, actor=actor_of(request.user))


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    """The delivery log: read-only, but for "retry now", which queues one more attempt at once."""

    list_display = (
        "created_at", "shop", "event_type", "status", "attempts", "last_response_status", "next_attempt_at",
    )  # fmt: skip
    list_filter = ("status", "event_type", "shop")
    list_select_related = ("shop",)
    actions = ["retry_now"]

    def has_retry_permission(self, request: HttpRequest) -> bool:
        # The log itself is never edited, so its "change" permission means one thing: may retry.
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}")

    @admin.action(description="Retry the selected deliveries now", permissions=["retry"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        queued = 0
        for delivery in queryset:
            try:
                webhook_delivery_retry(delivery=delivery, actor=actor_of(request.user))
                queued += 1
            except DomainError as error:
                messages.error(request, f"{delivery}: {error.message}")
        messages.success(request, f"Queued {queued} deliveries.")
