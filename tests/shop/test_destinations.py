"""Where webhooks may go: public addresses only, unless private ones are allowed; link-local,
multicast and the like never; checked when a URL is set and again before each attempt."""

import pytest

from tessera.core import webhooks
from tessera.core.destinations import WebhookUrlForbidden
from tessera.shop.services import shop_webhook_set
from tests.loopback import Hook
from tests.shop.webhooking import (
    URL_A,
    URL_B,
    run_due_tasks,
)

FORBIDDEN_HOSTS = [
    "127.0.0.1", "127.8.9.10", "10.0.0.8", "172.16.5.4", "192.168.1.1", "100.64.0.1", "169.254.169.254",
    "0.0.0.0",  # noqa: S104 - a destination refused, not an address bound
    "224.0.0.1", "240.0.0.1", "255.255.255.255", "[::1]", "[::]", "[fe80::1]", "[fc00::1]",
    "[ff02::1]", "[::ffff:127.0.0.1]", "[::ffff:169.254.169.254]", "[::ffff:10.0.0.1]", "localhost",
]  # fmt: skip


@pytest.mark.django_db
@pytest.mark.usefixtures("private_refused")
class TestForbiddenDestinations:
    @pytest.mark.parametrize("host", FORBIDDEN_HOSTS)
    def test_a_url_to_a_forbidden_address_is_refused_and_nothing_changes(self, shop_a, secret_a, host):
        with pytest.raises(WebhookUrlForbidden) as refused:
            shop_webhook_set(shop=shop_a.shop, url=f"http://{host}:8080/hook")
        assert (refused.value.code, refused.value.field) == ("webhook_url_forbidden", "webhook_url")
        shop_a.shop.refresh_from_db()
        assert (shop_a.shop.webhook_url, shop_a.shop.webhook_secret) == (URL_A, secret_a)

    @pytest.mark.parametrize("url", ["https://93.184.215.14/hook", "https://[2606:4700:4700::1111]/hook", URL_B])
    def test_a_public_address_or_a_name_that_does_not_resolve_yet_is_accepted(self, shop_a, url):
        shop_webhook_set(shop=shop_a.shop, url=url)
        shop_a.shop.refresh_from_db()
        assert shop_a.shop.webhook_url == url

    def test_allowing_private_targets_lets_loopback_and_private_through_never_link_local(self, shop_a, settings):
        settings.TESSERA_WEBHOOK_ALLOW_PRIVATE = True
        for host in ["127.0.0.1", "10.0.0.8", "[::1]", "[fc00::1]", "localhost"]:
            shop_webhook_set(shop=shop_a.shop, url=f"http://{host}/hook")
        for host in ["169.254.169.254", "[fe80::1]", "[::ffff:169.254.169.254]", "224.0.0.1", "0.0.0.0"]:  # noqa: S104
            with pytest.raises(WebhookUrlForbidden):
                shop_webhook_set(shop=shop_a.shop, url=f"http://{host}/hook")

    def test_each_attempt_checks_again_and_sends_nothing_to_a_forbidden_address(
        self, hook_server, delivery, shop_a, settings
    ):
        settings.TESSERA_WEBHOOK_ALLOW_PRIVATE = True  # allowed when saved: the name pointed elsewhere then
        shop_webhook_set(shop=shop_a.shop, url=hook_server.replace("127.0.0.1", "localhost") + "/hook")
        settings.TESSERA_WEBHOOK_ALLOW_PRIVATE = False
        assert run_due_tasks() == ["retrying"]
        assert Hook.received == []
        delivery.refresh_from_db()
        assert delivery.last_error == webhooks.FORBIDDEN_ADDRESS
