"""What the voucher commands' tests share: an offer made by `create_offer`, a code redeemed."""

import re

import pytest

from tessera.vouchers.models import Offer, Product
from tessera.vouchers.services import voucher_redeem
from tests.commands import run_command


def create_offer(session_slug: str, product: str = Product.ENROLLMENT) -> Offer:
    out = run_command("create_offer", "--name", "Spring sale", "--product", product, "--session", session_slug)
    match = re.search(r"Created offer (\d+): ", out)
    assert match, out
    return Offer.objects.get(pk=int(match[1]))


@pytest.fixture
def redeemed_code(enrollment_offer, make_code, learner, running_session):
    """An enrollment code with one use, redeemed by the learner from 203.0.113.7."""
    text = make_code(enrollment_offer)
    voucher_redeem(code=text, user=learner, session=running_session, client_ip="203.0.113.7")
    return text
