"""rcm.bulk: time-ordered keys, the collector pause, rows written as tuples."""

from __future__ import annotations

import gc
import json
import shutil
import threading
import uuid
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, Table, UniqueConstraint, select
from sqlalchemy.exc import ProgrammingError
from sqlmodel import Session, SQLModel

from rcm import bulk
from rcm.bulk import (
    BulkWriter,
    WriteBehind,
    as_uuid,
    gc_paused,
    id_hex,
    new_hex_id,
    new_hex_ids,
    shareable_across_threads,
    write_behind_pays,
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


# -- SQLite: rows sent as JSON (one statement per chunk) are stored as executemany stores them --

# Every table ERA posting writes, and payer for INTEGER and BOOLEAN-free integer columns.
POSTING_TABLES = (
    "claim_payment",
    "service_payment",
    "adjustment",
    "ledger_entry",
    "claim_event",
    "denial",
    "provider_adjustment",
    "work_item",
    "claim",
    "payer",
)

# Text as JSON must escape or carry it; numeric-looking text meets NUMERIC affinity (the JSON
# and money columns); ints and bools land in TEXT, NUMERIC and INTEGER columns alike.
AWKWARD_TEXT: tuple[object, ...] = (
    "plain",
    "quote \" and ' apostrophe",
    "back\\slash \\u0041 \\n",
    "C:\\udir",  # reads like a surrogate escape once JSON doubles the backslash
    "tab\there\nnew line\r\n",
    "é ü ñ",
    "😀 outside the BMP 𝄞",
    "",
    "123",
    "-4.50",
    " 7 ",
    "1e5",
    "null",
    "[1, 2]",
    "\u2028\u2029",
    "\x01\x1f\x7f",
    "x" * 300,
    42,
    True,
    False,
)
AWKWARD_NUMBERS: tuple[object, ...] = (
    80.1,
    0.0,
    -0.0,
    12.35,
    0.1 + 0.2,
    1234567890.12,
    -5.0,
    1e-7,
    1e20,
    7,
    -(2**63),
    2**63 - 1,
    True,
    "12.50",
)
JSON_TEXT: tuple[object, ...] = (
    '["N130","M1"]',
    '{"a": "é\\"x", "b": [1, 2.5, null]}',
    "[]",
    "null",
    "123",
)
DATES: tuple[object, ...] = ("2026-10-05", "2026-02-28", "20261005")
STAMPS: tuple[object, ...] = ("2026-11-23 10:00:00.000000", "2026-11-23 10:00:00.123456")


def _awkward_rows(table: Table, count: int) -> tuple[list[str], list[tuple[object, ...]]]:
    """`count` rows for every column of `table`, cycling through awkward values (each column
    from another offset); the practice is one key in every row, as in a posting."""
    from sqlalchemy import JSON as JSONType
    from sqlalchemy import Date, DateTime, Integer, Numeric, Uuid

    columns = [column.name for column in table.c]
    unique = {c.name for index in table.indexes if index.unique for c in index.columns}
    unique |= {
        c.name
        for constraint in table.constraints
        if isinstance(constraint, UniqueConstraint)
        for c in constraint.columns
    }
    keys = new_hex_ids(count)
    practice = new_hex_id()
    pools: list[tuple[object, ...]] = []
    for column in table.c:
        type_ = column.type
        while hasattr(type_, "impl_instance"):
            type_ = type_.impl_instance
        pool: tuple[object, ...]
        if column.primary_key:
            pool = ()
        elif isinstance(type_, Uuid) and not column.nullable:
            pool = (practice,)
        elif isinstance(type_, Uuid):  # unique where set (ledger_entry.reverses_entry_id is)
            pool = tuple(None if n % 3 == 1 else key for n, key in enumerate(new_hex_ids(count)))
        elif isinstance(type_, JSONType):
            pool = JSON_TEXT
        elif isinstance(type_, DateTime):
            pool = STAMPS
        elif isinstance(type_, Date):
            pool = DATES
        elif isinstance(type_, Numeric | Integer):
            pool = AWKWARD_NUMBERS
        else:
            pool = AWKWARD_TEXT
        if column.nullable and pool and None not in pool:
            pool = (*pool, None)
        pools.append(pool)
    rows = []
    for n in range(count):
        row = [
            keys[n] if not pool else pool[(n + 3 * j) % len(pool)] for j, pool in enumerate(pools)
        ]
        for j, name in enumerate(columns):
            value = row[j]
            if (
                name in unique
                and value is not None
                and not (isinstance(value, str) and len(value) == 32)
            ):
                row[j] = f"{value} #{n}"  # a unique column (claim's PCN, payer's key)
        rows.append(tuple(row))
    return columns, rows


def _sqlite_engine(template: Path, path: Path) -> Engine:
    """A migrated SQLite file whose connections do not check foreign keys (the rows name
    parents nobody inserted)."""
    from sqlalchemy import event

    from connectors.db import make_engine

    shutil.copyfile(template, path)
    engine = make_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _no_foreign_keys(dbapi_connection: Any, record: object) -> None:
        dbapi_connection.execute("PRAGMA foreign_keys=OFF")

    return engine


def _stored(engine: Engine, table: str, columns: Sequence[str]) -> list[tuple[object, ...]]:
    """Every row as (typeof, value) per column in insertion order, floats by their bits."""
    listed = ", ".join(f'typeof("{name}"), "{name}"' for name in columns)
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(f'SELECT {listed} FROM "{table}" ORDER BY rowid').all()
    return [tuple(v.hex() if isinstance(v, float) else v for v in row) for row in rows]


def _one_by_one(engine: Engine, table: str, columns: Sequence[str], rows: list[Any]) -> None:
    names = ", ".join(f'"{name}"' for name in columns)
    marks = ", ".join("?" * len(columns))
    with engine.begin() as connection:
        connection.exec_driver_sql(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)


@pytest.fixture
def sqlite_only(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's JSON path")


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 16 rows, so a few dozen rows make several statements and a short last one."""
    monkeypatch.setattr(bulk, "_SQLITE_CHUNK", 16)


@pytest.mark.usefixtures("sqlite_only", "small_chunks")
@pytest.mark.parametrize("table_name", POSTING_TABLES)
def test_json_rows_are_stored_as_executemany_stores_them(
    table_name: str, tmp_path: Path, _sqlite_template: Path
) -> None:
    table = SQLModel.metadata.tables[table_name]
    columns, rows = _awkward_rows(table, 41)
    by_json = _sqlite_engine(_sqlite_template, tmp_path / "json.db")
    one_by_one = _sqlite_engine(_sqlite_template, tmp_path / "executemany.db")
    try:
        with by_json.begin() as connection:
            writer = BulkWriter(connection)
            # every chunk goes as JSON, none by the fallback
            assert all(writer.json_rows(rows[n : n + 16]) is not None for n in range(0, 41, 16))
            assert writer.insert(table, columns, rows) == 41
        _one_by_one(one_by_one, table_name, columns, rows)

        stored = _stored(by_json, table_name, columns)
        assert stored == _stored(one_by_one, table_name, columns)
        assert len(stored) == 41
    finally:
        by_json.dispose()
        one_by_one.dispose()


@pytest.mark.usefixtures("sqlite_only", "small_chunks")
@pytest.mark.parametrize(
    ("case", "value"),
    [
        ("NUL in text", "before\x00after"),
        ("bytes", b"\x00\xffraw"),
        ("NaN", float("nan")),
        ("infinity", float("-inf")),
        ("a list", ["N130"]),
        ("a float the parser does not read back", 0.7071),
    ],
)
def test_chunks_json_cannot_carry_go_by_executemany(
    case: str,
    value: object,
    tmp_path: Path,
    _sqlite_template: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = SQLModel.metadata.tables["service_payment"]
    columns, rows = _awkward_rows(table, 20)
    column = columns.index("units" if isinstance(value, float) else "original_procedure_code")
    rows[17] = (*rows[17][:column], value, *rows[17][column + 1 :])
    if case.startswith("a float"):
        monkeypatch.setattr(
            bulk._SqliteJson, "_exact_floats", lambda self, floats: value not in floats
        )
    by_json = _sqlite_engine(_sqlite_template, tmp_path / "json.db")
    one_by_one = _sqlite_engine(_sqlite_template, tmp_path / "executemany.db")
    try:
        with by_json.begin() as connection:
            writer = BulkWriter(connection)
            assert writer.json_rows(rows[:16]) is not None
            assert writer.json_rows(rows[16:]) is None
            if isinstance(value, list):
                # executemany refuses it, as it did before JSON
                with pytest.raises(ProgrammingError):
                    writer.insert(table, columns, rows)
                return
            writer.insert(table, columns, rows)
        _one_by_one(one_by_one, "service_payment", columns, rows)

        stored = _stored(by_json, "service_payment", columns)
        assert stored == _stored(one_by_one, "service_payment", columns)
        if case == "NUL in text":
            assert stored[17][2 * column + 1] == "before\x00after"
    finally:
        by_json.dispose()
        one_by_one.dispose()


@pytest.mark.usefixtures("sqlite_only")
def test_values_json_would_change_are_refused(engine: Engine) -> None:
    with engine.connect() as connection:
        writer = BulkWriter(connection)
        assert writer.json_rows([("a", 2**63), ("b", 1)]) is None  # binding raises OverflowError
        assert writer.json_rows([("a", Decimal("1.5")), ("b", None)]) is None
        assert writer.json_rows([("a",), ("b", 1)]) is None  # a row of another width

        class Code(str):
            pass

        assert writer.json_rows([(Code("x"),), ("y",)]) is None
        found = writer.json_rows([("k1", "same", 1.5, None), ("k2", "same", 2.5, None)])
        assert found is not None
        # Values every row shares are bound once; the JSON holds the others.
        assert found.constants == ("same", None)
        assert found.values[1] == found.values[3] == "?"
        assert json.loads(found.text) == [["k1", 1.5], ["k2", 2.5]]
        # The two zeros are one value to ==, not to SQLite's REAL columns.
        assert writer.json_rows([(0.0,), (-0.0,)]) is not None
        assert writer.json_rows([(0.0,), (-0.0,)]).constants == ()  # type: ignore[union-attr]


@pytest.mark.usefixtures("sqlite_only")
def test_floats_are_checked_once_against_sqlites_parser(engine: Engine) -> None:
    support = bulk._sqlite_json(engine.dialect)
    assert support is not None
    money = [n / 100 for n in range(-5000, 250_000, 7)]
    assert support._exact_floats(set(money))
    assert {value.hex() for value in money} <= support._exact


def test_connections_are_shared_with_a_writer_thread_only_when_the_driver_allows(
    engine: Engine, tmp_path: Path
) -> None:
    from sqlalchemy import create_engine

    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        assert shareable_across_threads(connection)  # connectors.db.make_engine's
        # SQLite's C code overlaps the builder only on a CPU of its own
        assert write_behind_pays(connection) == (not sqlite or bulk._usable_cpus() > 1)
    if not sqlite:
        return
    strict = create_engine(
        f"sqlite:///{tmp_path / 'strict.db'}", connect_args={"check_same_thread": True}
    )
    try:
        with strict.connect() as connection:
            assert not shareable_across_threads(connection)
            # remembered for the DBAPI connection: asked again, no thread runs
            threads = threading.active_count()
            assert not shareable_across_threads(connection)
            assert threading.active_count() == threads
            assert not write_behind_pays(connection)
    finally:
        strict.dispose()
