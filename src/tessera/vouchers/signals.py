"""What the voucher service tells the layers above it, once the change is committed.

Sent from `transaction.on_commit`, so a receiver (the shop's webhooks) never hears of a
redemption that was rolled back. vouchers knows nothing of its receivers.
"""

from django.dispatch import Signal

# redemption: the committed Redemption.
voucher_redeemed = Signal()
# redemption: the Redemption, now with reversed_at and reversed_by; use_returned: bool.
redemption_reversed = Signal()
