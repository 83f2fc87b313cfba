"""Writing many rows at once: time-ordered keys and one INSERT ... SELECT from JSON per
20,000 rows (SQLite) or one COPY (PostgreSQL) per table, with values converted once per
distinct value.

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
from dataclasses import dataclass
from operator import countOf, itemgetter
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
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.type_api import TypeEngine

__all__ = [
    "BulkWriter",
    "JsonRows",
    "WriteBehind",
    "as_uuid",
    "gc_paused",
    "id_hex",
    "new_hex_id",
    "new_hex_ids",
    "shareable_across_threads",
    "write_behind_pays",
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
    """Inserts rows given as tuples, on the session's connection (so inside its transaction):
    on PostgreSQL one COPY per call, on SQLite one statement per 20,000 rows.

    SQLite: `INSERT INTO t (...) SELECT json_extract(value, '$[0]'), ... FROM json_each(?)`,
    given the chunk's rows as one JSON text, instead of an executemany. The whole chunk then
    runs inside one sqlite3_step, without Python's GIL, while executemany takes the GIL back
    for every row: on a WriteBehind thread next to a thread building rows it crawled (590,000
    ledger rows: 4.4 s alone, 60 s beside a busy thread; as JSON ~1 s of GIL time for the
    encoding, done by `prepare` in the building thread, and the rest overlapping it). A
    chunk is stored exactly as executemany would store it (`_SqliteJson.encode` sends no
    value that SQLite's JSON functions might give back differently); a chunk that holds one
    goes by executemany, as does everything on a SQLite without JSON functions.

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
        self._json = _sqlite_json(self.dialect)

    @property
    def json_updates(self) -> bool:
        """SQLite: True when `json_rows` can feed an UPDATE ... FROM (SQLite 3.33)."""
        return self._json is not None and self._json.update_from

    def json_rows(self, rows: Sequence[tuple[Any, ...]]) -> JsonRows | None:
        """SQLite: `rows` (of one width, values as the driver takes them) for one statement
        over `json_each(?)` that reads back every value exactly as binding it stores it; None
        when that cannot be promised for a value (see `_SqliteJson.encode`) or this SQLite has
        no JSON functions."""
        if self._json is None or not rows:
            return None
        return self._json.encode(rows)

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
        returned call sends them (and returns their number). The encoding is the Python half
        (a binary COPY's: ~4.6 s of an 835 of 100,000 claim payments; SQLite's JSON texts:
        ~1 s for its 590,000 ledger entries): done by the thread that builds the rows, it
        leaves a WriteBehind thread only the sending, which runs without Python's GIL. A text
        COPY, and SQLite's executemany where a chunk needs it, do everything in the call."""
        if not rows:
            return _nothing
        if not self.postgresql:
            return self._prepare_sqlite(table, columns, rows)
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

    def _prepare_sqlite(
        self, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
    ) -> Callable[[], int]:
        quote = self.dialect.identifier_preparer.quote
        into = f"INSERT INTO {quote(table.name)} ({', '.join(quote(name) for name in columns)})"
        one_by_one = f"{into} VALUES ({', '.join('?' * len(columns))})"
        statements: list[tuple[str, Any]] = []
        for start in range(0, len(rows), _SQLITE_CHUNK):
            chunk = rows[start : start + _SQLITE_CHUNK]
            found = self.json_rows(chunk) if len(chunk[0]) == len(columns) else None
            if found is None:
                statements.append((one_by_one, list(chunk)))
            else:
                select = ", ".join(found.values)
                statements.append((f"{into} SELECT {select} FROM json_each(?)", found.parameters))
        count = len(rows)
        connection = self.connection

        def send() -> int:
            for sql, parameters in statements:
                connection.exec_driver_sql(sql, parameters)
            return count

        return send


_SQLITE_CHUNK = 20_000
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
# Values json_extract gives back as binding them would store them (ints within 64 bits, floats
# that SQLite parses back to the same double: `_SqliteJson.encode` checks both).
_JSON_TYPES = frozenset({str, int, bool, float, type(None)})
# ASCII text (other characters as \u escapes) is the encoder's fast path (~40% faster) and
# binds without a UTF-8 copy. A character outside the BMP would be two escapes (a surrogate
# pair), which not every SQLite joins, and a lone surrogate would reach SQLite where binding
# it raises: text holding "\ud" is encoded again as UTF-8. NUL is \u0000 either way.
_encode_json = json.JSONEncoder(separators=(",", ":"), allow_nan=False, check_circular=False).encode
_encode_json_utf8 = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False
).encode


@dataclass(frozen=True, slots=True)
class JsonRows:
    """Rows for one statement over `json_each(?)` (`BulkWriter.json_rows`): per column an
    SQL expression for its value, `json_extract(value, '$[i]')` or, for a column holding one
    value in every row (the practice, the remittance, a timestamp, NULL), a `?` bound to it
    (SQLite then reads no JSON for it, which cuts its time by ~40% on ledger entries).
    `parameters` binds the `?`s, in column order, then the JSON text."""

    values: tuple[str, ...]
    constants: tuple[Any, ...]
    text: str

    @property
    def parameters(self) -> tuple[Any, ...]:
        return (*self.constants, self.text)


class _SqliteJson:
    """What one SQLite library's JSON functions can carry, probed once per DBAPI module on a
    private in-memory connection: the probe and the float checks run in the thread building
    rows, while a WriteBehind thread may be using the caller's connection."""

    def __init__(self, dbapi: Any) -> None:
        self._lock = threading.Lock()
        self._db = dbapi.connect(":memory:", check_same_thread=False)
        self._db.execute("SELECT json_extract('[1]', '$[0]')").fetchall()
        version: tuple[int, ...] = getattr(dbapi, "sqlite_version_info", (0,))
        self.update_from = version >= (3, 33, 0)
        # float.hex() of the floats this library's JSON parser gives back exactly.
        self._exact: set[str] = set()

    def encode(self, rows: Sequence[tuple[Any, ...]]) -> JsonRows | None:
        """`rows` for a statement over json_each, or None when some value might come back
        from json_extract other than as sqlite3 binds it: a type JSON does not carry as such
        (a Decimal, bytes, a date, a list, a subclass of str or int), a row of another width
        (a missing element would read as NULL), an integer beyond 64 bits (binding raises,
        JSON would read a REAL), a string holding NUL (JSON text ends there), a NaN or
        infinity, or a float this library's JSON parser does not read back to the same
        double. Types are checked per column over every row (~1/5 of the encoding's time);
        the values only of columns holding numbers."""
        count = len(rows)
        width = len(rows[0])
        if countOf(map(len, rows), width) != count:
            return None
        first, last = rows[0], rows[-1]
        values: list[str] = []
        constants: list[Any] = []
        varying: list[int] = []
        floats: set[float] = set()
        for index in range(width):
            column = itemgetter(index)
            types = set(map(type, map(column, rows)))
            if not types <= _JSON_TYPES:
                return None
            value = first[index]
            # One type, and == then means the same stored value, except for the two zeros.
            if (
                len(types) == 1
                and value == last[index]
                and (value.__class__ is not float or value)
                and countOf(map(column, rows), value) == count
            ):
                values.append("?")
                constants.append(value)
                continue
            values.append(f"json_extract(value, '$[{len(varying)}]')")
            varying.append(index)
            if int in types or float in types:
                distinct = set(map(column, rows))
                if int in types:
                    ints = [n for n in distinct if n.__class__ is int]
                    if min(ints) < _INT64_MIN or max(ints) > _INT64_MAX:
                        return None
                if float in types:
                    floats.update(x for x in distinct if x.__class__ is float)
        if not varying:
            text = _encode_json([[]] * count)
        else:
            if len(varying) == 1:
                projected: Any = zip(map(itemgetter(varying[0]), rows))
            else:
                projected = map(itemgetter(*varying), rows)
            listed = list(projected)
            try:
                text = _encode_json(listed)
            except ValueError:  # NaN or an infinity
                return None
            if "\\ud" in text:
                text = _encode_json_utf8(listed)
            if "\\u0000" in text or (floats and not self._exact_floats(floats)):
                return None
        return JsonRows(tuple(values), tuple(constants), text)

    def _exact_floats(self, floats: set[float]) -> bool:
        """True when SQLite reads each float's JSON form (its repr) back to the same double,
        as sqlite3_bind_double would store it. Money is a float on SQLite and its parser is
        not promised to round correctly; each new value is checked once, on the private
        connection."""
        by_key = {value.hex(): value for value in floats}
        with self._lock:
            new = [value for key, value in by_key.items() if key not in self._exact]
            if not new:
                return True
            back = [
                row[0]
                for row in self._db.execute("SELECT value FROM json_each(?)", (_encode_json(new),))
            ]
            if len(back) != len(new) or any(
                type(got) is not float or got.hex() != value.hex()
                for got, value in zip(back, new, strict=False)
            ):
                return False
            if len(self._exact) > 1_000_000:
                self._exact.clear()
            self._exact.update(value.hex() for value in new)
            return True


_sqlite_json_lock = threading.Lock()
_sqlite_json_by_dbapi: dict[int, _SqliteJson | None] = {}


def _sqlite_json(dialect: Dialect) -> _SqliteJson | None:
    """The JSON support of `dialect`'s SQLite library; None elsewhere or without JSON."""
    if dialect.name != "sqlite":
        return None
    dbapi = dialect.loaded_dbapi
    key = id(dbapi)
    try:
        return _sqlite_json_by_dbapi[key]
    except KeyError:
        pass
    with _sqlite_json_lock:
        if key not in _sqlite_json_by_dbapi:
            found: _SqliteJson | None
            try:
                found = _SqliteJson(dbapi)
            except Exception:  # no json_extract (OperationalError), or a driver unlike sqlite3
                found = None
            _sqlite_json_by_dbapi[key] = found
        return _sqlite_json_by_dbapi[key]


def write_behind_pays(connection: Connection) -> bool:
    """True when a WriteBehind thread writing batches on `connection` can run beside the
    thread building them: the connection may be used from another thread
    (`shareable_across_threads`) and a batch goes in statements that run without Python's GIL:
    PostgreSQL's COPYs and array UPDATEs, or SQLite's statements over json_each (JSON functions
    and UPDATE ... FROM, SQLite 3.33) given a second CPU for SQLite's own C code. Otherwise
    the writer would take turns with the builder for the GIL or the CPU."""
    if connection.dialect.name == "postgresql":
        return shareable_across_threads(connection)
    json_ = _sqlite_json(connection.dialect)
    return (
        json_ is not None
        and json_.update_from
        and _usable_cpus() > 1
        and shareable_across_threads(connection)
    )


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no sched_getaffinity (macOS, Windows)
        return os.cpu_count() or 1


_SHAREABLE = "rcm.bulk.shareable_across_threads"


def shareable_across_threads(connection: Connection) -> bool:
    """True when another thread may run statements on `connection`'s DBAPI connection (while
    the caller's does not). PostgreSQL's drivers allow it; Python's sqlite3 refuses unless the
    connection was opened with check_same_thread=False, as connectors.db.make_engine opens
    it (an engine made elsewhere may not), so on SQLite a trivial query from a short-lived
    thread decides, once per DBAPI connection (remembered in its pool record's `info`)."""
    name = connection.dialect.name
    if name == "postgresql":
        return True
    if name != "sqlite":
        return False
    info = connection.info
    known = info.get(_SHAREABLE)
    if known is None:
        known = info[_SHAREABLE] = _usable_from_another_thread(connection)
    return bool(known)


def _usable_from_another_thread(connection: Connection) -> bool:
    driver: Any = connection.connection.dbapi_connection
    error: type[Exception] = connection.dialect.loaded_dbapi.Error
    usable: list[bool] = []

    def probe() -> None:
        try:
            cursor = driver.cursor()
            try:
                cursor.execute("SELECT 1").fetchall()
            finally:
                cursor.close()
        except error:  # sqlite3.ProgrammingError: created in another thread
            usable.append(False)
        else:
            usable.append(True)

    thread = threading.Thread(target=probe, name="rcm-thread-probe")
    thread.start()
    thread.join()
    return usable == [True]


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
