from typing import Any

from tessera.vouchers.management.base import VoucherCommand
from tessera.vouchers.models import Offer
from tessera.vouchers.selectors.codes import code_details
from tessera.vouchers.selectors.entitlements import place_of


class Command(VoucherCommand):
    help = "Show a code: its offer, status, uses and every redemption (who, when, where)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("code")

    def handle(self, *args: Any, code: str, **opts: Any) -> None:
        details = code_details(code)
        batch = details.code.batch
        offer = batch.offer
        lines = [
            f"Code:       {details.display}",
            f"Status:     {details.status}",
            f"Uses:       {details.code.uses} of {details.code.max_uses}",
            f"Offer:      {offer.pk} {offer.name} ({offer.product})",
            _offered_place(offer),
            f"Batch:      {batch.pk}, tag {batch.tag}, country {batch.country or '-'}",
            f"Expires:    {batch.expires_at.isoformat() if batch.expires_at else 'never'}",
            f"Restricted: {batch.restricted_to.get_username() if batch.restricted_to else 'no'}",
        ]
        for r in details.redemptions:
            reversed_note = f", reversed {r.reversed_at.isoformat()}" if r.reversed_at else ""
            lines.append(
                f"Redeemed:   {r.redeemed_at.isoformat()} by {r.user.get_username()} "
                f"in {place_of(r)} from {r.client_ip or '-'}{reversed_note}"
            )
        self.stdout.write("\n".join(lines))


def _offered_place(offer: Offer) -> str:
    if offer.assessment is not None:
        return f"Assessment: {offer.assessment.slug}"
    return f"Session:    {offer.session.slug if offer.session else '(any session offering it)'}"
