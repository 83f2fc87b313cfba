"""What a secondary (or tertiary) claim needs from the payers before it: the 2320/2430 COB
loops carry each prior payer's paid amount, claim- and line-level CAS and adjudication date.

Posting a primary 835 that leaves a patient share on a patient with a next coverage creates the
next claim (payer_responsibility S or T, DRAFT, same encounter) and moves the share to it
(rcm.posting.post). This module reads the prior payers' adjudication back from the posted
ClaimPayment, ServicePayment and Adjustment rows of the encounter's earlier claims.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlmodel import Session, col

from rcm.models import (
    Adjustment,
    Claim,
    ClaimPayment,
    LedgerEntry,
    LedgerKind,
    MatchStatus,
    PayerResponsibility,
    Remittance,
    ServicePayment,
)

ORDER = {
    PayerResponsibility.PRIMARY: 1,
    PayerResponsibility.SECONDARY: 2,
    PayerResponsibility.TERTIARY: 3,
}


@dataclass(frozen=True, slots=True)
class CasAdjustment:
    group: str
    reason: str
    amount: Decimal
    quantity: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PriorLineAdjudication:
    """2430: one line as the prior payer adjudicated it."""

    service_line_id: uuid.UUID | None
    procedure_code: str
    modifiers: tuple[str, ...]
    paid: Decimal
    units: Decimal | None
    service_date: date | None
    adjustments: tuple[CasAdjustment, ...]


@dataclass(frozen=True, slots=True)
class PriorAdjudication:
    """2320: one prior payer's adjudication of the encounter."""

    claim_id: uuid.UUID
    claim_payment_id: uuid.UUID
    payer_id: uuid.UUID
    payer_responsibility: PayerResponsibility
    payer_claim_control_number: str | None
    status_code: str
    charge: Decimal
    paid: Decimal
    patient_responsibility: Decimal | None
    adjudication_date: date | None
    claim_adjustments: tuple[CasAdjustment, ...]
    lines: tuple[PriorLineAdjudication, ...] = field(default=())


def prior_adjudications(session: Session, claim_id: uuid.UUID) -> list[PriorAdjudication]:
    """The adjudications by the payers before this claim's payer (primary before secondary,
    both before tertiary), oldest responsibility first, leaving out reversed payments."""
    claim = session.get(Claim, claim_id)
    if claim is None:
        return []
    mine = ORDER[PayerResponsibility(claim.payer_responsibility)]
    earlier = [
        c
        for c in session.scalars(
            select(Claim)
            .where(col(Claim.practice_id) == claim.practice_id)
            .where(col(Claim.encounter_id) == claim.encounter_id)
        )
        if ORDER[PayerResponsibility(c.payer_responsibility)] < mine
    ]
    if not earlier:
        return []
    by_id = {c.id: c for c in earlier}
    payments = list(
        session.execute(
            select(ClaimPayment, Remittance)
            .join(Remittance, col(Remittance.id) == col(ClaimPayment.remittance_id))
            .where(col(ClaimPayment.practice_id) == claim.practice_id)
            .where(col(ClaimPayment.claim_id).in_(list(by_id)))
            .where(col(ClaimPayment.match_status) != MatchStatus.UNMATCHED)
            .where(col(ClaimPayment.status_code) != "22")
        ).tuples()
    )
    if not payments:
        return []
    cp_ids = [cp.id for cp, _ in payments]
    reversed_ids = set(
        session.scalars(
            select(col(LedgerEntry.claim_payment_id))
            .where(col(LedgerEntry.practice_id) == claim.practice_id)
            .where(col(LedgerEntry.kind) == LedgerKind.REVERSAL)
            .where(col(LedgerEntry.reverses_entry_id).is_not(None))
            .where(col(LedgerEntry.claim_payment_id).in_(cp_ids))
        )
    )
    services: dict[uuid.UUID, list[ServicePayment]] = defaultdict(list)
    for sp in session.scalars(
        select(ServicePayment).where(col(ServicePayment.claim_payment_id).in_(cp_ids))
    ):
        services[sp.claim_payment_id].append(sp)
    adjustments: dict[tuple[uuid.UUID, uuid.UUID | None], list[CasAdjustment]] = defaultdict(list)
    for a in session.scalars(
        select(Adjustment).where(col(Adjustment.claim_payment_id).in_(cp_ids))
    ):
        adjustments[(a.claim_payment_id, a.service_payment_id)].append(
            CasAdjustment(str(a.group_code), a.reason_code, a.amount, a.quantity)
        )
    out = []
    for cp, remittance in payments:
        if cp.id in reversed_ids or cp.claim_id is None:
            continue
        prior = by_id[cp.claim_id]
        lines = tuple(
            PriorLineAdjudication(
                sp.service_line_id,
                sp.procedure_code,
                tuple(sp.modifiers or ()),
                sp.paid,
                sp.units,
                sp.service_date,
                tuple(adjustments[(cp.id, sp.id)]),
            )
            for sp in services[cp.id]
        )
        out.append(
            PriorAdjudication(
                claim_id=prior.id,
                claim_payment_id=cp.id,
                payer_id=prior.payer_id,
                payer_responsibility=PayerResponsibility(prior.payer_responsibility),
                payer_claim_control_number=cp.payer_claim_control_number,
                status_code=cp.status_code,
                charge=cp.total_charge,
                paid=cp.paid,
                patient_responsibility=cp.patient_responsibility,
                adjudication_date=remittance.payment_date
                or (remittance.posted_at.date() if remittance.posted_at else None),
                claim_adjustments=tuple(adjustments[(cp.id, None)]),
                lines=lines,
            )
        )
    out.sort(key=lambda p: (ORDER[p.payer_responsibility], p.adjudication_date or date.min))
    return out
