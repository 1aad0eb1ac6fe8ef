from django.apps import AppConfig


class PlatformsConfig(AppConfig):
    name = "tessera.platforms"
    label = "platforms"
    verbose_name = "Course platforms"
    default_auto_field = "django.db.models.BigAutoField"
