"""What the voucher service tells the layers above it. vouchers knows nothing of its receivers.

The first two are sent from `transaction.on_commit`, so a receiver (the shop's webhooks) never
hears of a redemption that was rolled back. Those named `..._in_transaction` are sent INSIDE the
service's transaction, as its last statements: what a receiver writes (a course platform's
events, tessera.platforms.events) commits or rolls back with the change itself, and a receiver's
error rolls the change back.
"""

from django.dispatch import Signal

# redemption: the committed Redemption.
voucher_redeemed = Signal()
# redemption: the Redemption, now with reversed_at and reversed_by; use_returned: bool.
redemption_reversed = Signal()

# --- inside the transaction (services.redeem, services.batches) -------------------------------
# redemption: the Redemption just recorded (its code with batch and offer, its session), after
# the product was activated and the use counted.
voucher_redeemed_in_transaction = Signal()
# redemption: the Redemption, now with reversed_at and reversed_by, after the product was
# deactivated; use_returned: bool.
redemption_reversed_in_transaction = Signal()
# batch: the Batch, its offer loaded or not; codes: how many of its codes this revoked; at: when.
batch_revoked_in_transaction = Signal()

# --- personal data (services.privacy) ---------------------------------------------------------
# Unlike the two above, these are sent INSIDE the service's transaction, so whatever a receiver
# changes commits or rolls back with the rest (a dry run rolls it all back). A receiver answers
# {what: how many rows it changed}, which the service adds to its counts and its audit row.

# before: datetime; addresses stored before then are to go.
addresses_purging = Signal()
# user: the learner being erased; addresses: the client addresses of their redemptions.
learner_erasing = Signal()
