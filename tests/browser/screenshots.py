"""The README's screenshots, taken in Chromium from the demo catalog plus a few weeks of made-up use.

Not part of `make test` (pytest collects test_*.py only); `make screenshots` runs it on SQLite and
writes docs/screenshots/*.png, or into TESSERA_SCREENSHOTS_DIR when that is set:

    env -u DATABASE_URL .venv/bin/pytest -q tests/browser/screenshots.py

The pages are shot at 1280x900 (the course page also at 390x844, a phone), the viewport only, so
each picture has the same size whatever the page's length. The printable cards of a batch are
downloaded from its staff page and their first page rendered at 150 dots per inch (cards.png).
"""

import os
import random
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pypdfium2
import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import Page, expect

from tessera.catalog.models import CourseSession, Enrollment
from tessera.vouchers.models import Batch, Offer, Product, Redemption, SendJob
from tessera.vouchers.selectors.codes import display_code, live_codes
from tessera.vouchers.services import BatchSpec, batch_create, redemption_reverse, send_job_run, voucher_redeem
from tests.browser.conftest import redeem_on_the_page, submit

pytestmark = pytest.mark.django_db(transaction=True)

OUT = Path(os.environ.get("TESSERA_SCREENSHOTS_DIR") or Path(__file__).resolve().parents[2] / "docs" / "screenshots")
PHONE = {"width": 390, "height": 844}
COURSE = "/courses/python-basics-2026"
ASSESSMENT = "/assessments/python-placement"
# Campaign batches beside the demo's own, so the statistics have something to count.
CAMPAIGNS = (
    (Product.ENROLLMENT, "spring-campaign", "DE", 40),
    (Product.ENROLLMENT, "partner-university", "FR", 25),
    (Product.PROCTORING, "exam-week", "DE", 20),
    (Product.REACTIVATION, "comeback", "NL", 10),
)


def shoot(page: Page, name: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=OUT / f"{name}.png", animations="disabled", caret="hide")


def offer_of(product: str) -> Offer:
    return Offer.objects.get(product=product)


def a_few_weeks_of_use() -> None:
    """Campaign batches, then learners redeeming some of their codes over the last four weeks."""
    rng = random.Random(2026)  # the same pictures on every run
    for product, tag, country, count in CAMPAIGNS:
        batch_create(offer=offer_of(product), spec=BatchSpec(count=count, country=country, tag=tag), actor="staff")
    sessions = {product: offer_of(product).session for product in Product.values}
    learners = User.objects.bulk_create(User(username=f"learner{i:02}") for i in range(48))
    enrollment_codes = list(live_codes(offer_of(Product.ENROLLMENT)).exclude(batch__tag="demo"))
    now = timezone.now()
    for learner, code in zip(learners[:36], rng.sample(enrollment_codes, 36), strict=True):
        redemption = voucher_redeem(code=display_code(code.code), user=learner, session=sessions[Product.ENROLLMENT])
        Redemption.objects.filter(pk=redemption.pk).update(redeemed_at=now - timedelta(days=rng.randrange(28)))
    for product, users in ((Product.PROCTORING, learners[:9]), (Product.REACTIVATION, learners[40:44])):
        codes = list(live_codes(offer_of(product)).exclude(batch__tag="demo"))
        for learner, code in zip(users, codes, strict=False):
            redemption = voucher_redeem(code=display_code(code.code), user=learner, session=sessions[product])
            Redemption.objects.filter(pk=redemption.pk).update(redeemed_at=now - timedelta(days=rng.randrange(14)))
    for redemption in Redemption.objects.filter(product=Product.ENROLLMENT).order_by("pk")[:3]:
        redemption_reverse(redemption=redemption, actor="staff")


def demo_code(product: str) -> str:
    code = live_codes(offer_of(product)).filter(batch__tag="demo").first()
    assert code is not None
    return display_code(code.code, code.batch.prefix)


def shoot_cards(page: Page, batch: Batch) -> None:
    """The first page of the batch's printable cards, downloaded as staff download it."""
    response = page.request.get(f"/staff/batches/{batch.pk}/cards.pdf")
    assert response.ok
    assert response.headers["content-type"] == "application/pdf"
    document = pypdfium2.PdfDocument(response.body())
    try:
        document[0].render(scale=150 / 72).to_pil().save(OUT / "cards.png", optimize=True)
    finally:
        document.close()


def shoot_import_refused(page: Page, offer: Offer) -> None:
    """An import whose file needs mending: nothing imported, every line to fix listed."""
    page.goto(f"/staff/offers/{offer.pk}")
    region = page.get_by_role("region", name="Import codes")
    lines = "code\nBOOK-SALE-0001\nBOOK-SALE-0002\nBOOK SALE 0001\nBOOK-SALE-0003!\n"
    region.get_by_label("CSV file").set_input_files(
        files=[{"name": "reseller.csv", "mimeType": "text/csv", "buffer": lines.encode()}]
    )
    region.get_by_label("Tag", exact=True).fill("bookshop")
    region.get_by_label("Country").fill("DE")
    submit(page, region.get_by_role("button", name="Import codes"))
    expect(page.locator("#import-problems")).to_contain_text("the same code as line 2")
    page.locator("#import").scroll_into_view_if_needed()
    shoot(page, "import")


def shoot_mail(page: Page, batch: Batch) -> None:
    """Codes of a batch mailed to three people, sent at once here as the task worker would."""
    page.goto(f"/staff/batches/{batch.pk}/mail")
    send = page.get_by_role("region", name="Send codes")
    send.get_by_label("Recipients").fill(
        "ada@example.org,Ada Lovelace,en\ngrace@example.org,Grace Hopper,en\nkarl@example.de,Karl Zuse,de"
    )
    submit(page, send.get_by_role("button", name="Send codes"))
    send_job_run(job_id=SendJob.objects.get(batch=batch).pk)
    page.goto(f"/staff/batches/{batch.pk}/mail")
    page.get_by_role("region", name="Sent to").scroll_into_view_if_needed()
    expect(page.get_by_role("region", name="Sent to")).to_contain_text("karl@example.de")
    shoot(page, "mail")


def test_screenshots(page: Page, browser, live_server, log_in, settings) -> None:
    settings.TESSERA_PUBLIC_URL = "https://tessera.example"
    call_command("demo", stdout=StringIO())
    a_few_weeks_of_use()
    alice, bob, staff = (User.objects.get(username=name) for name in ("alice", "bob", "staff"))
    Enrollment.objects.create(user=alice, session=CourseSession.objects.get(slug="data-science-2025"))

    log_in(page, alice)
    page.goto(COURSE)
    expect(page.get_by_role("region", name="Enroll with a code")).to_contain_text("No code yet? Buy one 49.00 EUR")
    page.get_by_role("region", name="Enroll with a code").scroll_into_view_if_needed()
    shoot(page, "course-no-code")
    redeem_on_the_page(page, "Enroll with a code", demo_code(Product.ENROLLMENT))
    expect(page.get_by_role("status")).to_contain_text("You are enrolled")
    shoot(page, "course")

    page.goto(ASSESSMENT)
    redeem_on_the_page(page, "Take this assessment with a code", demo_code(Product.ASSESSMENT))
    expect(page.get_by_role("status")).to_be_visible()
    shoot(page, "assessment")

    voucher_redeem(code=demo_code(Product.PROCTORING), user=alice, session=CourseSession.objects.get(slug=COURSE[9:]))
    page.goto("/dashboard")
    shoot(page, "dashboard")

    phone = browser.new_context(base_url=live_server.url, viewport=PHONE, is_mobile=True)
    try:
        phone_page = phone.new_page()
        log_in(phone_page, bob)
        phone_page.goto(COURSE)
        typo = demo_code(Product.ENROLLMENT)
        typo = ("A" if typo[0] != "A" else "B") + typo[1:]
        redeem_on_the_page(phone_page, "Enroll with a code", typo)
        expect(phone_page.get_by_role("alert")).to_contain_text("typo")
        shoot(phone_page, "course-phone")
    finally:
        phone.close()

    page.context.clear_cookies()
    log_in(page, staff)
    offer = offer_of(Product.ENROLLMENT)
    page.goto(f"/staff/offers/{offer.pk}")
    create = page.get_by_role("region", name="Create codes")
    create.get_by_label("Number of codes").fill("3")
    create.get_by_label("Uses per code").fill("2")
    create.get_by_label("Tag", exact=True).fill("summer-school")
    create.get_by_label("Country").fill("IT")
    create.scroll_into_view_if_needed()
    shoot(page, "offer")

    submit(page, create.get_by_role("button", name="Create codes"))
    expect(page.get_by_role("status")).to_have_text("3 codes created.")
    assert Batch.objects.filter(tag="summer-school").count() == 1
    shoot(page, "batch")
    shoot_cards(page, Batch.objects.get(tag="spring-campaign"))
    shoot_import_refused(page, offer)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    shoot_mail(page, Batch.objects.get(tag="spring-campaign"))

    page.goto("/staff/stats")
    shoot(page, "stats")
    page.get_by_role("region", name="Redemptions per day").evaluate("section => section.scrollIntoView()")
    shoot(page, "stats-per-day")
