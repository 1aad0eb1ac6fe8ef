"""`tessera set-platform-webhook`: a platform's webhook URL set (its signing secret printed when
made), the secret rotated, webhooks turned off; each one audit row under "cli"; refusals with
their stable codes."""

import pytest
from django.core.management.base import CommandError

from tessera.platforms.models import Platform
from tessera.platforms.services import Credentials
from tessera.vouchers.models import AuditEvent
from tests.auditing import audited, row_text
from tests.commands import run_command
from tests.shop.webhooking import SECRET

pytestmark = pytest.mark.django_db

Action = AuditEvent.Action
HOOKS = "https://lms-a.example/hooks"


def platform_a_now() -> Platform:
    return Platform.objects.get(slug="moodle-a")


class TestSetPlatformWebhook:
    def test_setting_a_url_prints_the_new_secret_once(self, platform_a: Credentials) -> None:
        first = run_command("set_platform_webhook", "moodle-a", HOOKS)
        assert f"go to {HOOKS}" in first
        [secret] = SECRET.findall(first)
        assert (platform_a_now().webhook_url, platform_a_now().webhook_secret) == (HOOKS, secret)
        again = run_command("set_platform_webhook", "moodle-a", "https://lms-a.example/v2/hooks")
        assert secret not in again
        assert "unchanged" in again

    def test_rotate_secret_prints_a_new_one(self, platform_a: Credentials) -> None:
        [secret] = SECRET.findall(run_command("set_platform_webhook", "moodle-a", HOOKS))
        [rotated] = SECRET.findall(run_command("set_platform_webhook", "moodle-a", "--rotate-secret"))
        assert rotated != secret
        assert platform_a_now().webhook_secret == rotated

    def test_off_clears_the_url(self, platform_a: Credentials) -> None:
        run_command("set_platform_webhook", "moodle-a", HOOKS)
        assert "are off" in run_command("set_platform_webhook", "moodle-a", "--off")
        assert platform_a_now().webhook_url == ""

    @pytest.mark.parametrize(
        ("args", "message"),
        [(("nope", "https://x.example/"), r"^not_found: "), (("moodle-a",), r"^invalid_input: name a URL"),
         (("moodle-a", "x", "--off"), r"^invalid_input: --off takes"),
         (("moodle-a", "ftp://lms.example/"), r"^invalid_input: The webhook URL must be an http or https URL"),
         (("moodle-a", "http://169.254.169.254/"), r"^webhook_url_forbidden: ")],
    )  # fmt: skip
    def test_a_refusal_says_its_code_and_changes_nothing(
        self, platform_a: Credentials, args: tuple[str, ...], message: str
    ) -> None:
        with pytest.raises(CommandError, match=message):
            run_command("set_platform_webhook", *args)
        assert (platform_a_now().webhook_url, platform_a_now().webhook_secret) == ("", "")


class TestTheAuditLog:
    def test_the_url_set_the_secret_rotated_and_webhooks_turned_off_are_logged_under_cli(
        self, platform_a: Credentials
    ) -> None:
        with audited() as rows:
            [first] = SECRET.findall(run_command("set_platform_webhook", "moodle-a", f"{HOOKS}?key=k1"))
            [rotated] = SECRET.findall(run_command("set_platform_webhook", "moodle-a", "--rotate-secret"))
            run_command("set_platform_webhook", "moodle-a", "--off")
        assert [(row.action, row.actor) for row in rows] == [
            (Action.WEBHOOK_SET, "cli"), (Action.SECRET_ROTATED, "cli"), (Action.WEBHOOK_OFF, "cli"),
        ]  # fmt: skip
        assert rows[0].detail["destination"] == "https://lms-a.example"
        for row in rows:
            assert first not in row_text(row)
            assert rotated not in row_text(row)
            assert "k1" not in row_text(row)
