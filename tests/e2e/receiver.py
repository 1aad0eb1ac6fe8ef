"""A stand-in for examples/platform_receiver.py, with its command line and its SQLite tables, until
that example is in this tree: a platform's receiver of Tessera's webhooks that verifies each
request (401 when it does not verify), answers 2xx without doing anything for an event applied
already, refuses an event after a gap (409), and applies the others to its `enrollments`,
recording each in `events` in the same transaction.

    WEBHOOK_SECRET=whsec_... python -m tests.e2e.receiver --db lms.sqlite3 --port 8100
"""

import argparse
import os
import sqlite3
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import standardwebhooks

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, type TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS enrollments (
    learner TEXT NOT NULL, session TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (learner, session));
"""


def take(db: sqlite3.Connection, event_id: str, event: dict[str, Any]) -> int:
    with db:
        if db.execute("SELECT 1 FROM events WHERE id = ?", (event_id,)).fetchone():
            return 200
        (last,) = db.execute("SELECT max(seq) FROM events").fetchone()
        if last is not None and event["seq"] != last + 1:
            return 409
        data = event["data"]
        if event["type"].startswith("entitlement.") and data["learner"] is not None and "enrolled" in data["effect"]:
            db.execute(
                "INSERT INTO enrollments (learner, session, active) VALUES (?, ?, ?)"
                " ON CONFLICT (learner, session) DO UPDATE SET active = excluded.active",
                (data["learner"], data["session"], data["effect"]["enrolled"]),
            )
        db.execute("INSERT INTO events (id, seq, type) VALUES (?, ?, ?)", (event_id, event["seq"], event["type"]))
    return 204


def serve(*, secret: str, db_path: str, host: str, port: int) -> None:
    webhook = standardwebhooks.Webhook(secret)
    db = sqlite3.connect(db_path)
    db.executescript(SCHEMA)

    class Receiver(BaseHTTPRequestHandler):
        timeout = 10

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                event = webhook.verify(body, dict(self.headers))
                status = take(db, self.headers["webhook-id"], event)
            except standardwebhooks.WebhookVerificationError:
                status = 401
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    HTTPServer((host, port), Receiver).serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="lms.sqlite3")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    arguments = parser.parse_args()
    serve(secret=os.environ["WEBHOOK_SECRET"], db_path=arguments.db, host=arguments.host, port=arguments.port)
