"""What the staff pages' tests share: the "Create codes" form, and every page of an offer and a batch."""

from tessera.vouchers.models import Batch, Offer


def batch_form(**fields: object) -> dict[str, object]:
    """The "Create codes" form, filled in: 3 codes with 2 uses each; `fields` change or add to it."""
    return {"count": 3, "uses_per_code": 2, "tag": "spring", "country": "de", "refund_policy": "return_use", **fields}


def staff_urls(offer: Offer, batch: Batch) -> list[str]:
    return [
        "/staff/offers", "/staff/offers/new", f"/staff/offers/{offer.pk}",
        f"/staff/offers/{offer.pk}/export.csv", f"/staff/batches/{batch.pk}", f"/staff/batches/{batch.pk}/export.csv",
        f"/staff/batches/{batch.pk}/cards.pdf", f"/staff/batches/{batch.pk}/mail", "/staff/mail-templates",
        "/staff/mail-templates/edit?kind=code&language=de",
    ]  # fmt: skip
