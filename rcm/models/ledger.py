"""The append-only ledger. Balances are sums; nothing is updated in place; a reversal is new
rows that negate old ones (rcm.ledger.reverse_entries).

The ORM refuses to update or delete a LedgerEntry: a before_flush hook on every Session raises
LedgerAppendOnlyError, and ORM-enabled UPDATE/DELETE statements on the table are refused too.
Below the ORM, database triggers refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) from any
client. The migration creates them; the DDL events below create the same ones when tests build
tables with create_all.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import DDL, Index, Text, event, inspect, text
from sqlalchemy.orm import ORMExecuteState, Session
from sqlmodel import Field, SQLModel

from rcm.errors import RcmError
from rcm.models.types import EnumString, Money, UTCDateTime, new_id, utcnow


class LedgerAppendOnlyError(RcmError):
    """An attempt to change or remove a ledger entry. Reverse it instead."""


class LedgerKind(StrEnum):
    CHARGE = "charge"
    PAYER_PAYMENT = "payer_payment"
    ADJUSTMENT = "adjustment"
    PATIENT_RESPONSIBILITY = "patient_responsibility"
    PATIENT_PAYMENT = "patient_payment"
    REVERSAL = "reversal"
    PROVIDER_ADJUSTMENT = "provider_adjustment"


class Responsible(StrEnum):
    """Who owes the amount."""

    PAYER = "payer"
    PATIENT = "patient"
    PRACTICE = "practice"


class LedgerEntry(SQLModel, table=True):
    """One money movement. Charges are positive; payments and adjustments negative."""

    __tablename__ = "ledger_entry"
    # Few indexes: an 835 of 100,000 claims appends ~600,000 entries, each updating every one.
    # (practice_id, claim_id) serves balances (a line's through its encounter's claims:
    # rcm.ledger.line_balance). Reversal entries alone are in the reverses_entry_id index,
    # unique: an entry is reversed at most once.
    __table_args__ = (
        Index("ix_ledger_entry_practice_id_claim_id", "practice_id", "claim_id"),
        Index(
            "uq_ledger_entry_reverses_entry_id",
            "reverses_entry_id",
            unique=True,
            sqlite_where=text("reverses_entry_id IS NOT NULL"),
            postgresql_where=text("reverses_entry_id IS NOT NULL"),
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    # No foreign key on practice_id and remittance_id (migration 0004): claim_id and
    # claim_payment_id pin them, and posting checks what it writes (rcm.posting).
    practice_id: uuid.UUID
    claim_id: uuid.UUID | None = Field(default=None, foreign_key="claim.id")
    service_line_id: uuid.UUID | None = Field(default=None, foreign_key="service_line.id")
    kind: LedgerKind = Field(sa_type=EnumString(LedgerKind, 32))
    amount: Decimal = Field(sa_type=Money)
    responsible: Responsible = Field(sa_type=EnumString(Responsible, 16))
    group_code: str | None = Field(default=None, max_length=2)
    reason_code: str | None = Field(default=None, max_length=5)
    remittance_id: uuid.UUID | None = None
    claim_payment_id: uuid.UUID | None = Field(default=None, foreign_key="claim_payment.id")
    reverses_entry_id: uuid.UUID | None = Field(default=None, foreign_key="ledger_entry.id")
    memo: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


@event.listens_for(Session, "before_flush")
def _refuse_ledger_changes(session: Session, flush_context: Any, instances: Any) -> None:
    for entry in session.deleted:
        if isinstance(entry, LedgerEntry):
            raise LedgerAppendOnlyError(
                f"ledger entry {entry.id} cannot be deleted; reverse it instead"
            )
    for entry in session.dirty:
        if isinstance(entry, LedgerEntry) and session.is_modified(entry):
            raise LedgerAppendOnlyError(
                f"ledger entry {entry.id} cannot be changed; reverse it instead"
            )


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_ledger_changes(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    mapper = state.bind_mapper
    if mapper is not None and mapper.class_ is LedgerEntry:
        raise LedgerAppendOnlyError("ledger entries cannot be updated or deleted in bulk")


APPEND_ONLY_MESSAGE = "ledger_entry is append-only: reverse an entry instead of changing it"

SQLITE_APPEND_ONLY_TRIGGERS = (
    "CREATE TRIGGER ledger_entry_no_update BEFORE UPDATE ON ledger_entry "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END",
    "CREATE TRIGGER ledger_entry_no_delete BEFORE DELETE ON ledger_entry "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END",
)

POSTGRESQL_APPEND_ONLY_TRIGGERS = (
    "CREATE FUNCTION ledger_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}' USING ERRCODE = 'restrict_violation'; END $$",
    "CREATE TRIGGER ledger_entry_no_change BEFORE UPDATE OR DELETE ON ledger_entry "
    "FOR EACH ROW EXECUTE FUNCTION ledger_entry_append_only()",
    "CREATE TRIGGER ledger_entry_no_truncate BEFORE TRUNCATE ON ledger_entry "
    "FOR EACH STATEMENT EXECUTE FUNCTION ledger_entry_append_only()",
)

_ledger_table = inspect(LedgerEntry).local_table
for _statement in SQLITE_APPEND_ONLY_TRIGGERS:
    event.listen(_ledger_table, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
for _statement in POSTGRESQL_APPEND_ONLY_TRIGGERS:
    event.listen(_ledger_table, "after_create", DDL(_statement).execute_if(dialect="postgresql"))
event.listen(
    _ledger_table,
    "after_drop",
    DDL("DROP FUNCTION IF EXISTS ledger_entry_append_only()").execute_if(dialect="postgresql"),
)
