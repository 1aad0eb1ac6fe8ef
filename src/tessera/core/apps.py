from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "tessera.core"
    label = "core"

    def ready(self) -> None:
        from django.core import checks

        from tessera.core.webhooks import check_webhook_settings

        checks.register(check_webhook_settings)
