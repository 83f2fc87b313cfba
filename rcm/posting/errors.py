"""Why an ERA was refused. Every message names claims by patient control number (CLP01) and
lines by position, never by patient data."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from rcm.errors import PostingError
from rcm.x12.x835 import Imbalance


class DuplicateRemittanceError(PostingError):
    """The payer and trace number (TRN02) were posted before: an ERA is never posted twice."""


class DuplicateFileError(DuplicateRemittanceError):
    """The same file (clearinghouse, sha256) was received before."""


class UnknownPayeeError(PostingError):
    """The payee NPI or TIN belongs to no practice."""


class NotUnmatchedError(PostingError):
    """A claim payment that is already matched to a claim cannot be matched again."""


def _cents(amount: Decimal) -> str:
    return str(amount.quantize(Decimal("0.01")))


def describe_imbalance(imbalance: Imbalance) -> str:
    diff = _cents(imbalance.difference)
    if imbalance.level == "transaction":
        return f"transaction: BPR02 - (sum of CLP04 - sum of PLB) = {diff}, not 0.00"
    if imbalance.level == "claim":
        return (
            f"claim {imbalance.patient_control_number}: charge - paid - adjustments = "
            f"{diff}, not 0.00"
        )
    return (
        f"claim {imbalance.patient_control_number} service line {imbalance.service_line}: "
        f"charge - paid - adjustments = {diff}, not 0.00"
    )


class UnbalancedRemittanceError(PostingError):
    """The 835 does not add up; nothing of it is posted. `imbalances` says where."""

    def __init__(self, imbalances: Sequence[Imbalance], *, trace_number: str = "") -> None:
        self.imbalances = list(imbalances)
        self.trace_number = trace_number
        head = f"remittance {trace_number} " if trace_number else "remittance "
        details = "; ".join(describe_imbalance(i) for i in self.imbalances[:10])
        more = f" (and {len(self.imbalances) - 10} more)" if len(self.imbalances) > 10 else ""
        super().__init__(f"{head}does not balance: {details}{more}")
