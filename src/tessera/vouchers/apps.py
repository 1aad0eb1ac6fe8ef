from django.apps import AppConfig


class VouchersConfig(AppConfig):
    name = "tessera.vouchers"
    label = "vouchers"
    verbose_name = "Vouchers"
