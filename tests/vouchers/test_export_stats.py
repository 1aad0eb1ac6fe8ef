"""Tests for the export and statistics reads in tessera.vouchers.selectors and their commands."""

import csv
import inspect
import tracemalloc
from datetime import datetime, timedelta
from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count, Q, Sum
from django.utils import timezone

from tessera.vouchers import codes
from tessera.vouchers.models import Batch, Code, Product, Redemption
from tessera.vouchers.selectors.codes import Status, display_code
from tessera.vouchers.selectors.exports import EXPORT_HEADER, batches_for_export, export_rows
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
from tests.conftest import FORMULA_TAG

COLUMN = {name: index for index, name in enumerate(EXPORT_HEADER)}


def export(**filters) -> list[tuple[object, ...]]:
    return list(export_rows(batches_for_export(**filters)))


def field(row: tuple[object, ...], name: str) -> object:
    return row[COLUMN[name]]


def only_code(batch: Batch) -> Code:
    return batch.codes.get()


class TestExportRows:
    def test_a_code_never_redeemed_has_one_row_with_no_redeemer(self, enrollment_offer, make_batch):
        batch = make_batch(enrollment_offer, count=1, tag="fair")
        code = only_code(batch)
        [row] = export(batch=batch)
        assert len(row) == len(EXPORT_HEADER)
        assert row == (
            display_code(code.code), batch.pk, enrollment_offer.name, Product.ENROLLMENT, "fair",
            0, 1, Status.UNUSED, "", "", "", "",
        )  # fmt: skip

    def test_one_row_per_never_redeemed_code(self, enrollment_offer, make_batch):
        batch = make_batch(enrollment_offer, count=5)
        rows = export(batch=batch)
        assert len(rows) == 5
        assert {codes.parse(field(row, "code")) for row in rows} == set(batch.codes.values_list("code", flat=True))

    def test_a_code_redeemed_by_two_learners_has_a_row_per_redemption(
        self, enrollment_offer, make_batch, learner, other_learner, running_session
    ):
        batch = make_batch(enrollment_offer, count=1, uses_per_code=3)
        code = only_code(batch).code
        voucher_redeem(code=code, user=learner, session=running_session)
        voucher_redeem(code=code, user=other_learner, session=running_session)
        rows = export(batch=batch)
        assert len(rows) == 2
        redeemed = {(field(row, "redeemed_by"), field(row, "redeemed_at"), field(row, "where")) for row in rows}
        assert redeemed == {
            (r.user.username, r.redeemed_at.isoformat(), "python-2026") for r in Redemption.objects.all()
        }
        assert {field(row, "uses") for row in rows} == {2}
        assert {field(row, "status") for row in rows} == {Status.PARTLY_REDEEMED}

    def test_a_code_used_up_is_redeemed(self, enrollment_offer, make_batch, learner, other_learner, running_session):
        batch = make_batch(enrollment_offer, count=1, uses_per_code=2)
        code = only_code(batch).code
        voucher_redeem(code=code, user=learner, session=running_session)
        voucher_redeem(code=code, user=other_learner, session=running_session)
        assert {field(row, "status") for row in export(batch=batch)} == {Status.REDEEMED}

    def test_a_revoked_code_is_revoked(self, enrollment_offer, make_batch):
        batch = make_batch(enrollment_offer, count=2)
        revoked = code_revoke(code=batch.codes.order_by("code").first(), actor="cli")
        statuses = {codes.parse(field(row, "code")): field(row, "status") for row in export(batch=batch)}
        assert statuses.pop(revoked.code) == Status.REVOKED
        assert list(statuses.values()) == [Status.UNUSED]

    def test_a_code_past_its_batchs_expiry_is_expired(self, enrollment_offer, make_batch, now):
        batch = make_batch(enrollment_offer, count=1, expires_at=now + timedelta(days=1))
        [fresh] = export(batch=batch)
        assert field(fresh, "status") == Status.UNUSED
        Batch.objects.filter(pk=batch.pk).update(expires_at=now - timedelta(days=1))
        [expired] = export(batch=batch)
        assert field(expired, "status") == Status.EXPIRED
        assert field(expired, "expires") == (now - timedelta(days=1)).isoformat()

    def test_a_reversed_redemption_is_marked(self, enrollment_offer, make_batch, learner, running_session):
        batch = make_batch(enrollment_offer, count=1)
        redemption = voucher_redeem(code=only_code(batch).code, user=learner, session=running_session)
        redemption_reverse(redemption=redemption, actor="cli")
        [row] = export(batch=batch)
        assert field(row, "redeemed_by") == "learner (reversed)"
        assert field(row, "status") == Status.UNUSED

    def test_the_code_is_shown_with_its_prefix(self, enrollment_offer, make_batch):
        batch = make_batch(enrollment_offer, count=1, prefix="FA1R")
        [row] = export(batch=batch)
        assert str(field(row, "code")).startswith("FA1R-")

    def test_filters_by_batch_and_by_offer(self, enrollment_offer, reactivation_offer, make_batch):
        first = make_batch(enrollment_offer, count=2)
        second = make_batch(enrollment_offer, count=3)
        other = make_batch(reactivation_offer, count=4)
        assert {field(row, "batch") for row in export(batch=first)} == {first.pk}
        assert len(export(batch=second)) == 3
        assert {field(row, "batch") for row in export(offer_id=enrollment_offer.pk)} == {first.pk, second.pk}
        assert {field(row, "batch") for row in export(offer_id=reactivation_offer.pk)} == {other.pk}
        assert len(export()) == 9


class TestExportStreams:
    def test_export_rows_is_a_generator_not_a_list(self, enrollment_offer, make_batch):
        make_batch(enrollment_offer, count=3)
        rows = export_rows(batches_for_export())
        assert inspect.isgenerator(rows)
        assert len(next(rows)) == len(EXPORT_HEADER)
        rows.close()

    def test_the_first_row_does_not_load_every_code(self, enrollment_offer, make_batch):
        make_batch(enrollment_offer, count=20_000)

        def peak_memory(consume) -> int:
            tracemalloc.start()
            try:
                consume()
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

        def first_row() -> None:
            rows = export_rows(batches_for_export(), chunk_size=100)
            next(rows)
            rows.close()

        def whole_query() -> None:
            list(Code.objects.values_list("code", "batch__prefix", "batch__offer__name"))

        # Taking one row must cost a small fraction of holding the 20,000 codes' rows at once,
        # which is what iterating a queryset without .iterator() does before the first row.
        first, whole = peak_memory(first_row), peak_memory(whole_query)
        assert first * 5 < whole


def read_csv(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as source:
        return list(csv.reader(source))


class TestExportCommand:
    def test_writes_the_header_and_a_row_per_code_to_a_file(self, enrollment_offer, make_batch, tmp_path):
        batch = make_batch(enrollment_offer, count=3)
        target = tmp_path / "codes.csv"
        err = StringIO()
        call_command("export", "--output", str(target), stdout=StringIO(), stderr=err)
        header, *rows = read_csv(target)
        assert tuple(header) == EXPORT_HEADER
        assert len(rows) == 3
        assert {codes.parse(row[0]) for row in rows} == set(batch.codes.values_list("code", flat=True))
        assert f"Wrote 3 rows to {target}" in err.getvalue()

    def test_batch_limits_the_export_to_that_batch(self, enrollment_offer, make_batch, tmp_path):
        make_batch(enrollment_offer, count=2)
        wanted = make_batch(enrollment_offer, count=3)
        target = tmp_path / "batch.csv"
        call_command("export", "--batch", str(wanted.pk), "-o", str(target), stdout=StringIO(), stderr=StringIO())
        _, *rows = read_csv(target)
        assert len(rows) == 3
        assert {row[COLUMN["batch"]] for row in rows} == {str(wanted.pk)}

    def test_redemptions_appear_in_the_file(
        self, enrollment_offer, make_batch, learner, other_learner, running_session, tmp_path
    ):
        batch = make_batch(enrollment_offer, count=1, uses_per_code=2)
        code = only_code(batch).code
        voucher_redeem(code=code, user=learner, session=running_session)
        voucher_redeem(code=code, user=other_learner, session=running_session)
        target = tmp_path / "redeemed.csv"
        call_command("export", "--output", str(target), stdout=StringIO(), stderr=StringIO())
        _, *rows = read_csv(target)
        assert sorted(row[COLUMN["redeemed_by"]] for row in rows) == ["learner", "other_learner"]
        assert {row[COLUMN["status"]] for row in rows} == {Status.REDEEMED}
        assert {row[COLUMN["where"]] for row in rows} == {"python-2026"}

    def test_an_unknown_batch_is_not_found(self, db, tmp_path):
        with pytest.raises(CommandError, match="not_found"):
            call_command("export", "--batch", "999999", "-o", str(tmp_path / "x.csv"), stdout=StringIO())
        assert not (tmp_path / "x.csv").exists()

    def test_a_shops_formula_tag_is_written_as_text(self, formula_batch, tmp_path):
        target = tmp_path / "codes.csv"
        call_command("export", "--output", str(target), stdout=StringIO(), stderr=StringIO())
        _, row = read_csv(target)
        assert row[COLUMN["tag"]] == "'" + FORMULA_TAG

    def test_without_output_the_csv_goes_to_the_commands_stdout(self, enrollment_offer, make_batch):
        make_batch(enrollment_offer, count=2)
        out = StringIO()
        call_command("export", stdout=out, stderr=StringIO())
        lines = list(csv.reader(StringIO(out.getvalue())))
        assert lines[:1] == [list(EXPORT_HEADER)]
        assert len(lines) == 3


def stats_by(by: str) -> dict[str, StatsRow]:
    return {row.key: row for row in code_stats(by)}


class TestCodeStats:
    @pytest.fixture
    def redeemed_some(
        self, enrollment_offer, reactivation_offer, make_batch, learner, other_learner,
        running_session, ended_session,
    ):  # fmt: skip
        """Enrollment: 4 codes (tag fair), 2 redeemed. Reactivation: 2 codes (tag mail), 1 redeemed
        twice of 2 uses. Reactivation without a session: 5 codes (tag mail), none redeemed."""
        fair = make_batch(enrollment_offer, count=4, tag="fair")
        for user, code in zip([learner, other_learner], fair.codes.order_by("code"), strict=False):
            voucher_redeem(code=code.code, user=user, session=running_session)
        mail = make_batch(reactivation_offer, count=2, uses_per_code=2, tag="mail")
        shared = mail.codes.order_by("code").first().code
        voucher_redeem(code=shared, user=learner, session=ended_session)
        voucher_redeem(code=shared, user=other_learner, session=ended_session)
        anywhere = offer_create(name="Anywhere", product=Product.REACTIVATION)
        make_batch(anywhere, count=5, tag="mail")

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
