from django.apps import AppConfig


class VouchersConfig(AppConfig):
    name = "tessera.vouchers"
    label = "vouchers"
    verbose_name = "Vouchers"

    def ready(self) -> None:
        from tessera.vouchers import checks  # noqa: F401 - registers the settings check
