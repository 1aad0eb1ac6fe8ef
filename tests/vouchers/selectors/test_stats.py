"""The statistics reads (tessera.vouchers.selectors.stats): codes issued and redeemed, redemptions per day."""

from datetime import datetime, timedelta
from unittest import mock

import pytest
from django.db.models import Count, Q, Sum
from django.utils import timezone

from tessera.vouchers.models import Batch, Code, Product, Redemption
from tessera.vouchers.selectors.stats import (
    STATS_DIMENSIONS,
    DayCount,
    StatsRow,
    code_stats,
    code_stats_by,
    redemptions_per_day,
    stats_total,
)
from tessera.vouchers.services import batch_revoke, code_revoke, offer_create, redemption_reverse, voucher_redeem


def stats_by(by: str) -> dict[str, StatsRow]:
    return {row.key: row for row in code_stats(by)}


class TestCodeStats:
    def test_by_product(self, redeemed_some):
        rows = stats_by("product")
        assert set(rows) == {"enrollment", "reactivation"}
        enrollment, reactivation = rows["enrollment"], rows["reactivation"]
        assert (enrollment.issued, enrollment.redeemed, enrollment.uses) == (4, 2, 2)
        assert enrollment.percent == pytest.approx(50.0)
        assert (reactivation.issued, reactivation.redeemed, reactivation.uses) == (7, 1, 2)
        assert reactivation.percent == pytest.approx(100 / 7)

    def test_by_tag(self, redeemed_some):
        rows = stats_by("tag")
        assert (rows["fair"].issued, rows["fair"].redeemed) == (4, 2)
        assert (rows["mail"].issued, rows["mail"].redeemed) == (7, 1)
        assert rows["mail"].max_uses == 2 * 2 + 5

    def test_by_course_counts_codes_for_any_course_apart(self, redeemed_some):
        rows = stats_by("course")
        assert set(rows) == {"python", "(any course)"}
        assert (rows["python"].issued, rows["python"].redeemed) == (6, 3)
        assert rows["python"].percent == pytest.approx(50.0)
        assert (rows["(any course)"].issued, rows["(any course)"].redeemed) == (5, 0)
        assert rows["(any course)"].percent == 0.0

    def test_assessment_codes_count_under_their_course_or_none(
        self, assessment_offer, make_offer, make_batch, learner, assessment, lone_assessment
    ):
        voucher_redeem(code=make_batch(assessment_offer, count=2).codes.first().code, user=learner,
                       assessment=assessment)  # fmt: skip
        make_batch(make_offer(Product.ASSESSMENT, None, assessment=lone_assessment), count=3)
        rows = stats_by("course")
        assert {key: (row.issued, row.redeemed) for key, row in rows.items()} == {
            "python": (2, 1),
            "(no course)": (3, 0),
        }
        assert (stats_by("product")["assessment"].issued, stats_by("product")["assessment"].redeemed) == (5, 1)

    def test_no_codes_no_rows(self, db):
        assert code_stats("product") == []

    def test_percent_of_nothing_issued_is_zero(self):
        assert StatsRow(key="x", issued=0, redeemed=0, uses=0, max_uses=0).percent == 0.0

    def test_every_dimension_at_once_is_each_dimension_alone(self, redeemed_some):
        together = code_stats_by(*STATS_DIMENSIONS)
        assert list(together) == ["product", "tag", "course"]
        for by, rows in together.items():
            assert rows == code_stats(by)

    def test_rows_are_ordered_by_key_with_any_course_last(self, redeemed_some, make_offer, make_batch, course):
        from tessera.catalog.models import Course, CourseSession

        other = Course.objects.create(slug="algebra", title="Algebra", description="")
        session = CourseSession.objects.create(
            course=other, slug="algebra-2026", state=CourseSession.State.ACTIVE, starts_at=timezone.now(),
            ends_at=timezone.now() + timedelta(weeks=4),
        )  # fmt: skip
        make_batch(make_offer(Product.ENROLLMENT, session), count=1, tag="early")
        assert [row.key for row in code_stats("course")] == ["algebra", "python", "(any course)"]
        assert [row.key for row in code_stats("tag")] == ["early", "fair", "mail"]

    def test_the_total_adds_up_the_rows(self, redeemed_some):
        total = stats_total(code_stats("tag"))
        assert total == StatsRow(key="Total", issued=11, redeemed=3, uses=4, max_uses=13)
        assert total.percent == pytest.approx(300 / 11)
        assert stats_total([]) == StatsRow(key="Total", issued=0, redeemed=0, uses=0, max_uses=0)


PER_CODE_COLUMNS = {
    "product": "batch__offer__product",
    "tag": "batch__tag",
    "course": "batch__offer__session__course__slug",
}


def stats_counting_every_code(by: str) -> list[tuple[str, int, int, int, int]]:
    """What code_stats gave when it read every code, to check that reading batches gives the same."""
    column = PER_CODE_COLUMNS[by]
    grouped = Code.objects.values(column).annotate(
        issued=Count("pk"), redeemed=Count("pk", filter=Q(uses__gt=0)), uses=Sum("uses"), max_uses=Sum("max_uses")
    )
    return sorted(
        (row[column] or "(any course)", row["issued"], row["redeemed"], row["uses"] or 0, row["max_uses"] or 0)
        for row in grouped
    )


class TestCodeStatsFromBatches:
    @pytest.fixture
    def mixed(self, enrollment_offer, reactivation_offer, make_batch, make_learners, running_session, ended_session):
        """Batches of several sizes and uses, partly used, a revoked code and batch, and reversed
        redemptions that gave their use back or kept it spent."""
        learners = make_learners(6)
        keep_use = Batch.RefundPolicy.KEEP_USE
        kept = make_batch(enrollment_offer, count=3, uses_per_code=3, tag="a", refund_policy=keep_use)
        shared = kept.codes.order_by("code").first().code
        redemptions = [voucher_redeem(code=shared, user=user, session=running_session) for user in learners[:3]]
        redemption_reverse(redemption=redemptions[0], actor="staff")  # keeps the use spent
        returned = make_batch(enrollment_offer, count=4, tag="c")
        for user, code in zip(learners[3:5], returned.codes.order_by("code"), strict=False):
            voucher_redeem(code=code.code, user=user, session=running_session)
        redemption_reverse(redemption=Redemption.objects.get(user=learners[3]), actor="staff")  # gives it back
        code_revoke(code=returned.codes.order_by("code")[1], actor="staff")  # used, and still counted
        batch_revoke(batch=make_batch(reactivation_offer, count=6, uses_per_code=2, tag="b"), actor="staff")
        anywhere = make_batch(offer_create(name="Anywhere", product=Product.REACTIVATION), count=2, tag="b")
        voucher_redeem(code=anywhere.codes.first().code, user=learners[5], session=ended_session)

    @pytest.mark.parametrize("by", list(STATS_DIMENSIONS))
    def test_gives_what_counting_every_code_gives(self, mixed, by):
        rows = [(row.key, row.issued, row.redeemed, row.uses, row.max_uses) for row in code_stats(by)]
        assert sorted(rows) == stats_counting_every_code(by)
        assert sum(row[2] for row in rows) == 3  # the kept use, one returned-batch code, the any-course code

    def test_reads_the_batches_and_the_used_codes_once_for_every_dimension(
        self, mixed, enrollment_offer, make_batch, django_assert_num_queries
    ):
        with django_assert_num_queries(2):
            code_stats_by(*STATS_DIMENSIONS)
        for _ in range(5):
            make_batch(enrollment_offer, count=2)
        with django_assert_num_queries(2):
            code_stats_by(*STATS_DIMENSIONS)


class TestRedemptionsPerDay:
    @pytest.fixture
    def noon(self) -> datetime:
        """The clock the selector sees: today at noon, so no test runs across midnight."""
        return timezone.localtime().replace(hour=12, minute=0, second=0, microsecond=0)

    @pytest.fixture
    def redeem_at(self, enrollment_offer, make_batch, make_learners, running_session):
        batch = make_batch(enrollment_offer, count=1, uses_per_code=20)
        code = batch.codes.get().code
        learners = iter(make_learners(20))

        def redeem(at: datetime) -> Redemption:
            redemption = voucher_redeem(code=code, user=next(learners), session=running_session)
            Redemption.objects.filter(pk=redemption.pk).update(redeemed_at=at)
            return redemption

        return redeem

    def per_day(self, noon: datetime, days: int) -> list[DayCount]:
        with mock.patch("django.utils.timezone.now", return_value=noon):
            return redemptions_per_day(days=days)

    def test_a_day_per_entry_oldest_first_today_last_and_zero_without_redemptions(self, db, noon):
        rows = self.per_day(noon, 7)
        today = noon.date()
        assert [row.day for row in rows] == [today - timedelta(days=back) for back in range(6, -1, -1)]
        assert {(row.live, row.reversed, row.total) for row in rows} == {(0, 0, 0)}

    def test_live_and_reversed_redemptions_are_counted_apart(self, redeem_at, noon):
        redeem_at(noon - timedelta(hours=1))
        redeem_at(noon - timedelta(hours=2))
        redemption_reverse(redemption=redeem_at(noon - timedelta(hours=3)), actor="staff")
        redeem_at(noon - timedelta(days=2))
        rows = {row.day: row for row in self.per_day(noon, 7)}
        assert (rows[noon.date()].live, rows[noon.date()].reversed, rows[noon.date()].total) == (2, 1, 3)
        assert rows[noon.date() - timedelta(days=2)].live == 1
        assert sum(row.total for row in rows.values()) == 4

    def test_the_window_runs_from_midnight_of_its_first_day_to_the_end_of_today(self, redeem_at, noon):
        midnight = noon.replace(hour=0)
        first_midnight = midnight - timedelta(days=6)
        redeem_at(first_midnight)  # the window's first moment
        redeem_at(first_midnight - timedelta(microseconds=1))  # the day before: left out
        redeem_at(midnight + timedelta(days=1) - timedelta(microseconds=1))  # today's last moment
        redeem_at(midnight + timedelta(days=1))  # tomorrow: left out
        rows = self.per_day(noon, 7)
        assert (rows[0].day, rows[0].total) == (first_midnight.date(), 1)
        assert (rows[-1].day, rows[-1].total) == (noon.date(), 1)
        assert sum(row.total for row in rows) == 2

    def test_days_are_cut_at_midnight_in_the_current_time_zone(self, redeem_at, settings):
        settings.TIME_ZONE = "America/New_York"  # UTC-5 in winter
        evening = datetime(2026, 1, 14, 22, 0, tzinfo=timezone.get_current_timezone())
        redeem_at(evening)  # 03:00 UTC on the 15th
        rows = {row.day.isoformat(): row.total for row in self.per_day(evening + timedelta(days=1), 7)}
        assert rows["2026-01-14"] == 1
        assert rows["2026-01-15"] == 0
