"""The audit log (tessera.vouchers.audit): who is named how, what each change writes, and a database
role that may only add to it and read it."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import DatabaseError, connection

from tessera.catalog import services as catalog_services
from tessera.catalog.models import Enrollment
from tessera.vouchers import codes
from tessera.vouchers.audit import MAX_CODE_TEXT, actor_of, audit_record
from tessera.vouchers.errors import CodeMistyped, CodeNotFound, CodeRevoked, NotEligible
from tessera.vouchers.models import AuditEvent, Code, Redemption
from tessera.vouchers.services import batch_revoke, code_revoke, redemption_reverse, voucher_redeem
from tests.auditing import raw

Action = AuditEvent.Action


@pytest.fixture
def audit_role(event) -> None:
    """README, "The audit log": a role that may only add to and read the log, taken on for the
    rest of the test. Created inside the test's transaction, so it is gone again afterwards;
    named after the test database, since roles are shared by every database of the server."""
    role = f"{connection.settings_dict['NAME']}_audit_writer"
    for statement in (
        f"CREATE ROLE {role} NOLOGIN",
        f"GRANT INSERT, SELECT ON vouchers_auditevent TO {role}",
        f"SET LOCAL ROLE {role}",
    ):
        raw(statement)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="database roles are PostgreSQL's")
class TestAuditRole:
    def test_the_role_may_insert_and_select(self, audit_role):
        audit_record(action=Action.REVOKED, actor="cli", codes=1)
        assert [e.action for e in AuditEvent.objects.all()] == ["created", "revoked"]

    @pytest.mark.parametrize(
        "statement",
        [
            "UPDATE vouchers_auditevent SET actor = 'x'",
            "DELETE FROM vouchers_auditevent",
            "TRUNCATE vouchers_auditevent",
        ],
    )
    def test_the_role_may_not_change_or_remove_rows(self, audit_role, statement):
        with pytest.raises(DatabaseError, match="permission denied"):
            raw(statement)
        assert AuditEvent.objects.get().actor == "cli"


class TestActor:
    def test_a_user_is_named_by_id_not_username(self, learner):
        assert actor_of(learner) == f"user:{learner.pk}"

    def test_nobody_signed_in_is_anonymous(self):
        assert actor_of(AnonymousUser()) == "anonymous"
        assert actor_of(None) == "anonymous"


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action))


class TestWhatIsAudited:
    def test_a_created_batch_is_audited_once(self, enrollment_offer, make_batch):
        batch = make_batch(enrollment_offer, count=4)
        [created] = events(Action.CREATED)
        assert created.batch_id == batch.pk
        assert created.detail == {"count": 4}

    def test_a_redemption_writes_redeemed(self, enrollment_offer, make_code, learner, running_session):
        text = make_code(enrollment_offer)
        redemption = voucher_redeem(code=text, user=learner, session=running_session, client_ip="198.51.100.4")
        [redeemed] = events(Action.REDEEMED)
        assert redeemed.actor == f"user:{learner.pk}"
        assert redeemed.code == codes.parse(text)
        assert redeemed.batch_id == Code.objects.get(pk=redemption.code_id).batch_id
        assert redeemed.at == redemption.redeemed_at
        assert redeemed.detail == {"session": "python-2026"}  # the address stays with the redemption only
        assert not events(Action.REFUSED)

    def test_an_unknown_code_writes_refused_with_the_reason(self, learner, running_session):
        unknown = codes.format_code(codes.generate(1)[0])
        with pytest.raises(CodeNotFound):
            voucher_redeem(code=unknown, user=learner, session=running_session, client_ip="198.51.100.4")
        [refused] = events(Action.REFUSED)
        assert refused.actor == f"user:{learner.pk}"
        assert refused.code == codes.normalize(unknown)  # kept normalised, so a search finds it
        assert refused.batch_id is None
        assert refused.detail == {"reason": "not_found", "session": "python-2026"}
        assert not Redemption.objects.exists()

    def test_a_mistyped_code_writes_refused_with_the_reason(
        self, enrollment_offer, make_code, learner, running_session
    ):
        text = make_code(enrollment_offer)
        typo = text[:-1] + ("0" if text[-1] != "0" else "1")
        with pytest.raises(CodeMistyped):
            voucher_redeem(code=typo, user=learner, session=running_session)
        [refused] = events(Action.REFUSED)
        assert refused.detail["reason"] == "mistyped"
        assert refused.code == codes.normalize(typo)
        assert Code.objects.get(pk=codes.parse(text)).uses == 0

    def test_garbage_input_is_kept_short_in_the_log(self, learner, running_session):
        with pytest.raises(CodeMistyped):
            voucher_redeem(code="x" * 500, user=learner, session=running_session)
        [refused] = events(Action.REFUSED)
        assert len(refused.code) == MAX_CODE_TEXT

    def test_a_refusal_of_a_real_code_changes_nothing_but_the_log(
        self, enrollment_offer, make_code, learner, running_session
    ):
        text = make_code(enrollment_offer)
        code_revoke(code=Code.objects.get(pk=codes.parse(text)), actor="cli")
        with pytest.raises(CodeRevoked):
            voucher_redeem(code=text, user=learner, session=running_session)
        assert events(Action.REFUSED)[0].detail["reason"] == "revoked"
        assert Code.objects.get(pk=codes.parse(text)).uses == 0
        assert not Enrollment.objects.exists()

    @pytest.mark.django_db(transaction=True)
    def test_a_refusal_after_the_use_was_counted_rolls_back_but_stays_in_the_log(
        self, enrollment_offer, make_code, learner, running_session, monkeypatch
    ):
        text = make_code(enrollment_offer)
        real_enroll = catalog_services.enrollment_enroll

        def another_request_enrolls_first(*, user, session, enrollment):
            # A concurrent redemption wins the race between the eligibility check and activation.
            Enrollment.objects.create(user=user, session=session)
            return real_enroll(user=user, session=session, enrollment=enrollment)

        monkeypatch.setattr(catalog_services, "enrollment_enroll", another_request_enrolls_first)
        with pytest.raises(NotEligible):
            voucher_redeem(code=text, user=learner, session=running_session)
        assert Code.objects.get(pk=codes.parse(text)).uses == 0
        assert not Redemption.objects.exists()
        assert not events(Action.REDEEMED)
        [refused] = events(Action.REFUSED)
        assert refused.detail["reason"] == "not_eligible"

    def test_a_reversal_writes_reversed(self, enrollment_offer, make_code, learner, running_session):
        redemption = voucher_redeem(code=make_code(enrollment_offer), user=learner, session=running_session)
        redemption_reverse(redemption=redemption, actor="user:staff")
        [reversed_] = events(Action.REVERSED)
        assert reversed_.actor == "user:staff"
        assert reversed_.code == redemption.code_id
        assert reversed_.at == Redemption.objects.get().reversed_at
        assert reversed_.detail == {"user_id": learner.pk, "use_returned": True}

    def test_revoking_a_code_writes_revoked(self, enrollment_offer, make_batch):
        batch = make_batch(enrollment_offer, count=2)
        code = batch.codes.first()
        code_revoke(code=code, actor="cli")
        [revoked] = events(Action.REVOKED)
        assert (revoked.actor, revoked.code, revoked.batch_id) == ("cli", code.code, batch.pk)

    def test_revoking_a_batch_writes_revoked_with_the_number_of_codes(self, enrollment_offer, make_batch):
        batch = make_batch(enrollment_offer, count=3)
        batch_revoke(batch=batch, actor="cli")
        [revoked] = events(Action.REVOKED)
        assert (revoked.actor, revoked.code, revoked.batch_id) == ("cli", "", batch.pk)
        assert revoked.detail == {"codes": 3}

    def test_the_log_reads_in_order(self, enrollment_offer, make_code, learner, running_session):
        text = make_code(enrollment_offer)
        redemption = voucher_redeem(code=text, user=learner, session=running_session)
        with pytest.raises(NotEligible):
            voucher_redeem(code=make_code(enrollment_offer), user=learner, session=running_session)
        redemption_reverse(redemption=redemption, actor="cli")
        assert [event.action for event in AuditEvent.objects.all()] == [
            "offer_created", "created", "redeemed", "created", "refused", "reversed",
        ]  # fmt: skip
