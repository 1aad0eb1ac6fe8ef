"""What a platform reads of its events: the JSON of one event, which its webhooks carry as their
body and its feed (`GET /api/v1/platform/events`) lists, and the feed's pages.

The feed is ordered by the platform's sequence numbers, which are gap-free and given in commit
order (tessera.platforms.events), so reading "everything after n" never skips an event that
commits later. Its cursor is the last sequence number a page held, as text: opaque to clients,
who only send back what they were given.
"""

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from tessera.core.errors import InvalidInput
from tessera.platforms.models import Platform, PlatformEvent

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
CURSOR = re.compile(r"[0-9]{1,18}")  # a bigint's digits, never more


def wire_time(moment: datetime) -> str:
    """UTC, ISO 8601 to the millisecond with a Z, as the rest of /api/v1 writes moments."""
    text: str = DjangoJSONEncoder().default(moment.astimezone(UTC))
    return text


def event_json(event: PlatformEvent) -> dict[str, Any]:
    return {
        "id": str(event.id), "seq": event.seq, "type": event.type, "occurred_at": wire_time(event.occurred_at),
        "data": event.data,
    }  # fmt: skip


def event_body(event: PlatformEvent) -> bytes:
    """A webhook's body: compact, ASCII-only JSON, signed as sent."""
    return json.dumps(event_json(event), separators=(",", ":")).encode()


@dataclass(frozen=True)
class FeedPage:
    events: list[dict[str, Any]]
    next: str  # the cursor to ask with next time: the last event's, or the one given when none came


def events_after(*, platform: Platform, after: str = "0", limit: int = DEFAULT_LIMIT) -> FeedPage:
    """The platform's events after the cursor `after`, oldest first, at most `limit` of them."""
    seq = cursor_parsed(after)
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"The limit runs from 1 to {MAX_LIMIT}.", field="limit")
    events = list(PlatformEvent.objects.filter(platform=platform, seq__gt=seq).order_by("seq")[:limit])
    return FeedPage(events=[event_json(event) for event in events], next=str(events[-1].seq if events else seq))


def cursor_parsed(text: str) -> int:
    if not CURSOR.fullmatch(text):
        raise InvalidInput("The cursor is one a feed page answered as `next`, or 0 for the beginning.", field="after")
    return int(text)
