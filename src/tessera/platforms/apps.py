from django.apps import AppConfig


class PlatformsConfig(AppConfig):
    name = "tessera.platforms"
    label = "platforms"
    verbose_name = "Course platforms"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tessera.platforms import privacy
        from tessera.vouchers.signals import learner_erasing

        learner_erasing.connect(privacy.on_learner_erasing, dispatch_uid="platforms-learner-erasing")
