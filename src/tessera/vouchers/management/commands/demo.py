from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from tessera.catalog.demo import demo_assessment_load, demo_catalog_load, demo_users_reset
from tessera.catalog.models import Assessment, CourseSession
from tessera.vouchers import config
from tessera.vouchers.models import Offer, Product
from tessera.vouchers.selectors.codes import display_code, live_codes
from tessera.vouchers.services import BatchSpec, batch_create, offer_create

DEMO_CODES = 3
# What the course pages show beside each demo code field as "No code yet? Buy one". The shop is a
# placeholder (.example never resolves): the demo shows the link, it sells nothing.
DEMO_PRICES: dict[str, Decimal] = {
    Product.ENROLLMENT: Decimal("49.00"), Product.PROCTORING: Decimal("29.00"), Product.REACTIVATION: Decimal("19.00"),
    Product.ASSESSMENT: Decimal("39.00"),
}  # fmt: skip
DEMO_STORE = "https://shop.example/{slug}/{product}"


class Command(BaseCommand):
    help = "Load the demo catalog, users (passwords printed) and, with vouchers on, offers and codes."

    def handle(self, *args: Any, **opts: Any) -> None:
        with transaction.atomic():
            sessions = demo_catalog_load()
            assessment = demo_assessment_load()
            passwords = demo_users_reset()
        self.stdout.write("Demo users (passwords are new on every run):")
        for username, password in passwords.items():
            self.stdout.write(f"  {username:<6} {password}")
        if not config.vouchers_enabled():
            self.stdout.write("Vouchers are disabled: no demo offers or codes.")
            return
        running, ended, _ = sessions
        for product, session in ((Product.ENROLLMENT, running), (Product.PROCTORING, running),
                                 (Product.REACTIVATION, ended)):  # fmt: skip
            if config.product_enabled(product):
                self._offer_with_codes(product, session=session)
        if config.product_enabled(Product.ASSESSMENT):
            self._offer_with_codes(Product.ASSESSMENT, assessment=assessment)

    def _offer_with_codes(
        self, product: str, *, session: CourseSession | None = None, assessment: Assessment | None = None
    ) -> None:
        place = session or assessment
        if place is None:
            raise ValueError("A demo offer is for a session or an assessment.")
        offer = Offer.objects.filter(product=product, session=session, assessment=assessment).first()
        if offer is None:
            name = f"{session.course.title}: {product}" if session else f"{place.title}"
            store_url = DEMO_STORE.format(slug=place.slug, product=product)
            offer = offer_create(
                name=name, product=product, session=session, assessment=assessment, price=DEMO_PRICES[product],
                store_url=store_url, actor="demo",
            )  # fmt: skip
        live = live_codes(offer)[:DEMO_CODES]
        if not live:
            spec = BatchSpec(count=DEMO_CODES, uses_per_code=2, country="DE", tag="demo")
            batch_create(offer=offer, spec=spec, actor="demo")
            live = live_codes(offer)[:DEMO_CODES]
        self.stdout.write(f"Offer {offer.pk} ({product} of {place.slug}), codes with uses left:")
        for code in live:
            left = code.max_uses - code.uses
            self.stdout.write(f"  {display_code(code.code, code.batch.prefix)}  ({left} of {code.max_uses} uses left)")
