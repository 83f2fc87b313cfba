"""Corrected (frequency 7) and void (frequency 8) claims.

A claim the payer has adjudicated is never edited and resent: a replacement claim (CLM05-3 = 7)
or a void (8) is a new claim that names the original by the payer's claim control number
(REF*F8). The original moves to REPLACED or VOIDED where the state graph allows it (from
DENIED); from another state (a paid claim being corrected, say) it keeps its status until the
payer's 835 reverses it.

The ledger follows the money owed: the original's charges are reversed, and a replacement
charges its lines again, so the practice's A/R holds the encounter once. Secondary claims are
created by posting (rcm.posting), which moves the patient share to them; their COB loops come
from rcm.claims.submission.

Both functions are idempotent: asking again while a correction of the same kind is still open
returns that one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlmodel import Session, col

from rcm.claims.create import derived_control_number
from rcm.claims.states import can_transition, transition
from rcm.errors import RcmError, StateError
from rcm.ledger import append_entries, reverse_entries
from rcm.logging import logger
from rcm.models import (
    Claim,
    ClaimEvent,
    ClaimStatus,
    FrequencyCode,
    LedgerEntry,
    LedgerKind,
    Responsible,
    ServiceLine,
    utcnow,
)

# A claim that never reached the payer is fixed and resent as it is, not replaced.
CORRECTABLE = frozenset(
    {
        ClaimStatus.SUBMITTED,
        ClaimStatus.ACCEPTED,
        ClaimStatus.PAID,
        ClaimStatus.PARTIAL,
        ClaimStatus.DENIED,
        ClaimStatus.APPEALED,
        ClaimStatus.WRITTEN_OFF,
        ClaimStatus.CLOSED,
    }
)
# A correction in one of these states is finished with (or never went out); another may follow.
SETTLED = frozenset({ClaimStatus.REJECTED, ClaimStatus.VOIDED, ClaimStatus.REPLACED})


@dataclass(frozen=True, slots=True)
class Correction:
    claim: Claim
    created: bool
    original_status: ClaimStatus


def _open_correction(session: Session, original: Claim, frequency: FrequencyCode) -> Claim | None:
    for claim in session.execute(
        select(Claim)
        .where(
            col(Claim.practice_id) == original.practice_id,
            col(Claim.original_claim_id) == original.id,
            col(Claim.frequency_code) == frequency,
        )
        .order_by(col(Claim.created_at))
    ).scalars():
        if claim.status not in SETTLED:
            return claim
    return None


def _correct(
    session: Session,
    claim_id: uuid.UUID,
    frequency: FrequencyCode,
    *,
    reason: str,
    source: str,
) -> Correction:
    original = session.get(Claim, claim_id)
    if original is None:
        raise RcmError(f"no claim {claim_id}")
    if original.frequency_code == FrequencyCode.VOID:
        raise StateError(f"claim {claim_id} is a void; it cannot be corrected")
    if ClaimStatus(original.status) not in CORRECTABLE:
        raise StateError(
            f"claim {claim_id} is {ClaimStatus(original.status).value}: correct and resend it "
            "instead; a frequency 7 or 8 claim follows one the payer has received"
        )
    if not original.payer_claim_control_number:
        raise StateError(
            f"claim {claim_id} has no payer claim control number yet (from the 277CA or 835); "
            "a replacement or void must name it (REF*F8)"
        )
    existing = _open_correction(session, original, frequency)
    if existing is not None:
        return Correction(existing, False, ClaimStatus(original.status))

    taken = set(
        session.execute(
            select(col(Claim.patient_control_number)).where(
                col(Claim.practice_id) == original.practice_id,
                col(Claim.patient_control_number).like(original.patient_control_number[:15] + "%"),
            )
        ).scalars()
    )
    marker = "R" if frequency is FrequencyCode.REPLACEMENT else "V"
    lines = list(
        session.execute(
            select(ServiceLine)
            .where(
                col(ServiceLine.practice_id) == original.practice_id,
                col(ServiceLine.encounter_id) == original.encounter_id,
            )
            .order_by(col(ServiceLine.line_number))
        ).scalars()
    )
    now = utcnow()
    total = (
        sum((line.charge for line in lines), Decimal("0.00"))
        if frequency is FrequencyCode.REPLACEMENT
        else original.total_charge
    )
    correction = Claim(
        practice_id=original.practice_id,
        encounter_id=original.encounter_id,
        patient_id=original.patient_id,
        coverage_id=original.coverage_id,
        payer_id=original.payer_id,
        patient_control_number=derived_control_number(
            original.patient_control_number, marker, taken
        ),
        claim_type=original.claim_type,
        frequency_code=frequency,
        original_claim_id=original.id,
        original_payer_claim_number=original.payer_claim_control_number,
        payer_responsibility=original.payer_responsibility,
        status=ClaimStatus.DRAFT,
        total_charge=total,
        service_date_from=original.service_date_from,
        service_date_to=original.service_date_to,
        created_at=now,
        updated_at=now,
    )
    session.add(correction)
    session.flush()
    kind = "replacement" if frequency is FrequencyCode.REPLACEMENT else "void"
    session.add(
        ClaimEvent(
            practice_id=correction.practice_id,
            claim_id=correction.id,
            from_status=ClaimStatus.DRAFT,
            to_status=ClaimStatus.DRAFT,
            reason=f"{kind} of claim {original.id}: {reason}",
            source=source,
            created_at=now,
        )
    )

    # Charges still standing on the original, or on an earlier correction the payer rejected.
    holders = [
        original.id,
        *session.execute(
            select(col(Claim.id)).where(
                col(Claim.practice_id) == original.practice_id,
                col(Claim.original_claim_id) == original.id,
                col(Claim.status) == ClaimStatus.REJECTED,
            )
        ).scalars(),
    ]
    charges = list(
        session.execute(
            select(LedgerEntry).where(
                col(LedgerEntry.practice_id) == original.practice_id,
                col(LedgerEntry.claim_id).in_(holders),
                col(LedgerEntry.kind) == LedgerKind.CHARGE,
                col(LedgerEntry.id).not_in(
                    select(col(LedgerEntry.reverses_entry_id)).where(
                        col(LedgerEntry.practice_id) == original.practice_id,
                        col(LedgerEntry.reverses_entry_id).is_not(None),
                    )
                ),
            )
        ).scalars()
    )
    if charges:
        reverse_entries(
            session,
            practice_id=original.practice_id,
            entries=charges,
            reason=f"charges moved to {kind} claim {correction.id}",
        )
    if frequency is FrequencyCode.REPLACEMENT:
        append_entries(
            session,
            [
                LedgerEntry(
                    practice_id=correction.practice_id,
                    claim_id=correction.id,
                    service_line_id=line.id,
                    kind=LedgerKind.CHARGE,
                    amount=line.charge,
                    responsible=Responsible.PAYER,
                    memo=f"replaces claim {original.id}",
                )
                for line in lines
            ],
        )

    original_status = ClaimStatus(original.status)
    target = ClaimStatus.REPLACED if frequency is FrequencyCode.REPLACEMENT else ClaimStatus.VOIDED
    if can_transition(original_status, target):
        transition(
            session,
            original,
            target,
            reason=f"{kind} claim {correction.id}: {reason}",
            source=source,
        )
    session.flush()
    logger.bind(claim_id=str(original.id)).info("{} claim {} created", kind, correction.id)
    return Correction(correction, True, original_status)


def create_replacement_claim(
    session: Session, claim_id: uuid.UUID, *, reason: str, source: str = "corrections"
) -> Claim:
    """A DRAFT frequency-7 claim replacing `claim_id` with the encounter's current lines. It
    goes through scrubbing and batching like any claim. `reason` is read by billers: no PHI."""
    return _correct(
        session, claim_id, FrequencyCode.REPLACEMENT, reason=reason, source=source
    ).claim


def create_void_claim(
    session: Session, claim_id: uuid.UUID, *, reason: str, source: str = "corrections"
) -> Claim:
    """A DRAFT frequency-8 claim voiding `claim_id` (same lines and total, REF*F8)."""
    return _correct(session, claim_id, FrequencyCode.VOID, reason=reason, source=source).claim


__all__ = ["Correction", "create_replacement_claim", "create_void_claim"]
