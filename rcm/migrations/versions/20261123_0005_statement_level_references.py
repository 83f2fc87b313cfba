"""PostgreSQL: the posting tables' and claim_event's foreign keys are checked per statement.

A declared foreign key costs PostgreSQL one query per key per inserted row; an 835 of 100,000
claim payments writes ~1.2 million rows into these tables, and those queries were 18 of the 29
seconds the server spent posting it. Each key below is replaced by triggers that check a whole
statement (a COPY of thousands of rows) at once, with the guarantees of the key: every key a
written row names must exist (its parent row locked FOR KEY SHARE, as a foreign key does), a
DELETE or TRUNCATE of parent rows still named is refused, and a parent's id cannot change.
rcm/models/references.py has the design and the DDL; the models keep the declarations, which
SQLite goes on enforcing as declared (nothing changes there).

The SQL below is kept in step with rcm.models.references, which builds the same triggers for
tables made with create_all (revision files import nothing from rcm); tests/rcm/models/
test_migrations.py checks that both give the same functions and triggers.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 08:30:00.000000

"""
from collections.abc import Sequence

from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, referenced table): each a declared foreign key until this revision.
REFERENCES = (
    ('claim_payment', 'remittance_id', 'remittance'),
    ('claim_payment', 'claim_id', 'claim'),
    ('service_payment', 'claim_payment_id', 'claim_payment'),
    ('service_payment', 'service_line_id', 'service_line'),
    ('adjustment', 'claim_payment_id', 'claim_payment'),
    ('adjustment', 'service_payment_id', 'service_payment'),
    ('ledger_entry', 'claim_id', 'claim'),
    ('ledger_entry', 'service_line_id', 'service_line'),
    ('ledger_entry', 'claim_payment_id', 'claim_payment'),
    ('ledger_entry', 'reverses_entry_id', 'ledger_entry'),
    ('claim_event', 'claim_id', 'claim'),
    ('claim_event', 'practice_id', 'practice'),
)

CHILD_CHECK = """
  SELECT array_agg(DISTINCT {col}) INTO keys FROM written WHERE {col} IS NOT NULL;
  IF keys IS NOT NULL THEN
    SELECT count(*) INTO present
      FROM (SELECT 1 FROM {parent} p WHERE p.id = ANY(keys) FOR KEY SHARE OF p) locked;
    IF present < cardinality(keys) THEN
      SELECT k INTO absent FROM unnest(keys) k
        WHERE NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.id = k) LIMIT 1;
      RAISE EXCEPTION 'insert or update on table "{table}" violates foreign key constraint "{name}"'
        USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{name}',
        TABLE = '{table}',
        DETAIL = 'Key ({col})=(' || CAST(absent AS text) || ') is not present in table "{parent}".';
    END IF;
  END IF;"""

ISOLATION_CHECK = """
  IF current_setting('transaction_isolation') <> 'read committed'
      AND EXISTS (SELECT 1 FROM removed) THEN
    RAISE EXCEPTION 'rows of "{parent}" are deleted only under READ COMMITTED'
      USING ERRCODE = 'feature_not_supported',
      DETAIL = 'Other tables name these rows, and only READ COMMITTED sees every row naming them.';
  END IF;"""

PARENT_DELETE_CHECK = """
  SELECT c.{col} INTO named FROM {table} c
    WHERE c.{col} IN (SELECT id FROM removed) LIMIT 1;
  IF named IS NOT NULL THEN
    RAISE EXCEPTION 'update or delete on table "{parent}" violates foreign key constraint "{name}" on table "{table}"'
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{name}',
      TABLE = '{parent}', DETAIL = 'Key (id)=(' || CAST(named AS text) || ') is still referenced from table "{table}".';
  END IF;"""

PARENT_TRUNCATE_CHECK = """
  IF EXISTS (SELECT 1 FROM {table} WHERE {col} IS NOT NULL) THEN
    RAISE EXCEPTION 'cannot truncate a table referenced in a foreign key constraint'
      USING ERRCODE = 'feature_not_supported', CONSTRAINT = '{name}',
      DETAIL = 'Table "{table}" references "{parent}".';
  END IF;"""


def _fields(reference: tuple[str, str, str]) -> dict[str, str]:
    table, col, parent = reference
    return {'table': table, 'col': col, 'parent': parent, 'name': f'fk_{table}_{col}_{parent}'}


def _grouped(position: int) -> list[tuple[str, list[dict[str, str]]]]:
    groups: dict[str, list[dict[str, str]]] = {}
    for reference in sorted(REFERENCES, key=lambda r: r[position]):
        groups.setdefault(reference[position], []).append(_fields(reference))
    return list(groups.items())


def _create_statements() -> list[str]:
    statements = [
        f"ALTER TABLE {f['table']} DROP CONSTRAINT IF EXISTS {f['name']}"
        for f in map(_fields, REFERENCES)
    ]
    for table, group in _grouped(0):
        checks = ''.join(CHILD_CHECK.format(**f) for f in group)
        statements += [
            f'CREATE FUNCTION {table}_references_present() RETURNS trigger LANGUAGE plpgsql AS $$\n'
            f'DECLARE keys uuid[]; present bigint; absent uuid;\nBEGIN{checks}\n'
            '  RETURN NULL;\nEND $$',
        ] + [
            f'CREATE TRIGGER {table}_references_on_{event} AFTER {event.upper()} ON {table} '
            'REFERENCING NEW TABLE AS written FOR EACH STATEMENT '
            f'EXECUTE FUNCTION {table}_references_present()'
            for event in ('insert', 'update')
        ]
    for parent, group in _grouped(2):
        deleted = ''.join(PARENT_DELETE_CHECK.format(**f) for f in group)
        truncated = ''.join(PARENT_TRUNCATE_CHECK.format(**f) for f in group)
        statements += [
            f'CREATE FUNCTION {parent}_referenced_rows_kept() RETURNS trigger LANGUAGE plpgsql '
            f'AS $$\nDECLARE named uuid;\nBEGIN{ISOLATION_CHECK.format(parent=parent)}'
            f'{deleted}\n  RETURN NULL;\nEND $$',
            f'CREATE TRIGGER {parent}_referenced_on_delete AFTER DELETE ON {parent} '
            'REFERENCING OLD TABLE AS removed FOR EACH STATEMENT '
            f'EXECUTE FUNCTION {parent}_referenced_rows_kept()',
            f'CREATE FUNCTION {parent}_referenced_not_truncated() RETURNS trigger '
            f'LANGUAGE plpgsql AS $$\nBEGIN{truncated}\n  RETURN NULL;\nEND $$',
            f'CREATE TRIGGER {parent}_referenced_on_truncate BEFORE TRUNCATE ON {parent} '
            f'FOR EACH STATEMENT EXECUTE FUNCTION {parent}_referenced_not_truncated()',
            f'CREATE FUNCTION {parent}_key_fixed() RETURNS trigger LANGUAGE plpgsql AS $$\n'
            f"BEGIN\n  RAISE EXCEPTION 'the id of a \"{parent}\" row cannot change: other rows "
            "name it'\n    USING ERRCODE = 'foreign_key_violation';\nEND $$",
            f'CREATE TRIGGER {parent}_key_on_update BEFORE UPDATE OF id ON {parent} FOR EACH ROW '
            f'WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION {parent}_key_fixed()',
        ]
    return statements


def _postgresql() -> bool:
    return op.get_bind().dialect.name == 'postgresql'


def upgrade() -> None:
    if _postgresql():
        for statement in _create_statements():
            op.execute(statement)


def downgrade() -> None:
    if not _postgresql():
        return
    for table, _ in _grouped(0):
        op.execute(f'DROP FUNCTION {table}_references_present() CASCADE')
    for parent, _ in _grouped(2):
        for function in ('referenced_rows_kept', 'referenced_not_truncated', 'key_fixed'):
            op.execute(f'DROP FUNCTION {parent}_{function}() CASCADE')
    for f in map(_fields, REFERENCES):
        op.execute(
            f"ALTER TABLE {f['table']} ADD CONSTRAINT {f['name']} "
            f"FOREIGN KEY ({f['col']}) REFERENCES {f['parent']} (id)"
        )
