from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class WebConfig(AppConfig):
    default = True
    name = "tessera.web"
    label = "web"
    verbose_name = "Learner pages"


class AdminConfig(admin_apps.AdminConfig):
    """Django's admin with Tessera's site as `admin.site`, so every app registers on it."""

    default = False  # named in INSTALLED_APPS; tessera.web itself is WebConfig
    default_site = "tessera.web.admin_site.AdminSite"
