from dataclasses import dataclass

import pytest

from tessera.shop.models import Shop
from tessera.shop.services import shop_create, token_issue


@dataclass
class ShopPersona:
    shop: Shop
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.token}"}


def _persona(name: str) -> ShopPersona:
    shop = shop_create(name=name)
    _, token = token_issue(shop=shop)
    return ShopPersona(shop=shop, token=token)


@pytest.fixture
def shop_a(db: None) -> ShopPersona:
    return _persona("Shop A")


@pytest.fixture
def shop_b(db: None) -> ShopPersona:
    return _persona("Shop B")
