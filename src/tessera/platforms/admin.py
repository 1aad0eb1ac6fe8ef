"""Platforms in the admin: superusers only, since a platform's client acts for all its learners.

django-oauth-toolkit's own admin pages (applications, tokens, grants) are not registered: a
platform's OAuth client is made and rotated only through the platform services here, so the
secret is shown once and every change is in the audit log."""

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from oauth2_provider import models as oauth

from tessera.core.admin import SuperusersOnly
from tessera.core.errors import InvalidInput
from tessera.platforms.delivery import platform_webhook_off, platform_webhook_set, webhook_url_check
from tessera.platforms.models import SCOPES, Platform
from tessera.platforms.services import (
    Credentials,
    platform_create,
    platform_secret_rotate,
    platform_settings_change,
)
from tessera.vouchers.admin import VoucherAdmin
from tessera.vouchers.audit import actor_of

for model in (oauth.get_application_model(), oauth.get_access_token_model(), oauth.get_refresh_token_model(),
              oauth.get_grant_model(), oauth.get_id_token_model()):  # fmt: skip
    if admin.site.is_registered(model):
        admin.site.unregister(model)


class PlatformForm(forms.ModelForm):
    scope_choices = forms.MultipleChoiceField(
        choices=[(scope, f"{scope}: {text}") for scope, text in SCOPES.items()], widget=forms.CheckboxSelectMultiple,
        label="Scopes", initial=list(SCOPES),
    )  # fmt: skip

    class Meta:
        model = Platform
        fields = ("name", "slug", "return_urls", "webhook_url")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if self.instance.pk:
            self.fields["scope_choices"].initial = sorted(self.instance.scope_set)
            for field in ("name", "slug"):
                self.fields[field].disabled = True

    def clean_webhook_url(self) -> str:
        url: str = self.cleaned_data["webhook_url"].strip()
        try:
            return webhook_url_check(url) if url else ""
        except InvalidInput as error:
            raise forms.ValidationError(error.message) from None


@admin.register(Platform)
class PlatformAdmin(SuperusersOnly, VoucherAdmin):
    list_display = ("name", "slug", "scopes", "client_id", "created_at")
    readonly_fields = ("client_id", "last_event_seq", "delivered_seq", "attempts", "next_attempt_at", "last_error")
    form = PlatformForm
    actions = ["rotate_client_secrets", "rotate_webhook_secrets"]

    @admin.display(description="Client id")
    def client_id(self, platform: Platform) -> str:
        return platform.application.client_id if platform.pk else "made when saved"

    def save_model(self, request: HttpRequest, obj: Platform, form: forms.ModelForm, change: bool) -> None:
        actor, scopes = actor_of(request.user), form.cleaned_data["scope_choices"]
        urls = obj.return_urls.splitlines()
        try:
            if change:
                platform_settings_change(platform=obj, scopes=scopes, return_urls=urls, actor=actor)
            else:
                credentials = platform_create(
                    name=obj.name, slug=obj.slug, scopes=scopes, return_urls=urls, actor=actor
                )
                obj.pk, obj._state.adding = credentials.platform.pk, False
                self._show(request, credentials)
            if "webhook_url" in form.changed_data:
                self._webhook_changed(request, obj, form.cleaned_data["webhook_url"], actor)
        except InvalidInput as error:
            messages.error(request, error.message)

    def _webhook_changed(self, request: HttpRequest, platform: Platform, url: str, actor: str) -> None:
        if not url:
            platform_webhook_off(platform=platform, actor=actor)
        elif secret := platform_webhook_set(platform=platform, url=url, actor=actor):
            messages.warning(request, f"{platform}: webhook signing secret (shown only now) {secret}")

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # its learners, sessions and events refer to it

    def has_rotate_secret_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    @admin.action(description="Rotate the client secret of the selected platforms", permissions=["rotate_secret"])
    def rotate_client_secrets(self, request: HttpRequest, queryset: QuerySet[Platform]) -> None:
        for platform in queryset:
            self._show(request, platform_secret_rotate(platform=platform, actor=actor_of(request.user)))

    @admin.action(description="Rotate the webhook signing secret of the selected platforms",
                  permissions=["rotate_secret"])  # fmt: skip
    def rotate_webhook_secrets(self, request: HttpRequest, queryset: QuerySet[Platform]) -> None:
        for platform in queryset:
            secret = platform_webhook_set(platform=platform, rotate_secret=True, actor=actor_of(request.user))
            messages.warning(request, f"{platform}: webhook signing secret (shown only now) {secret}")

    def _show(self, request: HttpRequest, credentials: Credentials) -> None:
        messages.warning(
            request,
            f"{credentials.platform}: client id {credentials.client_id}, client secret (shown only now) "
            f"{credentials.client_secret}",
        )
