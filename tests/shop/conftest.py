"""What the shop tests share: the bridge's address, a shop token as printed, the admin's forms, and
the webhook fixtures (a recording sender, shops with a webhook URL, a delivery waiting, receivers on
this machine's loopback)."""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.test import Client

from tessera.shop.models import WebhookDelivery
from tessera.shop.services import shop_webhook_set
from tests.loopback import hook_receiver, serving
from tests.shop.webhooking import URL_A, URL_B, RawServer, RecordingSender, redeem, shop_code

BRIDGE = "/bridges/shop/vouchers"
# A shop token as the commands and the admin print it.
TOKEN = re.compile(r"^[0-9a-f]{64}$", re.MULTILINE)
# The token inline's management form, which every post of the shop's change form carries.
NO_TOKENS = {"tokens-TOTAL_FORMS": "0", "tokens-INITIAL_FORMS": "0", "tokens-MIN_NUM_FORMS": "0",
             "tokens-MAX_NUM_FORMS": "1000"}  # fmt: skip


def order(client: Client, persona: Any, qty: str = "3", path: str = BRIDGE, **params: str) -> HttpResponse:
    """A shop's order of reactivation codes for Germany, form-encoded as Xikolo's shops send it."""
    return client.post(path, {"qty": qty, "product": "course_reactivation", "country": "DE", **params}, **persona.auth)


def actions_post(name: str, *pks: int) -> dict[str, Any]:
    """An admin changelist's action run on the rows of these ids."""
    return {"action": name, "_selected_action": [str(pk) for pk in pks]}


@pytest.fixture
def sender(settings: Any) -> Iterator[type[RecordingSender]]:
    settings.TESSERA_WEBHOOK_SENDER = f"{RecordingSender.__module__}.RecordingSender"
    RecordingSender.requests.clear()
    RecordingSender.answers.clear()
    yield RecordingSender
    RecordingSender.answers.clear()


@pytest.fixture
def secret_a(shop_a: Any) -> str:
    secret = shop_webhook_set(shop=shop_a.shop, url=URL_A)
    assert secret is not None
    return secret


@pytest.fixture
def secret_b(shop_b: Any) -> str:
    secret = shop_webhook_set(shop=shop_b.shop, url=URL_B)
    assert secret is not None
    return secret


@pytest.fixture
def capture(django_capture_on_commit_callbacks: Any) -> Any:
    return django_capture_on_commit_callbacks


@pytest.fixture
def delivery(shop_a: Any, secret_a: Any, learner: User, running_session: Any, capture: Any) -> WebhookDelivery:
    """shop_a's code, redeemed: one delivery waiting for its first attempt."""
    redeem(capture, shop_code(shop_a.shop, running_session), learner, running_session)
    return WebhookDelivery.objects.get()


@pytest.fixture
def hook_server() -> Iterator[str]:
    """A receiver on 127.0.0.1 (tests.loopback.Hook): its base URL."""
    with serving(hook_receiver()) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def raw_server() -> Iterator[Any]:
    servers: list[RawServer] = []

    def start(handle: Any) -> RawServer:
        servers.append(RawServer(handle))
        return servers[-1]

    yield start
    for server in servers:
        server.close()
