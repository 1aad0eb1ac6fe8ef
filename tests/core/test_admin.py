"""Least privilege across the whole admin site: whoever may only view gets no action and runs none.

The cases are read from `admin.site._registry`, so an admin registered later is covered without
touching this file; the `every_model` fixture must then make a row of its model (a test says so).
"""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission, User
from django.db.models import Model
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from tessera.api.services import api_token_issue
from tessera.catalog.models import CourseSession
from tessera.platforms.services import platform_create
from tessera.shop.services import shop_vouchers_create, shop_webhook_set
from tessera.vouchers.models import Assignment, AuditEvent, Offer, Product, SendJob
from tessera.vouchers.selectors.codes import display_code
from tessera.vouchers.services import template_save, voucher_redeem

REGISTRY: dict[type[Model], admin.ModelAdmin] = admin.site._registry


def _actions_of(model: type[Model]) -> list[tuple[Callable[..., Any], str]]:
    """Every action the admin of `model` knows, before any permission filters it out."""
    return [(function, name) for function, name, _ in REGISTRY[model]._get_base_actions()]


EVERY_ACTION = [
    pytest.param(model, function, name, id=f"{model._meta.label}-{name}")
    for model in REGISTRY
    for function, name in _actions_of(model)
]
# Ours (delete_selected is Django's), each of which a superuser runs: proof that the refusals below
# refuse a well-formed request rather than one that could never have worked.
OUR_ACTIONS = [case for case in EVERY_ACTION if case.values[2] != "delete_selected"]
EVERY_ADMIN = [pytest.param(model, id=model._meta.label) for model in REGISTRY]


@pytest.fixture
def every_model(
    staff: User,
    learner: User,
    shop_a: Any,
    running_session: CourseSession,
    enrollment_offer: Offer,
    assessment_offer: Offer,
    make_batch: Callable[..., Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    """At least one row of every model the admin shows, each in a state every action can change."""
    Group.objects.create(name="clerks")
    mailed = make_batch(enrollment_offer, count=2)
    SendJob.objects.create(batch=mailed, total=1, sent=1, status="done", link_base="https://tessera.example")
    Assignment.objects.create(
        code=mailed.codes.first(), batch=mailed, email="ada@example.org", assigned_at=timezone.now(), state="sent"
    )
    template_save(kind="code", language="en", subject="Code {{ code }}", body="{{ redeem_link }}", actor="staff")
    shop_webhook_set(shop=shop_a.shop, url="https://shop-a.example/hooks")
    batch = shop_vouchers_create(
        shop=shop_a.shop, qty=1, product=Product.ENROLLMENT, country="DE", tag="spring", session=running_session
    )
    with django_capture_on_commit_callbacks(execute=True):  # queues the webhook delivery's task
        voucher_redeem(code=display_code(batch.codes.get().code, batch.prefix), user=learner, session=running_session)
    exam_code = make_batch(assessment_offer).codes.get()
    voucher_redeem(code=display_code(exam_code.code, exam_code.batch.prefix), user=learner,
                   assessment=assessment_offer.assessment)  # fmt: skip
    api_token_issue(user=learner, label="lms")
    platform_create(name="Moodle")


@pytest.fixture
def view_only_staff(db: None) -> User:
    """Staff holding every view permission there is, and nothing else."""
    user = User.objects.create_user("viewer", password="viewer-pass-1", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__startswith="view_"))
    return user


def database_state() -> dict[str, list[dict[str, Any]]]:
    """Every row of every model the admin shows (the audit log among them)."""
    return {model._meta.label: list(model._default_manager.order_by("pk").values()) for model in REGISTRY}


def changelist(model: type[Model]) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def run_action(client: Client, model: type[Model], name: str) -> int:
    """POSTs the action on every row, confirmed (delete_selected asks first, "post" answers yes)."""
    selected = [str(pk) for pk in model._default_manager.values_list("pk", flat=True)]
    response = client.post(changelist(model), {"action": name, "_selected_action": selected, "post": "yes"})
    return response.status_code


def request_as(user: User, model: type[Model]) -> Any:
    request = RequestFactory().get(changelist(model))
    request.user = user
    return request


def offered_to(user: User, model: type[Model]) -> set[str]:
    return set(REGISTRY[model].get_actions(request_as(user, model)))


@pytest.mark.django_db
class TestEveryAction:
    @pytest.mark.parametrize(("model", "function", "name"), EVERY_ACTION)
    def test_names_the_permission_it_needs(self, model, function, name):
        permissions = getattr(function, "allowed_permissions", ())
        assert permissions, f"{name} on {model._meta.label} runs for anyone who may view the list"
        for permission in permissions:
            assert callable(getattr(REGISTRY[model], f"has_{permission}_permission", None))

    def test_every_admin_has_a_row_to_act_on(self, every_model):
        empty = [label for label, rows in database_state().items() if not rows]
        assert empty == [], "give every_model a row of each, so their actions are tried on something"


@pytest.mark.django_db
class TestViewOnlyStaff:
    @pytest.mark.parametrize("model", EVERY_ADMIN)
    def test_are_offered_no_action(self, view_only_staff, every_model, model):
        assert REGISTRY[model].has_view_permission(request_as(view_only_staff, model))
        assert offered_to(view_only_staff, model) == set()

    @pytest.mark.parametrize(("model", "function", "name"), EVERY_ACTION)
    def test_run_no_action_and_nothing_changes(self, client, view_only_staff, every_model, model, function, name):
        client.force_login(view_only_staff)
        before, audit_rows = database_state(), AuditEvent.objects.count()
        assert run_action(client, model, name) in {200, 302}
        assert AuditEvent.objects.count() == audit_rows
        assert database_state() == before

    def test_may_still_open_every_changelist(self, client, view_only_staff, every_model):
        client.force_login(view_only_staff)
        assert {model._meta.label: client.get(changelist(model)).status_code for model in REGISTRY} == {
            model._meta.label: 200 for model in REGISTRY
        }


@pytest.mark.django_db
class TestSuperusers:
    @pytest.mark.parametrize(("model", "function", "name"), OUR_ACTIONS)
    def test_are_offered_and_run_each_of_our_actions(self, client, staff, every_model, model, function, name):
        assert name in offered_to(staff, model)
        client.force_login(staff)
        before = database_state()
        assert run_action(client, model, name) == 302
        assert database_state() != before

    def test_are_offered_delete_selected_where_deleting_is_allowed(self, client, staff, every_model):
        assert "delete_selected" in offered_to(staff, Group)
        client.force_login(staff)
        assert run_action(client, Group, "delete_selected") == 302
        assert not Group.objects.exists()
