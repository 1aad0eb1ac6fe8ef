"""Platform API tokens from the command line and the admin: shown once, stored as digests, revocable."""

import re
from io import StringIO

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError

from tessera.api.models import ApiToken
from tessera.api.services import api_token_issue
from tessera.vouchers.models import AuditEvent
from tests.auditing import audited, row_text

TOKEN = re.compile(r"^tsr_[A-Za-z0-9_-]{43}$", re.MULTILINE)
MINE = "/api/v1/me/entitlements"


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


class TestCommands:
    def test_create_api_token_prints_a_working_token_once(self, client, learner):
        token = TOKEN.search(run("create_api_token", "learner", "--label", "lms"))[0]
        assert client.get(MINE, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
        stored = ApiToken.objects.get()
        assert (stored.label, stored.prefix) == ("lms", token[:8])
        assert token not in {stored.digest, stored.prefix}

    def test_an_unknown_user_gets_no_token(self, db):
        with pytest.raises(CommandError, match="invalid_input"):
            run("create_api_token", "nobody")
        assert not ApiToken.objects.exists()

    def test_revoke_by_prefix_stops_only_that_token(self, client, learner):
        first = TOKEN.search(run("create_api_token", "learner"))[0]
        second = TOKEN.search(run("create_api_token", "learner"))[0]
        run("revoke_api_token", first[:8])
        assert client.get(MINE, HTTP_AUTHORIZATION=f"Bearer {first}").status_code == 401
        assert client.get(MINE, HTTP_AUTHORIZATION=f"Bearer {second}").status_code == 200

    def test_revoke_every_token_of_a_user(self, client, learner):
        tokens = [TOKEN.search(run("create_api_token", "learner"))[0] for _ in range(2)]
        assert "Revoked 2" in run("revoke_api_token", "--user", "learner")
        assert all(client.get(MINE, HTTP_AUTHORIZATION=f"Bearer {t}").status_code == 401 for t in tokens)

    def test_a_prefix_shared_by_live_tokens_revokes_none_and_names_their_users(self, client, learner, other_learner):
        mine = TOKEN.search(run("create_api_token", "learner"))[0]
        theirs = TOKEN.search(run("create_api_token", "other_learner"))[0]
        ApiToken.objects.update(prefix=mine[:8])  # as if the random characters had collided
        with pytest.raises(CommandError, match=rf"^invalid_input: 2 tokens begin with {mine[:8]};") as refused:
            run("revoke_api_token", mine[:8])
        assert "learner, other_learner" in str(refused.value)
        assert not ApiToken.objects.filter(revoked_at__isnull=False).exists()
        assert all(client.get(MINE, HTTP_AUTHORIZATION=f"Bearer {t}").status_code == 200 for t in (mine, theirs))

    def test_revoking_nothing_is_an_error(self, db):
        with pytest.raises(CommandError, match="not_found"):
            run("revoke_api_token", "tsr_zzzz")


def admin_with(*codenames: str) -> User:
    """A staff member, not a superuser, holding exactly these permissions."""
    user = User.objects.create_user("clerk", password="clerk-pass-1", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


class TestAdmin:
    def test_staff_issue_a_token_shown_once_in_a_message(self, client, staff, learner):
        client.force_login(staff)
        page = client.post("/admin/platform/apitoken/add/", {"user": learner.pk, "label": "lms"}, follow=True)
        token = TOKEN.search(page.content.decode().replace(" ", "\n").replace("<", "\n"))[0]
        assert client.get(MINE, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
        listing = client.get("/admin/platform/apitoken/")
        assert listing.status_code == 200
        assert token[:8] in listing.content.decode()
        assert token not in listing.content.decode()

    def test_staff_revoke_tokens_with_the_action(self, client, staff, learner):
        token = TOKEN.search(run("create_api_token", "learner"))[0]
        client.force_login(staff)
        selected = [ApiToken.objects.get().pk]
        client.post("/admin/platform/apitoken/", {"action": "revoke_tokens", "_selected_action": selected})
        # The staff session cookie rides along, but a bad token is refused, not passed on to it.
        assert client.get(MINE, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401

    def test_staff_who_may_only_view_tokens_cannot_revoke_them(self, client, learner):
        token = TOKEN.search(run("create_api_token", "learner"))[0]
        client.force_login(admin_with("view_apitoken"))
        selected = [ApiToken.objects.get().pk]
        client.post("/admin/platform/apitoken/", {"action": "revoke_tokens", "_selected_action": selected})
        assert ApiToken.objects.get().revoked_at is None
        assert client.get(MINE, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200

    def test_staff_who_are_not_superusers_cannot_issue_tokens(self, client, learner):
        client.force_login(admin_with("view_apitoken", "add_apitoken"))
        assert client.get("/admin/platform/apitoken/add/").status_code == 403
        page = client.post("/admin/platform/apitoken/add/", {"user": learner.pk, "label": "lms"})
        assert page.status_code == 403
        assert not ApiToken.objects.exists()

    def test_staff_holding_every_token_permission_cannot_revoke_change_or_delete(self, client, learner):
        token = TOKEN.search(run("create_api_token", "learner"))[0]
        stored = ApiToken.objects.get()
        client.force_login(admin_with("view_apitoken", "add_apitoken", "change_apitoken", "delete_apitoken"))
        assert client.get("/admin/platform/apitoken/").context["action_form"] is None
        client.post("/admin/platform/apitoken/", {"action": "revoke_tokens", "_selected_action": [stored.pk]})
        change = f"/admin/platform/apitoken/{stored.pk}/change/"
        assert client.post(change, {"user": learner.pk, "label": "renamed"}).status_code == 403
        assert client.post(f"/admin/platform/apitoken/{stored.pk}/delete/", {"post": "yes"}).status_code == 403
        assert ApiToken.objects.filter(pk=stored.pk, revoked_at=None, label=stored.label).exists()
        assert client.get(MINE, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


Action = AuditEvent.Action


def issued_and_revoked(rows: list[AuditEvent]) -> list[tuple[str, str, int]]:
    return [(row.action, row.actor, row.detail["token_id"]) for row in rows]


class TestTheAuditLog:
    """Each token issued or revoked is one row naming the token and its user by id: never the
    token, its prefix (a part of it) or the username (personal data)."""

    def test_the_commands_log_issuing_and_revoking_under_cli(self, learner):
        with audited() as rows:
            token = TOKEN.search(run("create_api_token", "learner", "--label", "lms"))[0]
            run("revoke_api_token", token[:8])
        stored = ApiToken.objects.get()
        assert issued_and_revoked(rows) == [
            (Action.TOKEN_ISSUED, "cli", stored.pk),
            (Action.TOKEN_REVOKED, "cli", stored.pk),
        ]
        assert rows[0].detail == {"kind": "api_token", "token_id": stored.pk, "user_id": learner.pk}
        for row in rows:
            assert token[:8] not in row_text(row)
            assert "learner" not in row_text(row)

    def test_revoking_a_users_tokens_is_one_row_each(self, learner):
        run("create_api_token", "learner")
        run("create_api_token", "learner")
        with audited() as rows:
            run("revoke_api_token", "--user", "learner")
        assert sorted(issued_and_revoked(rows)) == [
            (Action.TOKEN_REVOKED, "cli", t.pk) for t in ApiToken.objects.order_by("pk")
        ]

    def test_a_shared_prefix_or_an_unknown_user_logs_nothing(self, learner, other_learner):
        mine = TOKEN.search(run("create_api_token", "learner"))[0]
        run("create_api_token", "other_learner")
        ApiToken.objects.update(prefix=mine[:8])  # as if the random characters had collided
        with audited() as rows:
            with pytest.raises(CommandError, match=r"^invalid_input: 2 tokens"):
                run("revoke_api_token", mine[:8])
            with pytest.raises(CommandError, match="invalid_input"):
                run("create_api_token", "nobody")
        assert rows == []

    def test_the_admin_logs_issuing_and_revoking_under_the_superusers_id(self, client, staff, learner):
        client.force_login(staff)
        with audited() as rows:
            page = client.post("/admin/platform/apitoken/add/", {"user": learner.pk, "label": "lms"}, follow=True)
            stored = ApiToken.objects.get()
            client.post("/admin/platform/apitoken/", {"action": "revoke_tokens", "_selected_action": [stored.pk]})
        token = TOKEN.search(page.content.decode().replace(" ", "\n").replace("<", "\n"))[0]
        actor = f"user:{staff.pk}"
        assert issued_and_revoked(rows) == [
            (Action.TOKEN_ISSUED, actor, stored.pk),
            (Action.TOKEN_REVOKED, actor, stored.pk),
        ]
        assert all(token[:8] not in row_text(row) for row in rows)

    def test_an_audit_row_that_cannot_be_written_leaves_no_token(self, learner, monkeypatch):
        def audit_fails(**kwargs: object) -> None:
            raise DatabaseError("the audit log refused the row")

        monkeypatch.setattr("tessera.api.services.audit_record", audit_fails)
        with pytest.raises(DatabaseError):
            api_token_issue(user=learner, actor="cli")
        assert not ApiToken.objects.exists()
