"""Posting's loading: the queries run on a prefetch thread (rcm.rows.prefetched) give what
they gave inline, an error in one surfaces in the caller with no thread left behind, and
modifiers read as text come out as stored."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from functools import partial
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, event, literal, select, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

import rcm.posting.post as post_module
from rcm.models import Remittance
from rcm.posting import post_remittance
from rcm.rows import prefetched
from tests.rcm.posting.helpers import (
    D,
    Seeded,
    clp,
    count_rows,
    make_interchange,
    make_payer,
    make_practice,
    remittance,
    svc,
)


@pytest.fixture
def world(session: Session) -> dict[str, Any]:
    practice = make_practice(session)
    payer = make_payer(session)
    interchange = make_interchange(session, practice)
    seeded = Seeded(
        session,
        practice,
        payer,
        "PCN1",
        [("99213", ["25", "59"], D("100")), ("97110", [], D("50")), ("36415", ["25"], D("20"))],
    )
    session.commit()
    return {"practice": practice, "interchange": interchange, "seeded": seeded}


def _paid() -> Any:
    return remittance(
        [
            clp(
                "PCN1",
                "1",
                "170",
                "150",
                [
                    svc("99213", "100", "90", ("CO", "45", "10"), modifiers=["25", "59"]),
                    svc("97110", "50", "45", ("CO", "45", "5")),
                    svc("36415", "20", "15", ("CO", "45", "5"), modifiers=["25"]),
                ],
            )
        ]
    )


def _threads_of_statements(engine: Engine) -> list[str]:
    names: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def record(*args: Any) -> None:
        names.append(threading.current_thread().name)

    return names


def test_load_reads_modifiers_as_stored(session: Session, world: dict[str, Any]) -> None:
    seeded = world["seeded"]
    poster = post_module._new_poster(
        session,
        practice_id=world["practice"].id,
        remittance_id="0" * 32,
        source="test",
        adjudication_date=seeded.claim.service_date_from,
        carc=None,
    )
    claims = post_module._load_claims(session, world["practice"].id, ["PCN1"])
    poster.load(list(claims.values()))
    lines = poster.lines[seeded.encounter.id.hex]
    assert [line.modifiers for line in lines] == [["25", "59"], [], ["25"]]
    assert [line.line_number for line in lines] == [1, 2, 3]


def test_a_failing_load_query_raises_in_the_caller_and_leaves_no_thread(
    session: Session, world: dict[str, Any], engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = post_module.prefetched
    failed: list[str] = []

    def one_fails(
        connection: Connection, statements: Sequence[Any], **kwargs: Any
    ) -> AbstractContextManager[Iterator[Sequence[Any]]]:
        if len(statements) > 2:
            statements = list(statements)
            statements[2] = text("SELECT no_such_column FROM ledger_entry")
            failed.append("load")
        return real(connection, statements, **kwargs)

    monkeypatch.setattr(post_module, "prefetched", one_fails)
    threads = _threads_of_statements(engine)
    before = threading.active_count()
    with pytest.raises(DBAPIError, match="no_such_column"):
        post_remittance(session, _paid(), interchange_id=world["interchange"].id)
    assert failed == ["load"]
    assert any(name.startswith("prefetch") for name in threads)
    assert threading.active_count() == before
    assert not any(t.name.startswith("prefetch") for t in threading.enumerate())

    session.rollback()
    monkeypatch.undo()
    assert count_rows(session, Remittance)["Remittance"] == 0
    result = post_remittance(session, _paid(), interchange_id=world["interchange"].id)
    session.commit()
    assert result.matched == 1
    assert count_rows(session, Remittance)["Remittance"] == 1


def test_an_error_while_reading_rows_stops_the_thread(engine: Engine) -> None:
    before = threading.active_count()
    statements = [select(literal(n)) for n in range(6)]
    with engine.connect() as connection:
        seen = []
        with (
            pytest.raises(RuntimeError, match="parsing"),
            prefetched(connection, statements) as results,
        ):
            for rows in results:
                seen.append(rows[0][0])
                if len(seen) == 2:
                    raise RuntimeError("parsing failed")
        assert seen == [0, 1]
        assert threading.active_count() == before
        assert connection.execute(select(literal(7))).scalar() == 7


def test_prefetched_gives_every_statement_in_order(engine: Engine) -> None:
    statements = [select(literal(n), literal(n * 2)) for n in range(5)]
    with engine.connect() as connection, prefetched(connection, statements) as results:
        assert [tuple(rows[0]) for rows in results] == [(n, n * 2) for n in range(5)]
    with engine.connect() as connection, prefetched(connection, []) as results:
        assert list(results) == []


def test_prefetched_runs_inline_when_sqlite_refuses_other_threads(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("sqlite3 checks the thread")
    strict = create_engine(engine.url, connect_args={"check_same_thread": True})
    try:
        threads = _threads_of_statements(strict)
        statements = [select(literal(n)) for n in range(4)]
        with strict.connect() as connection, prefetched(connection, statements) as results:
            assert [rows[0][0] for rows in results] == [0, 1, 2, 3]
        assert set(threads) == {threading.current_thread().name}
    finally:
        strict.dispose()


def test_load_on_the_thread_reads_what_it_reads_inline(
    session: Session, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    post_remittance(session, _paid(), interchange_id=world["interchange"].id)
    session.commit()
    practice_id = world["practice"].id
    loaded = []
    for threaded in (True, False):
        monkeypatch.setattr(post_module, "prefetched", partial(prefetched, threaded=threaded))
        poster = post_module._new_poster(
            session,
            practice_id=practice_id,
            remittance_id="0" * 32,
            source="test",
            adjudication_date=world["seeded"].claim.service_date_from,
            carc=None,
        )
        claims = post_module._load_claims(session, practice_id, ["PCN1"])
        poster.load(list(claims.values()), [c.id for c in claims.values()])
        read = poster.lines[claims["PCN1"].encounter_id]
        loaded.append(
            (
                [(line.id, line.modifiers, line.charge) for line in read],
                dict(poster.patient_balance),
                set(poster.charged),
                dict(poster.earlier),
                {k: [e.id for e in v] for k, v in poster.entries_by_payment.items()},
                set(poster.known_lines),
                set(poster.known_payments),
                dict(poster.appeal_windows),
            )
        )
        session.rollback()
    assert loaded[0] == loaded[1]
    lines, _, charged, earlier, by_payment, _, payments, windows = loaded[0]
    assert len(lines) == 3 and len(charged) == 3 and len(earlier) == 1 and len(payments) == 1
    assert len(by_payment) == 1 and list(windows.values()) == [90]
