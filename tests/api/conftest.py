from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User

from tessera.api.services import api_token_issue
from tests.conftest import BearerPersona


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
