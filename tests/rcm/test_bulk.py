"""rcm.bulk: time-ordered keys, the collector pause, rows written as tuples."""

from __future__ import annotations

import gc
import threading
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session

from rcm.bulk import (
    BulkWriter,
    WriteBehind,
    as_uuid,
    gc_paused,
    id_hex,
    new_hex_id,
    new_hex_ids,
)
from rcm.models import Payer


def test_keys_are_version_7_uuids_in_ascending_order() -> None:
    keys = [new_hex_id() for _ in range(5000)] + new_hex_ids(10_000) + [new_hex_id()]

    assert len(set(keys)) == len(keys)
    assert keys == sorted(keys)
    parsed = [uuid.UUID(k) for k in keys]
    assert {u.version for u in parsed} == {7}
    assert {u.variant for u in parsed} == {uuid.RFC_4122}
    assert all(len(k) == 32 and k == k.lower() for k in keys)


def test_keys_from_threads_never_collide() -> None:
    made: list[list[str]] = [[] for _ in range(4)]

    def work(n: int) -> None:
        made[n] += [new_hex_id() for _ in range(20_000)]

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    everything = [k for keys in made for k in keys]
    assert len(set(everything)) == len(everything)


def test_key_forms() -> None:
    value = uuid.uuid4()

    assert id_hex(value) == id_hex(str(value)) == id_hex(value.hex) == value.hex
    assert as_uuid(value.hex) == as_uuid(value) == value


def test_the_collector_is_back_after_the_last_pause() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()

    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # it was off before: left off
    finally:
        gc.enable()


def test_rows_are_stored_as_an_orm_insert_would(engine: Engine) -> None:
    table = Payer.__table__  # type: ignore[attr-defined]
    ids = new_hex_ids(2)
    columns = (
        "id",
        "key",
        "name",
        "payer_id",
        "clearinghouse_payer_ids",
        "claim_filing_indicator",
        "timely_filing_days",
        "appeal_window_days",
        "corrected_claim_days",
        "prior_auth_procedures",
        "address1",
        "rules",
    )
    with Session(engine) as session:
        writer = BulkWriter(session.connection())
        c = {name: writer.converter(table, name) for name in columns}

        def row(key: str, address: str | None, rules: dict[str, object]) -> tuple[object, ...]:
            values = {
                "id": ids[0] if key == "a" else ids[1],
                "key": key,
                "name": key.upper(),
                "payer_id": "P" + key,
                "clearinghouse_payer_ids": {"sandbox": key},
                "claim_filing_indicator": "CI",
                "timely_filing_days": 365,
                "appeal_window_days": 90,
                "corrected_claim_days": 365,
                "prior_auth_procedures": ("27447",),
                "address1": address,
                "rules": rules,
            }
            return tuple(c[name](values[name]) for name in columns)

        written = writer.insert(table, columns, [row("a", "1 Way", {"x": [1]}), row("b", None, {})])
        session.commit()

    with Session(engine) as session:
        stored = {p.key: p for p in session.scalars(select(Payer))}
    assert written == 2
    assert stored["a"].id == uuid.UUID(ids[0])
    assert (stored["a"].address1, stored["a"].rules) == ("1 Way", {"x": [1]})
    assert stored["a"].clearinghouse_payer_ids == {"sandbox": "a"}
    assert stored["a"].prior_auth_procedures == ["27447"]
    assert (stored["b"].address1, stored["b"].rules, stored["b"].appeal_window_days) == (
        None,
        {},
        90,
    )


def test_converters_remember_values_and_pass_none(engine: Engine) -> None:
    from rcm.models import LedgerEntry

    with Session(engine) as session:
        money = BulkWriter(session.connection()).converter(
            LedgerEntry.__table__,  # type: ignore[attr-defined]
            "amount",
        )
        assert money(None) is None
        first = money(Decimal("12.50"))
        assert money(Decimal("12.5")) is first


@pytest.mark.parametrize("threaded", [True, False])
def test_write_behind_runs_jobs_in_order_off_the_callers_thread(threaded: bool) -> None:
    done: list[tuple[int, bool]] = []
    caller = threading.get_ident()
    with WriteBehind(threaded=threaded) as jobs:
        for n in range(5):
            jobs.submit(lambda n=n: done.append((n, threading.get_ident() == caller)))
    assert [n for n, _ in done] == list(range(5))
    assert {same for _, same in done} == {not threaded}


@pytest.mark.parametrize("threaded", [True, False])
def test_write_behind_stops_at_the_first_error_and_raises_it_in_the_caller(
    threaded: bool,
) -> None:
    done: list[int] = []

    def job(n: int) -> None:
        if n == 1:
            raise ValueError("job 1 failed")
        done.append(n)

    with pytest.raises(ValueError, match="job 1 failed"), WriteBehind(threaded=threaded) as jobs:
        for n in range(4):
            jobs.submit(lambda n=n: job(n))
    assert done == [0]


def test_write_behind_waits_for_the_job_under_way_when_the_caller_fails() -> None:
    started, release = threading.Event(), threading.Event()
    done: list[int] = []

    def slow() -> None:
        started.set()
        release.wait(5)
        done.append(1)

    with pytest.raises(RuntimeError, match="caller"), WriteBehind() as jobs:
        jobs.submit(slow)
        jobs.submit(lambda: done.append(2))
        started.wait(5)
        threading.Timer(0.05, release.set).start()
        raise RuntimeError("caller failed")
    # The job under way finished before the block was left; the queued one never ran.
    assert done == [1]
