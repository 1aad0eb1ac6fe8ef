"""Admin behaviour shared by apps that know nothing of each other.

Every admin action names the permission it needs (`@admin.action(permissions=[...])`, answered by a
`has_<name>_permission` method), so `get_actions` offers, and the changelist runs, only what the
user may do; an action without one would be offered to anyone who may merely view the list.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from tessera.core.models import IssuedToken


class SuperusersOnly(admin.ModelAdmin):
    """Credentials (bridge tokens, webhook secrets, API tokens): whoever holds one acts as a shop or
    as a user, so only superusers make, change or remove them, whatever model permissions a staff
    member was granted. Viewing still follows the view permission."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.is_superuser and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.is_superuser and super().has_delete_permission(request, obj)


class IssuedTokenAdmin(SuperusersOnly):
    """Tokens are issued here (the plaintext shown once, in a message) and revoked; never edited
    or deleted. Subclasses name the service that issues and the one that revokes, each given the
    request so that it can name who did it in the audit log."""

    actions = ["revoke_tokens"]

    def issue(self, request: HttpRequest, token: Any) -> tuple[IssuedToken, str]:
        raise NotImplementedError

    def revoke(self, request: HttpRequest, token: Any) -> None:
        raise NotImplementedError

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: forms.ModelForm, change: bool) -> None:
        issued, plaintext = self.issue(request, obj)
        obj.pk, obj.prefix, obj.digest = issued.pk, issued.prefix, issued.digest
        messages.warning(request, f"The new token for {obj}, shown only now: {plaintext}")

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        # Whoever may not issue a token may not take one away either.
        return self.has_add_permission(request)

    @admin.action(description="Revoke the selected tokens", permissions=["revoke"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for token in queryset:
            self.revoke(request, token)
        messages.success(request, f"Revoked {queryset.count()} tokens.")
