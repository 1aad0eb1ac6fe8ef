"""The task worker's chores (tessera.core.chores): registered by name, by the apps that own them."""

import pytest

from tessera.core import chores


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the chores a test registers, and the apps' own back afterwards."""
    monkeypatch.setattr(chores, "_chores", {})


@pytest.mark.usefixtures("registry")
class TestChoreRegister:
    def test_chores_are_listed_in_the_order_registered_with_how_often_they_run(self):
        chores.chore_register("a", lambda: "a", every=lambda: 60)
        chores.chore_register("b", lambda: "b", every=lambda: 5)
        assert [(chore.name, chore.run(), chore.every()) for chore in chores.chores()] == [
            ("a", "a", 60),
            ("b", "b", 5),
        ]

    def test_a_second_registration_of_a_name_replaces_the_first(self):
        chores.chore_register("a", lambda: "first", every=lambda: 60)
        chores.chore_register("a", lambda: "again", every=lambda: 30)
        [chore] = chores.chores()
        assert (chore.run(), chore.every()) == ("again", 30)


class TestTheAppsChores:
    def test_stalled_batch_and_mail_jobs_stuck_webhooks_and_the_platforms_chores_are_registered_by_their_apps(self):
        assert {chore.name for chore in chores.chores()} == {
            "stalled-batch-jobs", "stalled-mail-jobs", "stuck-webhooks", "platform-reactivations-expired",
            "platform-webhooks-behind",
        }  # fmt: skip
