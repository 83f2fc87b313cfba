from __future__ import annotations

import os
import threading
import uuid

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from connectors.db import make_engine
from rcm.control_numbers import MAX_CONTROL_NUMBER, allocate, value_for_serial
from rcm.models import ControlNumber, ControlNumberKind
from tests.rcm.models.builders import make_interchange, make_practice


@pytest.fixture
def interchange_id(session: Session) -> uuid.UUID:
    interchange = make_interchange(session, make_practice(session))
    session.commit()
    return interchange.id


def test_numbers_count_up_per_sender_and_kind(session: Session, interchange_id: uuid.UUID) -> None:
    def next_number(sender: str, kind: ControlNumberKind) -> int:
        return allocate(session, sender_id=sender, kind=kind, interchange_id=interchange_id)

    isa = [next_number("SUBMITTER1", ControlNumberKind.ISA) for _ in range(3)]
    gs = next_number("SUBMITTER1", ControlNumberKind.GS)
    other_sender = next_number("SUBMITTER2", ControlNumberKind.ISA)
    session.commit()

    assert isa == [1, 2, 3]
    assert gs == 1
    assert other_sender == 1
    assert len(session.exec(select(ControlNumber)).all()) == 5


def test_a_rolled_back_allocation_gives_the_number_back(
    session: Session, interchange_id: uuid.UUID
) -> None:
    allocate(session, sender_id="SUBMITTER1", kind="ISA", interchange_id=interchange_id)
    session.commit()
    allocate(session, sender_id="SUBMITTER1", kind="ISA", interchange_id=interchange_id)
    session.rollback()

    again = allocate(session, sender_id="SUBMITTER1", kind="ISA", interchange_id=interchange_id)

    assert again == 2


def test_isa_wraps_after_999999999(session: Session, interchange_id: uuid.UUID) -> None:
    for serial in (1, MAX_CONTROL_NUMBER):
        session.add(
            ControlNumber(
                sender_id="SUBMITTER1",
                kind=ControlNumberKind.ISA,
                value=value_for_serial(serial),
                serial=serial,
                interchange_id=interchange_id,
            )
        )
    session.commit()

    wrapped = allocate(session, sender_id="SUBMITTER1", kind="ISA", interchange_id=interchange_id)
    following = allocate(session, sender_id="SUBMITTER1", kind="ISA", interchange_id=interchange_id)
    session.commit()

    assert (wrapped, following) == (1, 2)
    holders = session.exec(
        select(ControlNumber).where(ControlNumber.value == 1, ControlNumber.kind == "ISA")
    ).all()
    assert [h.serial for h in holders] == [MAX_CONTROL_NUMBER + 1]


def test_an_unknown_interchange_is_refused(session: Session) -> None:
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        allocate(session, sender_id="SUBMITTER1", kind="ISA", interchange_id=uuid.uuid4())


@pytest.mark.integration
def test_concurrent_allocations_never_share_a_number(
    engine: Engine, database_url: str, interchange_id: uuid.UUID
) -> None:
    if not os.environ.get("RCM_TEST_DATABASE_URL"):
        pytest.skip("RCM_TEST_DATABASE_URL is not set (concurrency is a PostgreSQL property)")
    per_worker = 40
    workers = 4
    start = threading.Barrier(workers)
    results: list[list[int]] = [[] for _ in range(workers)]
    errors: list[BaseException] = []

    def work(slot: int) -> None:
        worker_engine = make_engine(database_url)
        try:
            start.wait()
            for _ in range(per_worker):
                with Session(worker_engine) as session:
                    results[slot].append(
                        allocate(
                            session,
                            sender_id="SUBMITTER1",
                            kind="ISA",
                            interchange_id=interchange_id,
                        )
                    )
                    session.commit()
        except BaseException as exc:
            errors.append(exc)
        finally:
            worker_engine.dispose()

    threads = [threading.Thread(target=work, args=(slot,)) for slot in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    allocated = [value for result in results for value in result]
    assert len(allocated) == per_worker * workers
    assert sorted(allocated) == list(range(1, per_worker * workers + 1))
