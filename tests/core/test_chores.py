"""The task worker's chores (tessera.core.chores): registered by name, by the apps that own them."""

from tessera.core import chores


class TestTheAppsChores:
    def test_stalled_batch_jobs_and_stuck_webhooks_are_registered_by_their_apps(self):
        assert {chore.name for chore in chores.chores()} == {"stalled-batch-jobs", "stuck-webhooks"}
