"""Tests for tessera.vouchers.services.batches: offers, batches of codes, and revoking them."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError

from tessera.core.errors import InvalidInput
from tessera.vouchers import codes
from tessera.vouchers.errors import CodeRevoked, InvalidStoreUrl, OfferFrozen, ProductUnavailable, VouchersDisabled
from tessera.vouchers.models import AuditEvent, Batch, Code, Offer, Product
from tessera.vouchers.services import (
    BatchSpec,
    batch_create,
    batch_revoke,
    code_revoke,
    offer_create,
    offer_frozen_fields,
    offer_save,
    voucher_redeem,
)
from tessera.vouchers.services import batches as batches_module


def row_counts() -> tuple[int, int, int, int]:
    """Everything batch_create could leave behind."""
    return (
        Offer.objects.count(),
        Batch.objects.count(),
        Code.objects.count(),
        AuditEvent.objects.count(),
    )


class TestOfferCreate:
    def test_an_offer_is_created_for_a_product_the_session_offers(self, running_session):
        offer = offer_create(name=" Spring sale ", product=Product.ENROLLMENT, session=running_session)
        assert Offer.objects.get() == offer
        assert offer.name == "Spring sale"
        assert offer.currency == "EUR"

    def test_an_offer_is_one_audit_row_naming_it_and_who_made_it(self, running_session):
        offer = offer_create(name="Spring sale", product=Product.ENROLLMENT, session=running_session, actor="cli")
        [row] = AuditEvent.objects.all()
        assert (row.action, row.actor) == (AuditEvent.Action.OFFER_CREATED, "cli")
        assert row.detail == {
            "offer_id": offer.pk, "name": "Spring sale", "product": "enrollment", "session": running_session.slug,
        }  # fmt: skip

    def test_an_unknown_product_is_refused(self, running_session):
        with pytest.raises(InvalidInput) as refused:
            offer_create(name="Bogus", product="bogus", session=running_session)
        assert refused.value.field == "product"
        assert not Offer.objects.exists()
        assert not AuditEvent.objects.exists()

    def test_proctoring_on_a_session_without_a_proctored_certificate_is_refused(self, running_session):
        running_session.offers_proctored_certificate = False
        running_session.save()
        with pytest.raises(InvalidInput) as refused:
            offer_create(name="Proctoring", product=Product.PROCTORING, session=running_session)
        assert refused.value.field == "product"
        assert not Offer.objects.exists()

    def test_reactivation_on_a_session_without_reactivation_is_refused(self, running_session):
        assert not running_session.reactivation_enabled
        with pytest.raises(InvalidInput) as refused:
            offer_create(name="Reactivation", product=Product.REACTIVATION, session=running_session)
        assert refused.value.field == "product"
        assert not Offer.objects.exists()

    def test_an_offer_without_a_session_is_for_any_session(self, db):
        offer = offer_create(name="Anywhere", product=Product.REACTIVATION)
        assert offer.session is None

    def test_vouchers_off_refuses_new_offers(self, running_session, settings):
        settings.TESSERA_VOUCHERS_ENABLED = False
        with pytest.raises(VouchersDisabled):
            offer_create(name="Off", product=Product.ENROLLMENT, session=running_session)
        assert not Offer.objects.exists()


class TestOfferStoreUrl:
    """Where learners buy a code: optional, and only an absolute http(s) address."""

    @pytest.mark.parametrize("url", ["https://shop.example/python", "http://shop.example:8080/buy?course=python"])
    def test_an_http_or_https_address_is_kept(self, running_session, url):
        offer = offer_create(name="Seat", product=Product.ENROLLMENT, session=running_session, store_url=f" {url} ")
        assert Offer.objects.get(pk=offer.pk).store_url == url

    def test_no_address_means_no_link(self, running_session):
        offer = offer_create(name="Seat", product=Product.ENROLLMENT, session=running_session)
        assert offer.store_url == ""

    @pytest.mark.parametrize(
        "url",
        [
            "javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "/shop/python",
            "shop.example/python",
            "ftp://shop.example/python",
            "https://",
            "https://shop.example/a b",
            "https://shop.example/" + "a" * 500,
        ],
    )
    def test_anything_else_is_refused_as_invalid_store_url_and_nothing_is_saved(self, running_session, url):
        with pytest.raises(InvalidStoreUrl) as refused:
            offer_create(name="Seat", product=Product.ENROLLMENT, session=running_session, store_url=url)
        assert (refused.value.code, refused.value.http_status, refused.value.field) == (
            "invalid_store_url", 422, "store_url",
        )  # fmt: skip
        assert not Offer.objects.exists()
        assert not AuditEvent.objects.exists()

    def test_a_bad_address_is_refused_on_an_edit_too(self, enrollment_offer):
        enrollment_offer.store_url = "javascript:alert(1)"
        with pytest.raises(InvalidStoreUrl):
            offer_save(offer=enrollment_offer, changed=["store_url"], actor="staff")
        assert Offer.objects.get().store_url == ""

    def test_the_display_price_is_the_price_with_its_currency_or_nothing_at_zero(self, make_offer, running_session):
        priced = make_offer(Product.ENROLLMENT, running_session, price=Decimal("49"), currency="eur")
        free = make_offer(Product.PROCTORING, running_session)
        assert (priced.display_price, free.display_price) == ("49.00 EUR", "")


class TestAnOfferWithCodesIsFrozen:
    """Its codes unlock its product in its session: a change of either is refused, whoever asks."""

    @pytest.mark.parametrize("change", [{"product": Product.PROCTORING}, {"session": None}])
    def test_a_change_of_product_or_session_is_refused_and_nothing_is_saved(
        self, enrollment_offer, running_session, make_batch, change
    ):
        make_batch(enrollment_offer)
        before = AuditEvent.objects.count()
        for name, value in change.items():
            setattr(enrollment_offer, name, value)
        with pytest.raises(OfferFrozen) as refused:
            offer_save(offer=enrollment_offer, changed=list(change), actor="staff")
        assert (refused.value.code, refused.value.http_status) == ("offer_frozen", 409)
        stored = Offer.objects.get()
        assert (stored.product, stored.session_id) == (Product.ENROLLMENT, running_session.pk)
        assert AuditEvent.objects.count() == before

    def test_its_other_fields_and_an_unmoved_product_still_save(self, enrollment_offer, make_batch):
        make_batch(enrollment_offer)
        enrollment_offer.name = "Renamed"
        offer_save(offer=enrollment_offer, changed=["name", "product"], actor="staff")  # product as it was
        assert Offer.objects.get().name == "Renamed"

    def test_its_store_link_and_price_still_change_and_the_change_is_audited(self, enrollment_offer, make_batch):
        """They are shown to learners who have no code yet; no issued code depends on them."""
        make_batch(enrollment_offer)
        enrollment_offer.store_url, enrollment_offer.price = "https://shop.example/python", Decimal("39.00")
        offer_save(offer=enrollment_offer, changed=["store_url", "price"], actor="staff")
        stored = Offer.objects.get()
        assert (stored.store_url, stored.price) == ("https://shop.example/python", Decimal("39.00"))
        changed = AuditEvent.objects.get(action=AuditEvent.Action.OFFER_CHANGED)
        assert (changed.actor, changed.detail) == ("staff", {"offer_id": stored.pk, "changed": ["price", "store_url"]})

    def test_an_offer_without_codes_can_change_product(self, enrollment_offer):
        assert offer_frozen_fields(enrollment_offer) == ()
        enrollment_offer.product = Product.PROCTORING
        offer_save(offer=enrollment_offer, changed=["product"], actor="staff")
        assert Offer.objects.get().product == Product.PROCTORING

    def test_the_frozen_fields_are_product_and_place_once_codes_exist(self, enrollment_offer, make_batch):
        make_batch(enrollment_offer)
        assert offer_frozen_fields(enrollment_offer) == (
            "product",
            "session",
            "assessment",
            "attempts",
            "adds_attempts",
        )


class TestAssessmentOffers:
    def test_an_assessment_offer_names_its_assessment_and_is_audited_with_it(self, assessment):
        offer = offer_create(name="Exam", product=Product.ASSESSMENT, assessment=assessment, attempts=2, actor="cli")
        assert (offer.session, offer.assessment, offer.attempts, offer.adds_attempts) == (None, assessment, 2, False)
        row = AuditEvent.objects.get(action=AuditEvent.Action.OFFER_CREATED)
        assert row.detail == {
            "offer_id": offer.pk, "name": "Exam", "product": "assessment", "session": None,
            "assessment": "python-exam", "attempts": 2, "adds_attempts": False,
        }  # fmt: skip

    @pytest.mark.parametrize(
        ("fields", "code", "field"),
        [({"product": Product.ASSESSMENT}, "offer_place_mismatch", "assessment"),
         ({"product": Product.ASSESSMENT, "assessment": True, "session": True}, "offer_place_mismatch", "assessment"),
         ({"product": Product.ENROLLMENT, "assessment": True}, "offer_place_mismatch", "assessment"),
         ({"product": Product.ENROLLMENT, "attempts": 2}, "invalid_input", "attempts"),
         ({"product": Product.ENROLLMENT, "adds_attempts": True}, "invalid_input", "attempts"),
         ({"product": Product.ASSESSMENT, "assessment": True, "attempts": 4}, "invalid_input", "attempts"),
         ({"product": Product.ASSESSMENT, "assessment": True, "attempts": 0}, "invalid_input", "attempts")],
    )  # fmt: skip
    def test_an_offer_is_for_the_place_its_product_is_had_at(self, fields, code, field, assessment, running_session):
        fields = dict(fields)
        if fields.pop("assessment", False):
            fields["assessment"] = assessment
        if fields.pop("session", False):
            fields["session"] = running_session
        with pytest.raises(InvalidInput) as refused:
            offer_create(name="Mixed up", **fields)
        assert (refused.value.code, refused.value.field) == (code, field)
        assert not Offer.objects.exists()

    def test_an_assessment_offer_with_codes_keeps_its_assessment_and_attempts(
        self, assessment_offer, lone_assessment, make_batch
    ):
        make_batch(assessment_offer)
        assessment_offer.attempts = 1
        with pytest.raises(OfferFrozen):
            offer_save(offer=assessment_offer, changed=["attempts"], actor="staff")
        assessment_offer.assessment = lone_assessment
        with pytest.raises(OfferFrozen):
            offer_save(offer=assessment_offer, changed=["assessment"], actor="staff")
        assert Offer.objects.get().attempts is None


class TestBatchSpec:
    """A batch as asked for, checked in one place for every entry point and for queued jobs."""

    def test_checking_normalises_it_and_writes_nothing(self, enrollment_offer, settings, learner):
        settings.TESSERA_CODE_PREFIX = "DE"
        asked = BatchSpec(count=5, country=" de ", tag="  ", restricted_to=learner, note="n")
        before = row_counts()
        checked = asked.checked(enrollment_offer)
        assert (checked.country, checked.tag, checked.prefix) == ("DE", "untagged", "DE")
        assert (checked.count, checked.restricted_to, checked.note) == (5, learner, "n")
        assert checked.checked(enrollment_offer) == checked  # a job's spec is checked again when it runs
        assert row_counts() == before

    def test_its_fields_are_the_batch_rows(self, enrollment_offer, learner):
        spec = BatchSpec(count=2, country="DE", restricted_to=learner, note="n", refund_policy="keep_use")
        batch = batch_create(offer=enrollment_offer, spec=spec)
        stored = {name: getattr(batch, name) for name in spec.batch_fields()}
        assert stored == spec.checked(enrollment_offer).batch_fields()


class TestBatchCreate:
    def test_creates_exactly_count_codes_with_the_uses_per_code(self, enrollment_offer):
        batch = batch_create(offer=enrollment_offer, spec=BatchSpec(count=25, uses_per_code=3, country="de"))
        assert batch.codes.count() == 25
        assert set(batch.codes.values_list("max_uses", "uses")) == {(3, 0)}
        assert batch.count == 25
        assert batch.uses_per_code == 3

    def test_the_country_is_upper_cased(self, enrollment_offer):
        batch = batch_create(offer=enrollment_offer, spec=BatchSpec(count=1, country=" de "))
        assert Batch.objects.get(pk=batch.pk).country == "DE"

    def test_the_tag_defaults_to_untagged(self, enrollment_offer):
        batch = batch_create(offer=enrollment_offer, spec=BatchSpec(count=1, country="DE"))
        assert Batch.objects.get(pk=batch.pk).tag == "untagged"

    def test_a_blank_tag_is_untagged_too(self, enrollment_offer):
        batch = batch_create(offer=enrollment_offer, spec=BatchSpec(count=1, country="DE", tag="   "))
        assert batch.tag == "untagged"

    def test_every_code_parses(self, enrollment_offer):
        batch = batch_create(offer=enrollment_offer, spec=BatchSpec(count=50, country="DE"))
        stored = list(batch.codes.values_list("code", flat=True))
        assert len(stored) == 50
        assert all(codes.parse(code) == code for code in stored)

    def test_the_prefix_argument_starts_every_code(self, enrollment_offer):
        batch = batch_create(offer=enrollment_offer, spec=BatchSpec(count=20, country="DE", prefix="spring"))
        assert batch.prefix == "SPR1NG"
        stored = list(batch.codes.values_list("code", flat=True))
        assert all(code.startswith("SPR1NG") for code in stored)
        assert all(codes.parse(code) == code for code in stored)

    def test_the_configured_prefix_is_the_default(self, enrollment_offer, settings):
        settings.TESSERA_CODE_PREFIX = "DE"
        batch = batch_create(offer=enrollment_offer, spec=BatchSpec(count=20, country="DE"))
        assert batch.prefix == "DE"
        assert all(code.startswith("DE") for code in batch.codes.values_list("code", flat=True))

    def test_an_explicit_empty_prefix_overrides_the_configured_one(self, enrollment_offer, settings):
        settings.TESSERA_CODE_PREFIX = "DE"
        batch = batch_create(offer=enrollment_offer, spec=BatchSpec(count=1, country="DE", prefix=""))
        assert batch.prefix == ""

    def test_the_configured_code_length_makes_longer_codes(self, enrollment_offer, settings):
        settings.TESSERA_CODE_LENGTH = 20
        batch = batch_create(offer=enrollment_offer, spec=BatchSpec(count=10, country="DE"))
        stored = list(batch.codes.values_list("code", flat=True))
        assert {len(code) for code in stored} == {20}
        assert all(codes.parse(code) == code for code in stored)

    def test_the_default_code_length_is_sixteen(self, enrollment_offer):
        batch = batch_create(offer=enrollment_offer, spec=BatchSpec(count=10, country="DE"))
        assert {len(code) for code in batch.codes.values_list("code", flat=True)} == {16}

    def test_a_created_batch_writes_one_created_event_with_the_count(self, enrollment_offer):
        batch = batch_create(offer=enrollment_offer, spec=BatchSpec(count=7, country="DE"), actor="cli")
        event = AuditEvent.objects.get(action=AuditEvent.Action.CREATED)
        assert event.action == AuditEvent.Action.CREATED
        assert event.batch_id == batch.pk
        assert event.actor == "cli"
        assert event.detail == {"count": 7}

    def test_codes_of_two_batches_never_repeat(self, enrollment_offer):
        first = batch_create(offer=enrollment_offer, spec=BatchSpec(count=100, country="DE"))
        second = batch_create(offer=enrollment_offer, spec=BatchSpec(count=100, country="DE"))
        assert Code.objects.filter(batch__in=[first, second]).count() == 200


class TestBatchCreateRefusesBadInput:
    """Bad input is refused with the offending field named, and nothing is written."""

    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"count": 0}, "count"),
            ({"count": -5}, "count"),
            ({"count": 1_000_001}, "count"),
            ({"uses_per_code": 0}, "uses_per_code"),
            ({"uses_per_code": 1_000_001}, "uses_per_code"),
            ({"country": "XX"}, "country"),
            ({"country": "Germany"}, "country"),
            ({"country": ""}, "country"),
            ({"prefix": "U!"}, "prefix"),
            ({"prefix": "ABCDEFGHJ"}, "prefix"),
        ],
    )
    def test_bad_input_is_refused_and_changes_nothing(self, enrollment_offer, fields, field):
        spec = BatchSpec(**{"count": 3, "country": "DE", **fields})
        before = row_counts()
        with pytest.raises(InvalidInput) as refused:
            batch_create(offer=enrollment_offer, spec=spec)
        assert refused.value.field == field
        assert refused.value.code == "invalid_input"
        assert row_counts() == before

    def test_an_expiry_in_the_past_is_refused(self, enrollment_offer, now):
        before = row_counts()
        with pytest.raises(InvalidInput) as refused:
            batch_create(
                offer=enrollment_offer, spec=BatchSpec(count=3, country="DE", expires_at=now - timedelta(minutes=1))
            )
        assert refused.value.field == "expires_at"
        assert row_counts() == before

    def test_an_offer_whose_sale_window_ended_is_refused(self, make_offer, running_session, now):
        offer = make_offer(Product.ENROLLMENT, running_session, sale_ends_at=now - timedelta(days=1))
        before = row_counts()
        with pytest.raises(InvalidInput) as refused:
            batch_create(offer=offer, spec=BatchSpec(count=3, country="DE"))
        assert refused.value.field == "offer"
        assert row_counts() == before

    def test_a_product_the_session_no_longer_offers_is_refused(self, proctoring_offer, running_session):
        running_session.offers_proctored_certificate = False
        running_session.save()
        before = row_counts()
        with pytest.raises(InvalidInput) as refused:
            batch_create(offer=proctoring_offer, spec=BatchSpec(count=3, country="DE"))
        assert refused.value.field == "product"
        assert row_counts() == before

    def test_a_session_that_stopped_reactivation_is_refused(self, reactivation_offer, ended_session):
        ended_session.reactivation_enabled = False
        ended_session.save()
        before = row_counts()
        with pytest.raises(InvalidInput) as refused:
            batch_create(offer=reactivation_offer, spec=BatchSpec(count=3, country="DE"))
        assert refused.value.field == "product"
        assert row_counts() == before

    def test_vouchers_off_refuses_new_batches(self, enrollment_offer, settings):
        settings.TESSERA_VOUCHERS_ENABLED = False
        before = row_counts()
        with pytest.raises(VouchersDisabled):
            batch_create(offer=enrollment_offer, spec=BatchSpec(count=3, country="DE"))
        assert row_counts() == before

    def test_a_switched_off_product_refuses_new_batches(self, proctoring_offer, settings):
        settings.TESSERA_PRODUCTS_ENABLED = ["enrollment", "reactivation"]
        before = row_counts()
        with pytest.raises(ProductUnavailable):
            batch_create(offer=proctoring_offer, spec=BatchSpec(count=3, country="DE"))
        assert row_counts() == before

    def test_other_products_stay_available_when_one_is_switched_off(self, enrollment_offer, settings):
        settings.TESSERA_PRODUCTS_ENABLED = ["enrollment"]
        assert batch_create(offer=enrollment_offer, spec=BatchSpec(count=2, country="DE")).codes.count() == 2


class FailAfterFirstChunk:
    """A progress callback that fails like a full disk once the second chunk is written."""

    def __init__(self):
        self.calls = 0

    def __call__(self, done):
        self.calls += 1
        if self.calls > 1:
            raise OSError("No space left on device")


class TestBatchCreateIsAllOrNothing:
    def test_a_failure_after_the_first_chunk_leaves_no_batch_and_no_code(self, enrollment_offer, monkeypatch):
        monkeypatch.setattr(batches_module, "CHUNK", 10)
        failing = FailAfterFirstChunk()
        with pytest.raises(OSError, match="No space left"):
            batch_create(offer=enrollment_offer, spec=BatchSpec(count=25, country="DE"), progress=failing)
        assert failing.calls == 2
        assert not Batch.objects.exists()
        assert not Code.objects.exists()
        assert not AuditEvent.objects.filter(action=AuditEvent.Action.CREATED).exists()

    def test_chunks_add_up_to_the_whole_batch(self, enrollment_offer, monkeypatch):
        monkeypatch.setattr(batches_module, "CHUNK", 10)
        progressed = []
        batch = batch_create(offer=enrollment_offer, spec=BatchSpec(count=25, country="DE"), progress=progressed.append)
        assert progressed == [10, 10, 5]
        assert batch.codes.count() == 25

    def test_a_collision_with_an_existing_code_is_retried_with_fresh_codes(self, enrollment_offer, monkeypatch):
        existing = batch_create(offer=enrollment_offer, spec=BatchSpec(count=1, country="DE")).codes.get().code
        real_generate = codes.generate
        draws = []

        def first_draw_repeats_an_existing_code(count, **kwargs):
            drawn = real_generate(count, **kwargs)
            if not draws:
                drawn[0] = existing
            draws.append(drawn)
            return drawn

        monkeypatch.setattr(codes, "generate", first_draw_repeats_an_existing_code)
        batch = batch_create(offer=enrollment_offer, spec=BatchSpec(count=5, country="DE"))
        assert len(draws) == 2
        stored = set(batch.codes.values_list("code", flat=True))
        assert stored == set(draws[1])
        assert existing not in stored
        assert Code.objects.get(code=existing).batch_id != batch.pk
        assert Code.objects.count() == 6

    def test_a_collision_on_every_attempt_gives_up_and_leaves_nothing(self, enrollment_offer, monkeypatch):
        existing = batch_create(offer=enrollment_offer, spec=BatchSpec(count=1, country="DE")).codes.get().code
        real_generate = codes.generate
        draws = []

        def always_repeats(count, **kwargs):
            drawn = real_generate(count, **kwargs)
            drawn[0] = existing
            draws.append(drawn)
            return drawn

        monkeypatch.setattr(codes, "generate", always_repeats)
        before = row_counts()
        with pytest.raises(IntegrityError):
            batch_create(offer=enrollment_offer, spec=BatchSpec(count=5, country="DE"))
        assert len(draws) == batches_module.ATTEMPTS
        assert row_counts() == before


class TestRevoke:
    def test_code_revoke_sets_revoked_at(self, enrollment_offer, make_batch):
        code = make_batch(enrollment_offer, count=2).codes.first()
        revoked = code_revoke(code=code, actor="cli")
        assert revoked.revoked_at is not None
        assert Code.objects.filter(revoked_at__isnull=False).count() == 1

    def test_batch_revoke_revokes_every_code_and_answers_how_many(self, enrollment_offer, make_batch):
        batch = make_batch(enrollment_offer, count=4)
        assert batch_revoke(batch=batch, actor="cli") == 4
        batch.refresh_from_db()
        assert batch.revoked_at is not None
        assert not batch.codes.filter(revoked_at__isnull=True).exists()

    def test_batch_revoke_counts_only_codes_still_live(self, enrollment_offer, make_batch):
        batch = make_batch(enrollment_offer, count=4)
        code_revoke(code=batch.codes.first(), actor="cli")
        assert batch_revoke(batch=batch, actor="cli") == 3
        assert batch_revoke(batch=batch, actor="cli") == 0

    def test_batch_revoke_leaves_other_batches_alone(self, enrollment_offer, make_batch):
        batch = make_batch(enrollment_offer, count=2)
        other = make_batch(enrollment_offer, count=2)
        batch_revoke(batch=batch, actor="cli")
        assert not other.codes.filter(revoked_at__isnull=False).exists()

    def test_a_revoked_code_refuses_redemption(self, enrollment_offer, make_code, learner, running_session):
        text = make_code(enrollment_offer)
        code_revoke(code=Code.objects.get(pk=codes.parse(text)), actor="cli")
        with pytest.raises(CodeRevoked) as refused:
            voucher_redeem(code=text, user=learner, session=running_session)
        assert refused.value.code == "revoked"
        assert not learner.redemptions.exists()

    def test_a_code_of_a_revoked_batch_refuses_redemption(self, enrollment_offer, make_batch, learner, running_session):
        batch = make_batch(enrollment_offer, count=2)
        batch_revoke(batch=batch, actor="cli")
        with pytest.raises(CodeRevoked) as refused:
            voucher_redeem(code=batch.codes.first().code, user=learner, session=running_session)
        assert refused.value.code == "revoked"

    def test_revoking_needs_vouchers_on(self, enrollment_offer, make_batch, settings):
        batch = make_batch(enrollment_offer, count=1)
        settings.TESSERA_VOUCHERS_ENABLED = False
        with pytest.raises(VouchersDisabled):
            batch_revoke(batch=batch, actor="cli")
        with pytest.raises(VouchersDisabled):
            code_revoke(code=batch.codes.get(), actor="cli")
        assert not Code.objects.filter(revoked_at__isnull=False).exists()


class TestValuesOutsideTheColumns:
    """Values the database would refuse (PostgreSQL) or keep silently (SQLite) are refused first."""

    @pytest.mark.parametrize("price", ["NaN", "Infinity", "1e12", "12.345", "-1"])
    def test_a_price_that_does_not_fit_is_refused(self, running_session, price):
        with pytest.raises(InvalidInput) as caught:
            offer_create(name="Seats", product="enrollment", session=running_session, price=Decimal(price))
        assert caught.value.field == "price"
        assert not Offer.objects.exists()

    def test_an_offer_name_over_its_column_is_refused(self, running_session):
        with pytest.raises(InvalidInput) as caught:
            offer_create(name="x" * 201, product="enrollment", session=running_session)
        assert caught.value.field == "name"

    def test_a_tag_over_its_column_is_refused(self, enrollment_offer):
        with pytest.raises(InvalidInput) as caught:
            batch_create(offer=enrollment_offer, spec=BatchSpec(count=1, country="DE", tag="t" * 101))
        assert caught.value.field == "tag"
        assert not Batch.objects.exists()

    def test_an_unknown_refund_policy_is_refused(self, enrollment_offer):
        with pytest.raises(InvalidInput) as caught:
            batch_create(offer=enrollment_offer, spec=BatchSpec(count=1, country="DE", refund_policy="maybe"))
        assert caught.value.field == "refund_policy"
        assert not Batch.objects.exists()

    def test_an_offer_for_a_product_switched_off_is_refused(self, running_session, settings):
        settings.TESSERA_PRODUCTS_ENABLED = ["proctoring"]
        with pytest.raises(ProductUnavailable):
            offer_create(name="Seats", product="enrollment", session=running_session)
        assert not Offer.objects.exists()
