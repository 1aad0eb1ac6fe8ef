"""Webhook bodies, their Standard Webhooks signature, the settings checked at start-up, and the
HTTP sender: one deadline per attempt, no redirects, TLS to the address checked, no ports revealed."""

import re
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import standardwebhooks
from django.utils import timezone

from tessera.core import webhooks
from tessera.shop.services import shop_webhook_set
from tests.loopback import Hook, hook_receiver, serving
from tests.shop.webhooking import (
    SECRET,
    RawServer,
    Status,
    attempts_log,
    run_due_tasks,
    signed,
    verify,
)


class TestSignature:
    """Standard Webhooks, checked with the specification's own library as a receiver would."""

    def test_the_signature_verifies_with_the_shops_secret(self):
        secret, body = webhooks.new_secret(), b'{"id":"1","type":"voucher.redeemed"}'
        assert SECRET.match(secret)
        assert verify(secret, body, signed(secret, body))

    def test_the_headers_are_the_specifications(self):
        sent_at = timezone.now()
        headers = signed(webhooks.new_secret(), b"{}", event_id="ev-1", sent_at=sent_at)
        assert (headers["webhook-id"], headers["webhook-timestamp"]) == ("ev-1", str(int(sent_at.timestamp())))
        assert re.fullmatch(r"v1,[A-Za-z0-9+/]{43}=", headers["webhook-signature"])
        assert not [name for name in headers if name.lower().startswith("tessera-")]

    def test_another_secret_does_not_verify(self):
        body = b'{"id":"1","type":"voucher.redeemed"}'
        assert not verify(webhooks.new_secret(), body, signed(webhooks.new_secret(), body))

    def test_a_changed_body_does_not_verify(self):
        secret = webhooks.new_secret()
        assert not verify(secret, b'{"uses":2}', signed(secret, b'{"uses":1}'))

    def test_a_timestamp_older_than_five_minutes_is_refused(self):
        secret, body = webhooks.new_secret(), b"{}"
        stale = signed(secret, body, sent_at=timezone.now() - timedelta(minutes=5, seconds=10))
        with pytest.raises(standardwebhooks.WebhookVerificationError, match="too old"):
            standardwebhooks.Webhook(secret).verify(body, stale)
        assert verify(secret, body, signed(secret, body, sent_at=timezone.now() - timedelta(minutes=4)))


class TestSettings:
    def test_a_timeout_below_one_second_is_reported(self, settings):
        settings.TESSERA_WEBHOOK_TIMEOUT = 0
        assert [error.id for error in webhooks.check_webhook_settings()] == ["tessera.E101"]

    def test_a_sender_that_cannot_be_imported_is_reported(self, settings):
        settings.TESSERA_WEBHOOK_SENDER = "tessera.core.webhooks.NoSuchSender"
        assert [error.id for error in webhooks.check_webhook_settings()] == ["tessera.E102"]

    def test_a_lease_no_longer_than_the_timeout_is_reported(self, settings):
        settings.TESSERA_WEBHOOK_TIMEOUT, settings.TESSERA_WEBHOOK_LEASE = 10, 10
        assert [error.id for error in webhooks.check_webhook_settings()] == ["tessera.E103"]

    def test_the_default_settings_pass(self):
        assert webhooks.check_webhook_settings() == []


@pytest.mark.usefixtures("private_allowed")
class TestHttpSender:
    """The real sender, against a server on this machine's loopback."""

    def test_a_2xx_answer_is_returned_with_the_body_and_headers_sent(self, hook_server):
        status = webhooks.HttpSender(timeout=5).send(
            url=f"{hook_server}/hook", body=b'{"a":1}', headers={"Content-Type": "application/json", "X-Test": "1"}
        )
        assert status == 204
        [(path, body, headers)] = Hook.received
        assert (path, body) == ("/hook", b'{"a":1}')
        assert (headers["Content-Type"], headers["X-Test"]) == ("application/json", "1")

    def test_an_error_answer_is_returned_not_raised(self, hook_server):
        assert webhooks.HttpSender(timeout=5).send(url=f"{hook_server}/broken", body=b"{}", headers={}) == 500

    def test_a_redirect_is_not_followed(self, hook_server):
        assert webhooks.HttpSender(timeout=5).send(url=f"{hook_server}/moved", body=b"{}", headers={}) == 302
        assert [path for path, _, _ in Hook.received] == ["/moved"]

    def test_no_server_is_a_send_failure(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]  # closed again before the request: nothing listens there
        with pytest.raises(webhooks.SendFailed) as failed:
            webhooks.HttpSender(timeout=5).send(url=f"http://127.0.0.1:{port}/hook", body=b"{}", headers={})
        assert str(failed.value) == webhooks.COULD_NOT_CONNECT

    def test_the_name_is_resolved_once_and_kept_in_the_host_header(self, hook_server, monkeypatch):
        lookups = []
        real_getaddrinfo = socket.getaddrinfo

        def counting(host: str, *args: Any, **kwargs: Any) -> Any:
            lookups.append(host)
            return real_getaddrinfo(host, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", counting)
        url = hook_server.replace("127.0.0.1", "localhost")
        assert webhooks.HttpSender(timeout=5).send(url=f"{url}/hook", body=b"{}", headers={}) == 204
        assert lookups == ["localhost"]  # the connection went to the checked address, not a new lookup
        [(_, _, headers)] = Hook.received
        assert headers["Host"] == url.removeprefix("http://")


# A dripping answer ends after this many seconds, well past the deadlines below: a sender with a
# timeout per read only (no deadline for the attempt) would get the answer then, late, not hang.
DRIP_SECONDS = 10
# What a loaded machine may add to a deadline before the attempt has ended.
DEADLINE_SLACK = 3


def drips(server: RawServer, conn: socket.socket) -> None:
    """Answers a header byte a second: each read gets something, the answer ends only after DRIP_SECONDS."""
    server.read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Drip: ")
    for _ in range(DRIP_SECONDS):
        if server.stop.wait(1):
            return
        conn.sendall(b"a")
    conn.sendall(b"\r\nContent-Length: 0\r\n\r\n")


def hangs_up(server: RawServer, conn: socket.socket) -> None:
    conn.close()


def speaks_another_protocol(server: RawServer, conn: socket.socket) -> None:
    conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")


def stays_silent(server: RawServer, conn: socket.socket) -> None:
    server.read_request(conn)
    server.stop.wait(10)


@pytest.mark.usefixtures("private_allowed")
class TestOneDeadlinePerAttempt:
    def test_a_receiver_that_drips_its_answer_is_cut_off_at_the_deadline(self, raw_server):
        server = raw_server(drips)
        started = time.monotonic()
        with pytest.raises(webhooks.SendFailed) as failed:
            webhooks.HttpSender(timeout=2).send(url=server.url, body=b"{}", headers={})
        took = time.monotonic() - started
        assert 1.9 <= took < 2 + DEADLINE_SLACK, f"the attempt took {took:.2f} s"
        assert str(failed.value) == webhooks.COULD_NOT_CONNECT
        assert len(server.requests) == 1

    @pytest.mark.django_db
    def test_a_dripping_receiver_makes_a_failed_attempt_that_is_retried(self, raw_server, delivery, shop_a, settings):
        settings.TESSERA_WEBHOOK_TIMEOUT = 2
        shop_webhook_set(shop=shop_a.shop, url=raw_server(drips).url)
        started = time.monotonic()
        assert run_due_tasks() == ["retrying"]
        assert time.monotonic() - started < 2 + DEADLINE_SLACK
        assert attempts_log(delivery) == (Status.PENDING, 1, None)
        delivery.refresh_from_db()
        assert (delivery.last_error, delivery.sending_until) == (webhooks.COULD_NOT_CONNECT, None)


class TestEachAttemptChecksTheAddressAgain:
    @pytest.mark.django_db
    def test_a_name_that_resolves_to_a_forbidden_address_by_now_is_sent_nothing_and_retried(
        self, hook_server, delivery, shop_a, settings
    ):
        settings.TESSERA_WEBHOOK_ALLOW_PRIVATE = True  # allowed when saved: the name pointed elsewhere then
        shop_webhook_set(shop=shop_a.shop, url=hook_server.replace("127.0.0.1", "localhost") + "/hook")
        settings.TESSERA_WEBHOOK_ALLOW_PRIVATE = False
        assert run_due_tasks() == ["retrying"]
        assert Hook.received == []
        delivery.refresh_from_db()
        assert delivery.last_error == webhooks.FORBIDDEN_ADDRESS


@pytest.mark.usefixtures("private_allowed")
class TestTheLogRevealsNoPorts:
    @pytest.mark.parametrize("receiver", [hangs_up, speaks_another_protocol, stays_silent])
    def test_an_open_port_fails_with_the_same_words_as_a_closed_one(self, raw_server, receiver):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed = f"http://127.0.0.1:{probe.getsockname()[1]}/hook"
        failures = []
        for url in (closed, raw_server(receiver).url):
            with pytest.raises(webhooks.SendFailed) as failed:
                webhooks.HttpSender(timeout=1).send(url=url, body=b"{}", headers={})
            failures.append(str(failed.value))
        assert failures == [webhooks.COULD_NOT_CONNECT] * 2


@pytest.fixture
def tls_hook_server(tmp_path: Any) -> Iterator[tuple[str, ssl.SSLContext, list[str]]]:
    """An HTTPS receiver on 127.0.0.1 whose certificate names only "localhost"; answers the URL,
    a client context that trusts the certificate, and the server names (SNI) clients asked for."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(  # noqa: S603
        ["/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    asked: list[str] = []
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served.load_cert_chain(cert, key)

    def remember(sock: Any, name: str | None, context: ssl.SSLContext) -> None:
        asked.append(name or "")

    served.sni_callback = remember
    server = hook_receiver()
    server.socket = served.wrap_socket(server.socket, server_side=True)
    with serving(server):
        yield f"https://localhost:{server.server_address[1]}", ssl.create_default_context(cafile=str(cert)), asked


@pytest.mark.usefixtures("private_allowed")
class TestHttpsToAPinnedAddress:
    def test_tls_checks_the_certificate_against_the_name_not_the_address(self, tls_hook_server):
        url, trusting, asked = tls_hook_server
        assert webhooks.HttpSender(timeout=5, tls=trusting).send(url=f"{url}/hook", body=b"{}", headers={}) == 204
        assert asked == ["localhost"]
        [(_, _, headers)] = Hook.received
        assert headers["Host"] == url.removeprefix("https://")

    def test_a_certificate_not_trusted_is_no_answer(self, tls_hook_server):
        url, _, _ = tls_hook_server
        with pytest.raises(webhooks.SendFailed):
            webhooks.HttpSender(timeout=5).send(url=f"{url}/hook", body=b"{}", headers={})
        assert Hook.received == []
