"""Staff views of offers, batches, codes, redemptions and the audit log.

Creating batches happens through `tessera create-batch`, because a million codes is no form
submit; the admin shows and revokes. Actions call services and nothing else, and need the
manage_vouchers permission, like the same acts on the staff pages and the staff API.
"""

import copy
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest

from tessera.core.errors import DomainError, InvalidInput
from tessera.vouchers import codes as codebook
from tessera.vouchers import config
from tessera.vouchers.audit import actor_of
from tessera.vouchers.models import Assignment, AuditEvent, Batch, Code, MessageTemplate, Offer, Redemption, SendJob
from tessera.vouchers.permissions import MANAGE_VOUCHERS
from tessera.vouchers.services import (
    assignment_resend,
    assignment_withdraw,
    batch_revoke,
    code_revoke,
    offer_delete,
    offer_frozen_fields,
    offer_save,
    offer_validate,
    redemption_reverse,
    template_save,
)
from tessera.vouchers.services.mailing import template_validate


def _run_each(request: HttpRequest, items: QuerySet, action: object, done: str) -> None:
    count = 0
    for item in items:
        try:
            action(item)  # type: ignore[operator]
            count += 1
        except DomainError as error:
            messages.error(request, f"{item}: {error.message}")
    messages.success(request, done.format(count=count))


class OfferForm(forms.ModelForm):
    class Meta:
        model = Offer
        fields = (
            "name", "product", "session", "assessment", "attempts", "adds_attempts", "price", "currency",
            "payment_mode", "sale_starts_at", "sale_ends_at", "auto_subscribe", "store_url",
        )  # fmt: skip

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        candidate = copy.copy(self.instance)  # with the fields this form does not edit
        for name, value in data.items():
            setattr(candidate, name, value)
        try:
            offer_validate(candidate, changed=self.changed_data)
        except DomainError as error:  # bad input beside its field; a frozen offer above the form
            field = error.field if isinstance(error, InvalidInput) else None
            self.add_error(field if field in self.fields else None, error.message)
        return data


class VoucherAdmin(admin.ModelAdmin):
    """With vouchers off, the voucher admin is not listed (its pages answer 404, see
    VoucherSurfaceMiddleware)."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return config.vouchers_enabled() and super().has_module_permission(request)

    def has_manage_vouchers_permission(self, request: HttpRequest) -> bool:
        # Revoking and reversing need what they need on the staff pages: seeing the list is not
        # enough, and a model's change permission alone does not grant them either.
        return request.user.has_perm(MANAGE_VOUCHERS)


class CreatedByServicesAdmin(VoucherAdmin):
    """Rows that only services create (batches, codes, redemptions): the admin shows them and acts
    on them through services; it neither adds nor deletes them (revoke and reverse instead)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ReadOnlyAdmin(CreatedByServicesAdmin):
    """Logs (the audit trail, webhook deliveries): shown, never edited; actions only."""

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ExactCodeSearch(VoucherAdmin):
    """Searching by code: the term is normalised like a typed code and matched exactly on the
    indexed column. Django's "=field" search is case-insensitive and cannot use the index, which
    means reading a million-row table for every search. A term may also be a code imported from
    elsewhere, stored as codes.imported_key gives it (as code_key looks it up when redeemed):
    that form is matched too, beside the admin's other search fields when the term is not a
    generated code, since an imported code can be as short as a username."""

    code_lookup = "code"
    # With no other field to search, a term that is not a whole code finds nothing, rather than
    # falling back to a scan for part of a code.
    codes_only = False

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        if not search_term.strip():
            return queryset, False
        imported = _imported_key(search_term)
        try:
            keys = {self.searchable_code(search_term)}
        except codebook.InvalidCode:
            if self.codes_only:
                return queryset.none(), False
            found, duplicates = super().get_search_results(request, queryset, search_term)
            if imported is None:
                return found, duplicates
            return found | queryset.filter(**{self.code_lookup: imported}), duplicates
        if imported is not None and imported not in keys:  # the audit log's normalised form may differ
            return queryset.filter(**{f"{self.code_lookup}__in": sorted({*keys, imported})}), False
        return queryset.filter(**{self.code_lookup: keys.pop()}), False

    def searchable_code(self, term: str) -> str:
        return codebook.parse(term)


def _imported_key(term: str) -> str | None:
    try:
        return codebook.imported_key(term)
    except codebook.InvalidCode:
        return None


@admin.register(Offer)
class OfferAdmin(VoucherAdmin):
    form = OfferForm

    def get_readonly_fields(self, request: HttpRequest, obj: Offer | None = None) -> list[str]:
        # What the service would refuse to change is shown, not offered as an input.
        frozen = offer_frozen_fields(obj) if obj is not None else ()
        return [*super().get_readonly_fields(request, obj), *frozen]

    def save_model(self, request: HttpRequest, obj: Offer, form: forms.ModelForm, change: bool) -> None:
        offer_save(offer=obj, changed=form.changed_data, actor=actor_of(request.user))

    def delete_model(self, request: HttpRequest, obj: Offer) -> None:
        offer_delete(offer=obj, actor=actor_of(request.user))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Offer]) -> None:
        for offer in queryset:
            offer_delete(offer=offer, actor=actor_of(request.user))

    list_display = (
        "name",
        "product",
        "session",
        "price",
        "currency",
        "sale_starts_at",
        "sale_ends_at",
        "auto_subscribe",
    )
    list_filter = ("product", "auto_subscribe")
    search_fields = ("name", "session__slug")
    list_select_related = ("session__course",)


@admin.register(Batch)
class BatchAdmin(CreatedByServicesAdmin):
    list_display = ("pk", "offer", "count", "uses_per_code", "tag", "country", "expires_at", "created_at", "revoked_at")
    list_filter = ("tag", "offer__product")
    list_select_related = ("offer__session__course",)
    readonly_fields = [f.name for f in Batch._meta.fields]
    actions = ["revoke_batches"]

    @admin.action(description="Revoke all codes of the selected batches", permissions=["manage_vouchers"])
    def revoke_batches(self, request: HttpRequest, queryset: QuerySet[Batch]) -> None:
        _run_each(
            request, queryset, lambda b: batch_revoke(batch=b, actor=actor_of(request.user)), "Revoked {count} batches."
        )


@admin.register(Code)
class CodeAdmin(ExactCodeSearch, CreatedByServicesAdmin):
    list_display = ("code", "batch", "uses", "max_uses", "revoked_at")
    search_fields = ("code",)  # shows the search box; ExactCodeSearch does the searching
    codes_only = True
    readonly_fields = ("code", "batch", "uses", "max_uses", "revoked_at")

    def searchable_code(self, term: str) -> str:
        """A generated code as parse reads it, else an imported one: the search box finds both."""
        return codebook.imported_key(term)

    list_select_related = ("batch",)
    show_full_result_count = False
    actions = ["revoke_codes"]

    @admin.action(description="Revoke the selected codes", permissions=["manage_vouchers"])
    def revoke_codes(self, request: HttpRequest, queryset: QuerySet[Code]) -> None:
        _run_each(
            request, queryset, lambda c: code_revoke(code=c, actor=actor_of(request.user)), "Revoked {count} codes."
        )


@admin.register(Redemption)
class RedemptionAdmin(ExactCodeSearch, CreatedByServicesAdmin):
    code_lookup = "code_id"
    list_display = ("code", "user", "session", "assessment", "product", "redeemed_at", "client_ip", "reversed_at")
    list_filter = ("product",)
    search_fields = ("user__username",)
    list_select_related = ("user", "session__course", "assessment")
    readonly_fields = [f.name for f in Redemption._meta.fields]
    actions = ["reverse_redemptions"]

    @admin.action(description="Reverse (refund) the selected redemptions", permissions=["manage_vouchers"])
    def reverse_redemptions(self, request: HttpRequest, queryset: QuerySet[Redemption]) -> None:
        _run_each(
            request, queryset, lambda r: redemption_reverse(redemption=r, actor=actor_of(request.user)),
            "Reversed {count} redemptions.",
        )  # fmt: skip


@admin.register(AuditEvent)
class AuditEventAdmin(ExactCodeSearch, ReadOnlyAdmin):
    list_display = ("at", "actor", "action", "code", "batch", "detail")
    list_filter = ("action",)
    search_fields = ("actor",)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        """Also finds what a user did by their username: the log names them "user:<id>"."""
        found, duplicates = super().get_search_results(request, queryset, search_term)
        user = get_user_model().objects.filter(username=search_term.strip()).first()
        if user is None:
            return found, duplicates
        return found | queryset.filter(actor=actor_of(user)), duplicates

    def searchable_code(self, term: str) -> str:
        """Refused attempts include mistyped codes, logged normalised: anything code-shaped is
        matched as logged; shorter terms (a username) search the actor instead."""
        normalized = codebook.normalize(term)
        if len(normalized) < codebook.MIN_LENGTH:
            raise codebook.MalformedCode("too short to be a code")
        return normalized


class MessageTemplateForm(forms.ModelForm):
    class Meta:
        model = MessageTemplate
        fields = ("kind", "language", "subject", "body")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        kind, language = data.get("kind", self.instance.kind), data.get("language", self.instance.language)
        try:
            template_validate(kind=kind, language=language, subject=data["subject"], body=data["body"])
        except InvalidInput as error:
            self.add_error(error.field if error.field in self.fields else None, error.message)
        return data


@admin.register(MessageTemplate)
class MessageTemplateAdmin(VoucherAdmin):
    """The mails' wording per kind and language (docs/sending-codes.md); saved by template_save."""

    form = MessageTemplateForm
    list_display = ("kind", "language", "subject", "updated_by", "updated_at")

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # every change of a template is audited (template_save); edit it back instead

    def get_readonly_fields(self, request: HttpRequest, obj: MessageTemplate | None = None) -> list[str]:
        # A stored template is one kind and language's; another language is another template.
        return ["kind", "language"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: MessageTemplate, form: forms.ModelForm, change: bool) -> None:
        saved = template_save(
            kind=obj.kind, language=obj.language, subject=obj.subject, body=obj.body, actor=actor_of(request.user)
        )
        obj.pk = saved.pk


@admin.register(Assignment)
class AssignmentAdmin(CreatedByServicesAdmin):
    """Codes sent to recipients: shown, mailed again or withdrawn (its code revoked) through the services."""

    list_display = ("pk", "batch", "code", "email", "language", "state", "sent_at", "reminded_at", "last_error")
    list_filter = ("state",)
    search_fields = ("email",)
    list_select_related = ("batch__offer", "code")
    readonly_fields = [field.name for field in Assignment._meta.fields]
    actions = ("resend_assignments", "withdraw_assignments")

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="Send the selected codes again", permissions=["manage_vouchers"])
    def resend_assignments(self, request: HttpRequest, queryset: QuerySet[Assignment]) -> None:
        base = request.build_absolute_uri("/").rstrip("/")
        resend = lambda item: assignment_resend(assignment=item, actor=actor_of(request.user), link_base=base)  # noqa: E731
        _run_each(request, queryset, resend, "{count} codes queued to be sent again.")

    @admin.action(
        description="Withdraw the selected assignments (revokes their codes)", permissions=["manage_vouchers"]
    )
    def withdraw_assignments(self, request: HttpRequest, queryset: QuerySet[Assignment]) -> None:
        withdraw = lambda item: assignment_withdraw(assignment=item, actor=actor_of(request.user))  # noqa: E731
        _run_each(request, queryset, withdraw, "{count} assignments withdrawn, their codes revoked.")


@admin.register(SendJob)
class SendJobAdmin(ReadOnlyAdmin):
    list_display = ("pk", "batch", "kind", "status", "total", "sent", "failed", "attempts", "created_at", "error")
    list_filter = ("kind", "status")
