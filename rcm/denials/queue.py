"""The denial queue: list with filters (payer, category, age, amount), show, assign, resolve.

Denials are created by posting (rcm.posting) from CAS adjustments that are not contractual or
cost sharing. Resolving one as written off takes a patient-responsibility denial's amount off the
patient's balance (a contractual-group denial was already adjusted off when it was posted), and
moves a DENIED claim to WRITTEN_OFF once none of its denials is still open.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from rcm.claims.states import can_transition, transition
from rcm.denials.carc import CarcTable, load_carc_table
from rcm.errors import RcmError
from rcm.ledger import append_entries
from rcm.models import (
    AuditEvent,
    Claim,
    ClaimStatus,
    Denial,
    DenialStatus,
    LedgerEntry,
    LedgerKind,
    Payer,
    Practice,
    Responsible,
    utcnow,
)

OPEN_STATUSES = (DenialStatus.OPEN, DenialStatus.ASSIGNED)
CLOSED_STATUSES = (
    DenialStatus.RESOLVED,
    DenialStatus.WRITTEN_OFF,
    DenialStatus.CORRECTED,
    DenialStatus.APPEALED,
)


class DenialQueueError(RcmError):
    """A queue operation that cannot be done (unknown denial, denial already closed)."""


@dataclass(frozen=True, slots=True)
class DenialView:
    """One row of the queue, as a biller reads it (no patient data)."""

    id: uuid.UUID
    practice_slug: str
    claim_id: uuid.UUID
    patient_control_number: str
    payer_key: str
    payer_name: str
    service_line_id: uuid.UUID | None
    carc: str
    carc_description: str
    rarcs: tuple[tuple[str, str], ...]
    group_code: str
    amount: Decimal
    category: str
    recommended_action: str
    appeal_deadline: date | None
    status: str
    assignee: str | None
    resolution: str | None
    age_days: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "practice": self.practice_slug,
            "claim_id": self.claim_id,
            "patient_control_number": self.patient_control_number,
            "payer": self.payer_key,
            "payer_name": self.payer_name,
            "service_line_id": self.service_line_id,
            "carc": self.carc,
            "carc_description": self.carc_description,
            "rarcs": [{"code": c, "description": d} for c, d in self.rarcs],
            "group_code": self.group_code,
            "amount": self.amount,
            "category": self.category,
            "recommended_action": self.recommended_action,
            "appeal_deadline": self.appeal_deadline,
            "status": self.status,
            "assignee": self.assignee,
            "resolution": self.resolution,
            "age_days": self.age_days,
        }


def _view(
    denial: Denial, claim: Claim, payer: Payer, slug: str, today: date, table: CarcTable
) -> DenialView:
    return DenialView(
        id=denial.id,
        practice_slug=slug,
        claim_id=claim.id,
        patient_control_number=claim.patient_control_number,
        payer_key=payer.key,
        payer_name=payer.name,
        service_line_id=denial.service_line_id,
        carc=denial.carc,
        carc_description=table.get(denial.carc).description,
        rarcs=tuple((code, table.describe_rarc(code)) for code in denial.rarcs or ()),
        group_code=denial.group_code,
        amount=denial.amount,
        category=denial.category,
        recommended_action=denial.recommended_action,
        appeal_deadline=denial.appeal_deadline,
        status=DenialStatus(denial.status).value,
        assignee=denial.assignee,
        resolution=denial.resolution,
        age_days=(today - denial.created_at.date()).days,
    )


def list_denials(
    session: Session,
    *,
    practice_id: uuid.UUID | None = None,
    payer_id: uuid.UUID | None = None,
    category: str | None = None,
    statuses: Sequence[DenialStatus] = OPEN_STATUSES,
    assignee: str | None = None,
    min_age_days: int | None = None,
    max_age_days: int | None = None,
    min_amount: Decimal | None = None,
    max_amount: Decimal | None = None,
    today: date | None = None,
    carc: CarcTable | None = None,
) -> list[DenialView]:
    """Denials matching every filter given, oldest first (age counts from when the denial was
    posted; amounts are inclusive bounds)."""
    today = today or utcnow().date()
    table = carc or load_carc_table()
    query = (
        select(Denial, Claim, Payer, col(Practice.slug))
        .join(Claim, col(Claim.id) == col(Denial.claim_id))
        .join(Payer, col(Payer.id) == col(Claim.payer_id))
        .join(Practice, col(Practice.id) == col(Denial.practice_id))
        .order_by(col(Denial.created_at), col(Denial.id))
    )
    if practice_id is not None:
        query = query.where(col(Denial.practice_id) == practice_id)
    if payer_id is not None:
        query = query.where(col(Claim.payer_id) == payer_id)
    if category:
        query = query.where(col(Denial.category) == category)
    if statuses:
        query = query.where(col(Denial.status).in_(list(statuses)))
    if assignee:
        query = query.where(col(Denial.assignee) == assignee)
    if min_amount is not None:
        query = query.where(col(Denial.amount) >= min_amount)
    if max_amount is not None:
        query = query.where(col(Denial.amount) <= max_amount)
    out = []
    for denial, claim, payer, slug in session.execute(query).tuples():
        view = _view(denial, claim, payer, slug, today, table)
        if min_age_days is not None and view.age_days < min_age_days:
            continue
        if max_age_days is not None and view.age_days > max_age_days:
            continue
        out.append(view)
    return out


def _load(session: Session, denial_id: uuid.UUID) -> Denial:
    denial = session.get(Denial, denial_id)
    if denial is None:
        raise DenialQueueError(f"no denial {denial_id}")
    return denial


def show_denial(session: Session, denial_id: uuid.UUID, *, today: date | None = None) -> DenialView:
    denial = _load(session, denial_id)
    claim = session.get(Claim, denial.claim_id)
    assert claim is not None
    payer = session.get(Payer, claim.payer_id)
    practice = session.get(Practice, denial.practice_id)
    assert payer is not None and practice is not None
    return _view(denial, claim, payer, practice.slug, today or utcnow().date(), load_carc_table())


def _audit(
    session: Session, denial: Denial, actor: str, action: str, detail: dict[str, Any]
) -> None:
    session.add(
        AuditEvent(
            practice_id=denial.practice_id,
            actor=actor[:255],
            action=action,
            entity_type="denial",
            entity_id=str(denial.id),
            detail=detail,
        )
    )


def assign_denial(session: Session, denial_id: uuid.UUID, assignee: str, *, actor: str) -> Denial:
    denial = _load(session, denial_id)
    if denial.status not in OPEN_STATUSES:
        raise DenialQueueError(f"denial {denial_id} is {DenialStatus(denial.status).value}")
    denial.assignee = assignee[:128]
    denial.status = DenialStatus.ASSIGNED
    denial.updated_at = utcnow()
    session.add(denial)
    _audit(session, denial, actor, "denial.assigned", {"assignee": denial.assignee})
    session.flush()
    return denial


def resolve_denial(
    session: Session,
    denial_id: uuid.UUID,
    *,
    resolution: str,
    actor: str,
    status: DenialStatus = DenialStatus.RESOLVED,
) -> Denial:
    """Close a denial: resolved (e.g. paid on appeal or reprocessed), corrected (a corrected
    claim went out), appealed, or written off. Flushes; the caller commits."""
    if status not in CLOSED_STATUSES:
        raise DenialQueueError(f"{status.value} does not close a denial")
    denial = _load(session, denial_id)
    if denial.status not in OPEN_STATUSES:
        raise DenialQueueError(f"denial {denial_id} is already {DenialStatus(denial.status).value}")
    now = utcnow()
    denial.status = status
    denial.resolution = resolution
    denial.updated_at = now
    session.add(denial)
    if status is DenialStatus.WRITTEN_OFF and denial.group_code == "PR":
        append_entries(
            session,
            [
                LedgerEntry(
                    practice_id=denial.practice_id,
                    claim_id=denial.claim_id,
                    service_line_id=denial.service_line_id,
                    kind=LedgerKind.ADJUSTMENT,
                    amount=-denial.amount,
                    responsible=Responsible.PATIENT,
                    group_code=denial.group_code,
                    reason_code=denial.carc,
                    claim_payment_id=denial.claim_payment_id,
                    memo="patient-responsibility denial written off",
                )
            ],
        )
    _audit(session, denial, actor, f"denial.{status.value}", {"resolution": resolution[:200]})
    session.flush()
    if status is DenialStatus.WRITTEN_OFF:
        claim = session.get(Claim, denial.claim_id)
        still_open = session.scalar(
            select(col(Denial.id))
            .where(col(Denial.claim_id) == denial.claim_id)
            .where(col(Denial.status).in_(list(OPEN_STATUSES)))
            .limit(1)
        )
        if (
            claim is not None
            and still_open is None
            and can_transition(ClaimStatus(claim.status), ClaimStatus.WRITTEN_OFF)
        ):
            transition(
                session,
                claim,
                ClaimStatus.WRITTEN_OFF,
                reason="every denial written off",
                source=f"denial queue: {actor}",
            )
    return denial
