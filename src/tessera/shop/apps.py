from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "tessera.shop"
    label = "shop"
    verbose_name = "Shops"
