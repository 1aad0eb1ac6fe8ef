"""Refusals of a redemption and bad voucher input, each with a stable code (see DOMAIN.md)."""

from dataclasses import asdict, dataclass

from tessera.core.errors import DomainError, InvalidInput


class VouchersDisabled(DomainError):
    code = "vouchers_disabled"
    http_status = 404
    default_message = "Vouchers are disabled on this platform."


class RedemptionRefused(DomainError):
    """A code that cannot be redeemed here and now; nothing was changed."""

    http_status = 409


class CodeNotFound(RedemptionRefused):
    code = "not_found"
    http_status = 404
    default_message = "There is no such code. Check that you typed it as printed."


class CodeMistyped(RedemptionRefused):
    """Caught by the check symbol before any lookup; a refusal like the others (409), since the
    request itself was well formed."""

    code = "mistyped"
    default_message = "This code has a typo: one of its characters is wrong or two are swapped."


class WrongProduct(RedemptionRefused):
    code = "wrong_product"
    default_message = "This code is for something else."


class ProductUnavailable(RedemptionRefused):
    code = "product_unavailable"
    default_message = "This product is not available here."


class NotEligible(RedemptionRefused):
    code = "not_eligible"
    default_message = "You cannot get this product for this course right now."


class CodeExpired(RedemptionRefused):
    code = "expired"
    default_message = "This code has expired."


class CodeExhausted(RedemptionRefused):
    code = "exhausted"
    default_message = "This code has been used as often as it may be."


class AlreadyRedeemed(RedemptionRefused):
    code = "already_redeemed"
    default_message = "You have already redeemed this code."


class WrongUser(RedemptionRefused):
    code = "wrong_user"
    default_message = "This code was issued to someone else."


class CodeRevoked(RedemptionRefused):
    code = "revoked"
    default_message = "This code has been revoked."


# The refusals a guesser produces, which rate limits count. The others (exhausted, expired, ...)
# mean the code exists, so they tell a guesser nothing new, and counting them would let a few
# learners behind one campus address lock out the rest.
GUESSES: tuple[type[RedemptionRefused], ...] = (CodeNotFound, CodeMistyped)
# Every refusal, guesses included, which a second, more generous rate limit counts: each refused
# redemption writes an audit row, and nobody needs dozens a minute.
REFUSALS: tuple[type[RedemptionRefused], ...] = (RedemptionRefused,)


class AlreadyReversed(DomainError):
    code = "already_reversed"
    http_status = 409
    default_message = "This redemption has already been reversed."


class JobNotRequeued(DomainError):
    """Only a failed or stalled background batch job may be queued again."""

    code = "job_not_requeued"
    http_status = 409
    default_message = "Only a failed or stalled job can be queued again; this one is queued, running or done."


class OfferFrozen(DomainError):
    """An offer with codes keeps its product and course session (or assessment and attempts): the
    codes issued unlock that product there, so changing either would change what people bought."""

    code = "offer_frozen"
    http_status = 409
    default_message = "This offer has codes, so its product and course session can no longer change."


class OfferPlaceMismatch(InvalidInput):
    """An offer is for the kind of place its product is had at: an assessment offer names its
    assessment and no course session; an offer of a session's product names no assessment."""

    code = "offer_place_mismatch"
    default_message = "An assessment offer names one assessment; other offers name no assessment."

    def __init__(self, message: str | None = None, *, field: str = "assessment") -> None:
        super().__init__(message, field=field)


class InvalidStoreUrl(InvalidInput):
    """An offer's store link must be an absolute http(s) address: the course page puts it in front
    of learners, so a javascript: or data: link, or a relative one, is refused."""

    code = "invalid_store_url"
    default_message = "The store link must be a full web address starting with https:// or http://."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, field="store_url")


@dataclass(frozen=True)
class LineProblem:
    """One line of an import that needs fixing: its number, the code as given, and what is wrong."""

    line: int
    code: str
    problem: str

    def __str__(self) -> str:
        return f"Line {self.line}: {self.code!r}: {self.problem}"


class CodesRefused(InvalidInput):
    """An import whose codes need fixing first: nothing was imported. `problems` lists the first
    LISTED of them, in line order; `problem_count` says how many there are in all."""

    code = "codes_refused"
    LISTED = 100

    def __init__(self, problems: list[LineProblem], *, source: str) -> None:
        self.problems = sorted(problems, key=lambda problem: problem.line)[: self.LISTED]
        self.problem_count = len(problems)
        lines = "line needs" if self.problem_count == 1 else "lines need"
        first = f" {self.problems[0]}" if self.problems else ""
        message = f"{self.problem_count:,} {lines} fixing in {source}; nothing was imported.{first}"
        super().__init__(message, field="codes", problem_count=self.problem_count)

    def problems_as_dicts(self) -> list[dict[str, object]]:
        return [asdict(problem) for problem in self.problems]


@dataclass(frozen=True)
class RecipientProblem:
    """One line of a recipient list that needs fixing: its number, the address as given, and
    what is wrong."""

    line: int
    email: str
    problem: str

    def __str__(self) -> str:
        return f"Line {self.line}: {self.email!r}: {self.problem}"


class RecipientsRefused(InvalidInput):
    """A recipient list with lines to fix (a bad address, one given twice, ...): nothing was
    assigned. `problems` lists the first LISTED of them in line order."""

    code = "recipients_refused"
    LISTED = 100

    def __init__(self, problems: list[RecipientProblem], *, source: str) -> None:
        self.problems = sorted(problems, key=lambda problem: problem.line)[: self.LISTED]
        self.problem_count = len(problems)
        lines = "line needs" if self.problem_count == 1 else "lines need"
        first = f" {self.problems[0]}" if self.problems else ""
        message = f"{self.problem_count:,} {lines} fixing in {source}; no code was assigned.{first}"
        super().__init__(message, field="recipients", problem_count=self.problem_count)

    def problems_as_dicts(self) -> list[dict[str, object]]:
        return [asdict(problem) for problem in self.problems]


class NotEnoughCodes(DomainError):
    """Fewer assignable codes (live, unused, not assigned yet) in the batch than recipients."""

    code = "not_enough_codes"
    http_status = 409
    default_message = "The batch has fewer codes left to assign than there are recipients; none was assigned."


class AssignmentNotResendable(DomainError):
    code = "not_resendable"
    http_status = 409
    default_message = "Only a sent or failed assignment whose code still works can be sent again."


class AlreadyWithdrawn(DomainError):
    code = "already_withdrawn"
    http_status = 409
    default_message = "This assignment has been withdrawn already."


class InvalidTemplate(InvalidInput):
    code = "invalid_template"
    default_message = "The template cannot be read."


class StaffNotErasable(DomainError):
    """Staff act on others' vouchers, and those acts name them; their accounts are deactivated,
    not erased (see docs/operations/personal-data.md)."""

    code = "staff_not_erasable"
    http_status = 409
    default_message = "Staff and superuser accounts are not erased; remove their staff status first."


__all__ = [
    "GUESSES",
    "REFUSALS",
    "AlreadyRedeemed",
    "AlreadyReversed",
    "AlreadyWithdrawn",
    "AssignmentNotResendable",
    "CodeExhausted",
    "CodeExpired",
    "CodeMistyped",
    "CodeNotFound",
    "CodeRevoked",
    "CodesRefused",
    "InvalidInput",
    "InvalidStoreUrl",
    "InvalidTemplate",
    "JobNotRequeued",
    "LineProblem",
    "NotEligible",
    "NotEnoughCodes",
    "OfferFrozen",
    "ProductUnavailable",
    "RecipientProblem",
    "RecipientsRefused",
    "RedemptionRefused",
    "StaffNotErasable",
    "VouchersDisabled",
    "WrongProduct",
    "WrongUser",
]
