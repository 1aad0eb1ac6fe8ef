"""What the webhook tests share: a sender that records instead of sending, the shop's side of a
signature, codes sold by a shop and redeemed, and the task queue as the worker sees it."""

import contextlib
import re
import socket
import threading
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar

import standardwebhooks
from django.contrib.auth.models import User
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from tessera.catalog.models import CourseSession
from tessera.core import webhooks
from tessera.shop.models import Shop, WebhookDelivery
from tessera.shop.services import shop_vouchers_create
from tessera.shop.tasks import deliver_webhook, resend_lost_webhook
from tessera.vouchers.models import Product, Redemption
from tessera.vouchers.selectors.codes import display_code
from tessera.vouchers.services import voucher_redeem

URL_A = "https://shop-a.example/tessera/hooks"
URL_B = "https://shop-b.example/hooks"

Status = WebhookDelivery.Status
Event = WebhookDelivery.Event

SECRET = re.compile(r"^whsec_[A-Za-z0-9+/]{43}=$", re.MULTILINE)  # 32 random bytes, base64


def verify(secret: str, body: bytes, headers: Mapping[str, str]) -> bool:
    """What a shop runs on each request (the README's example)."""
    try:
        standardwebhooks.Webhook(secret).verify(body, dict(headers))
    except standardwebhooks.WebhookVerificationError:
        return False
    return True


def signed(secret: str, body: bytes, *, event_id: str = "0b6d2c4e", sent_at: Any = None) -> dict[str, str]:
    return webhooks.request_headers(secret=secret, body=body, event_id=event_id, sent_at=sent_at or timezone.now())


class RecordingSender:
    """The outside world, faked: records each request and answers from `answers` (200 when empty)."""

    requests: ClassVar[list[dict[str, Any]]] = []
    answers: ClassVar[list[int | BaseException]] = []

    def send(self, *, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        self.requests.append({"url": url, "body": body, "headers": dict(headers)})
        answer = self.answers.pop(0) if self.answers else 200
        if isinstance(answer, BaseException):
            raise answer
        return answer


def shop_code(shop: Shop, session: CourseSession, *, uses: int = 1) -> str:
    batch = shop_vouchers_create(
        shop=shop, qty=1, product=Product.ENROLLMENT, country="DE", tag="spring", session=session, uses_per_code=uses
    )
    return display_code(batch.codes.get().code, batch.prefix)


def redeem(capture: Any, code: str, user: User, session: CourseSession) -> Redemption:
    with capture(execute=True):
        return voucher_redeem(code=code, user=user, session=session, client_ip="203.0.113.7")


def run_due_tasks() -> list[str]:
    """What `tessera db_worker` does with each task that is due, one at a time."""
    outcomes = []
    while (row := DBTaskResult.objects.ready().first()) is not None:
        row.claim("test-worker")
        queued = row.task_result
        outcomes.append(row.task.call(*queued.args, **queued.kwargs))
        row.set_successful(outcomes[-1])
    return outcomes


def queued(task: Any = deliver_webhook) -> Any:
    """The tasks waiting in the queue: the attempts, or with resend_lost_webhook their watchdogs."""
    return DBTaskResult.objects.filter(status="READY", task_path=task.module_path)


def time_passes() -> None:
    """Every queued retry becomes due (the watchdogs of finished attempts are left waiting)."""
    queued().update(run_after=timezone.now())


def leases_run_out() -> None:
    """As if TESSERA_WEBHOOK_LEASE had passed: every claimed attempt's lease, and its watchdog, are due."""
    WebhookDelivery.objects.exclude(sending_until=None).update(sending_until=timezone.now() - timedelta(seconds=1))
    queued(resend_lost_webhook).update(run_after=timezone.now())


def queued_run_after() -> list[Any]:
    return list(queued().values_list("run_after", flat=True))


def attempts_log(delivery: WebhookDelivery) -> tuple[str, int, int | None]:
    delivery.refresh_from_db()
    return delivery.status, delivery.attempts, delivery.last_response_status


class RawServer:
    """A TCP server on the loopback that hands each connection to `handle`, in a thread of its own:
    receivers that misbehave in ways http.server cannot."""

    def __init__(self, handle: Any) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"
        self.handle, self.stop, self.requests = handle, threading.Event(), []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed at the end of the test
                return
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # the test is over, or the sender hung up: either is fine
            self.handle(self, conn)

    def read_request(self, conn: socket.socket) -> tuple[dict[str, str], bytes]:
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")[1:]
        headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
        while len(body) < int(headers.get("content-length", 0)):
            body += conn.recv(65536)
        self.requests.append((headers, body))
        return headers, body

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


class WorkerKilled(BaseException):
    """Stands for SIGKILL in the middle of a send: nothing after it runs, not even `except Exception`."""
