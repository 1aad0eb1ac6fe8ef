"""A platform's webhook endpoint for bench_platforms.py, in a process of its own: it verifies each
request as Standard Webhooks says (401 when it does not verify), answers 204, and writes one line
per accepted event, as soon as it arrives, to the file named:

    <unix time received> TAB <path> TAB <seq> TAB <type> TAB <occurred_at> TAB <webhook-id>

    .venv/bin/python bench/webhook_sink.py PORT OUTPUT_FILE      # secrets: WEBHOOK_SECRETS="path=whsec_... ..."

Standalone on purpose: no Django, so it costs what a lean receiver would, and its CPU time is its own.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import sys
import threading
import time
from typing import Any

import standardwebhooks


def secrets_by_path(text: str) -> dict[str, standardwebhooks.Webhook]:
    pairs = (item.split("=", 1) for item in text.split())
    return {path: standardwebhooks.Webhook(secret) for path, secret in pairs}


def serve(port: int, output_path: str, verifiers: dict[str, standardwebhooks.Webhook]) -> None:
    output = open(output_path, "a", buffering=1)  # noqa: SIM115 (open as long as the process)
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keeps the sender's connection alive, as a real endpoint would

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received = time.time()
            status = 204
            verifier = verifiers.get(self.path)
            headers = {name.lower(): value for name, value in self.headers.items()}
            try:
                if verifier is None:
                    raise standardwebhooks.WebhookVerificationError("no secret for this path")
                verifier.verify(body, headers)
            except standardwebhooks.WebhookVerificationError:
                status = 401
            if status == 204:
                event = json.loads(body)
                line = "\t".join(
                    [f"{received:.6f}", self.path, str(event["seq"]), event["type"], event["occurred_at"],
                     headers["webhook-id"]]
                )  # fmt: skip
                with lock:
                    output.write(line + "\n")
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    try:
        server.serve_forever()
    finally:
        server.server_close()
        output.close()


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2], secrets_by_path(os.environ.get("WEBHOOK_SECRETS", "")))
