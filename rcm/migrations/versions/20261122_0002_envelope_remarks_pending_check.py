"""Interchange.envelope, ClaimPayment/ServicePayment.remarks, one pending eligibility check.

- interchange.envelope (JSON, nullable): the ISA/GS settings an outbound file was assigned
  with. Until now they lived in an AuditEvent (action "interchange.assigned", detail
  {"envelope": ...}); the upgrade copies them onto the rows so a rebuild reads the row alone.
- claim_payment.remarks and service_payment.remarks (JSON, nullable): the RARCs of MOA/MIA and
  LQ*HE. NULL on rows posted before this revision: their remarks were never stored.
- uq_eligibility_check_pending: a partial unique index, one pending check per (practice,
  appointment, coverage). Duplicates left by earlier concurrent runs are resolved first: the
  newest stays pending, the others become "superseded".

Only columns are added and an index created: no table is rebuilt on SQLite, so ledger_entry
and its append-only triggers are untouched. The downgrade drops the columns with ALTER TABLE
DROP COLUMN (SQLite 3.35+), again without a rebuild, after putting each envelope back into its
interchange's "interchange.assigned" audit event, where 0001 code reads it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 23:26:48.602748

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("status = 'pending'")

SUPERSEDE_DUPLICATE_PENDING = """
UPDATE eligibility_check SET status = 'superseded'
WHERE status = 'pending' AND appointment_id IS NOT NULL AND EXISTS (
    SELECT 1 FROM eligibility_check newer
    WHERE newer.status = 'pending'
      AND newer.practice_id = eligibility_check.practice_id
      AND newer.appointment_id = eligibility_check.appointment_id
      AND newer.coverage_id = eligibility_check.coverage_id
      AND (newer.requested_at > eligibility_check.requested_at
           OR (newer.requested_at = eligibility_check.requested_at
               AND newer.id > eligibility_check.id))
)
"""


def _copy_envelopes_from_audit_events() -> None:
    if op.get_context().as_sql:
        # Offline (--sql) there are no rows to read; the copy needs a live database.
        return
    audit_event = sa.table(
        'audit_event',
        sa.column('entity_type', sa.String()),
        sa.column('entity_id', sa.String()),
        sa.column('action', sa.String()),
        sa.column('detail', sa.JSON()),
        sa.column('created_at', sa.DateTime(timezone=True)),
    )
    interchange = sa.table(
        'interchange', sa.column('id', sa.Uuid(as_uuid=False)), sa.column('envelope', sa.JSON())
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(audit_event.c.entity_id, audit_event.c.detail)
        .where(
            audit_event.c.entity_type == 'interchange',
            audit_event.c.action == 'interchange.assigned',
        )
        .order_by(audit_event.c.created_at.desc())
    )
    # Oldest last, so the first recorded settings win, as the old reader took them.
    envelopes = {entity_id: detail['envelope'] for entity_id, detail in rows
                 if isinstance(detail, dict) and isinstance(detail.get('envelope'), dict)}
    for entity_id, envelope in envelopes.items():
        connection.execute(
            interchange.update()
            .where(interchange.c.id == sa.bindparam('b_id'), interchange.c.envelope.is_(None))
            .values(envelope=sa.bindparam('b_envelope')),
            {'b_id': entity_id, 'b_envelope': envelope},
        )


def _copy_envelopes_back_to_audit_events() -> None:
    """For 0001 code, which reads the settings from the interchange's "interchange.assigned"
    audit event (code at 0002 still writes that event, without the settings)."""
    if op.get_context().as_sql:
        return
    audit_event = sa.table(
        'audit_event',
        sa.column('id', sa.Uuid()),
        sa.column('entity_type', sa.String()),
        sa.column('entity_id', sa.String()),
        sa.column('action', sa.String()),
        sa.column('detail', sa.JSON()),
    )
    interchange = sa.table('interchange', sa.column('id', sa.Uuid()), sa.column('envelope', sa.JSON()))
    connection = op.get_bind()
    envelopes = {
        str(interchange_id): envelope
        for interchange_id, envelope in connection.execute(
            sa.select(interchange.c.id, interchange.c.envelope).where(interchange.c.envelope.is_not(None))
        )
    }
    if not envelopes:
        return
    events = connection.execute(
        sa.select(audit_event.c.id, audit_event.c.entity_id, audit_event.c.detail).where(
            audit_event.c.entity_type == 'interchange',
            audit_event.c.action == 'interchange.assigned',
        )
    ).all()
    for event_id, entity_id, detail in events:
        envelope = envelopes.get(entity_id)
        if envelope is None or (isinstance(detail, dict) and 'envelope' in detail):
            continue
        connection.execute(
            audit_event.update()
            .where(audit_event.c.id == sa.bindparam('b_id'))
            .values(detail=sa.bindparam('b_detail')),
            {'b_id': event_id, 'b_detail': {**(detail or {}), 'envelope': envelope}},
        )


def upgrade() -> None:
    with op.batch_alter_table('interchange', schema=None) as batch_op:
        batch_op.add_column(sa.Column('envelope', sa.JSON(), nullable=True))
    with op.batch_alter_table('claim_payment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('remarks', sa.JSON(), nullable=True))
    with op.batch_alter_table('service_payment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('remarks', sa.JSON(), nullable=True))

    _copy_envelopes_from_audit_events()

    op.execute(SUPERSEDE_DUPLICATE_PENDING)
    with op.batch_alter_table('eligibility_check', schema=None) as batch_op:
        batch_op.create_index('uq_eligibility_check_pending', ['practice_id', 'appointment_id', 'coverage_id'], unique=True, sqlite_where=PENDING, postgresql_where=PENDING)


def downgrade() -> None:
    with op.batch_alter_table('eligibility_check', schema=None) as batch_op:
        batch_op.drop_index('uq_eligibility_check_pending', sqlite_where=PENDING, postgresql_where=PENDING)
    # 0001 code does not know the status.
    op.execute("UPDATE eligibility_check SET status = 'error' WHERE status = 'superseded'")
    _copy_envelopes_back_to_audit_events()

    # Plain DROP COLUMN, not batch mode: a batch rebuild would recreate these tables on SQLite.
    op.drop_column('service_payment', 'remarks')
    op.drop_column('claim_payment', 'remarks')
    op.drop_column('interchange', 'envelope')
