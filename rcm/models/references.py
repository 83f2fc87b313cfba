"""Foreign keys that PostgreSQL checks once per statement instead of once per row.

The tables an 835 posts into (claim_payment, service_payment, adjustment, ledger_entry) and
claim_event take ~1.2 million rows for 100,000 claim payments. A declared foreign key costs
PostgreSQL one query per key per row (an SPI plan run, its executor set up and torn down, a row
lock): about 3.3 million queries, 18 of the 29 seconds the server spent on such a posting.

On PostgreSQL these references are therefore enforced by triggers that check a whole statement
at once, with the same guarantees as the declared keys they replace:

- after each INSERT or UPDATE of a child table (a COPY of thousands of rows is one statement),
  every distinct key the written rows name must exist in the parent, and each parent row is
  locked FOR KEY SHARE as a foreign key locks it, so a concurrent DELETE waits for the writer to
  commit and then sees its rows;
- a DELETE of parent rows that child rows still name is refused (checked after the statement, as
  NO ACTION is), and so is a TRUNCATE of a parent whose children name any row;
- a parent's key cannot change (nothing in rcm changes a key; a foreign key would refuse it only
  for referenced rows).

A violation raises SQLSTATE 23503 (foreign_key_violation) naming the constraint, table and key,
as the declared key would, so callers see the same IntegrityError. The models keep the
`foreign_key=` declarations: SQLite enforces them as declared (its per-row check is cheap), and
they document the schema. Migration 0005 replaces the declared keys on PostgreSQL; for tables
built with `create_all` the DDL events below do the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby

from sqlalchemy import DDL, event
from sqlmodel import SQLModel

__all__ = [
    "STATEMENT_CHECKED",
    "Reference",
    "declared_on",
    "postgresql_create_statements",
    "postgresql_functions",
]


@dataclass(frozen=True, slots=True)
class Reference:
    """`table.column` names a row of `parent` by its `id`."""

    table: str
    column: str
    parent: str

    @property
    def constraint(self) -> str:
        return f"fk_{self.table}_{self.column}_{self.parent}"


STATEMENT_CHECKED: tuple[Reference, ...] = (
    Reference("claim_payment", "remittance_id", "remittance"),
    Reference("claim_payment", "claim_id", "claim"),
    Reference("service_payment", "claim_payment_id", "claim_payment"),
    Reference("service_payment", "service_line_id", "service_line"),
    Reference("adjustment", "claim_payment_id", "claim_payment"),
    Reference("adjustment", "service_payment_id", "service_payment"),
    Reference("ledger_entry", "claim_id", "claim"),
    Reference("ledger_entry", "service_line_id", "service_line"),
    Reference("ledger_entry", "claim_payment_id", "claim_payment"),
    Reference("ledger_entry", "reverses_entry_id", "ledger_entry"),
    Reference("claim_event", "claim_id", "claim"),
    Reference("claim_event", "practice_id", "practice"),
)


def _child_check(reference: Reference) -> str:
    # No '%' or ':' in these bodies: SQLAlchemy's DDL and Alembic's text() would read them.
    col, parent, name = reference.column, reference.parent, reference.constraint
    return f"""
  SELECT array_agg(DISTINCT {col}) INTO keys FROM written WHERE {col} IS NOT NULL;
  IF keys IS NOT NULL THEN
    SELECT count(*) INTO present
      FROM (SELECT 1 FROM {parent} p WHERE p.id = ANY(keys) FOR KEY SHARE OF p) locked;
    IF present < cardinality(keys) THEN
      SELECT k INTO absent FROM unnest(keys) k
        WHERE NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.id = k) LIMIT 1;
      RAISE EXCEPTION 'insert or update on table "{reference.table}" violates foreign key constraint "{name}"'
        USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{name}',
        TABLE = '{reference.table}',
        DETAIL = 'Key ({col})=(' || CAST(absent AS text) || ') is not present in table "{parent}".';
    END IF;
  END IF;"""  # noqa: E501


def _child_statements(table: str, references: Sequence[Reference]) -> list[str]:
    function = f"{table}_references_present"
    checks = "".join(_child_check(reference) for reference in references)
    return [
        f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"DECLARE keys uuid[]; present bigint; absent uuid;\nBEGIN{checks}\n"
        "  RETURN NULL;\nEND $$",
        f"CREATE TRIGGER {table}_references_on_insert AFTER INSERT ON {table} "
        f"REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        f"CREATE TRIGGER {table}_references_on_update AFTER UPDATE ON {table} "
        f"REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
    ]


# Under REPEATABLE READ or SERIALIZABLE the check below would read the deleter's snapshot and
# miss child rows committed after it (a declared key looks past the snapshot; a trigger cannot).
ISOLATION_CHECK = """
  IF current_setting('transaction_isolation') <> 'read committed'
      AND EXISTS (SELECT 1 FROM removed) THEN
    RAISE EXCEPTION 'rows of "{parent}" are deleted only under READ COMMITTED'
      USING ERRCODE = 'feature_not_supported',
      DETAIL = 'Other tables name these rows, and only READ COMMITTED sees every row naming them.';
  END IF;"""


def _parent_statements(parent: str, references: Sequence[Reference]) -> list[str]:
    deleted = []
    truncated = []
    for reference in references:
        kept = (
            f"'Key (id)=(' || CAST(named AS text) || ') is still referenced from table "
            f'"{reference.table}".\''
        )
        deleted.append(f"""
  SELECT c.{reference.column} INTO named FROM {reference.table} c
    WHERE c.{reference.column} IN (SELECT id FROM removed) LIMIT 1;
  IF named IS NOT NULL THEN
    RAISE EXCEPTION 'update or delete on table "{parent}" violates foreign key constraint "{reference.constraint}" on table "{reference.table}"'
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{reference.constraint}',
      TABLE = '{parent}', DETAIL = {kept};
  END IF;""")  # noqa: E501
        truncated.append(f"""
  IF EXISTS (SELECT 1 FROM {reference.table} WHERE {reference.column} IS NOT NULL) THEN
    RAISE EXCEPTION 'cannot truncate a table referenced in a foreign key constraint'
      USING ERRCODE = 'feature_not_supported', CONSTRAINT = '{reference.constraint}',
      DETAIL = 'Table "{reference.table}" references "{parent}".';
  END IF;""")
    return [
        f"CREATE FUNCTION {parent}_referenced_rows_kept() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"DECLARE named uuid;\nBEGIN{ISOLATION_CHECK.format(parent=parent)}"
        f"{''.join(deleted)}\n  RETURN NULL;\nEND $$",
        f"CREATE TRIGGER {parent}_referenced_on_delete AFTER DELETE ON {parent} "
        f"REFERENCING OLD TABLE AS removed FOR EACH STATEMENT "
        f"EXECUTE FUNCTION {parent}_referenced_rows_kept()",
        f"CREATE FUNCTION {parent}_referenced_not_truncated() RETURNS trigger "
        f"LANGUAGE plpgsql AS $$\nBEGIN{''.join(truncated)}\n  RETURN NULL;\nEND $$",
        f"CREATE TRIGGER {parent}_referenced_on_truncate BEFORE TRUNCATE ON {parent} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {parent}_referenced_not_truncated()",
        f"CREATE FUNCTION {parent}_key_fixed() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN\n  RAISE EXCEPTION 'the id of a \"{parent}\" row cannot change: other rows name it'"
        "\n    USING ERRCODE = 'foreign_key_violation';\nEND $$",
        f"CREATE TRIGGER {parent}_key_on_update BEFORE UPDATE OF id ON {parent} FOR EACH ROW "
        f"WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION {parent}_key_fixed()",
    ]


def _by(references: Iterable[Reference], attribute: str) -> list[tuple[str, list[Reference]]]:
    ordered = sorted(references, key=lambda r: getattr(r, attribute))
    return [
        (name, list(group)) for name, group in groupby(ordered, lambda r: getattr(r, attribute))
    ]


def postgresql_create_statements(
    references: Sequence[Reference] = STATEMENT_CHECKED,
) -> list[str]:
    """DDL replacing the declared foreign keys `references` with statement-level checks."""
    statements = [
        f"ALTER TABLE {r.table} DROP CONSTRAINT IF EXISTS {r.constraint}" for r in references
    ]
    for table, group in _by(references, "table"):
        statements += _child_statements(table, group)
    for parent, group in _by(references, "parent"):
        statements += _parent_statements(parent, group)
    return statements


def postgresql_functions(references: Sequence[Reference] = STATEMENT_CHECKED) -> list[str]:
    """The trigger functions `postgresql_create_statements` creates (dropping a table drops its
    triggers, not these)."""
    children = [f"{table}_references_present" for table, _ in _by(references, "table")]
    parents = [
        f"{parent}_{function}"
        for parent, _ in _by(references, "parent")
        for function in ("referenced_rows_kept", "referenced_not_truncated", "key_fixed")
    ]
    return children + parents


def declared_on(dialect_name: str) -> Callable[..., bool]:
    """An Alembic `include_object` hook: on PostgreSQL the foreign keys in STATEMENT_CHECKED are
    triggers, not constraints, and comparing the database with the models skips them."""
    replaced = {reference.constraint for reference in STATEMENT_CHECKED}
    postgresql = dialect_name.startswith("postgresql")

    def include_object(
        obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
    ) -> bool:
        return not (postgresql and type_ == "foreign_key_constraint" and name in replaced)

    return include_object


def _listen() -> None:
    for statement in postgresql_create_statements():
        event.listen(
            SQLModel.metadata, "after_create", DDL(statement).execute_if(dialect="postgresql")
        )
    for function in postgresql_functions():
        drop = DDL(f"DROP FUNCTION IF EXISTS {function}()")
        event.listen(SQLModel.metadata, "after_drop", drop.execute_if(dialect="postgresql"))


_listen()
