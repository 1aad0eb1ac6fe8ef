"""Tests for the voucher management commands and the `tessera` console script (tessera.cli)."""

import re
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tessera.catalog.models import Enrollment
from tessera.cli import main
from tessera.vouchers import codes
from tessera.vouchers.errors import CodeNotFound
from tessera.vouchers.models import AuditEvent, Batch, Code, Offer, Product, Redemption
from tessera.vouchers.selectors.codes import display_code
from tessera.vouchers.services import voucher_redeem


def run(*args: str) -> str:
    """Runs a management command the way the console script does; answers its standard output."""
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def create_offer(session_slug: str, product: str = Product.ENROLLMENT) -> Offer:
    out = run("create_offer", "--name", "Spring sale", "--product", product, "--session", session_slug)
    match = re.search(r"Created offer (\d+): ", out)
    assert match, out
    return Offer.objects.get(pk=int(match[1]))


def create_batch(offer: Offer, *args: str) -> tuple[Batch, str]:
    out = run("create_batch", "--offer", str(offer.pk), "--country", "DE", "--no-progress", *args)
    match = re.search(r"Created batch (\d+): ", out)
    assert match, out
    return Batch.objects.get(pk=int(match[1])), out


class TestCreateOffer:
    def test_creates_an_offer_for_a_session(self, running_session):
        offer = create_offer(running_session.slug)
        assert offer.name == "Spring sale"
        assert offer.product == Product.ENROLLMENT
        assert offer.session == running_session
        assert AuditEvent.objects.get(action=AuditEvent.Action.OFFER_CREATED).actor == "cli"

    def test_an_offer_may_name_no_session(self, db):
        out = run("create_offer", "--name", "Anywhere", "--product", "reactivation", "--price", "9.50")
        offer = Offer.objects.get()
        assert f"Created offer {offer.pk}" in out
        assert offer.session is None
        assert str(offer.price) == "9.50"

    def test_an_unknown_product_is_invalid_input(self, running_session):
        with pytest.raises(CommandError, match="invalid_input"):
            run("create_offer", "--name", "X", "--product", "bogus", "--session", running_session.slug)
        assert not Offer.objects.exists()

    def test_an_unknown_session_is_invalid_input(self, db):
        with pytest.raises(CommandError, match=r"invalid_input.*no-such-run"):
            run("create_offer", "--name", "X", "--product", "enrollment", "--session", "no-such-run")
        assert not Offer.objects.exists()

    def test_a_price_that_is_no_number_is_invalid_input(self, running_session):
        with pytest.raises(CommandError, match="invalid_input"):
            run("create_offer", "--name", "X", "--product", "enrollment", "--price", "cheap")
        assert not Offer.objects.exists()


class TestCreateBatch:
    def test_create_offer_then_create_batch(self, running_session):
        offer = create_offer(running_session.slug)
        batch, out = create_batch(offer, "--count", "5", "--uses", "3", "--country", "at", "--tag", "fair")
        assert f"Created batch {batch.pk}: 5 codes for {offer}" in out
        assert batch.codes.count() == 5
        assert set(batch.codes.values_list("max_uses", flat=True)) == {3}
        assert (batch.country, batch.tag, batch.created_by) == ("AT", "fair", "cli")
        assert batch.expires_at is None
        assert batch.restricted_to is None

    def test_expires_on_a_date_means_through_the_end_of_that_day_utc(self, running_session):
        offer = create_offer(running_session.slug)
        batch, _ = create_batch(offer, "--count", "1", "--expires", "2030-06-30")
        assert batch.expires_at == datetime(2030, 7, 1, tzinfo=UTC)
        assert not batch.is_expired(datetime(2030, 6, 30, 23, 59, 59, tzinfo=UTC))
        assert batch.is_expired(datetime(2030, 7, 1, tzinfo=UTC))

    def test_expires_takes_a_date_time_too(self, running_session):
        offer = create_offer(running_session.slug)
        batch, _ = create_batch(offer, "--count", "1", "--expires", "2030-06-30T12:00:00")
        assert batch.expires_at == datetime(2030, 6, 30, 12, tzinfo=UTC)

    def test_user_restricts_the_codes_to_that_user(self, running_session, learner):
        offer = create_offer(running_session.slug)
        batch, _ = create_batch(offer, "--count", "1", "--user", "learner")
        assert batch.restricted_to == learner

    def test_print_codes_prints_every_code_in_display_form(self, running_session):
        offer = create_offer(running_session.slug)
        batch, out = create_batch(offer, "--count", "4", "--prefix", "fair", "--print-codes")
        printed = out.splitlines()[1:]
        assert len(printed) == 4
        assert all(line.startswith("FA1R-") for line in printed)
        stored = {display_code(code, batch.prefix) for code in batch.codes.values_list("code", flat=True)}
        assert set(printed) == stored
        assert {codes.parse(line) for line in printed} == set(batch.codes.values_list("code", flat=True))

    def test_without_print_codes_no_code_is_printed(self, running_session):
        offer = create_offer(running_session.slug)
        batch, out = create_batch(offer, "--count", "2")
        assert len(out.splitlines()) == 1
        assert batch.codes.first().code not in out

    def test_an_unknown_offer_is_not_found(self, db):
        with pytest.raises(CommandError, match="not_found"):
            run("create_batch", "--offer", "999999", "--count", "1", "--country", "DE")
        assert not Batch.objects.exists()

    def test_count_zero_is_invalid_input(self, running_session):
        offer = create_offer(running_session.slug)
        with pytest.raises(CommandError, match="invalid_input"):
            create_batch(offer, "--count", "0")
        assert not Batch.objects.exists()

    def test_an_unknown_country_is_invalid_input(self, running_session):
        offer = create_offer(running_session.slug)
        with pytest.raises(CommandError, match="invalid_input"):
            create_batch(offer, "--count", "1", "--country", "Germany")
        assert not Batch.objects.exists()

    def test_an_unknown_user_is_invalid_input(self, running_session):
        offer = create_offer(running_session.slug)
        with pytest.raises(CommandError, match=r"invalid_input.*nobody"):
            create_batch(offer, "--count", "1", "--user", "nobody")
        assert not Batch.objects.exists()

    @pytest.mark.parametrize("expires", ["30.06.2030", "2030-13-01", "next week", "2030-06-31"])
    def test_a_malformed_expiry_is_invalid_input(self, running_session, expires):
        offer = create_offer(running_session.slug)
        with pytest.raises(CommandError, match="invalid_input"):
            create_batch(offer, "--count", "1", "--expires", expires)
        assert not Batch.objects.exists()

    def test_an_expiry_in_the_past_is_invalid_input(self, running_session):
        offer = create_offer(running_session.slug)
        with pytest.raises(CommandError, match="invalid_input"):
            create_batch(offer, "--count", "1", "--expires", "2001-01-01")
        assert not Batch.objects.exists()


@pytest.fixture
def redeemed_code(enrollment_offer, make_code, learner, running_session):
    """An enrollment code with one use, redeemed by the learner from 203.0.113.7."""
    text = make_code(enrollment_offer)
    voucher_redeem(code=text, user=learner, session=running_session, client_ip="203.0.113.7")
    return text


class TestShow:
    def test_shows_an_unused_code(self, enrollment_offer, make_code):
        text = make_code(enrollment_offer, tag="fair")
        out = run("show", text.lower())
        assert f"Code:       {text}" in out
        assert "Status:     unused" in out
        assert "Uses:       0 of 1" in out
        assert "Session:    python-2026" in out
        assert "tag fair, country DE" in out
        assert "Redeemed:" not in out

    def test_shows_each_redemption_with_who_when_and_where(self, redeemed_code):
        redemption = Redemption.objects.get()
        out = run("show", redeemed_code)
        assert "Status:     redeemed" in out
        assert "Uses:       1 of 1" in out
        assert f"Redeemed:   {redemption.redeemed_at.isoformat()} by learner in python-2026 from 203.0.113.7" in out

    def test_an_unknown_code_is_not_found(self, db):
        with pytest.raises(CommandError, match="not_found"):
            run("show", codes.generate(1)[0])

    def test_a_mistyped_code_is_refused_as_mistyped(self, enrollment_offer, make_code):
        text = make_code(enrollment_offer)
        typo = text[:-1] + ("0" if text[-1] != "0" else "1")
        with pytest.raises(CommandError, match="mistyped"):
            run("show", typo)


class TestStats:
    def test_rows_show_issued_redeemed_and_percent_by_product(
        self, enrollment_offer, reactivation_offer, make_batch, learner, running_session
    ):
        batch = make_batch(enrollment_offer, count=3, tag="fair")
        make_batch(reactivation_offer, count=2, tag="mail")
        voucher_redeem(code=batch.codes.first().code, user=learner, session=running_session)
        out = run("stats", "--by", "product")
        assert re.search(r"^enrollment\s+3\s+1\s+33\.3%\s+1$", out, re.MULTILINE), out
        assert re.search(r"^reactivation\s+2\s+0\s+0\.0%\s+0$", out, re.MULTILINE), out
        assert "By tag" not in out

    def test_every_dimension_is_shown_by_default(self, enrollment_offer, make_batch):
        make_batch(enrollment_offer, count=2, tag="fair")
        out = run("stats")
        assert [line for line in out.splitlines() if line.startswith("By ")] == [
            "By product", "By tag", "By course",
        ]  # fmt: skip
        assert re.search(r"^fair\s+2\s+0\s+0\.0%", out, re.MULTILINE), out
        assert re.search(r"^python\s+2\s+0\s+0\.0%", out, re.MULTILINE), out


class TestRevoke:
    def test_revokes_a_code(self, enrollment_offer, make_code):
        text = make_code(enrollment_offer)
        out = run("revoke", text)
        assert f"Revoked {text}." in out
        assert Code.objects.get(pk=codes.parse(text)).revoked_at is not None
        assert AuditEvent.objects.filter(action="revoked", actor="cli").count() == 1

    def test_revokes_a_whole_batch(self, enrollment_offer, make_batch):
        batch = make_batch(enrollment_offer, count=3)
        out = run("revoke", "--batch", str(batch.pk))
        assert f"Revoked batch {batch.pk}: 3 codes." in out
        assert not batch.codes.filter(revoked_at__isnull=True).exists()

    def test_nothing_named_is_invalid_input(self, db):
        with pytest.raises(CommandError, match="invalid_input"):
            run("revoke")

    def test_an_unknown_batch_is_not_found(self, db):
        with pytest.raises(CommandError, match="not_found"):
            run("revoke", "--batch", "999999")


class TestReverse:
    def test_reverse_ends_the_entitlement_and_gives_the_use_back(self, redeemed_code, learner, running_session):
        out = run("reverse", redeemed_code, "--user", "learner")
        assert f"Reversed learner's redemption of {redeemed_code}." in out
        assert not Enrollment.objects.get(user=learner, session=running_session).active
        redemption = Redemption.objects.get()
        assert redemption.reversed_at is not None
        assert redemption.reversed_by == "cli"
        assert Code.objects.get(pk=codes.parse(redeemed_code)).uses == 0

    def test_keep_use_leaves_the_use_spent(self, redeemed_code):
        run("reverse", redeemed_code, "--user", "learner", "--keep-use")
        assert Code.objects.get(pk=codes.parse(redeemed_code)).uses == 1

    def test_a_user_without_a_live_redemption_is_not_found(self, redeemed_code, other_learner):
        with pytest.raises(CommandError, match="not_found"):
            run("reverse", redeemed_code, "--user", "other_learner")
        assert Redemption.objects.get().reversed_at is None

    def test_reversing_twice_is_not_found_the_second_time(self, redeemed_code):
        run("reverse", redeemed_code, "--user", "learner")
        with pytest.raises(CommandError, match="not_found"):
            run("reverse", redeemed_code, "--user", "learner")


VOUCHER_COMMANDS = [
    ("create_offer", "--name", "X", "--product", "enrollment"),
    ("create_batch", "--offer", "1", "--count", "1", "--country", "DE"),
    ("export",),
    ("show", "0000-0000-0000-0000"),
    ("stats",),
    ("revoke", "--batch", "1"),
    ("reverse", "0000-0000-0000-0000", "--user", "learner"),
]


class TestVouchersOff:
    @pytest.mark.parametrize("command", VOUCHER_COMMANDS, ids=lambda command: command[0])
    def test_every_voucher_command_says_vouchers_are_disabled(self, db, settings, command):
        settings.TESSERA_VOUCHERS_ENABLED = False
        with pytest.raises(CommandError, match="disabled"):
            run(*command)
        assert not Offer.objects.exists()

    def test_batches_stay_untouched(self, enrollment_offer, make_batch, settings):
        batch = make_batch(enrollment_offer, count=2)
        settings.TESSERA_VOUCHERS_ENABLED = False
        with pytest.raises(CommandError, match="disabled"):
            run("revoke", "--batch", str(batch.pk))
        assert not batch.codes.filter(revoked_at__isnull=False).exists()


DEMO_USER_LINE = re.compile(r"^  (staff|alice|bob)\s+(\S+)$", re.MULTILINE)
CODE_LINE = re.compile(r"^  ([0-9A-Z]{4}(?:-[0-9A-Z]{4}){3})  \(\d+ of \d+ uses left\)$", re.MULTILINE)


class TestDemo:
    def test_runs_twice_and_prints_new_passwords_each_time(self, db):
        first, second = run("demo"), run("demo")
        first_passwords = dict(DEMO_USER_LINE.findall(first))
        second_passwords = dict(DEMO_USER_LINE.findall(second))
        assert set(first_passwords) == set(second_passwords) == {"staff", "alice", "bob"}
        assert first_passwords != second_passwords
        from django.contrib.auth import authenticate

        for username, password in second_passwords.items():
            assert authenticate(username=username, password=password) is not None
        assert authenticate(username="alice", password=first_passwords["alice"]) is None

    def test_with_vouchers_on_prints_codes_that_parse(self, db):
        out = run("demo")
        printed = CODE_LINE.findall(out)
        assert len(printed) == 9  # three codes for each of the three products
        assert {codes.parse(text) for text in printed} == set(Code.objects.values_list("code", flat=True))
        assert set(Offer.objects.values_list("product", flat=True)) == set(Product.values)

    def test_a_second_run_reuses_the_offers_and_codes(self, db):
        first = CODE_LINE.findall(run("demo"))
        second = CODE_LINE.findall(run("demo"))
        assert first == second
        assert Offer.objects.count() == 3
        assert Code.objects.count() == 9

    def test_with_vouchers_off_creates_no_offers(self, db, settings):
        settings.TESSERA_VOUCHERS_ENABLED = False
        out = run("demo")
        assert "Vouchers are disabled" in out
        assert len(DEMO_USER_LINE.findall(out)) == 3
        assert not Offer.objects.exists()
        assert not CODE_LINE.findall(out)

    def test_a_switched_off_product_gets_no_demo_offer(self, db, settings):
        settings.TESSERA_PRODUCTS_ENABLED = ["enrollment"]
        run("demo")
        assert list(Offer.objects.values_list("product", flat=True)) == [Product.ENROLLMENT]


@pytest.fixture
def console(settings):
    """tessera.cli.main runs django.setup() again; keep it from rewiring logging to captured streams."""
    settings.LOGGING_CONFIG = None
    return main


class TestConsoleScript:
    def test_a_dashed_command_runs_the_underscored_one(self, console, capsys):
        with pytest.raises(SystemExit) as exited:
            console(["tessera", "create-batch", "--help"])
        assert exited.value.code == 0
        out = capsys.readouterr().out
        assert "Create a batch of codes" in out
        assert "--print-codes" in out

    def test_help_on_a_dashed_command_shows_that_command(self, console, capsys):
        console(["tessera", "help", "create-batch"])
        out = capsys.readouterr().out
        assert "Create a batch of codes" in out
        assert "--print-codes" in out

    def test_vouchers_off_exits_with_the_disabled_message(self, console, capsys, settings):
        settings.TESSERA_VOUCHERS_ENABLED = False
        with pytest.raises(SystemExit) as exited:
            console(["tessera", "stats"])
        assert exited.value.code == 1
        assert "disabled" in capsys.readouterr().err

    @pytest.mark.django_db(transaction=True)
    def test_create_offer_through_the_console_script(self, console, capsys, running_session):
        console(["tessera", "create-offer", "--name", "Console", "--product", "enrollment",
                 "--session", running_session.slug])  # fmt: skip
        offer = Offer.objects.get()
        assert f"Created offer {offer.pk}" in capsys.readouterr().out
        assert (offer.name, offer.session_id) == ("Console", running_session.pk)

    @pytest.mark.django_db(transaction=True)
    def test_a_domain_error_exits_with_its_code(self, console, capsys, running_session):
        offer = Offer.objects.create(name="Ended", product="enrollment", session=running_session,
                                     sale_ends_at=datetime.now(UTC) - timedelta(days=1))  # fmt: skip
        with pytest.raises(SystemExit) as exited:
            console(["tessera", "create-batch", "--offer", str(offer.pk), "--count", "1", "--country", "DE"])
        assert exited.value.code == 1
        assert "invalid_input" in capsys.readouterr().err
        assert not Batch.objects.exists()


class TestCreateBatchProgress:
    def test_a_large_batch_shows_a_progress_bar_that_reaches_the_count(self, enrollment_offer):
        err = StringIO()
        call_command(
            "create_batch", "--offer", str(enrollment_offer.pk), "--count", "10000", "--country", "DE",
            stdout=StringIO(), stderr=err,
        )  # fmt: skip
        assert "10000/10000" in err.getvalue()

    def test_a_small_batch_shows_none(self, enrollment_offer):
        err = StringIO()
        call_command(
            "create_batch", "--offer", str(enrollment_offer.pk), "--count", "5", "--country", "DE",
            stdout=StringIO(), stderr=err,
        )  # fmt: skip
        assert err.getvalue() == ""


class TestRevokeAList:
    def test_a_typo_in_the_list_revokes_nothing(self, enrollment_offer, make_code):
        good = make_code(enrollment_offer)
        with pytest.raises(CommandError):
            run("revoke", good, "0000-0000-0000-0000")
        assert not Code.objects.filter(revoked_at__isnull=False).exists()


class TestRedeem:
    def test_a_code_is_redeemed_for_the_named_learner(self, enrollment_offer, make_code, learner, running_session):
        out = run("redeem", make_code(enrollment_offer), "--user", "learner", "--session", running_session.slug)
        assert "Redeemed for learner: enrollment" in out
        assert Enrollment.objects.get(user=learner).active

    def test_a_refusal_prints_its_code(self, enrollment_offer, make_code, learner, running_session):
        code = make_code(enrollment_offer)
        run("redeem", code, "--user", "learner", "--session", running_session.slug)
        with pytest.raises(CommandError, match=r"^already_redeemed: "):
            run("redeem", code, "--user", "learner", "--session", running_session.slug)

    def test_an_unknown_session_is_invalid_input(self, enrollment_offer, make_code, learner):
        with pytest.raises(CommandError, match=r"^invalid_input: "):
            run("redeem", make_code(enrollment_offer), "--user", "learner", "--session", "nope")
        assert not Redemption.objects.exists()

    @pytest.mark.usefixtures("ratelimit_clock")
    def test_staff_are_not_held_to_the_learners_rate_limits(
        self, enrollment_offer, make_code, learner, running_session, settings
    ):
        settings.TESSERA_FAILED_ATTEMPTS = [(1, 60)]
        with pytest.raises(CommandError, match=r"^not_found: "):
            run("redeem", codes.generate(1)[0], "--user", "learner", "--session", running_session.slug)
        with pytest.raises(CodeNotFound):  # not counted: the learner has their one guess left
            voucher_redeem(code=codes.generate(1)[0], user=learner, session=running_session)
        out = run("redeem", make_code(enrollment_offer), "--user", "learner", "--session", running_session.slug)
        assert "Redeemed for learner: enrollment" in out  # while the learner is at the limit


class TestDemoStaysCurrent:
    def test_an_exhausted_demo_code_is_no_longer_printed(self, db):
        first = CODE_LINE.findall(run("demo"))
        Code.objects.filter(pk=codes.parse(first[0])).update(uses=2)
        assert first[0] not in CODE_LINE.findall(run("demo"))

    def test_a_second_run_moves_the_dates_to_today(self, db):
        from tessera.catalog.models import CourseSession

        run("demo")
        CourseSession.objects.filter(slug="python-basics-2026").update(
            starts_at=datetime(2020, 1, 1, tzinfo=UTC), ends_at=datetime(2020, 3, 1, tzinfo=UTC)
        )
        run("demo")
        running = CourseSession.objects.get(slug="python-basics-2026")
        assert running.starts_at < datetime.now(UTC) < running.ends_at


def redeemed_long_ago(code: str, user, session, ip: str) -> Redemption:
    redemption = voucher_redeem(code=code, user=user, session=session, client_ip=ip)
    Redemption.objects.filter(pk=redemption.pk).update(redeemed_at=datetime.now(UTC) - timedelta(days=400))
    return redemption


class TestPurgeAddresses:
    def test_a_dry_run_prints_the_counts_and_changes_nothing(
        self, enrollment_offer, make_code, learner, running_session
    ):
        redeemed_long_ago(make_code(enrollment_offer), learner, running_session, "203.0.113.77")
        out = run("purge_addresses", "--dry-run")
        assert out.startswith("Would purge addresses stored before ")
        assert "  redemptions: 1\n" in out
        assert Redemption.objects.get().client_ip == "203.0.113.77"
        assert not AuditEvent.objects.filter(action=AuditEvent.Action.PURGED).exists()

    def test_a_run_purges_and_is_audited(self, enrollment_offer, make_code, learner, running_session):
        redeemed_long_ago(make_code(enrollment_offer), learner, running_session, "203.0.113.77")
        out = run("purge_addresses")
        assert out.startswith("Purged addresses stored before ")
        assert Redemption.objects.get().client_ip is None
        assert AuditEvent.objects.get(action=AuditEvent.Action.PURGED).actor == "cli"

    def test_before_takes_a_date(self, enrollment_offer, make_code, learner, running_session):
        voucher_redeem(code=make_code(enrollment_offer), user=learner, session=running_session, client_ip="192.0.2.1")
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
        assert "  redemptions: 1\n" in run("purge_addresses", "--before", tomorrow)
        assert Redemption.objects.get().client_ip is None

    def test_a_before_that_is_no_date_is_invalid_input(self, db):
        with pytest.raises(CommandError, match=r"^invalid_input: "):
            run("purge_addresses", "--before", "last week")
        assert not AuditEvent.objects.exists()

    def test_schedule_queues_the_daily_purge_once(self, db):
        assert run("purge_addresses", "--schedule") == "Daily address purge queued.\n"
        assert run("purge_addresses", "--schedule") == "Daily address purge already queued.\n"


class TestEraseLearner:
    def test_erases_a_learner_and_keeps_the_redemption(self, enrollment_offer, make_code, learner, running_session):
        voucher_redeem(code=make_code(enrollment_offer), user=learner, session=running_session, client_ip="192.0.2.1")
        out = run("erase_learner", "learner")
        assert out.startswith(f"Erased learner: now erased-{learner.pk} (user id {learner.pk}).")
        assert "Cleared redemptions: 1," in out
        assert Redemption.objects.get().client_ip is None
        assert AuditEvent.objects.get(action=AuditEvent.Action.ERASED).detail["user_id"] == learner.pk

    def test_staff_are_refused_with_a_code(self, staff):
        with pytest.raises(CommandError, match=r"^staff_not_erasable: "):
            run("erase_learner", "staff")
        assert not AuditEvent.objects.exists()

    def test_an_unknown_user_is_invalid_input(self, db):
        with pytest.raises(CommandError, match=r"^invalid_input: There is no user 'nobody'"):
            run("erase_learner", "nobody")
