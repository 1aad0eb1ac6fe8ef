from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "tessera.platform"
    label = "platform"
    verbose_name = "Platform API"

    def ready(self) -> None:
        from tessera.platform import privacy
        from tessera.vouchers.signals import learner_erasing

        learner_erasing.connect(privacy.on_learner_erasing, dispatch_uid="platform-learner-erasing")
