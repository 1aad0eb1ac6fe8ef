"""Personas calling the platform API with their own tokens, and how a printed token looks."""

import json
import re
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.test import Client

from tessera.api.services import api_token_issue
from tessera.vouchers.models import AuditEvent
from tests.conftest import BearerPersona

# A platform API token as the command and the admin print it.
TOKEN = re.compile(r"^tsr_[A-Za-z0-9_-]{43}$", re.MULTILINE)
# A learner route any live token may call.
MINE = "/api/v1/me/entitlements"


def post(client: Client, url: str, body: object, **headers: str) -> HttpResponse:
    """A JSON body posted as an API client sends it."""
    return client.post(url, json.dumps(body), content_type="application/json", **headers)


@dataclass
class ApiPersona(BearerPersona):
    user: User


def _persona(user: User) -> ApiPersona:
    _, token = api_token_issue(user=user, label="tests")
    return ApiPersona(user=user, token=token)


@pytest.fixture
def learner_api(learner: User) -> ApiPersona:
    return _persona(learner)


@pytest.fixture
def other_learner_api(other_learner: User) -> ApiPersona:
    return _persona(other_learner)


@pytest.fixture
def staff_api(staff: User) -> ApiPersona:
    return _persona(staff)


@pytest.fixture
def voucher_manager_api(voucher_manager: User) -> ApiPersona:
    return _persona(voucher_manager)


def issued_and_revoked(rows: list[AuditEvent]) -> list[tuple[str, str, int]]:
    """Each token's audit rows as (action, actor, token id)."""
    return [(row.action, row.actor, row.detail["token_id"]) for row in rows]
