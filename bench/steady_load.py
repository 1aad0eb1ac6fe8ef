"""Requests at a fixed rate, for bench_platforms.py: wrk sends as fast as the server answers, and
Debian has no wrk2, so this sends request k at start + k / rate whatever the answers before it.

Threads with one kept-alive connection each take the next due request in turn; a thread that is
free early sleeps until the request is due, one that is late sends at once. The rate holds while
connections / rate exceeds the server's latency (64 / 300 per second: about 210 ms); beyond that
requests start late, which `late` counts, and latency is counted from when each was due, so a
server that falls behind shows in it (no coordinated omission).
"""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
from dataclasses import dataclass

LATE = 0.1  # seconds after its moment that a request counts as sent late


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Sent:
    due: float  # time.monotonic() when it was due
    started: float
    ended: float
    status: int  # 0: no answer (connection failed)
    answer: bytes  # the start of an unexpected answer's body


@dataclass(frozen=True)
class SteadyRun:
    sent: list[Sent]
    started: float
    rate: float

    @property
    def seconds(self) -> float:
        return max(s.ended for s in self.sent) - self.started if self.sent else 0.0

    def achieved_rate(self) -> float:
        """Requests answered per second, from the first being due to the last answer."""
        return len(self.sent) / self.seconds if self.seconds else 0.0

    def late(self) -> int:
        return sum(1 for s in self.sent if s.started - s.due > LATE)

    def statuses(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for s in self.sent:
            counts[s.status] = counts.get(s.status, 0) + 1
        return counts

    def latencies_ms(self) -> list[float]:
        """From each request's due moment to its answer, sorted."""
        return sorted(1000 * (s.ended - s.due) for s in self.sent)


def steady(base_url: str, requests: list[Request], *, rate: float, seconds: float, connections: int) -> SteadyRun:
    """Sends requests[0], requests[1], ... at `rate` per second for `seconds` (or until they run out)."""
    url = urllib.parse.urlsplit(base_url)
    count = min(len(requests), round(rate * seconds))
    start = time.monotonic() + 0.5  # every thread connected before the first is due
    sent: list[Sent] = []
    lock = threading.Lock()
    taken = iter(range(count))

    def send_in_turn() -> None:
        connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
        while True:
            with lock:
                k = next(taken, None)
            if k is None:
                break
            due = start + k / rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            sent_one = _send(connection, requests[k], due)
            if sent_one.status == 0:
                connection.close()
                connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
            with lock:
                sent.append(sent_one)
        connection.close()

    threads = [threading.Thread(target=send_in_turn, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return SteadyRun(sent=sent, started=start, rate=rate)


def _send(connection: http.client.HTTPConnection, request: Request, due: float) -> Sent:
    started = time.monotonic()
    try:
        connection.request(request.method, request.path, body=request.body, headers=request.headers)
        response = connection.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as error:
        return Sent(due, started, time.monotonic(), 0, repr(error).encode()[:300])
    status = response.status
    return Sent(due, started, time.monotonic(), status, b"" if status < 300 else body[:300])
