"""`tessera demo`: the demo catalog, users with new passwords on every run, and offers with codes."""

import re
from datetime import UTC, datetime

from tessera.vouchers import codes
from tessera.vouchers.models import Code, Offer, Product
from tests.commands import run_command

DEMO_USER_LINE = re.compile(r"^  (staff|alice|bob)\s+(\S+)$", re.MULTILINE)
CODE_LINE = re.compile(r"^  ([0-9A-Z]{4}(?:-[0-9A-Z]{4}){3})  \(\d+ of \d+ uses left\)$", re.MULTILINE)


class TestDemo:
    def test_runs_twice_and_prints_new_passwords_each_time(self, db):
        first, second = run_command("demo"), run_command("demo")
        first_passwords = dict(DEMO_USER_LINE.findall(first))
        second_passwords = dict(DEMO_USER_LINE.findall(second))
        assert set(first_passwords) == set(second_passwords) == {"staff", "alice", "bob"}
        assert first_passwords != second_passwords
        from django.contrib.auth import authenticate

        for username, password in second_passwords.items():
            assert authenticate(username=username, password=password) is not None
        assert authenticate(username="alice", password=first_passwords["alice"]) is None

    def test_with_vouchers_on_prints_codes_that_parse(self, db):
        out = run_command("demo")
        printed = CODE_LINE.findall(out)
        assert len(printed) == 12  # three codes for each of the four products
        assert {codes.parse(text) for text in printed} == set(Code.objects.values_list("code", flat=True))
        assert set(Offer.objects.values_list("product", flat=True)) == set(Product.values)

    def test_each_demo_offer_has_a_store_link_and_a_price(self, db):
        run_command("demo")
        shown = {offer.product: (offer.store_url, offer.display_price) for offer in Offer.objects.all()}
        assert shown == {
            "enrollment": ("https://shop.example/python-basics-2026/enrollment", "49.00 EUR"),
            "proctoring": ("https://shop.example/python-basics-2026/proctoring", "29.00 EUR"),
            "reactivation": ("https://shop.example/data-science-2025/reactivation", "19.00 EUR"),
            "assessment": ("https://shop.example/python-placement/assessment", "39.00 EUR"),
        }

    def test_the_demo_assessment_offer_gives_its_codes_up_to_three_attempts(self, db):
        run_command("demo")
        offer = Offer.objects.select_related("assessment").get(product=Product.ASSESSMENT)
        assert (offer.session, offer.assessment.slug, offer.assessment.attempts) == (None, "python-placement", 3)

    def test_a_second_run_reuses_the_offers_and_codes(self, db):
        first = CODE_LINE.findall(run_command("demo"))
        second = CODE_LINE.findall(run_command("demo"))
        assert first == second
        assert Offer.objects.count() == 4
        assert Code.objects.count() == 12

    def test_with_vouchers_off_creates_no_offers(self, db, settings):
        settings.TESSERA_VOUCHERS_ENABLED = False
        out = run_command("demo")
        assert "Vouchers are disabled" in out
        assert len(DEMO_USER_LINE.findall(out)) == 3
        assert not Offer.objects.exists()
        assert not CODE_LINE.findall(out)

    def test_a_switched_off_product_gets_no_demo_offer(self, db, settings):
        settings.TESSERA_PRODUCTS_ENABLED = ["enrollment"]
        run_command("demo")
        assert list(Offer.objects.values_list("product", flat=True)) == [Product.ENROLLMENT]


class TestDemoStaysCurrent:
    def test_an_exhausted_demo_code_is_no_longer_printed(self, db):
        first = CODE_LINE.findall(run_command("demo"))
        Code.objects.filter(pk=codes.parse(first[0])).update(uses=2)
        assert first[0] not in CODE_LINE.findall(run_command("demo"))

    def test_a_second_run_moves_the_dates_to_today(self, db):
        from tessera.catalog.models import CourseSession

        run_command("demo")
        CourseSession.objects.filter(slug="python-basics-2026").update(
            starts_at=datetime(2020, 1, 1, tzinfo=UTC), ends_at=datetime(2020, 3, 1, tzinfo=UTC)
        )
        run_command("demo")
        running = CourseSession.objects.get(slug="python-basics-2026")
        assert running.starts_at < datetime.now(UTC) < running.ends_at
