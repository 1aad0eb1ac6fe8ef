"""Everything that changes vouchers. Entry points (CLI, admin, API, pages) call these only."""

from tessera.vouchers.services.batches import batch_create, batch_revoke, code_revoke, offer_create, offer_validate
from tessera.vouchers.services.redeem import redemption_reverse, voucher_redeem

__all__ = [
    "batch_create",
    "batch_revoke",
    "code_revoke",
    "offer_create",
    "offer_validate",
    "redemption_reverse",
    "voucher_redeem",
]
