"""This machine's loopback, for the tests that serve or send over HTTP: a free port, a webhook
receiver that records what it is sent, and waiting until something has happened."""

import http.server
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar


def free_port() -> int:
    """A port nothing listens on: bound and closed again, so free for the moment it is used."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up after {seconds} s waiting for {what}"
        time.sleep(0.05)


class Hook(http.server.BaseHTTPRequestHandler):
    """A shop's webhook receiver: records each POST as (path, body, headers) and answers 204;
    /broken answers 500, /moved redirects to /hook."""

    received: ClassVar[list[tuple[str, bytes, dict[str, str]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, body, dict(self.headers)))
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/hook")
        else:
            self.send_response(500 if self.path == "/broken" else 204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def hook_receiver() -> http.server.HTTPServer:
    """A receiver on a free port of 127.0.0.1, not yet serving (see `serving`)."""
    return http.server.HTTPServer(("127.0.0.1", 0), Hook)


@contextmanager
def serving(server: http.server.HTTPServer) -> Iterator[http.server.HTTPServer]:
    """Serves in a thread of its own until the block ends, with nothing received yet."""
    Hook.received.clear()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
