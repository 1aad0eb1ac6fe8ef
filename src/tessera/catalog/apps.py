from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "tessera.catalog"
    label = "catalog"
    verbose_name = "Catalog"
