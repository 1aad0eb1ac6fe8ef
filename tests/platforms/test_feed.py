"""The event feed, GET /api/v1/platform/events: in sequence order, paged by an opaque cursor,
replayable from any point, a platform's own events only, behind the events scope."""

from typing import Any

import pytest

from tessera.platforms.feed import event_json
from tessera.platforms.models import PlatformEvent
from tessera.vouchers.models import Product
from tessera.vouchers.services import voucher_redeem

FEED = "/api/v1/platform/events"
pytestmark = pytest.mark.django_db


@pytest.fixture
def feed(client: Any, token_for: Any, as_platform: Any) -> Any:
    """feed(credentials, **query) -> the response, with a token carrying only the events scope."""

    def read(credentials: Any, **query: Any) -> Any:
        return client.get(FEED, query, **as_platform(token_for(credentials, "events")))

    return read


def seqs(response: Any) -> list[int]:
    assert response.status_code == 200, response.content
    return [event["seq"] for event in response.json()["events"]]


class TestReading:
    def test_the_events_of_a_redemption_as_the_outbox_wrote_them(
        self, feed, platform_a, events_session, events_learner, make_offer, make_code
    ):
        mapped = events_session(platform_a)
        code = make_code(make_offer(Product.ENROLLMENT, mapped.session))
        voucher_redeem(code=code, user=events_learner(platform_a), session=mapped.session)
        body = feed(platform_a).json()
        assert body == {"events": [event_json(event) for event in PlatformEvent.objects.order_by("seq")], "next": "2"}
        assert [event["type"] for event in body["events"]] == ["code.redeemed", "entitlement.granted"]
        assert body["events"][1]["data"]["effect"] == {"enrolled": True}

    def test_pages_follow_the_cursor_and_end_where_they_started_when_nothing_is_new(
        self, feed, events_written, platform_a
    ):
        events_written(platform_a, 7)
        first = feed(platform_a, limit=3)
        assert (seqs(first), first.json()["next"]) == ([1, 2, 3], "3")
        second = feed(platform_a, after="3", limit=3)
        assert (seqs(second), second.json()["next"]) == ([4, 5, 6], "6")
        third = feed(platform_a, after="6", limit=3)
        assert (seqs(third), third.json()["next"]) == ([7], "7")
        last = feed(platform_a, after="7", limit=3)
        assert (seqs(last), last.json()["next"]) == ([], "7")
        events_written(platform_a, 1)
        assert seqs(feed(platform_a, after="7")) == [8]  # polling on from the cursor kept

    def test_a_replay_from_any_earlier_cursor_gives_the_same_events_again(self, feed, events_written, platform_a):
        events_written(platform_a, 5)
        assert feed(platform_a, after="2").json()["events"] == feed(platform_a).json()["events"][2:]

    def test_a_hundred_by_default_and_at_most_a_thousand(self, feed, events_written, platform_a):
        events_written(platform_a, 1001)
        assert seqs(feed(platform_a)) == list(range(1, 101))
        assert seqs(feed(platform_a, limit=1000)) == list(range(1, 1001))
        assert seqs(feed(platform_a, after="1000", limit=1000)) == [1001]

    def test_an_empty_feed_answers_no_events_and_the_cursor_it_was_given(self, feed, platform_a):
        assert feed(platform_a).json() == {"events": [], "next": "0"}
        assert feed(platform_a, after="42").json() == {"events": [], "next": "42"}


class TestTenancy:
    def test_each_platform_reads_only_its_own_events(self, feed, events_written, platform_a, platform_b):
        events_written(platform_a, 3)
        events_written(platform_b, 2)
        PlatformEvent.objects.filter(platform=platform_b.platform).update(data={"owner": "b"})
        a_events, b_events = feed(platform_a).json()["events"], feed(platform_b).json()["events"]
        assert [event["seq"] for event in a_events] == [1, 2, 3]
        assert [(event["seq"], event["data"]) for event in b_events] == [(1, {"owner": "b"}), (2, {"owner": "b"})]
        assert not {event["id"] for event in a_events} & {event["id"] for event in b_events}


class TestRefusals:
    @pytest.mark.parametrize("after", ["abc", "-1", "1.5", " 1", "1e3", "9" * 19, "", "0x10", "\u0661"])
    def test_a_cursor_that_is_not_one_is_invalid_input(self, feed, platform_a, after):
        response = feed(platform_a, after=after)
        assert response.status_code == 422
        assert (response.json()["error"], response.json()["field"]) == ("invalid_input", "after")

    @pytest.mark.parametrize("limit", ["0", "1001", "-5"])
    def test_a_limit_out_of_range_is_invalid_input(self, feed, platform_a, limit):
        response = feed(platform_a, limit=limit)
        assert response.status_code == 422
        assert (response.json()["error"], response.json()["field"]) == ("invalid_input", "limit")

    def test_a_limit_that_is_no_number_is_invalid_input(self, feed, platform_a):
        response = feed(platform_a, limit="many")
        assert (response.status_code, response.json()["error"]) == (422, "invalid_input")

    def test_a_token_without_the_events_scope_is_refused(self, client, token_for, as_platform, platform_a):
        response = client.get(FEED, **as_platform(token_for(platform_a, "catalog redeem")))
        assert response.status_code == 403
        assert (response.json()["error"], response.json()["scope"]) == ("insufficient_scope", "events")

    def test_no_token_is_unauthorized(self, client, platform_a):
        assert client.get(FEED).status_code == 401
