"""Everything that changes vouchers. Entry points (CLI, admin, API, pages) call these only."""

from tessera.vouchers.services.assignments import (
    Recipient,
    assignment_resend,
    assignment_withdraw,
    assignments_create,
    assignments_remind,
    assignments_resend_failed,
    recipients_from_text,
)
from tessera.vouchers.services.batches import (
    MAX_USES_PER_CODE,
    BatchSpec,
    batch_create,
    batch_revoke,
    code_revoke,
    offer_create,
    offer_delete,
    offer_frozen_fields,
    offer_save,
    offer_validate,
)
from tessera.vouchers.services.imports import CodeList, codes_from_csv, codes_import
from tessera.vouchers.services.jobs import (
    IN_REQUEST_MAX,
    batch_create_in_request,
    batch_job_create,
    batch_job_requeue,
    batch_job_run,
    batch_jobs_requeue_stalled,
    batch_order,
)
from tessera.vouchers.services.mailing import send_job_run, template_save
from tessera.vouchers.services.redeem import (
    Preview,
    redemption_reverse,
    refund_returns_use,
    voucher_check,
    voucher_redeem,
)

__all__ = [
    "IN_REQUEST_MAX",
    "MAX_USES_PER_CODE",
    "BatchSpec",
    "CodeList",
    "Preview",
    "Recipient",
    "assignment_resend",
    "assignment_withdraw",
    "assignments_create",
    "assignments_remind",
    "assignments_resend_failed",
    "batch_create",
    "batch_create_in_request",
    "batch_job_create",
    "batch_job_requeue",
    "batch_job_run",
    "batch_jobs_requeue_stalled",
    "batch_order",
    "batch_revoke",
    "code_revoke",
    "codes_from_csv",
    "codes_import",
    "offer_create",
    "offer_delete",
    "offer_frozen_fields",
    "offer_save",
    "offer_validate",
    "recipients_from_text",
    "redemption_reverse",
    "refund_returns_use",
    "send_job_run",
    "template_save",
    "voucher_check",
    "voucher_redeem",
]
