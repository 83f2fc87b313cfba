"""Read-only queries the flows publish as artifacts and use to resume work: what was submitted,
what is held and why, what the clearinghouse rejected, what an ERA paid, which denials opened.

Rows carry IDs, codes, payer names, counts and amounts only: no patient data.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select
from sqlmodel import Session, col

from rcm.models import (
    Adjustment,
    Claim,
    ClaimEdit,
    ClaimPayment,
    ClaimStatus,
    Denial,
    Direction,
    EditSource,
    Interchange,
    InterchangeKind,
    InterchangeStatus,
    Payer,
    Remittance,
)

ZERO = Decimal("0.00")
UNSENT_STATUSES = (InterchangeStatus.ASSIGNED, InterchangeStatus.BUILT, InterchangeStatus.ARCHIVED)
CLAIM_KINDS = (InterchangeKind.CLAIM_837P, InterchangeKind.CLAIM_837I)


def _money(value: Any) -> Decimal:
    if value is None:
        return ZERO
    if isinstance(value, float):
        value = Decimal(repr(value))
    return Decimal(value).quantize(Decimal("0.01"))


def unsent_interchanges(
    session: Session, *, practice_id: uuid.UUID, kinds: Collection[InterchangeKind]
) -> list[uuid.UUID]:
    """Outbound interchanges of `kinds` assigned but not uploaded yet, oldest first: what a
    (re)run of a submission must finish."""
    return list(
        session.scalars(
            select(col(Interchange.id))
            .where(
                col(Interchange.practice_id) == practice_id,
                col(Interchange.direction) == Direction.OUTBOUND.value,
                col(Interchange.kind).in_([k.value for k in kinds]),
                col(Interchange.status).in_([s.value for s in UNSENT_STATUSES]),
            )
            .order_by(col(Interchange.created_at), col(Interchange.id))
        )
    )


def interchange_summary(session: Session, interchange_id: uuid.UUID) -> dict[str, Any]:
    row = session.get(Interchange, interchange_id)
    if row is None:
        raise LookupError(f"no interchange {interchange_id}")
    return {
        "id": row.id,
        "practice_id": row.practice_id,
        "kind": str(row.kind),
        "status": str(row.status),
        "file_name": row.file_name,
        "sha256": row.sha256,
        "archive_key": row.archive_key,
        "isa_control_number": row.isa_control_number,
        "claim_count": row.claim_count,
        "created_at": row.created_at,
    }


def submitted_by_payer(
    session: Session, *, practice_id: uuid.UUID, interchange_ids: Sequence[uuid.UUID]
) -> list[dict[str, Any]]:
    """Claims and billed amount per payer in the given interchanges."""
    if not interchange_ids:
        return []
    rows = session.execute(
        select(col(Payer.name), func.count(), func.sum(col(Claim.total_charge)))
        .join(Payer, col(Payer.id) == col(Claim.payer_id))
        .where(
            col(Claim.practice_id) == practice_id,
            col(Claim.interchange_id).in_(list(interchange_ids)),
        )
        .group_by(col(Payer.name))
        .order_by(col(Payer.name))
    ).all()
    return [
        {"payer": name, "claims": int(count), "billed": _money(total)}
        for name, count, total in rows
    ]


def held_claims(
    session: Session, *, practice_id: uuid.UUID, claim_ids: Collection[uuid.UUID] | None = None
) -> list[dict[str, Any]]:
    """Claims on hold with their open error findings (rule, field, message)."""
    query = (
        select(
            col(Claim.id),
            col(Claim.patient_control_number),
            col(Payer.name),
            col(ClaimEdit.rule_id),
            col(ClaimEdit.field),
            col(ClaimEdit.message),
        )
        .join(Payer, col(Payer.id) == col(Claim.payer_id))
        .join(ClaimEdit, col(ClaimEdit.claim_id) == col(Claim.id))
        .where(
            col(Claim.practice_id) == practice_id,
            col(Claim.status) == ClaimStatus.HELD.value,
            col(ClaimEdit.resolved_at).is_(None),
        )
        .order_by(col(Claim.patient_control_number), col(ClaimEdit.rule_id))
    )
    if claim_ids is not None:
        if not claim_ids:
            return []
        query = query.where(col(Claim.id).in_(list(claim_ids)))
    return [
        {
            "claim_id": claim_id,
            "patient_control_number": pcn,
            "payer": payer,
            "rule": rule,
            "field": field or "",
            "message": message,
        }
        for claim_id, pcn, payer, rule, field, message in session.execute(query).all()
    ]


def front_end_rejections(
    session: Session, *, practice_id: uuid.UUID, since: datetime
) -> list[dict[str, Any]]:
    """999 and 277CA findings recorded since `since`."""
    rows = session.execute(
        select(
            col(ClaimEdit.claim_id),
            col(Claim.patient_control_number),
            col(ClaimEdit.source),
            col(ClaimEdit.rule_id),
            col(ClaimEdit.message),
        )
        .join(Claim, col(Claim.id) == col(ClaimEdit.claim_id))
        .where(
            col(ClaimEdit.practice_id) == practice_id,
            col(ClaimEdit.source).in_([EditSource.ACK_999.value, EditSource.ACK_277CA.value]),
            col(ClaimEdit.created_at) >= since,
        )
        .order_by(col(Claim.patient_control_number))
    ).all()
    return [
        {
            "claim_id": claim_id,
            "patient_control_number": pcn,
            "source": str(source),
            "code": rule,
            "message": message,
        }
        for claim_id, pcn, source, rule, message in rows
    ]


def era_totals(
    session: Session, *, practice_id: uuid.UUID, remittance_ids: Sequence[uuid.UUID]
) -> list[dict[str, Any]]:
    """Per remittance: paid, contractual (CO), patient responsibility (PR), and billed amount
    of denied claims (CLP02 4)."""
    if not remittance_ids:
        return []
    ids = list(remittance_ids)
    out: dict[uuid.UUID, dict[str, Any]] = {}
    for rid, payer, trace, paid, posted in session.execute(
        select(
            col(Remittance.id),
            col(Remittance.payer_name),
            col(Remittance.trace_number),
            col(Remittance.total_paid),
            col(Remittance.payment_date),
        ).where(col(Remittance.practice_id) == practice_id, col(Remittance.id).in_(ids))
    ).all():
        out[rid] = {
            "remittance_id": rid,
            "payer": payer or "",
            "trace_number": trace,
            "payment_date": posted,
            "claims": 0,
            "paid": _money(paid),
            "contractual": ZERO,
            "patient_responsibility": ZERO,
            "denied": ZERO,
        }
    for rid, count, denied in session.execute(
        select(
            col(ClaimPayment.remittance_id),
            func.count(),
            func.sum(
                case(
                    (col(ClaimPayment.status_code) == "4", col(ClaimPayment.total_charge)),
                    else_=0,
                )
            ),
        )
        .where(col(ClaimPayment.remittance_id).in_(ids))
        .group_by(col(ClaimPayment.remittance_id))
    ).all():
        if rid in out:
            out[rid]["claims"] = int(count)
            out[rid]["denied"] = _money(denied)
    for rid, group, amount in session.execute(
        select(
            col(ClaimPayment.remittance_id),
            col(Adjustment.group_code),
            func.sum(col(Adjustment.amount)),
        )
        .join(ClaimPayment, col(ClaimPayment.id) == col(Adjustment.claim_payment_id))
        .where(col(ClaimPayment.remittance_id).in_(ids))
        .group_by(col(ClaimPayment.remittance_id), col(Adjustment.group_code))
    ).all():
        if rid not in out:
            continue
        if str(group) == "CO":
            out[rid]["contractual"] += _money(amount)
        elif str(group) == "PR":
            out[rid]["patient_responsibility"] += _money(amount)
    return sorted(out.values(), key=lambda r: (r["payer"], r["trace_number"]))


def remittances_of(session: Session, interchange_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    if not interchange_ids:
        return []
    return list(
        session.scalars(
            select(col(Remittance.id)).where(
                col(Remittance.interchange_id).in_(list(interchange_ids))
            )
        )
    )


def denials_opened(
    session: Session, *, practice_id: uuid.UUID, since: datetime
) -> list[dict[str, Any]]:
    """Denials created since `since`, by CARC: count, amount, category, action, and the
    earliest appeal deadline."""
    rows = session.execute(
        select(
            col(Denial.carc),
            col(Denial.category),
            col(Denial.recommended_action),
            func.count(),
            func.sum(col(Denial.amount)),
            func.min(col(Denial.appeal_deadline)),
        )
        .where(col(Denial.practice_id) == practice_id, col(Denial.created_at) >= since)
        .group_by(col(Denial.carc), col(Denial.category), col(Denial.recommended_action))
        .order_by(func.count().desc(), col(Denial.carc))
    ).all()
    return [
        {
            "carc": carc,
            "category": category,
            "action": action,
            "count": int(count),
            "amount": _money(amount),
            "earliest_deadline": deadline,
        }
        for carc, category, action, count, amount, deadline in rows
    ]


def denials_near_deadline(
    session: Session, *, practice_id: uuid.UUID, today: date, within_days: int
) -> list[dict[str, Any]]:
    """Open denials whose appeal deadline falls within `within_days` of `today`."""
    from datetime import timedelta

    horizon = today + timedelta(days=within_days)
    rows = session.execute(
        select(
            col(Denial.id),
            col(Denial.claim_id),
            col(Denial.carc),
            col(Denial.amount),
            col(Denial.appeal_deadline),
            col(Denial.status),
        )
        .where(
            col(Denial.practice_id) == practice_id,
            col(Denial.status).in_(["open", "assigned"]),
            col(Denial.appeal_deadline).is_not(None),
            col(Denial.appeal_deadline) <= horizon,
        )
        .order_by(col(Denial.appeal_deadline))
    ).all()
    return [
        {
            "denial_id": denial_id,
            "claim_id": claim_id,
            "carc": carc,
            "amount": _money(amount),
            "deadline": deadline,
            "days_left": (deadline - today).days,
            "status": str(status),
        }
        for denial_id, claim_id, carc, amount, deadline, status in rows
    ]


def known_inbound_names(session: Session, *, clearinghouse: str) -> set[str]:
    """Names of inbound files from this clearinghouse already recorded (so a collector need
    not download them again; the (clearinghouse, sha256) key stays the real guard)."""
    return set(
        session.scalars(
            select(col(Interchange.file_name)).where(
                col(Interchange.clearinghouse) == clearinghouse,
                col(Interchange.direction) == Direction.INBOUND.value,
                col(Interchange.file_name).is_not(None),
            )
        )
    )


def inbound_by_sha256(
    session: Session, *, clearinghouse: str, sha256: str
) -> dict[str, Any] | None:
    row = session.scalar(
        select(Interchange).where(
            col(Interchange.clearinghouse) == clearinghouse, col(Interchange.sha256) == sha256
        )
    )
    return None if row is None else interchange_summary(session, row.id)


def table_counts(session: Session, *, practice_id: uuid.UUID | None = None) -> dict[str, int]:
    """Row counts of the tables a rerun must not grow (interchanges, ledger, remittances,
    claims, denials, appeals, control numbers)."""
    from rcm.models import Appeal, ControlNumber, LedgerEntry, PatientStatement

    counts: dict[str, int] = {}
    models: tuple[tuple[str, Any], ...] = (
        ("interchanges", Interchange),
        ("claims", Claim),
        ("ledger_entries", LedgerEntry),
        ("remittances", Remittance),
        ("denials", Denial),
        ("appeals", Appeal),
        ("statements", PatientStatement),
    )
    for name, model in models:
        query = select(func.count()).select_from(model)
        if practice_id is not None:
            query = query.where(col(model.practice_id) == practice_id)
        counts[name] = int(session.execute(query).scalar() or 0)
    counts["control_numbers"] = int(
        session.execute(select(func.count()).select_from(ControlNumber)).scalar() or 0
    )
    return counts


__all__ = [
    "CLAIM_KINDS",
    "denial_work",
    "denials_near_deadline",
    "denials_opened",
    "denials_to_escalate",
    "era_totals",
    "front_end_rejections",
    "held_claims",
    "inbound_by_sha256",
    "interchange_summary",
    "known_inbound_names",
    "remittances_of",
    "submitted_by_payer",
    "table_counts",
    "unsent_interchanges",
]


def denial_work(
    session: Session, *, practice_id: uuid.UUID, policies: dict[str, Any]
) -> dict[str, list[uuid.UUID]]:
    """What the practice's policy says to do without a biller:

    - ``appeal``: open denials whose category is in ``auto_appeal_categories`` and whose
      recommended action is an appeal, with no appeal drafted yet;
    - ``resume``: appeals drafted but never submitted (a run stopped in between);
    - ``correct``: with ``auto_correct``, DENIED claims whose open denials recommend a
      corrected claim.
    """
    from rcm.models import Appeal, AppealStatus, DenialStatus

    open_statuses = [DenialStatus.OPEN.value, DenialStatus.ASSIGNED.value]
    categories = [str(c) for c in policies.get("auto_appeal_categories") or []]
    appealed = select(col(Appeal.denial_id)).where(col(Appeal.practice_id) == practice_id)
    appeal_ids: list[uuid.UUID] = []
    if categories:
        appeal_ids = list(
            session.scalars(
                select(col(Denial.id))
                .where(
                    col(Denial.practice_id) == practice_id,
                    col(Denial.status).in_(open_statuses),
                    col(Denial.category).in_(categories),
                    col(Denial.recommended_action) == "appeal",
                    col(Denial.id).not_in(appealed),
                )
                .order_by(col(Denial.created_at), col(Denial.id))
            )
        )
    resume = list(
        session.scalars(
            select(col(Appeal.id))
            .where(
                col(Appeal.practice_id) == practice_id,
                col(Appeal.status) == AppealStatus.DRAFT.value,
            )
            .order_by(col(Appeal.created_at))
        )
    )
    correct: list[uuid.UUID] = []
    if policies.get("auto_correct"):
        correct = list(
            session.scalars(
                select(col(Claim.id))
                .join(Denial, col(Denial.claim_id) == col(Claim.id))
                .where(
                    col(Claim.practice_id) == practice_id,
                    col(Claim.status) == ClaimStatus.DENIED.value,
                    col(Denial.status).in_(open_statuses),
                    col(Denial.recommended_action) == "correct_and_resubmit",
                )
                .distinct()
            )
        )
    return {"appeal": appeal_ids, "resume": resume, "correct": correct}


def denials_to_escalate(
    session: Session, *, practice_id: uuid.UUID, today: date, within_days: int, assignee: str
) -> list[uuid.UUID]:
    """Unassigned open denials within `within_days` of their appeal deadline."""
    rows = denials_near_deadline(
        session, practice_id=practice_id, today=today, within_days=within_days
    )
    ids = [r["denial_id"] for r in rows if r["status"] == "open"]
    if not ids:
        return []
    escalated = set(
        session.scalars(
            select(col(Denial.id)).where(col(Denial.id).in_(ids), col(Denial.assignee) == assignee)
        )
    )
    return [i for i in ids if i not in escalated]
