"""Idempotency-Key on the bridge's POSTs, so a shop can retry an order without ordering twice.

Same key, same request: the first response is replayed. Same key, another request: 422. Same
key while the first request still runs: 409. A key is kept for KEEP (24 hours) and may then be
used afresh. The claim is an INSERT under a unique constraint, committed before the work starts,
so two concurrent requests with one key cannot both run.
"""

import functools
import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from tessera.shop import xikolo
from tessera.shop.models import IdempotencyKey, Shop

KEEP = timedelta(hours=24)
HEADER = "Idempotency-Key"
View = Callable[..., HttpResponse]


def idempotent(view: View) -> View:
    @functools.wraps(view)
    def run_once(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        key = request.headers.get(HEADER)
        if key is None:
            return view(request, *args, **kwargs)
        claim = _claim(request, key)
        if isinstance(claim, HttpResponse):
            return claim
        try:
            response = view(request, *args, **kwargs)
        except BaseException:
            claim.delete()  # nothing was done: a retry with this key may run again
            raise
        _complete(claim, response)
        return response

    return run_once


def _claim(request: HttpRequest, key: str) -> IdempotencyKey | HttpResponse:
    if not 1 <= len(key) <= 255:
        return _refusal(422, {"idempotency_key": ["invalid"]})
    shop: Shop = request.auth  # type: ignore[attr-defined]  # authentication runs first
    # The query string too: the bridge reads parameters from it as from the body.
    fingerprint = hashlib.sha256(
        b"\n".join([(request.method or "").encode(), request.get_full_path().encode(), request.body])
    ).hexdigest()
    IdempotencyKey.objects.filter(shop=shop, key=key, created_at__lt=timezone.now() - KEEP).delete()
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(shop=shop, key=key, fingerprint=fingerprint, created_at=timezone.now())
    except IntegrityError:
        pass
    earlier = IdempotencyKey.objects.filter(shop=shop, key=key).first()
    if earlier is None:  # released between our insert and this read: ask the client to retry
        return _refusal(409, {"base": ["A request with this Idempotency-Key is still running."]})
    return _answer_for(earlier, fingerprint)


def _answer_for(earlier: IdempotencyKey, fingerprint: str) -> HttpResponse:
    if earlier.fingerprint != fingerprint:
        return _refusal(422, {"idempotency_key": ["used for another request"]})
    if not earlier.completed:
        return _refusal(409, {"base": ["A request with this Idempotency-Key is still running."]})
    replay = HttpResponse(bytes(earlier.response_body or b""), status=earlier.response_status or 200)
    replay["Content-Type"] = earlier.response_type
    replay["Idempotent-Replayed"] = "true"
    return replay


def _complete(claim: IdempotencyKey, response: HttpResponse) -> None:
    claim.completed = True
    claim.response_status = response.status_code
    claim.response_body = response.content
    claim.response_type = response.get("Content-Type", "")
    claim.save(update_fields=["completed", "response_status", "response_body", "response_type"])


def _refusal(status: int, errors: dict[str, list[str]]) -> JsonResponse:
    return xikolo.answer({"errors": errors}, status=status)
