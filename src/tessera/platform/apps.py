from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "tessera.platform"
    label = "platform"
    verbose_name = "Platform API"
