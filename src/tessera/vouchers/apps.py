from django.apps import AppConfig
from django.conf import settings


class VouchersConfig(AppConfig):
    name = "tessera.vouchers"
    label = "vouchers"
    verbose_name = "Vouchers"

    def ready(self) -> None:
        from tessera.core.chores import chore_register
        from tessera.vouchers import checks  # noqa: F401 - registers the settings check
        from tessera.vouchers.services import batch_jobs_requeue_stalled
        from tessera.vouchers.services.mailing import send_jobs_requeue_stalled

        chore_register(
            "stalled-batch-jobs", batch_jobs_requeue_stalled, every=lambda: settings.TESSERA_JOB_LEASE_SECONDS
        )
        chore_register("stalled-mail-jobs", send_jobs_requeue_stalled, every=lambda: settings.TESSERA_JOB_LEASE_SECONDS)
