from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "tessera.api"
    # The learner and staff HTTP API lived in tessera.platform; its label stays "platform" so that
    # existing installs keep their tables (platform_apitoken), migrations, content types and
    # permission names. ("platforms", plural, is the course-platform integration's app.)
    label = "platform"
    verbose_name = "Platform API"

    def ready(self) -> None:
        from tessera.api import privacy
        from tessera.vouchers.signals import learner_erasing

        learner_erasing.connect(privacy.on_learner_erasing, dispatch_uid="platform-learner-erasing")
