"""A course platform's receiver of Tessera's webhooks, small enough to read in one go and to copy:
it checks each request's signature, drops an event it has applied already, and applies the others
to a tiny stand-in for an LMS, a SQLite file with one table of enrollments.

    WEBHOOK_SECRET=whsec_... python examples/platform_receiver.py --db lms.sqlite3 --port 8100

Tessera sends a platform's events one at a time in `seq` order, the next only once the last got a
2xx answer, and sends an event again until it gets one: at least once, so now and then twice. So
this answers 2xx only once the event is applied and recorded (in one transaction), and 2xx without
doing anything for an event recorded already. Needs only the standard library and
`standardwebhooks` (pip install standardwebhooks).
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
    learner TEXT NOT NULL, session TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 0,
    proctored INTEGER NOT NULL DEFAULT 0, reactivated_until TEXT, PRIMARY KEY (learner, session));
"""
# An entitlement event's `effect` names what it changes; each name sets one column of the enrollment.
SET = {
    "enrolled": "UPDATE enrollments SET active = ? WHERE learner = ? AND session = ?",
    "proctored": "UPDATE enrollments SET proctored = ? WHERE learner = ? AND session = ?",
    "reactivated_until": "UPDATE enrollments SET reactivated_until = ? WHERE learner = ? AND session = ?",
}
MAX_BODY = 1_000_000  # an event is a few hundred bytes


def take(db: sqlite3.Connection, event_id: str, event: dict[str, Any]) -> int:
    """Applies a verified event unless it was applied before; answers the HTTP status to send.

    The order rule: an event is applied only if its `seq` is the next after the last one applied
    (the first event ever received starts the count: Tessera starts a platform's webhooks after
    its newest event). Tessera never sends n+1 before n was taken, so a gap means events this
    receiver never got: webhooks turned off and on again, or this database restored from a backup.
    Applying past a gap would lose those events without a trace; 409 instead stops the stream
    there (Tessera retries it, every 10 minutes at the longest) until they are caught up from the
    feed, GET /api/v1/platform/events?after=<the last seq applied>."""
    with db:  # one transaction: applied and recorded together, or neither
        if db.execute("SELECT 1 FROM events WHERE id = ?", (event_id,)).fetchone():
            return 200  # a repeat: applied already
        (last,) = db.execute("SELECT max(seq) FROM events").fetchone()
        if last is not None and event["seq"] != last + 1:
            return 409
        data = event["data"]
        # A learner of null signed up on Tessera's own pages, not through this platform: nobody here.
        if event["type"].startswith("entitlement.") and data["learner"] is not None:
            where = (data["learner"], data["session"])
            db.execute("INSERT OR IGNORE INTO enrollments (learner, session) VALUES (?, ?)", where)
            for name, value in data["effect"].items():
                if name in SET:  # what this LMS does not keep, it leaves alone
                    db.execute(SET[name], (value, *where))
        db.execute("INSERT INTO events (id, seq, type) VALUES (?, ?, ?)", (event_id, event["seq"], event["type"]))
    return 204


def serve(*, secret: str, db_path: str, host: str, port: int) -> None:
    webhook = standardwebhooks.Webhook(secret)
    db = sqlite3.connect(db_path)
    db.executescript(SCHEMA)

    class Receiver(BaseHTTPRequestHandler):
        # An HTTPServer answers one request at a time, so a repeat's check and the event's write
        # never interleave with another request's; and a client that stalls holds it 10 s at most.
        timeout = 10

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.answer(self.status_of(self.rfile.read(length)) if 0 <= length <= MAX_BODY else 413)

        def status_of(self, body: bytes) -> int:
            try:  # the signature, over webhook-id, webhook-timestamp (at most 5 minutes off) and body
                event = webhook.verify(body, dict(self.headers))
            except standardwebhooks.WebhookVerificationError:
                return 401
            return take(db, self.headers["webhook-id"], event)

        def answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    HTTPServer((host, port), Receiver).serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description="Receives Tessera's webhooks into a SQLite file.")
    parser.add_argument("--db", default="lms.sqlite3", help="the SQLite file (made if missing)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    arguments = parser.parse_args()
    # From the environment, not the command line, where other users of the machine could read it.
    secret = os.environ["WEBHOOK_SECRET"]
    serve(secret=secret, db_path=arguments.db, host=arguments.host, port=arguments.port)


if __name__ == "__main__":
    main()
