from django.apps import AppConfig
from django.conf import settings

# Seconds between two looks for reactivations whose end has passed (entitlement.expired).
EXPIRY_EVERY = 60


class PlatformsConfig(AppConfig):
    name = "tessera.platforms"
    label = "platforms"
    verbose_name = "Course platforms"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tessera.core.chores import chore_register
        from tessera.platforms import delivery, events, privacy
        from tessera.platforms.catalog import archived_by_its_platform
        from tessera.vouchers.availability import closed_check_register
        from tessera.vouchers.signals import (
            batch_revoked_in_transaction,
            learner_erasing,
            redemption_reversed_in_transaction,
            voucher_redeemed_in_transaction,
        )

        learner_erasing.connect(privacy.on_learner_erasing, dispatch_uid="platforms-learner-erasing")
        closed_check_register(archived_by_its_platform)  # no redemption on a session its platform archived

        # Inside the change's transaction (a transactional outbox). A uid each, so a second ready()
        # cannot connect them twice and write every event twice.
        voucher_redeemed_in_transaction.connect(events.on_voucher_redeemed, dispatch_uid="platform-events-redeemed")
        redemption_reversed_in_transaction.connect(
            events.on_redemption_reversed, dispatch_uid="platform-events-reversed"
        )
        batch_revoked_in_transaction.connect(events.on_batch_revoked, dispatch_uid="platform-events-batch-revoked")
        chore_register("platform-reactivations-expired", events.reactivations_expire, every=lambda: EXPIRY_EVERY)
        chore_register(
            "platform-webhooks-behind", delivery.platform_deliveries_restart,
            every=lambda: settings.TESSERA_WEBHOOK_LEASE,
        )  # fmt: skip
