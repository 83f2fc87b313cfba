"""Writing many rows at once: time-ordered keys and one executemany (SQLite) or COPY
(PostgreSQL) per table, with values converted once per distinct value.

For the large batches (an 835 of 100,000 claim payments, claim status changes by the
thousand): ORM objects and SQLAlchemy's per-row statement machinery cost more than the
database does. Rows here are tuples in a table's column order holding the values as the
driver takes them (`BulkWriter.converter` gives the conversion of a column, done by the
column type's own bind processor, so a row is stored exactly as an ORM insert would store it).

Keys are UUIDs in the version 7 layout (RFC 9562): 48 bits of Unix milliseconds, then a
counter that starts at a random value, then random bits. They are unique like version 4 keys,
and consecutive keys sort together, so a primary-key index takes them at its right edge
instead of at a random page each (random keys make large inserts touch every page of the
index). They are handled as 32-character lowercase hex strings, the form SQLite stores
(`Uuid` is CHAR(32) there); PostgreSQL's uuid type reads the same text.
"""

from __future__ import annotations

import gc
import io
import itertools
import json
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Connection,
    Date,
    DateTime,
    Float,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    Uuid,
)
from sqlalchemy.sql.type_api import TypeEngine

__all__ = [
    "BulkWriter",
    "WriteBehind",
    "as_uuid",
    "gc_paused",
    "id_hex",
    "new_hex_id",
    "new_hex_ids",
]

_COUNTER_LIMIT = 1 << 42
_LOW_BITS = 28
_LOW_LIMIT = 1 << _LOW_BITS


class _HexIds:
    """Time-ordered version 7 UUIDs as hex strings, strictly increasing within the process.

    Layout (RFC 9562 method 1, a dedicated counter): unix_ts_ms (48 bits) | version 7 (4) |
    counter high 12 bits | variant 0b10 (2) | counter next 2 bits | counter low 28 bits |
    32 random bits. The counter starts at a random value below 2**41 each millisecond (so it
    never runs out within one) and counts up; keys of two processes collide only if they were
    made in the same millisecond, their counters overlap and 32 random bits agree.
    """

    def __init__(self) -> None:
        self._ms = 0
        self._counter = 0
        self._pool: Iterator[str] = iter(())
        self._lock = threading.Lock()

    def _batch(self, count: int) -> list[str]:
        ms = time.time_ns() // 1_000_000
        if ms > self._ms:
            self._ms = ms
            self._counter = int.from_bytes(os.urandom(6), "big") >> 7  # 41 bits
        low = self._counter & (_LOW_LIMIT - 1)
        if low + count > _LOW_LIMIT:
            # Keep the batch within one run of the low 28 bits: its keys share their first
            # 17 hex digits, so each is that prefix, a 7-digit count and 8 random digits.
            self._counter += _LOW_LIMIT - low
            low = 0
        if self._counter + count >= _COUNTER_LIMIT:
            self._ms += 1
            self._counter = int.from_bytes(os.urandom(6), "big") >> 7
            low = self._counter & (_LOW_LIMIT - 1)
            if low + count > _LOW_LIMIT:
                self._counter -= low
                low = 0
        high = self._counter >> _LOW_BITS
        self._counter += count
        prefix = f"{self._ms:012x}7{high >> 2:03x}{8 | (high & 3):x}"
        noise = os.urandom(4 * count).hex()
        return [f"{prefix}{low + n:07x}{noise[8 * n : 8 * n + 8]}" for n in range(count)]

    def one(self) -> str:
        for value in self._pool:
            return value
        with self._lock:
            self._pool = iter(self._batch(4096))
        return next(self._pool)

    def many(self, count: int) -> list[str]:
        if not count:
            return []
        with self._lock:
            # Keys made ahead for `one` come first: they are older than any new batch.
            out = list(itertools.islice(self._pool, count))
            if len(out) < count:
                out += self._batch(count - len(out))
            return out


_ids = _HexIds()
new_hex_id: Callable[[], str] = _ids.one
"""A new time-ordered key as 32 hex digits."""


def new_hex_ids(count: int) -> list[str]:
    """`count` new time-ordered keys, ascending."""
    return _ids.many(count)


def id_hex(value: uuid.UUID | str) -> str:
    """A key as 32 lowercase hex digits, from a UUID or any string form of one."""
    if value.__class__ is str:
        text: str = value  # type: ignore[assignment]
        return text if len(text) == 32 else uuid.UUID(text).hex
    return value.hex  # type: ignore[union-attr]


def as_uuid(value: str | uuid.UUID) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


class BulkWriter:
    """Inserts rows given as tuples, one executemany (SQLite) or one COPY (PostgreSQL) per
    call, on the session's connection (so inside its transaction).

    `binary=True`: PostgreSQL's COPY in binary format, the values sent as the server stores
    them, for tables whose every column has a binary form here (`_binary_types`; else text).
    The server then parses no text: about half its cost of taking the rows, before indexes and
    foreign keys (~1.7 s of server CPU for 590,000 ledger entries in text, ~0.8 s in binary).
    Values must be the converters' output (UUID keys as hex strings, money as
    Decimal, dates and datetimes as such, JSON as its text): a binary COPY refuses, say, a date
    given as text, which the text format would have parsed.
    """

    def __init__(self, connection: Connection, *, binary: bool = False) -> None:
        self.connection = connection
        self.dialect = connection.dialect
        self.postgresql = self.dialect.name == "postgresql"
        self.binary = binary and self.postgresql
        self._converters: dict[tuple[str, str], Callable[[Any], Any]] = {}

    def converter(self, table: Table, column: str) -> Callable[[Any], Any]:
        """The column's conversion to what the driver takes, remembered per distinct value
        (rows of one batch repeat amounts, dates, codes and timestamps). UUID columns take
        hex strings, which both drivers store as they are; enums take their value."""
        key = (table.name, column)
        found = self._converters.get(key)
        if found is not None:
            return found
        type_: TypeEngine[Any] = table.c[column].type
        process: Callable[[Any], Any] | None
        if isinstance(type_, Uuid):
            process = None
        elif isinstance(type_, JSON):
            process = _json
        else:
            process = type_.dialect_impl(self.dialect).bind_processor(self.dialect)
        found = _memoized(process) if process is not None else _identity
        self._converters[key] = found
        return found

    def insert(self, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> int:
        """Insert `rows` (tuples in `columns` order, values already converted)."""
        return self.prepare(table, columns, rows)()

    def prepare(
        self, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
    ) -> Callable[[], int]:
        """`insert` in two halves: the rows are encoded now, in the caller's thread, and the
        returned call sends them (and returns their number). For a binary COPY the encoding
        is the Python half (~4.6 s of an 835 of 100,000 claim payments): done by the thread
        that builds the rows, it leaves a WriteBehind thread only the sending, which waits for
        the server without Python's GIL. Otherwise (SQLite, text COPY) everything happens in
        the call."""
        if not rows:
            return _nothing
        if not self.postgresql:
            return lambda: self._execute_many(table, columns, rows)
        driver: Any = self.connection.connection.dbapi_connection
        assert driver is not None
        quoted = ", ".join(f'"{name}"' for name in columns)
        types = _binary_types(table, columns) if self.binary else None
        if types is None:
            sql = f'COPY "{table.name}" ({quoted}) FROM STDIN'
            return lambda: _copy_rows(driver, sql, rows)
        data = _binary_copy_data(driver, types, rows)
        sql = f'COPY "{table.name}" ({quoted}) FROM STDIN (FORMAT BINARY)'
        count = len(rows)

        def send() -> int:
            with driver.cursor() as cursor, cursor.copy(sql) as copy:
                copy.write(data)
            return count

        return send

    def _execute_many(
        self, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
    ) -> int:
        quote = self.dialect.identifier_preparer.quote
        sql = (
            f"INSERT INTO {quote(table.name)} ({', '.join(quote(name) for name in columns)}) "
            f"VALUES ({', '.join('?' * len(columns))})"
        )
        for start in range(0, len(rows), 20_000):
            self.connection.exec_driver_sql(sql, list(rows[start : start + 20_000]))
        return len(rows)


def _nothing() -> int:
    return 0


def _copy_rows(driver: Any, sql: str, rows: Sequence[tuple[Any, ...]]) -> int:
    with driver.cursor() as cursor, cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)
    return len(rows)


def _binary_copy_data(driver: Any, types: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> bytes:
    """`rows` as a whole binary COPY stream (signature, rows, trailer), encoded by psycopg's
    own formatter writing to memory (psycopg.copy.FileWriter), without touching the server:
    it may run while another thread uses the connection."""
    from psycopg.copy import Copy, FileWriter

    buffer = io.BytesIO()
    with driver.cursor() as cursor:
        _register_binary_dumpers(cursor)
        with Copy(cursor, binary=True, writer=FileWriter(buffer)) as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)
    return buffer.getvalue()


def _binary_types(table: Table, columns: Sequence[str]) -> list[str] | None:
    """PostgreSQL type names for a binary COPY of `columns`, or None when one has no binary
    form here (the COPY is then text)."""
    out = []
    for name in columns:
        type_: Any = table.c[name].type
        while isinstance(type_, TypeDecorator):
            type_ = type_.impl_instance
        if isinstance(type_, Uuid):
            found = "uuid"
        elif isinstance(type_, JSON):
            found = "json"
        elif isinstance(type_, Text | String):
            found = "text"
        elif isinstance(type_, Float):
            found = "float8"
        elif isinstance(type_, Numeric):
            found = "numeric"
        elif isinstance(type_, SmallInteger):
            found = "int2"
        elif isinstance(type_, BigInteger):
            found = "int8"
        elif isinstance(type_, Integer):
            found = "int4"
        elif isinstance(type_, Boolean):
            found = "bool"
        elif isinstance(type_, DateTime):
            found = "timestamptz" if type_.timezone else "timestamp"
        elif isinstance(type_, Date):
            found = "date"
        else:
            return None
        out.append(found)
    return out


def _register_binary_dumpers(cursor: Any) -> None:
    """Binary dumpers, on this cursor only, for what the converters give: UUID keys as hex
    strings (a UUID object is refused) and JSON as its text."""
    from psycopg import adapt, pq

    types = cursor.adapters.types

    class HexUuidDumper(adapt.Dumper):
        format = pq.Format.BINARY
        oid = types["uuid"].oid

        # A builtin, not a method: psycopg calls it for every key of every row (4 million
        # in an 835 of 100,000 claim payments), and a Python frame each cost ~1.4 s.
        dump = staticmethod(bytes.fromhex)  # type: ignore[assignment]

    class JsonTextDumper(adapt.Dumper):
        format = pq.Format.BINARY
        oid = types["json"].oid

        def dump(self, obj: Any) -> bytes:
            return (obj if obj.__class__ is str else json.dumps(obj)).encode()

    cursor.adapters.register_dumper(_HexUuid, HexUuidDumper)
    cursor.adapters.register_dumper(_JsonText, JsonTextDumper)


class _HexUuid:
    """Stands for the dumpers registered by PostgreSQL type (`_register_binary_dumpers`)."""


class _JsonText:
    """Stands for the dumpers registered by PostgreSQL type (`_register_binary_dumpers`)."""


def _identity(value: Any) -> Any:
    return value


def _json(value: Any) -> str:
    return json.dumps(value)


def _memoized(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    cache: dict[Hashable, Any] = {}

    def convert(value: Any) -> Any:
        if value is None:
            return None
        try:
            return cache[value]
        except KeyError:
            converted = cache[value] = process(value)
            return converted
        except TypeError:  # unhashable (a list for a JSON column)
            return process(value)

    return convert


_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the block. Building a million rows allocates
    millions of tuples; every few hundred allocations the collector runs, and its full passes
    walk all of them again, which costs a posting of 100,000 claim payments a third of its
    time. The rows hold no reference cycles, so reference counting frees them as before; the
    collector is back on (if it was) when the last block running in the process ends."""
    global _gc_pausers, _gc_was_enabled
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


class WriteBehind:
    """Runs write jobs one after another on a thread of their own, in the order submitted,
    while the caller builds the next rows: the database inserts one batch (PostgreSQL's server,
    or SQLite's C code, neither holding Python's GIL) while Python builds the next, so on two
    cores a large posting takes about the longer of the two instead of their sum.

    The jobs use the caller's connection, which the caller must not touch until `finish`
    returns (or the block ends). The first job that raises stops the rest: `submit` and
    `finish` raise its error in the caller's thread, and leaving the block on an error waits
    for the job under way, so the connection is idle again when the caller rolls back.
    `threaded=False` runs each job at once in the caller's thread (same order, same errors).
    """

    def __init__(self, *, threaded: bool = True, depth: int = 2) -> None:
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue(maxsize=depth)
        if threaded:
            self._thread = threading.Thread(target=self._run, name="rcm-write-behind", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            if self._error is None:
                try:
                    job()
                except BaseException as exc:  # handed to the caller's thread
                    self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def submit(self, job: Callable[[], None]) -> None:
        """Queue `job` (waits while `depth` jobs are queued); raises the error of an earlier
        job, if one failed."""
        self._raise()
        if self._thread is None:
            job()
            return
        self._jobs.put(job)

    def finish(self) -> None:
        """Wait until every job ran; raise the first error."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()
            self._thread = None
        self._raise()

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.finish()
            return
        # Leaving on an error: stop after the job under way; the caller's error wins.
        if self._error is None:
            self._error = RuntimeError("write-behind abandoned")
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()
            self._thread = None
        self._error = None
