"""Everything that changes vouchers. Entry points (CLI, admin, API, pages) call these only."""

from tessera.vouchers.services.batches import batch_create, batch_revoke, code_revoke, offer_create, offer_validate
from tessera.vouchers.services.redeem import parse_code, redemption_reverse, voucher_redeem

__all__ = [
    "batch_create",
    "batch_revoke",
    "code_revoke",
    "offer_create",
    "offer_validate",
    "parse_code",
    "redemption_reverse",
    "voucher_redeem",
]
