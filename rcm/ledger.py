"""The ledger: append money movements, read balances, reverse entries.

Entries are never changed or removed (rcm.models.ledger refuses it at flush); a balance is the
sum of amounts, charges positive and payments and adjustments negative. Every query filters by
practice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, func, insert, inspect, select
from sqlmodel import Session, col

from rcm.bulk import BulkWriter, new_hex_id
from rcm.errors import PostingError
from rcm.models.claim import Claim
from rcm.models.encounter import ServiceLine
from rcm.models.ledger import LedgerAppendOnlyError, LedgerEntry, LedgerKind, Responsible
from rcm.models.types import new_id, to_money, utcnow

__all__ = [
    "LEDGER_COLUMNS",
    "LedgerAppendOnlyError",
    "LedgerRows",
    "PostedEntry",
    "append_entries",
    "append_ledger_rows",
    "claim_balance",
    "claim_balances",
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


def claim_balances(
    session: Session,
    *,
    practice_id: uuid.UUID,
    claim_ids: Sequence[uuid.UUID],
    responsible: Responsible | None = None,
) -> dict[uuid.UUID, Decimal]:
    """What is still owed on each of many claims (claims without entries are left out), a
    few queries for thousands of claims."""
    out: dict[uuid.UUID, Decimal] = {}
    unique = list(dict.fromkeys(claim_ids))
    for start in range(0, len(unique), 2000):
        rows = session.execute(
            select(col(LedgerEntry.claim_id), func.sum(col(LedgerEntry.amount)))
            .where(col(LedgerEntry.practice_id) == practice_id)
            .where(col(LedgerEntry.claim_id).in_(unique[start : start + 2000]))
            .where(*_responsible(responsible))
            .group_by(col(LedgerEntry.claim_id))
        )
        for claim_id, total in rows:
            out[claim_id] = ZERO if total is None else to_money(total)
    return out


def line_balance(
    session: Session,
    *,
    practice_id: uuid.UUID,
    service_line_id: uuid.UUID,
    responsible: Responsible | None = None,
) -> Decimal:
    """What is still owed on one service line.

    A line's entries belong to the claims that bill it, the claims of its encounter, so they
    are found through the (practice_id, claim_id) index: ledger_entry has no index of its own
    on service_line_id (one more index to update on every entry an 835 posts)."""
    claims = (
        select(col(Claim.id))
        .join(ServiceLine, col(ServiceLine.encounter_id) == col(Claim.encounter_id))
        .where(col(ServiceLine.id) == service_line_id)
        .where(col(Claim.practice_id) == practice_id)
    )
    return _sum(
        session,
        col(LedgerEntry.practice_id) == practice_id,
        col(LedgerEntry.claim_id).in_(claims),
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


# -- bulk writers ---------------------------------------------------------------------------------

LEDGER_COLUMNS = (
    "id",
    "practice_id",
    "claim_id",
    "service_line_id",
    "kind",
    "amount",
    "responsible",
    "group_code",
    "reason_code",
    "remittance_id",
    "claim_payment_id",
    "reverses_entry_id",
    "memo",
    "created_at",
)


class PostedEntry(NamedTuple):
    """A ledger entry as a reversal needs it. Keys are 32-digit hex strings (rcm.bulk)."""

    id: str
    claim_id: str | None
    service_line_id: str | None
    kind: str
    amount: Decimal
    responsible: str
    group_code: str | None
    reason_code: str | None
    remittance_id: str | None
    claim_payment_id: str | None


class LedgerRows:
    """New ledger entries of one bulk writer (an ERA of 100,000 claim payments), kept as rows
    and appended in one bulk insert by `write`: no ORM object per entry.

    The guarantees of `append_entries` and `reverse_entries` hold: amounts are whole cents
    (ValueError otherwise, when added), rows are only ever inserted, and `reverse` negates
    entries through reverses_entry_id; which entries are already reversed is the caller's to
    know (it read them), and the partial unique index on reverses_entry_id refuses a second
    reversal of one entry at the database. Keys are 32-digit hex strings (rcm.bulk).
    """

    def __init__(self, writer: BulkWriter, *, practice_id: str, created_at: datetime) -> None:
        table = LedgerEntry.__table__  # type: ignore[attr-defined]
        self.writer = writer
        self.practice_id = practice_id
        self.rows: list[tuple[Any, ...]] = []
        # The amounts as Decimal, row for row (the rows hold what the driver takes).
        self.amounts: list[Decimal] = []
        self._money = writer.converter(table, "amount")
        self._stamp = writer.converter(table, "created_at")(created_at)

    def add(
        self,
        claim_id: str | None,
        service_line_id: str | None,
        kind: str,
        amount: Decimal,
        responsible: str,
        remittance_id: str | None,
        claim_payment_id: str | None,
        group_code: str | None = None,
        reason_code: str | None = None,
        memo: str | None = None,
        reverses_entry_id: str | None = None,
    ) -> str:
        """Append one entry (`kind` and `responsible` as their values); its key."""
        entry_id = new_hex_id()
        self.rows.append(
            (
                entry_id,
                self.practice_id,
                claim_id,
                service_line_id,
                kind,
                self._money(amount),
                responsible,
                group_code,
                reason_code,
                remittance_id,
                claim_payment_id,
                reverses_entry_id,
                memo,
                self._stamp,
            )
        )
        self.amounts.append(amount)
        return entry_id

    def posted(self, start: int = 0) -> list[PostedEntry]:
        """The entries added since row `start`, as a reversal reads them."""
        return [
            PostedEntry(r[0], r[2], r[3], r[4], amount, r[6], r[7], r[8], r[9], r[10])
            for r, amount in zip(self.rows[start:], self.amounts[start:], strict=True)
        ]

    def reverse(self, entries: Iterable[PostedEntry], *, memo: str) -> list[PostedEntry]:
        """Append one `reversal` entry negating each of `entries` (same claim, line, payer or
        patient, remittance and claim payment; reverses_entry_id naming it)."""
        entries = list(entries)
        ids = [entry.id for entry in entries]
        if len(set(ids)) != len(ids):
            raise PostingError("the same ledger entry is listed twice for reversal")
        out = []
        for entry in entries:
            self.add(
                entry.claim_id,
                entry.service_line_id,
                LedgerKind.REVERSAL.value,
                -entry.amount,
                entry.responsible,
                entry.remittance_id,
                entry.claim_payment_id,
                entry.group_code,
                entry.reason_code,
                memo,
                entry.id,
            )
            out.append(entry)
        return out

    def write(self) -> int:
        """Insert every row added (one executemany or COPY); the number written."""
        table = LedgerEntry.__table__  # type: ignore[attr-defined]
        written = self.writer.insert(table, LEDGER_COLUMNS, self.rows)
        self.rows = []
        self.amounts = []
        return written
