"""The API tokens' admin (tessera.api.admin): superusers issue a token, shown once, and revoke
tokens; other staff do neither; both are audited under the superuser's id."""

from tessera.api.models import ApiToken
from tessera.vouchers.models import AuditEvent
from tests.api.conftest import MINE, TOKEN, issued_and_revoked
from tests.auditing import audited, row_text
from tests.commands import run_command
from tests.conftest import clerk_with

Action = AuditEvent.Action


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
        token = TOKEN.search(run_command("create_api_token", "learner"))[0]
        client.force_login(staff)
        selected = [ApiToken.objects.get().pk]
        client.post("/admin/platform/apitoken/", {"action": "revoke_tokens", "_selected_action": selected})
        # The staff session cookie rides along, but a bad token is refused, not passed on to it.
        assert client.get(MINE, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401

    def test_staff_who_may_only_view_tokens_cannot_revoke_them(self, client, learner):
        token = TOKEN.search(run_command("create_api_token", "learner"))[0]
        client.force_login(clerk_with("view_apitoken"))
        selected = [ApiToken.objects.get().pk]
        client.post("/admin/platform/apitoken/", {"action": "revoke_tokens", "_selected_action": selected})
        assert ApiToken.objects.get().revoked_at is None
        assert client.get(MINE, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200

    def test_staff_who_are_not_superusers_cannot_issue_tokens(self, client, learner):
        client.force_login(clerk_with("view_apitoken", "add_apitoken"))
        assert client.get("/admin/platform/apitoken/add/").status_code == 403
        page = client.post("/admin/platform/apitoken/add/", {"user": learner.pk, "label": "lms"})
        assert page.status_code == 403
        assert not ApiToken.objects.exists()

    def test_staff_holding_every_token_permission_cannot_revoke_change_or_delete(self, client, learner):
        token = TOKEN.search(run_command("create_api_token", "learner"))[0]
        stored = ApiToken.objects.get()
        client.force_login(clerk_with("view_apitoken", "add_apitoken", "change_apitoken", "delete_apitoken"))
        assert client.get("/admin/platform/apitoken/").context["action_form"] is None
        client.post("/admin/platform/apitoken/", {"action": "revoke_tokens", "_selected_action": [stored.pk]})
        change = f"/admin/platform/apitoken/{stored.pk}/change/"
        assert client.post(change, {"user": learner.pk, "label": "renamed"}).status_code == 403
        assert client.post(f"/admin/platform/apitoken/{stored.pk}/delete/", {"post": "yes"}).status_code == 403
        assert ApiToken.objects.filter(pk=stored.pk, revoked_at=None, label=stored.label).exists()
        assert client.get(MINE, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200

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
