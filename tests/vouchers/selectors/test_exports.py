"""The CSV export of codes (tessera.vouchers.selectors.exports)."""

import inspect
import tracemalloc
from datetime import timedelta

from tessera.vouchers import codes
from tessera.vouchers.models import Batch, Code, Product, Redemption
from tessera.vouchers.selectors.codes import Status, display_code
from tessera.vouchers.selectors.exports import EXPORT_HEADER, batches_for_export, export_rows
from tessera.vouchers.services import (
    BatchSpec,
    CodeList,
    code_revoke,
    codes_import,
    redemption_reverse,
    voucher_redeem,
)

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

    def test_an_imported_code_is_shown_as_stored(self, enrollment_offer):
        spec = BatchSpec(count=1, country="DE")
        batch = codes_import(offer=enrollment_offer, codes=CodeList.numbered(["summer-24"], source="t"), spec=spec)
        [row] = export(batch=batch)
        assert field(row, "code") == "SUMMER24"

    def test_filters_by_batch_and_by_offer(self, enrollment_offer, reactivation_offer, make_batch):
        first = make_batch(enrollment_offer, count=2)
        second = make_batch(enrollment_offer, count=3)
        other = make_batch(reactivation_offer, count=4)
        assert {field(row, "batch") for row in export(batch=first)} == {first.pk}
        assert len(export(batch=second)) == 3
        assert {field(row, "batch") for row in export(offer_id=enrollment_offer.pk)} == {first.pk, second.pk}
        assert {field(row, "batch") for row in export(offer_id=reactivation_offer.pk)} == {other.pk}
        assert len(export()) == 9


class TestAssessmentRows:
    def test_an_assessment_redemption_names_the_assessment_where(self, assessment_offer, make_batch, learner,
                                                                 assessment):  # fmt: skip
        batch = make_batch(assessment_offer)
        voucher_redeem(code=only_code(batch).code, user=learner, assessment=assessment)
        [row] = export(batch=batch)
        assert (field(row, "product"), field(row, "redeemed_by"), field(row, "where")) == (
            "assessment",
            "learner",
            "assessment:python-exam",
        )


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
