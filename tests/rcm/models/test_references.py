"""The references rcm.models.references checks once per statement on PostgreSQL (declared
foreign keys on SQLite) refuse what a foreign key refuses, on both backends: a row naming a
missing parent (one row, or one among thousands written at once), a change of a named key, the
removal of a parent still named; and on PostgreSQL a concurrent writer and deleter of one
parent wait for each other as they would on a foreign key. All data is synthetic."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from sqlalchemy import Connection, Engine, Executable, delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session, SQLModel

from connectors.db import make_engine, upgrade
from rcm.bulk import BulkWriter
from rcm.ledger import LedgerRows
from rcm.models import (
    Adjustment,
    AdjustmentGroup,
    Claim,
    ClaimEvent,
    ClaimPayment,
    ClaimStatus,
    Direction,
    InterchangeKind,
    LedgerEntry,
    LedgerKind,
    Remittance,
    Responsible,
    ServiceLine,
    ServicePayment,
)
from rcm.models.references import STATEMENT_CHECKED
from tests.rcm.models.builders import ClaimChain, make_interchange

POSTGRESQL = bool(os.environ.get("RCM_TEST_DATABASE_URL"))
needs_postgresql = pytest.mark.skipif(
    not POSTGRESQL, reason="needs PostgreSQL (RCM_TEST_DATABASE_URL)"
)
CLAIM = Claim.__table__  # type: ignore[attr-defined]
CLAIM_EVENT = ClaimEvent.__table__  # type: ignore[attr-defined]


@dataclass
class World:
    chain: ClaimChain
    remittance: Remittance


@pytest.fixture
def world(session: Session) -> World:
    chain = ClaimChain(session)
    interchange = make_interchange(
        session, chain.practice, kind=InterchangeKind.REMITTANCE_835, direction=Direction.INBOUND
    )
    remittance = Remittance(
        practice_id=chain.practice.id,
        interchange_id=interchange.id,
        payer_identifier="TEST1",
        trace_number="TRN-0001",
        total_paid=Decimal("80.00"),
        payment_method="ACH",
    )
    session.add(remittance)
    session.commit()
    return World(chain, remittance)


def _event(practice_id: uuid.UUID, claim_id: uuid.UUID) -> ClaimEvent:
    return ClaimEvent(
        practice_id=practice_id,
        claim_id=claim_id,
        from_status=ClaimStatus.DRAFT,
        to_status=ClaimStatus.READY,
        reason="scrubbed",
        source="test",
    )


def _claim_payment(world: World, claim_id: uuid.UUID) -> ClaimPayment:
    return ClaimPayment(
        practice_id=world.chain.practice.id,
        remittance_id=world.remittance.id,
        claim_id=claim_id,
        patient_control_number="PCN0001",
        status_code="1",
        total_charge=Decimal("125.00"),
        paid=Decimal("80.00"),
    )


def _naming(world: World, table: str, claim_id: uuid.UUID) -> SQLModel:
    """A row of `table` naming the claim `claim_id`."""
    practice_id = world.chain.practice.id
    if table == "claim_event":
        return _event(practice_id, claim_id)
    if table == "ledger_entry":
        return LedgerEntry(
            practice_id=practice_id,
            claim_id=claim_id,
            kind=LedgerKind.CHARGE,
            amount=Decimal("125.00"),
            responsible=Responsible.PAYER,
        )
    return _claim_payment(world, claim_id)


def _count(session: Session, model: type[SQLModel]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def _is_foreign_key_violation(
    error: BaseException, constraint: str | None = None, key: uuid.UUID | None = None
) -> None:
    """`error` is the foreign key error (on PostgreSQL naming `constraint` and `key`)."""
    driver: Any = getattr(error, "orig", error)
    if not POSTGRESQL:
        assert driver.sqlite_errorname == "SQLITE_CONSTRAINT_FOREIGNKEY"
        return
    assert driver.sqlstate == "23503"
    if constraint is not None:
        assert driver.diag.constraint_name == constraint
    if key is not None:
        assert str(key) in driver.diag.message_detail


TABLES_NAMING_CLAIMS = ["claim_event", "ledger_entry", "claim_payment"]


@pytest.mark.parametrize("table", TABLES_NAMING_CLAIMS)
def test_a_row_naming_a_missing_claim_is_refused(
    session: Session, world: World, table: str
) -> None:
    missing = uuid.uuid4()
    row = _naming(world, table, missing)
    session.add(row)
    with pytest.raises(IntegrityError) as refused:
        session.flush()
    session.rollback()

    _is_foreign_key_violation(refused.value, f"fk_{table}_claim_id_claim", missing)
    assert _count(session, type(row)) == 0


@pytest.mark.parametrize("missing_at", [None, 1000, 1999], ids=["all-valid", "middle", "last"])
def test_a_bulk_write_checks_every_row(
    session: Session, world: World, missing_at: int | None
) -> None:
    """2,000 ledger entries in one COPY (one executemany on SQLite) over 100 service lines:
    one naming a missing line refuses them all, wherever it is."""
    chain = world.chain
    lines = [chain.line] + [
        ServiceLine(
            practice_id=chain.practice.id,
            encounter_id=chain.encounter.id,
            line_number=n,
            procedure_code="99213",
            charge=Decimal("1.00"),
            diagnosis_pointers=[1],
        )
        for n in range(2, 101)
    ]
    session.add_all(lines)
    session.commit()
    missing = uuid.uuid4()
    rows = LedgerRows(
        BulkWriter(session.connection(), binary=True),
        practice_id=chain.practice.id.hex,
        created_at=datetime.now(UTC),
    )
    for n in range(2000):
        line = missing if n == missing_at else lines[n % len(lines)].id
        rows.add(chain.claim.id.hex, line.hex, "charge", Decimal("1.00"), "payer", None, None)

    if missing_at is None:
        assert rows.write() == 2000
        session.commit()
        assert _count(session, LedgerEntry) == 2000
        return
    with pytest.raises((IntegrityError, psycopg.IntegrityError)) as refused:
        rows.write()
    session.rollback()
    _is_foreign_key_violation(
        refused.value, "fk_ledger_entry_service_line_id_service_line", missing
    )
    assert _count(session, LedgerEntry) == 0


def test_pointing_a_claim_payment_at_a_missing_claim_is_refused(
    session: Session, world: World
) -> None:
    payment = _claim_payment(world, world.chain.claim.id)
    session.add(payment)
    session.commit()
    payment_id, claim_id, missing = payment.id, world.chain.claim.id, uuid.uuid4()

    with pytest.raises(IntegrityError) as refused:
        session.execute(
            update(ClaimPayment.__table__)  # type: ignore[attr-defined]
            .where(ClaimPayment.__table__.c.id == payment_id)  # type: ignore[attr-defined]
            .values(claim_id=missing)
        )
    session.rollback()

    _is_foreign_key_violation(refused.value, "fk_claim_payment_claim_id_claim", missing)
    assert session.get(ClaimPayment, payment_id).claim_id == claim_id  # type: ignore[union-attr]


@pytest.mark.parametrize("table", TABLES_NAMING_CLAIMS)
def test_a_named_claim_cannot_be_deleted_and_an_unnamed_one_can(
    session: Session, world: World, table: str
) -> None:
    named = world.chain.claim.id
    unnamed = ClaimChain(
        session, practice=world.chain.practice, payer=world.chain.payer, pcn="PCN0002"
    ).claim.id
    session.add(_naming(world, table, named))
    session.commit()

    with pytest.raises(IntegrityError) as refused:
        session.execute(delete(CLAIM).where(CLAIM.c.id == named))
    session.rollback()
    _is_foreign_key_violation(refused.value, f"fk_{table}_claim_id_claim")

    session.execute(delete(CLAIM).where(CLAIM.c.id == unnamed))
    session.commit()
    assert set(session.scalars(select(CLAIM.c.id))) == {named}


def test_a_named_claim_keeps_its_id(session: Session, world: World) -> None:
    claim_id = world.chain.claim.id
    session.add(_naming(world, "claim_event", claim_id))
    session.commit()

    with pytest.raises(IntegrityError) as refused:
        session.execute(update(CLAIM).where(CLAIM.c.id == claim_id).values(id=uuid.uuid4()))
    session.rollback()

    _is_foreign_key_violation(refused.value)
    assert set(session.scalars(select(CLAIM.c.id))) == {claim_id}


@pytest.mark.integration
@needs_postgresql
@pytest.mark.parametrize("isolation", ["REPEATABLE READ", "SERIALIZABLE"])
def test_claims_are_deleted_only_under_read_committed(
    session: Session, world: World, isolation: str
) -> None:
    """A snapshot older than a concurrent writer's commit would miss the rows naming a claim,
    so the delete check refuses to run in one (a declared key looks past the snapshot)."""
    unnamed = ClaimChain(
        session, practice=world.chain.practice, payer=world.chain.payer, pcn="PCN0003"
    ).claim.id
    session.commit()

    session.execute(text(f"SET TRANSACTION ISOLATION LEVEL {isolation}"))
    with pytest.raises(DBAPIError, match="only under READ COMMITTED"):
        session.execute(delete(CLAIM).where(CLAIM.c.id == unnamed))
    session.rollback()

    assert unnamed in set(session.scalars(select(CLAIM.c.id)))


@pytest.mark.integration
@needs_postgresql
def test_a_named_service_payment_table_cannot_be_truncated(session: Session, world: World) -> None:
    payment = _claim_payment(world, world.chain.claim.id)
    service = ServicePayment(
        practice_id=world.chain.practice.id,
        claim_payment_id=payment.id,
        service_line_id=world.chain.line.id,
        procedure_code="99213",
        charge=Decimal("125.00"),
        paid=Decimal("80.00"),
    )
    adjustment = Adjustment(
        practice_id=world.chain.practice.id,
        claim_payment_id=payment.id,
        service_payment_id=service.id,
        group_code=AdjustmentGroup.CONTRACTUAL,
        reason_code="45",
        amount=Decimal("45.00"),
    )
    for row in (payment, service, adjustment):  # no relationships order the ORM's inserts
        session.add(row)
        session.flush()
    session.commit()

    with pytest.raises(DBAPIError, match="cannot truncate") as refused:
        session.execute(text("TRUNCATE service_payment"))
    session.rollback()

    assert refused.value.orig.sqlstate == "0A000"  # type: ignore[union-attr]
    assert _count(session, ServicePayment) == 1


def _while_blocked(
    waiter: Connection, holder: Connection, statement: Any, then: Callable[[], None]
) -> BaseException | None:
    """Run `statement` on `waiter` (on a thread: it is to wait), check that `holder` blocks it,
    end the holder's transaction with `then`, and return the waiter's error, if any."""
    waiter.execute(text("SET lock_timeout = '10s'"))  # a failing test must not hang
    waiter_pid = waiter.execute(text("SELECT pg_backend_pid()")).scalar_one()
    holder_pid = holder.execute(text("SELECT pg_backend_pid()")).scalar_one()
    blocks = text("SELECT CAST(:holder AS int) = ANY(pg_blocking_pids(:waiter))")
    blocked = False
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(waiter.execute, statement)
        for _ in range(200):
            found = holder.execute(blocks, {"holder": holder_pid, "waiter": waiter_pid})
            blocked = bool(found.scalar())
            if blocked or running.done():
                break
            time.sleep(0.025)
        then()
        error = running.exception(timeout=30)
    assert blocked, "the statement did not wait for the other transaction"
    return error


def _claims_and_events(engine: Engine) -> tuple[int, int]:
    with engine.connect() as connection:
        return (
            connection.execute(select(func.count()).select_from(CLAIM)).scalar_one(),
            connection.execute(select(func.count()).select_from(CLAIM_EVENT)).scalar_one(),
        )


@pytest.mark.integration
@needs_postgresql
@pytest.mark.parametrize("ends", ["commit", "rollback"])
@pytest.mark.parametrize("first", ["writer", "deleter"])
def test_a_writer_and_a_deleter_of_one_claim_wait_for_each_other(
    engine: Engine, session: Session, world: World, first: str, ends: str
) -> None:
    """Whichever comes second (a claim event naming the claim, or the claim's deletion) waits
    for the first's transaction, then is refused if it committed and goes through if not."""
    claim_id = world.chain.claim.id
    naming = insert(CLAIM_EVENT).values(_event(world.chain.practice.id, claim_id).model_dump())
    deleting = delete(CLAIM).where(CLAIM.c.id == claim_id)
    session.close()

    second: Executable
    with engine.connect() as writer, engine.connect() as deleter:
        if first == "writer":
            holder, waiter, second = writer, deleter, deleting
            writer.execute(naming)
        else:
            holder, waiter, second = deleter, writer, naming
            deleter.execute(deleting)
        error = _while_blocked(waiter, holder, second, getattr(holder, ends))
        waiter.commit()

    claim_kept = (first == "writer") == (ends == "commit")
    assert _claims_and_events(engine) == ((1, 1) if claim_kept else (0, 0))
    if ends == "rollback":
        assert error is None
    else:
        assert isinstance(error, IntegrityError)
        _is_foreign_key_violation(error, "fk_claim_event_claim_id_claim", claim_id)


@pytest.mark.integration
@needs_postgresql
def test_a_database_built_by_the_migrations_checks_the_same_references(
    database_url: str,
) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    here = "CAST(current_schema() AS regnamespace)"
    foreign_keys_here = (
        f"SELECT conname FROM pg_constraint WHERE contype = 'f' AND connamespace = {here}"
    )
    triggers_here = (
        "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        f"WHERE c.relnamespace = {here}"
    )
    try:
        with engine.connect() as connection:
            foreign_keys = set(connection.execute(text(foreign_keys_here)).scalars())
            triggers = set(connection.execute(text(triggers_here)).scalars())
        assert not foreign_keys & {r.constraint for r in STATEMENT_CHECKED}
        assert "fk_denial_claim_id_claim" in foreign_keys  # keys not replaced stay declared
        assert {f"{r.table}_references_on_insert" for r in STATEMENT_CHECKED} | {
            f"{r.parent}_referenced_on_delete" for r in STATEMENT_CHECKED
        } <= triggers

        with Session(engine) as session:
            chain = ClaimChain(session)
            session.commit()
            session.add(_event(chain.practice.id, uuid.uuid4()))
            with pytest.raises(IntegrityError) as refused:
                session.flush()
            session.rollback()
            _is_foreign_key_violation(refused.value, "fk_claim_event_claim_id_claim")
            assert _count(session, ClaimEvent) == 0
    finally:
        engine.dispose()
