from django.apps import AppConfig
from django.conf import settings


class ShopConfig(AppConfig):
    name = "tessera.shop"
    label = "shop"
    verbose_name = "Shops"

    def ready(self) -> None:
        from tessera.core.chores import chore_register
        from tessera.shop import privacy, receivers
        from tessera.shop.tasks import webhook_deliveries_requeue_stuck
        from tessera.vouchers.signals import addresses_purging, learner_erasing, redemption_reversed, voucher_redeemed

        # Strong references (the receivers are module functions) and a uid, so a second ready()
        # cannot connect them twice and send every webhook twice.
        voucher_redeemed.connect(receivers.on_voucher_redeemed, dispatch_uid="shop-webhooks-redeemed")
        redemption_reversed.connect(receivers.on_redemption_reversed, dispatch_uid="shop-webhooks-reversed")
        addresses_purging.connect(privacy.on_addresses_purging, dispatch_uid="shop-addresses-purging")
        learner_erasing.connect(privacy.on_learner_erasing, dispatch_uid="shop-learner-erasing")
        # Deliveries whose task was lost are queued again by every task worker, once a lease.
        chore_register("stuck-webhooks", webhook_deliveries_requeue_stuck, every=lambda: settings.TESSERA_WEBHOOK_LEASE)
