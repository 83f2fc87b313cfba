"""ledger_entry indexes for bulk posting: two indexes fewer to update per entry.

- ix_ledger_entry_practice_id_service_line_id is dropped. Its one reader, rcm.ledger.line_balance,
  finds a line's entries through the claims of the line's encounter with
  ix_ledger_entry_practice_id_claim_id; every entry that names a line also names its claim.
- ix_ledger_entry_reverses_entry_id (every entry, NULL for all but reversals) becomes
  uq_ledger_entry_reverses_entry_id: partial (only reversal entries are in it) and unique, so
  the database, not only rcm.ledger, refuses a second reversal of one entry. The upgrade fails
  on a ledger where an entry was reversed twice: that ledger needs an accountant first.

Only indexes change: no table is rebuilt on SQLite, so ledger_entry's append-only triggers are
untouched.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 02:30:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REVERSAL = sa.text('reverses_entry_id IS NOT NULL')


def upgrade() -> None:
    # Plain index operations, not batch mode: batch would rebuild ledger_entry on SQLite.
    op.drop_index('ix_ledger_entry_practice_id_service_line_id', table_name='ledger_entry')
    op.drop_index('ix_ledger_entry_reverses_entry_id', table_name='ledger_entry')
    op.create_index(
        'uq_ledger_entry_reverses_entry_id',
        'ledger_entry',
        ['reverses_entry_id'],
        unique=True,
        sqlite_where=REVERSAL,
        postgresql_where=REVERSAL,
    )


def downgrade() -> None:
    op.drop_index(
        'uq_ledger_entry_reverses_entry_id',
        table_name='ledger_entry',
        sqlite_where=REVERSAL,
        postgresql_where=REVERSAL,
    )
    op.create_index(
        'ix_ledger_entry_reverses_entry_id', 'ledger_entry', ['reverses_entry_id'], unique=False
    )
    op.create_index(
        'ix_ledger_entry_practice_id_service_line_id',
        'ledger_entry',
        ['practice_id', 'service_line_id'],
        unique=False,
    )
