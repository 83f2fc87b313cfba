"""The migrations are the only source of production tables: `upgrade head` must build exactly
SQLModel.metadata and `downgrade base` must remove it, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, insert, inspect, make_url, select, text
from sqlmodel import SQLModel

from connectors.db import (
    MIGRATIONS_DIR,
    alembic_config,
    current_revision,
    downgrade,
    head_revision,
    make_engine,
    upgrade,
)
from rcm.models import (
    Appointment,
    AuditEvent,
    Coverage,
    EligibilityCheck,
    Interchange,
    Patient,
    Payer,
    Practice,
    Provider,
)
from rcm.models.references import declared_on


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)],
)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    base = os.environ.get("RCM_TEST_DATABASE_URL")
    if not base:
        pytest.skip("RCM_TEST_DATABASE_URL is not set")
    schema = f"mig_{uuid.uuid4().hex[:20]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield (
            make_url(base)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _differences(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            opts = {"compare_type": True, "include_object": declared_on(engine.dialect.name)}
            context = MigrationContext.configure(connection, opts=opts)
            return list(compare_metadata(context, SQLModel.metadata))
    finally:
        engine.dispose()


def _ledger_triggers(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
            else:
                query = (
                    "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = current_schema() AND NOT t.tgisinternal "
                    "UNION SELECT proname FROM pg_proc p JOIN pg_namespace n "
                    "ON n.oid = p.pronamespace WHERE n.nspname = current_schema()"
                )
            return set(connection.execute(text(query)).scalars())
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_head_builds_exactly_the_models(empty_database: str) -> None:
    upgrade(empty_database)

    assert current_revision(empty_database) == head_revision()
    assert _differences(empty_database) == []
    assert _tables(empty_database) == set(SQLModel.metadata.tables) | {"alembic_version"}
    assert {"ledger_entry_no_update", "ledger_entry_no_delete"} <= _ledger_triggers(
        empty_database
    ) or {"ledger_entry_no_change", "ledger_entry_append_only"} <= _ledger_triggers(empty_database)


def test_downgrade_base_drops_every_table_and_upgrade_rebuilds_them(empty_database: str) -> None:
    upgrade(empty_database)

    downgrade(empty_database, "base")

    assert current_revision(empty_database) is None
    assert _tables(empty_database) == {"alembic_version"}
    assert _ledger_triggers(empty_database) == set()

    upgrade(empty_database)
    assert _differences(empty_database) == []


def test_an_unmigrated_database_has_no_revision(empty_database: str) -> None:
    assert current_revision(empty_database) is None


def test_migrations_have_a_single_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()

    assert heads == [head_revision()]


def test_revision_files_are_portable() -> None:
    for revision in (MIGRATIONS_DIR / "versions").glob("*.py"):
        source = revision.read_text()
        imports = {
            line.split()[1].split(".")[0]
            for line in source.splitlines()
            if line.startswith(("import ", "from "))
        }
        assert imports <= {"collections", "sqlalchemy", "alembic"}, revision.name
        assert "postgresql." not in source and "sqlite." not in source, revision.name


def test_migrations_run_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'nested' / 'folder' / 'rcm.db'}"

    upgrade(url)

    assert current_revision(url) == head_revision()


def test_0002_moves_envelopes_onto_interchanges_and_resolves_duplicate_pending_checks(
    empty_database: str,
) -> None:
    upgrade(empty_database, "0001")
    envelope = {"sender_id": "RCMSUBMITTER", "receiver_id": "RCMSANDBOX", "usage": "T"}
    practice_id, payer_id, patient_id, provider_id = (uuid.uuid4() for _ in range(4))
    coverage_id, appointment_id, interchange_id = (uuid.uuid4() for _ in range(3))
    older, newer, other = (uuid.uuid4() for _ in range(3))
    t0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    rows: list[tuple[type[SQLModel], dict[str, Any]]] = [
        (
            Practice,
            {
                "id": practice_id,
                "slug": "northside",
                "name": "Northside",
                "billing_npi": "1234567893",
                "tin": "123456789",
                "taxonomy_code": "207Q00000X",
                "address1": "1 Test Way",
                "city": "Springfield",
                "state": "IL",
                "zip": "62701",
                "clearinghouse": "sandbox",
                "clearinghouse_account": "SUB",
            },
        ),
        (Payer, {"id": payer_id, "key": "acme", "name": "Acme", "payer_id": "ACME1"}),
        (
            Patient,
            {
                "id": patient_id,
                "practice_id": practice_id,
                "account_number": "A1",
                "first_name": "TESTY",
                "last_name": "PATIENT",
                "birth_date": date(1980, 1, 1),
            },
        ),
        (Provider, {"id": provider_id, "practice_id": practice_id, "npi": "1", "last_name": "DOC"}),
        (
            Coverage,
            {
                "id": coverage_id,
                "practice_id": practice_id,
                "patient_id": patient_id,
                "payer_id": payer_id,
                "member_id": "M1",
            },
        ),
        (
            Appointment,
            {
                "id": appointment_id,
                "practice_id": practice_id,
                "external_id": "APT1",
                "patient_id": patient_id,
                "provider_id": provider_id,
                "scheduled_at": t0,
            },
        ),
        (
            Interchange,
            {
                "id": interchange_id,
                "practice_id": practice_id,
                "clearinghouse": "sandbox",
                "direction": "outbound",
                "kind": "270",
                "status": "built",
            },
        ),
        (
            AuditEvent,
            {
                "practice_id": practice_id,
                "actor": "eligibility",
                "action": "interchange.assigned",
                "entity_type": "interchange",
                "entity_id": str(interchange_id),
                "detail": {"envelope": envelope, "checks": 2},
            },
        ),
    ]
    for check_id, requested_at, status in (
        (older, t0, "pending"),
        (newer, t0 + timedelta(hours=1), "pending"),
        (other, t0, "active"),
    ):
        rows.append(
            (
                EligibilityCheck,
                {
                    "id": check_id,
                    "practice_id": practice_id,
                    "patient_id": patient_id,
                    "coverage_id": coverage_id,
                    "appointment_id": appointment_id,
                    "interchange_id": interchange_id,
                    "trace_number": check_id.hex,
                    "service_date": date(2026, 11, 23),
                    "status": status,
                    "requested_at": requested_at,
                },
            )
        )
    engine = make_engine(empty_database)
    try:
        with engine.begin() as connection:
            for model, values in rows:
                connection.execute(insert(model.__table__).values(**values))  # type: ignore[attr-defined]

        upgrade(empty_database)

        with engine.connect() as connection:
            table = Interchange.__table__  # type: ignore[attr-defined]
            stored = connection.execute(
                select(table.c.envelope).where(table.c.id == interchange_id)
            ).scalar_one()
            checks = EligibilityCheck.__table__  # type: ignore[attr-defined]
            statuses = dict(connection.execute(select(checks.c.id, checks.c.status)).tuples().all())
        # An interchange assigned at 0002 keeps its settings on the row only; the downgrade
        # puts them back into its audit event for 0001 code.
        later = uuid.uuid4()
        with engine.begin() as connection:
            connection.execute(
                insert(Interchange.__table__).values(  # type: ignore[attr-defined]
                    **{**rows[6][1], "id": later, "envelope": envelope}
                )
            )
            connection.execute(
                insert(AuditEvent.__table__).values(  # type: ignore[attr-defined]
                    **{**rows[7][1], "entity_id": str(later), "detail": {"checks": 1}}
                )
            )

        downgrade(empty_database, "0001")

        with engine.connect() as connection:
            audit = AuditEvent.__table__  # type: ignore[attr-defined]
            details = dict(
                connection.execute(select(audit.c.entity_id, audit.c.detail)).tuples().all()
            )
            downgraded = set(connection.execute(select(checks.c.status)).scalars())
    finally:
        engine.dispose()
    assert stored == envelope
    assert statuses == {older: "superseded", newer: "pending", other: "active"}
    assert details[str(later)] == {"checks": 1, "envelope": envelope}
    assert details[str(interchange_id)]["envelope"] == envelope
    assert downgraded == {"error", "pending", "active"}


def _ledger_indexes(url: str) -> dict[str, tuple[tuple[str, ...], bool]]:
    engine = make_engine(url)
    try:
        return {
            str(ix["name"]): (tuple(str(c) for c in ix["column_names"]), bool(ix["unique"]))
            for ix in inspect(engine).get_indexes("ledger_entry")
        }
    finally:
        engine.dispose()


def test_0003_keeps_two_ledger_indexes_and_refuses_a_second_reversal(empty_database: str) -> None:
    from sqlalchemy.exc import IntegrityError

    from rcm.models import LedgerEntry

    upgrade(empty_database, "0002")
    assert set(_ledger_indexes(empty_database)) == {
        "ix_ledger_entry_practice_id_claim_id",
        "ix_ledger_entry_practice_id_service_line_id",
        "ix_ledger_entry_reverses_entry_id",
    }
    practice_id, charge, payment = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    engine = make_engine(empty_database)
    ledger = LedgerEntry.__table__  # type: ignore[attr-defined]

    def entry(entry_id: uuid.UUID, amount: int, reverses: uuid.UUID | None = None) -> Any:
        return insert(ledger).values(
            id=entry_id,
            practice_id=practice_id,
            kind="reversal" if reverses else "charge",
            amount=amount,
            responsible="payer",
            reverses_entry_id=reverses,
        )

    try:
        with engine.begin() as connection:
            connection.execute(
                insert(Practice.__table__).values(  # type: ignore[attr-defined]
                    id=practice_id,
                    slug="p",
                    name="P",
                    billing_npi="1234567893",
                    tin="123456789",
                    taxonomy_code="207Q00000X",
                    address1="1 Way",
                    city="X",
                    state="IL",
                    zip="62701",
                    clearinghouse="sandbox",
                    clearinghouse_account="S",
                )
            )
            connection.execute(entry(charge, 100))
            connection.execute(entry(payment, -80))
            connection.execute(entry(uuid.uuid4(), -100, reverses=charge))

        upgrade(empty_database)

        assert _ledger_indexes(empty_database) == {
            "ix_ledger_entry_practice_id_claim_id": (("practice_id", "claim_id"), False),
            "uq_ledger_entry_reverses_entry_id": (("reverses_entry_id",), True),
        }
        with engine.begin() as connection:
            connection.execute(entry(uuid.uuid4(), 80, reverses=payment))
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(entry(uuid.uuid4(), -100, reverses=charge))

        downgrade(empty_database, "0002")

        assert _ledger_indexes(empty_database) == {
            "ix_ledger_entry_practice_id_claim_id": (("practice_id", "claim_id"), False),
            "ix_ledger_entry_practice_id_service_line_id": (
                ("practice_id", "service_line_id"),
                False,
            ),
            "ix_ledger_entry_reverses_entry_id": (("reverses_entry_id",), False),
        }
        # Index changes only: the append-only triggers were never dropped.
        triggers = _ledger_triggers(empty_database)
        assert "ledger_entry_no_update" in triggers or "ledger_entry_no_change" in triggers
    finally:
        engine.dispose()


def test_revision_0005_builds_the_reference_checks_the_models_build() -> None:
    """Revision 0005 carries its own copy of rcm.models.references' DDL (revision files import
    nothing from rcm); create_all and `upgrade head` must give PostgreSQL the same triggers."""
    import importlib.util

    from rcm.models.references import postgresql_create_statements

    (path,) = Path(MIGRATIONS_DIR, "versions").glob("*_0005_*.py")
    spec = importlib.util.spec_from_file_location("revision_0005", path)
    assert spec is not None and spec.loader is not None
    revision = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(revision)

    assert revision._create_statements() == postgresql_create_statements()
