"""The task worker's chores (tessera/core/chores.py): run at its start, and never in its way."""

from typing import Any

import pytest
from django.core.management import call_command
from django.db import OperationalError

from tessera.core import chores


def run_worker() -> None:
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the chores a test registers, and the apps' own back afterwards."""
    monkeypatch.setattr(chores, "_chores", {})


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("registry")
class TestChores:
    def test_each_chore_runs_once_when_the_worker_starts(self):
        runs: list[str] = []
        chores.chore_register("a", lambda: runs.append("a"), every=lambda: 60)
        chores.chore_register("b", lambda: runs.append("b"), every=lambda: 60)
        chores.chore_register("a", lambda: runs.append("a again"), every=lambda: 60)  # a second ready()
        run_worker()
        assert runs == ["a again", "b"]

    def test_a_chore_that_fails_is_logged_and_the_others_and_the_worker_go_on(self, caplog: Any):
        runs: list[str] = []

        def database_busy() -> None:
            raise OperationalError("database is locked")

        def buggy() -> None:
            raise RuntimeError("a bug")

        chores.chore_register("busy", database_busy, every=lambda: 60)
        chores.chore_register("buggy", buggy, every=lambda: 60)
        chores.chore_register("fine", lambda: runs.append("fine"), every=lambda: 60)
        run_worker()
        assert runs == ["fine"]
        assert "Chore busy not done (OperationalError: database is locked)" in caplog.text
        assert "Chore buggy failed" in caplog.text


class TestTheAppsChores:
    def test_stalled_batch_jobs_stuck_webhooks_and_the_platforms_chores_are_registered_by_their_apps(self):
        assert {chore.name for chore in chores.chores()} == {
            "stalled-batch-jobs", "stuck-webhooks", "platform-reactivations-expired", "platform-webhooks-behind",
        }  # fmt: skip
