"""Posting tables: foreign keys another key of the same row already implies are dropped.

PostgreSQL checks a foreign key with one query per inserted row; an 835 of 100,000 claim
payments inserts ~1.3 million posting rows, and these checks were about a third of the
server's time. Dropped (each row keeps a foreign key that pins the same parent):

- claim_payment.practice_id: remittance_id (NOT NULL, a foreign key) names the remittance,
  which carries the practice.
- service_payment.practice_id, adjustment.practice_id: claim_payment_id (NOT NULL, a foreign
  key) names the claim payment, which carries the practice.
- denial.practice_id: claim_id (NOT NULL, a foreign key) names the claim.
- ledger_entry.practice_id: claim_id names the claim; ledger_entry.remittance_id:
  claim_payment_id names the claim payment, which carries the remittance. A practice-level
  (PLB) entry, the one kind with neither, is written only by posting, from the remittance row
  it inserts in the same transaction.

Kept: every foreign key to claim, service_line, claim_payment, service_payment, remittance
(on claim_payment) and ledger_entry (reverses_entry_id), and every unique constraint (the
duplicate-posting guard). rcm.posting checks, before it writes, that every claim, service line
and claim payment it names was read under the practice it posts for.

The practice_id indexes of service_payment and adjustment are dropped too: nothing reads those
tables by practice alone (they are read by claim payment).

On SQLite dropping a constraint rebuilds the table (batch mode); ledger_entry's append-only
triggers go with the old table and are created again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 05:00:00.000000

"""
from collections.abc import Sequence

from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Kept in step with rcm/models/ledger.py and revision 0001.
APPEND_ONLY_MESSAGE = "ledger_entry is append-only: reverse an entry instead of changing it"
SQLITE_APPEND_ONLY_TRIGGERS = (
    "CREATE TRIGGER ledger_entry_no_update BEFORE UPDATE ON ledger_entry "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END",
    "CREATE TRIGGER ledger_entry_no_delete BEFORE DELETE ON ledger_entry "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END",
)

# (table, column, referenced table) of every foreign key dropped.
DROPPED = (
    ('claim_payment', 'practice_id', 'practice'),
    ('service_payment', 'practice_id', 'practice'),
    ('adjustment', 'practice_id', 'practice'),
    ('denial', 'practice_id', 'practice'),
    ('ledger_entry', 'practice_id', 'practice'),
    ('ledger_entry', 'remittance_id', 'remittance'),
)
UNINDEXED = ('service_payment', 'adjustment')


def _rebuilds_tables() -> bool:
    return op.get_bind().dialect.name == 'sqlite'


def _recreate_triggers() -> None:
    op.execute('DROP TRIGGER IF EXISTS ledger_entry_no_update')
    op.execute('DROP TRIGGER IF EXISTS ledger_entry_no_delete')
    for statement in SQLITE_APPEND_ONLY_TRIGGERS:
        op.execute(statement)


def upgrade() -> None:
    for table in ('claim_payment', 'service_payment', 'adjustment', 'denial', 'ledger_entry'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, column, referred in DROPPED:
                if name == table:
                    batch_op.drop_constraint(f'fk_{table}_{column}_{referred}', type_='foreignkey')
            if table in UNINDEXED:
                batch_op.drop_index(f'ix_{table}_practice_id')
    if _rebuilds_tables():
        _recreate_triggers()


def downgrade() -> None:
    for table in ('claim_payment', 'service_payment', 'adjustment', 'denial', 'ledger_entry'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, column, referred in DROPPED:
                if name == table:
                    batch_op.create_foreign_key(
                        f'fk_{table}_{column}_{referred}', referred, [column], ['id']
                    )
            if table in UNINDEXED:
                batch_op.create_index(f'ix_{table}_practice_id', ['practice_id'], unique=False)
    if _rebuilds_tables():
        _recreate_triggers()
