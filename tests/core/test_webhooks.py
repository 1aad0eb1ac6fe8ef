"""The webhook sender's kept-alive connection: a platform's events go one after another over one
connection, to a real HTTP/1.1 receiver on this machine's loopback. (Signatures, deadlines and
the address checks are tested with the shop's webhooks, tests/shop/test_webhooks.py.)"""

import http.server
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from tessera.core import webhooks


class _KeptAlive(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keeps the connection unless told otherwise
    connections: ClassVar[set[tuple[str, int]]] = set()
    paths: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.connections.add(self.client_address)
        self.paths.append(self.path)
        answer = b'{"ok":true}'
        self.send_response(500 if self.path == "/broken" else 200)
        self.send_header("Content-Length", str(len(answer)))
        if self.path == "/closing":
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


class _Impatient(_KeptAlive):
    timeout = 0.3  # seconds an idle connection is kept by the receiver


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def _serve(settings: Any, handler: type[_KeptAlive]) -> Iterator[str]:
    settings.TESSERA_WEBHOOK_ALLOW_PRIVATE = True
    server = _Server(("127.0.0.1", 0), handler)
    _KeptAlive.connections.clear()
    _KeptAlive.paths.clear()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def receiver(settings: Any) -> Iterator[str]:
    yield from _serve(settings, _KeptAlive)


@pytest.fixture
def impatient_receiver(settings: Any) -> Iterator[str]:
    yield from _serve(settings, _Impatient)


def send_three(sender: webhooks.HttpSender, url: str) -> list[int]:
    try:
        return [sender.send(url=url, body=b"{}", headers={}) for _ in range(3)]
    finally:
        sender.close()


class TestKeepAlive:
    def test_kept_alive_three_sends_share_one_connection(self, receiver):
        assert send_three(webhooks.HttpSender(timeout=5, keep_alive=True), f"{receiver}/hook") == [200] * 3
        assert (len(_KeptAlive.paths), len(_KeptAlive.connections)) == (3, 1)

    def test_an_error_answer_keeps_the_connection_too(self, receiver):
        assert send_three(webhooks.HttpSender(timeout=5, keep_alive=True), f"{receiver}/broken") == [500] * 3
        assert len(_KeptAlive.connections) == 1

    def test_without_keep_alive_each_send_has_its_own_connection(self, receiver):
        assert send_three(webhooks.HttpSender(timeout=5), f"{receiver}/hook") == [200] * 3
        assert len(_KeptAlive.connections) == 3

    def test_a_receiver_that_closes_gets_a_new_connection_for_the_next_send(self, receiver):
        assert send_three(webhooks.HttpSender(timeout=5, keep_alive=True), f"{receiver}/closing") == [200] * 3
        assert len(_KeptAlive.connections) == 3

    def test_a_connection_the_receiver_closed_while_idle_is_opened_again_and_the_send_succeeds(
        self, impatient_receiver
    ):
        sender = webhooks.HttpSender(timeout=5, keep_alive=True)
        try:
            assert sender.send(url=f"{impatient_receiver}/hook", body=b"{}", headers={}) == 200
            time.sleep(1)  # the receiver closes the idle connection after 0.3 s
            assert sender.send(url=f"{impatient_receiver}/hook", body=b"{}", headers={}) == 200
        finally:
            sender.close()
        assert (len(_KeptAlive.paths), len(_KeptAlive.connections)) == (2, 2)

    def test_another_host_is_not_sent_over_the_kept_connection(self, receiver):
        sender = webhooks.HttpSender(timeout=5, keep_alive=True)
        try:
            assert sender.send(url=f"{receiver}/hook", body=b"{}", headers={}) == 200
            other = receiver.replace("127.0.0.1", "localhost")
            assert sender.send(url=f"{other}/hook", body=b"{}", headers={}) == 200
        finally:
            sender.close()
        assert len(_KeptAlive.connections) == 2

    def test_a_request_is_sent_at_once_without_waiting_for_the_receivers_acknowledgement(self, receiver):
        """http.client writes a request's head and body apart: with Nagle's algorithm on, the body
        waits for the receiver's delayed ACK, 40 ms on Linux, on every send over a kept connection."""
        sender = webhooks.HttpSender(timeout=5, keep_alive=True)
        try:
            assert sender.send(url=f"{receiver}/hook", body=b"{}", headers={}) == 200
            kept = sender._kept.sock.sock  # type: ignore[union-attr]
            assert kept.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        finally:
            sender.close()
