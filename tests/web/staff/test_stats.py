"""The staff statistics page: codes issued and redeemed by product, tag and course, and the
redemptions per day as an SVG chart with its numbers in a table."""

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from tessera.vouchers.models import Batch, Redemption
from tessera.vouchers.services import redemption_reverse, voucher_redeem

URL = "/staff/stats"
ROW = re.compile(r'<tr><th scope="row">(.*?)</th>(.*?)</tr>', re.DOTALL)
CELL = re.compile(r'<td class="num">(.*?)</td>')
DAY_ROW = re.compile(
    r'<time datetime="(\d{4}-\d\d-\d\d)">[^<]*</time></th>'
    r'<td class="num">(\d+)</td><td class="num">(\d+)</td><td class="num">(\d+)</td>'
)


def page(client: Client, **params: str) -> str:
    response = client.get(URL, params)
    assert response.status_code == 200
    return unescape(response.content.decode())


def table(body: str, table_id: str) -> dict[str, list[str]]:
    """A table's rows (the total row too) by their first cell: the other cells' text."""
    start = body.index(f'<table id="{table_id}">')
    html = body[start : body.index("</table>", start)]
    return {key: CELL.findall(cells) for key, cells in ROW.findall(html)}


def per_day(body: str) -> dict[str, tuple[int, int, int]]:
    """The chart's table: day (ISO) -> (live, reversed, all), oldest first."""
    return {day: (int(live), int(reversed_), int(total)) for day, live, reversed_, total in DAY_ROW.findall(body)}


def redeem(batch: Batch, user: User, session, *, at: datetime, index: int = 0) -> Redemption:
    code = batch.codes.order_by("code")[index].code
    redemption = voucher_redeem(code=code, user=user, session=session)
    Redemption.objects.filter(pk=redemption.pk).update(redeemed_at=at)
    return redemption


class TestAccess:
    def test_anonymous_visitors_are_sent_to_log_in_and_back(self, client, db):
        response = client.get(URL)
        assert response.status_code == 302
        assert response["Location"] == "/login?next=/staff/stats"

    def test_a_learner_is_refused(self, client, learner):
        client.force_login(learner)
        response = client.get(URL)
        assert response.status_code == 403
        assert "Statistics" not in response.content.decode()

    def test_a_voucher_manager_sees_the_page(self, client, voucher_manager):
        client.force_login(voucher_manager)
        body = page(client)
        assert "<h1>Statistics</h1>" in body
        assert '<a href="/staff/stats" aria-current="page">Statistics</a>' in body

    def test_the_page_does_not_exist_with_vouchers_off(self, staff_client, settings):
        settings.TESSERA_VOUCHERS_ENABLED = False
        assert staff_client.get(URL).status_code == 404


class TestCodeTables:
    def test_by_product_with_a_total(self, staff_client, redeemed_some):
        # Issued, redeemed, redeemed %, uses, max uses.
        assert table(page(staff_client), "stats-product") == {
            "Enrollment": ["4", "2", "50.0 %", "2", "4"],
            "Reactivation": ["7", "1", "14.3 %", "2", "9"],
            "Total": ["11", "3", "27.3 %", "4", "13"],
        }

    def test_by_tag_with_a_total(self, staff_client, redeemed_some):
        assert table(page(staff_client), "stats-tag") == {
            "fair": ["4", "2", "50.0 %", "2", "4"],
            "mail": ["7", "1", "14.3 %", "2", "9"],
            "Total": ["11", "3", "27.3 %", "4", "13"],
        }

    def test_by_course_counts_offers_for_any_course_apart(self, staff_client, redeemed_some):
        assert table(page(staff_client), "stats-course") == {
            "python": ["6", "3", "50.0 %", "4", "8"],
            "(any course)": ["5", "0", "0.0 %", "0", "5"],
            "Total": ["11", "3", "27.3 %", "4", "13"],
        }

    def test_a_reversed_redemption_that_gave_its_use_back_no_longer_counts(
        self, staff_client, enrollment_offer, make_batch, learner, running_session
    ):
        batch = make_batch(enrollment_offer, count=2)
        redemption = voucher_redeem(code=batch.codes.first().code, user=learner, session=running_session)
        assert table(page(staff_client), "stats-product")["Enrollment"] == ["2", "1", "50.0 %", "1", "2"]
        redemption_reverse(redemption=redemption, actor="staff")
        assert table(page(staff_client), "stats-product")["Enrollment"] == ["2", "0", "0.0 %", "0", "2"]

    def test_large_numbers_are_grouped_by_thousands(self, staff_client, enrollment_offer, make_batch):
        make_batch(enrollment_offer, count=1200, uses_per_code=3)
        assert table(page(staff_client), "stats-product")["Enrollment"] == ["1,200", "0", "0.0 %", "0", "3,600"]

    def test_without_codes_each_table_says_so(self, staff_client):
        body = page(staff_client)
        assert body.count("No codes issued yet.") == 3
        assert table(body, "stats-tag") == {"Total": ["0", "0", "0.0 %", "0", "0"]}


class TestRedemptionsPerDay:
    @pytest.fixture
    def noon(self) -> datetime:
        """The page's clock: today at noon in the server's time zone, so no test runs across midnight."""
        return timezone.localtime().replace(hour=12, minute=0, second=0, microsecond=0)

    @pytest.fixture
    def at_noon(self, noon):
        with mock.patch("django.utils.timezone.now", return_value=noon):
            yield

    @pytest.fixture
    def spread(self, enrollment_offer, make_batch, make_learners, running_session, noon):
        """Today: 2 redemptions, one reversed since. Yesterday: 1 just before midnight. 40 days ago: 1."""
        batch = make_batch(enrollment_offer, count=1, uses_per_code=10)
        users = make_learners(4)
        today = noon.replace(hour=0)
        redeem(batch, users[0], running_session, at=today)
        reversed_ = redeem(batch, users[1], running_session, at=noon - timedelta(minutes=1))
        redemption_reverse(redemption=reversed_, actor="staff")
        redeem(batch, users[2], running_session, at=today - timedelta(microseconds=1))
        redeem(batch, users[3], running_session, at=today - timedelta(days=40))

    def test_the_last_30_days_by_default_each_with_its_counts(self, staff_client, spread, noon, at_noon):
        days = per_day(page(staff_client))
        today, yesterday = noon.date(), noon.date() - timedelta(days=1)
        assert len(days) == 30
        first, *_, last = days
        assert (first, last) == ((today - timedelta(days=29)).isoformat(), today.isoformat())
        assert days.pop(today.isoformat()) == (1, 1, 2)
        assert days.pop(yesterday.isoformat()) == (1, 0, 1)
        assert set(days.values()) == {(0, 0, 0)}

    def test_a_longer_window_reaches_older_redemptions(self, staff_client, spread, noon, at_noon):
        days = per_day(page(staff_client, days="90"))
        assert len(days) == 90
        assert days[(noon.date() - timedelta(days=40)).isoformat()] == (1, 0, 1)
        assert sum(total for _, _, total in days.values()) == 4

    @pytest.mark.parametrize("days", ["7", "30", "90", "365"])
    def test_each_window_shows_that_many_days(self, staff_client, days):
        body = page(staff_client, days=days)
        assert len(per_day(body)) == int(days)
        assert f'<a href="?days={days}" aria-current="page">' in body

    @pytest.mark.parametrize("days", ["", "abc", "0", "-7", "31", "7.0", "99999999999999999999", "30;drop"])
    def test_any_other_days_value_shows_the_default_30(self, staff_client, days):
        body = page(staff_client, days=days)
        assert len(per_day(body)) == 30
        assert '<a href="?days=30" aria-current="page">' in body

    def test_the_summary_counts_the_window(self, staff_client, spread, at_noon):
        body = page(staff_client)
        assert "The last 30 days, today included: 2 redemptions still live and 1 reversed" in body

    def test_the_chart_is_an_svg_with_an_accessible_name(self, staff_client, spread, noon, at_noon):
        body = page(staff_client)
        svg = body[body.index("<svg") : body.index("</svg>")]
        assert 'role="img"' in svg
        assert 'aria-labelledby="per-day-title"' in svg
        first = noon.date() - timedelta(days=29)
        title = f"Redemptions per day from {first:%a} {first.day} {first:%b %Y} to"
        assert f'<title id="per-day-title">{title}' in svg
        assert ": 2 live, 1 reversed since</title>" in svg

    def test_the_chart_draws_a_bar_for_each_day_with_redemptions(self, staff_client, spread, noon, at_noon):
        body = page(staff_client)
        svg = body[body.index("<svg") : body.index("</svg>")]
        today = noon.date()
        assert svg.count("<g><title>") == 2
        assert f"<g><title>{today:%a} {today.day} {today:%b %Y}: 1 live, 1 reversed</title>" in svg
        assert svg.count('fill="#a4161a"/>') == 2  # the legend's and today's reversed redemption

    def test_the_page_loads_nothing_from_elsewhere_and_runs_no_script(self, staff_client, spread, at_noon):
        body = page(staff_client, days="365")
        assert "<script" not in body
        assert "http://" not in body
        assert "https://" not in body

    def test_the_page_names_the_time_zone_of_its_days(self, staff_client):
        assert "Days run from midnight to midnight in UTC, the server's time zone." in page(staff_client)

    def test_days_follow_the_server_time_zone(
        self, staff_client, settings, enrollment_offer, make_batch, learner, running_session
    ):
        settings.TIME_ZONE = "Europe/Berlin"  # UTC+1 in winter
        batch = make_batch(enrollment_offer, count=1)
        winter_evening = datetime(2026, 1, 14, 23, 30, tzinfo=UTC)
        redeem(batch, learner, running_session, at=winter_evening)
        with mock.patch("django.utils.timezone.now", return_value=winter_evening + timedelta(days=1)):
            body = page(staff_client, days="7")
        days = per_day(body)
        assert days["2026-01-15"] == (1, 0, 1)  # 00:30 in Berlin
        assert days["2026-01-14"] == (0, 0, 0)
        assert "midnight to midnight in Europe/Berlin" in body
