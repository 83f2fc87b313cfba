"""The ledger: append money movements, read balances, reverse entries.

Entries are never changed or removed (rcm.models.ledger refuses it at flush); a balance is the
sum of amounts, charges positive and payments and adjustments negative. Every query filters by
practice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, func, insert, inspect, select
from sqlmodel import Session, col

from rcm.errors import PostingError
from rcm.models.ledger import LedgerAppendOnlyError, LedgerEntry, LedgerKind, Responsible
from rcm.models.types import new_id, to_money, utcnow

__all__ = [
    "LedgerAppendOnlyError",
    "append_entries",
    "append_ledger_rows",
    "claim_balance",
    "line_balance",
    "practice_balance",
    "reverse_entries",
]

ZERO = Decimal("0.00")


def append_entries(session: Session, entries: Iterable[LedgerEntry]) -> list[LedgerEntry]:
    """Add new entries to the ledger (flushed, not committed: the caller's transaction decides).

    Refuses entries already in the ledger and amounts that are not whole cents.
    """
    added: list[LedgerEntry] = []
    for entry in entries:
        state = inspect(entry)
        if state.has_identity:
            entry_id = state.identity[0] if state.identity else "?"
            raise LedgerAppendOnlyError(f"ledger entry {entry_id} is already in the ledger")
        entry.amount = to_money(entry.amount)
        session.add(entry)
        added.append(entry)
    session.flush()
    return added


def append_ledger_rows(session: Session, rows: Sequence[Mapping[str, Any]]) -> int:
    """Append many entries given as column values, in one INSERT (no ORM objects).

    For bulk writers (claims from 100,000 encounters, large ERAs). Same guarantees as
    `append_entries`: whole cents only, and an insert can only ever add rows. Each row needs
    practice_id, kind, amount and responsible; id and created_at are filled in when absent.
    """
    if not rows:
        return 0
    now = utcnow()
    values = []
    for row in rows:
        value = dict(row)
        value["amount"] = to_money(value["amount"])
        value.setdefault("id", new_id())
        value.setdefault("created_at", now)
        values.append(value)
    session.execute(insert(LedgerEntry), values)
    return len(values)


def _sum(session: Session, *conditions: ColumnElement[bool]) -> Decimal:
    total = session.execute(select(func.sum(col(LedgerEntry.amount))).where(*conditions)).scalar()
    return ZERO if total is None else to_money(total)


def _responsible(responsible: Responsible | None) -> list[ColumnElement[bool]]:
    return [] if responsible is None else [col(LedgerEntry.responsible) == responsible]


def claim_balance(
    session: Session,
    *,
    practice_id: uuid.UUID,
    claim_id: uuid.UUID,
    responsible: Responsible | None = None,
) -> Decimal:
    """What is still owed on a claim (by `responsible`, or by anyone)."""
    return _sum(
        session,
        col(LedgerEntry.practice_id) == practice_id,
        col(LedgerEntry.claim_id) == claim_id,
        *_responsible(responsible),
    )


def line_balance(
    session: Session,
    *,
    practice_id: uuid.UUID,
    service_line_id: uuid.UUID,
    responsible: Responsible | None = None,
) -> Decimal:
    """What is still owed on one service line."""
    return _sum(
        session,
        col(LedgerEntry.practice_id) == practice_id,
        col(LedgerEntry.service_line_id) == service_line_id,
        *_responsible(responsible),
    )


def practice_balance(
    session: Session,
    *,
    practice_id: uuid.UUID,
    responsible: Responsible | None = None,
) -> Decimal:
    """What is owed to the practice across every claim, plus practice-level (PLB) entries."""
    return _sum(
        session,
        col(LedgerEntry.practice_id) == practice_id,
        *_responsible(responsible),
    )


def reverse_entries(
    session: Session,
    *,
    practice_id: uuid.UUID,
    entries: Sequence[LedgerEntry],
    reason: str,
) -> list[LedgerEntry]:
    """Append one `reversal` entry negating each of `entries`, pointing at it through
    reverses_entry_id. An entry is reversed at most once: reversing it again raises
    PostingError, so a reversal 835 posted twice cannot double the correction."""
    ids = [entry.id for entry in entries]
    if len(set(ids)) != len(ids):
        raise PostingError("the same ledger entry is listed twice for reversal")
    for entry in entries:
        if entry.practice_id != practice_id:
            raise PostingError(f"ledger entry {entry.id} belongs to another practice")
    if ids:
        already = session.execute(
            select(col(LedgerEntry.reverses_entry_id)).where(
                col(LedgerEntry.practice_id) == practice_id,
                col(LedgerEntry.reverses_entry_id).in_(ids),
            )
        ).scalars()
        reversed_ids = sorted(str(entry_id) for entry_id in already)
        if reversed_ids:
            raise PostingError(f"ledger entries already reversed: {', '.join(reversed_ids)}")
    reversals = [
        LedgerEntry(
            practice_id=practice_id,
            claim_id=entry.claim_id,
            service_line_id=entry.service_line_id,
            kind=LedgerKind.REVERSAL,
            amount=-entry.amount,
            responsible=entry.responsible,
            group_code=entry.group_code,
            reason_code=entry.reason_code,
            remittance_id=entry.remittance_id,
            claim_payment_id=entry.claim_payment_id,
            reverses_entry_id=entry.id,
            memo=reason,
        )
        for entry in entries
    ]
    return append_entries(session, reversals)
