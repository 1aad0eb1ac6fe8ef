"""What the voucher service tells the layers above it, once the change is committed.

Sent from `transaction.on_commit`, so a receiver (the shop's webhooks) never hears of a
redemption that was rolled back. vouchers knows nothing of its receivers.
"""

from django.dispatch import Signal

# redemption: the committed Redemption.
voucher_redeemed = Signal()
# redemption: the Redemption, now with reversed_at and reversed_by; use_returned: bool.
redemption_reversed = Signal()

# --- personal data (services.privacy) ---------------------------------------------------------
# Unlike the two above, these are sent INSIDE the service's transaction, so whatever a receiver
# changes commits or rolls back with the rest (a dry run rolls it all back). A receiver answers
# {what: how many rows it changed}, which the service adds to its counts and its audit row.

# before: datetime; addresses stored before then are to go.
addresses_purging = Signal()
# user: the learner being erased; addresses: the client addresses of their redemptions.
learner_erasing = Signal()
