"""Reading plain rows of the columns a bulk path needs (imports, scrub, posting).

Loading rows as ORM instances (an identity-map entry, change tracking and a UUID object per key
for every row) costs more than what the bulk paths do with them; here keys are read and compared
as the 32 hex digits rcm.bulk writes, enums as their stored text, and a set of wanted values is
one bound parameter however many there are.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from itertools import islice
from typing import Any

from sqlalchemy import (
    ARRAY,
    Connection,
    Dialect,
    Executable,
    Row,
    String,
    TypeDecorator,
    Uuid,
    any_,
    bindparam,
    func,
    select,
    type_coerce,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


def _as_hex(value: Any) -> Any:
    return value if value is None or value.__class__ is str else value.hex


class _HexKey(TypeDecorator[Any]):
    """A UUID column compared with 32 hex digits: SQLite stores that text, and PostgreSQL
    casts the parameter to uuid."""

    impl = Uuid
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Any:
        return None

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        return None if dialect.name == "sqlite" else _as_hex


HEX_KEY = _HexKey()


class hex_key(FunctionElement[str]):
    """A UUID key in a select list as 32 hex digits: SQLite stores them so, PostgreSQL encodes
    them itself, which is cheaper than a UUID object per value in the driver."""

    type = String()
    name = "hex_key"
    inherit_cache = True


@compiles(hex_key)
def _hex_key_default(element: hex_key, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(hex_key, "postgresql")
def _hex_key_postgresql(element: hex_key, compiler: Any, **kw: Any) -> str:
    return f"encode(uuid_send({compiler.process(element.clauses, **kw)}), 'hex')"


def as_key(column: Any) -> Any:
    """`column` (a UUID key) read and compared as hex digits."""
    return type_coerce(column, HEX_KEY)


def stored_text(column: Any) -> Any:
    """An enum column as its stored value, without building the enum."""
    return type_coerce(column, String)


def key_in(column: Any, keys: Collection[str], postgresql: bool) -> Any:
    """`column IN (keys)` for a UUID column and keys as hex digits (see `one_of`)."""
    return one_of(as_key(column), keys, postgresql, HEX_KEY)


def one_of(column: Any, values: Collection[Any], postgresql: bool, type_: Any = None) -> Any:
    """`column IN (values)` with one parameter however many values: PostgreSQL
    `column = ANY(array)`, SQLite `column IN (SELECT value FROM json_each(?))`. Both use the
    column's index, and neither meets a limit on bound parameters (a first import can name
    100,000 encounters)."""
    if postgresql:
        array = _ArrayText(type_ or String())
        return column == any_(bindparam(None, _array_text(values, type_), type_=array))
    each = func.json_each(bindparam(None, json.dumps(list(values)), type_=String))
    return column.in_(select(each.table_valued("value").c.value))


class _ArrayText(TypeDecorator[Any]):
    """An array parameter bound as its text (`_array_text`), typed by the statement's cast
    (`$1::UUID[]`): the server parses it, and a custom plan still sees a constant array, which
    PostgreSQL hashes for `= ANY` (a cast in SQL would be evaluated per row, unhashed)."""

    impl = ARRAY
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Any:
        return None


def _array_text(values: Collection[Any], type_: Any) -> str:
    """`values` as one PostgreSQL array literal, cast to the column's array type by the server.
    psycopg adapts a Python list element by element in Python (~2.6 µs each: 1.3 s of a
    posting's loading); this is one join. Keys are hex digits or UUIDs, which need no quoting.
    None is left out: `= ANY` never matches it."""
    if type_ is HEX_KEY:
        return key_array_literal(values)
    return array_literal([value for value in values if value is not None])


def key_array_literal(keys: Collection[Any]) -> str:
    """UUID keys (hex digits or UUIDs) as the text of a PostgreSQL array: they need no quoting."""
    return "{" + ",".join(map(str, keys)) + "}"


def array_literal(values: Collection[Any]) -> str:
    """`values` as the text of a PostgreSQL array (`{"a","b",NULL}`), to bind as one parameter
    typed by the statement (`%(p)s::varchar[]`) instead of a list psycopg adapts element by
    element in Python. Each value is its str() quoted; None is NULL."""
    return (
        "{"
        + ",".join(
            "NULL"
            if value is None
            else '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
            for value in values
        )
        + "}"
    )


def unindexed(column: Any) -> Any:
    """`column` in a form no index serves. For `practice_id = ? AND encounter_id IN (...)` a
    planner without statistics (SQLite always, PostgreSQL right after a bulk load) may pick the
    practice_id index and read every row of the practice; written this way the practice is
    still checked on every row, and the selective index is the only choice."""
    return func.coalesce(column, column)


_Row = Row[*tuple[Any, ...]]

# Statements a `prefetched` thread runs before the caller reaches them: while the caller parses
# one, the next is on the server and the one after waits fetched (at most three results held).
PREFETCH_AHEAD = 2


@contextmanager
def prefetched(
    connection: Connection, statements: Sequence[Executable], *, threaded: bool = True
) -> Iterator[Iterator[Sequence[_Row]]]:
    """The rows of each of `statements`, fetched whole, in order.

    Threaded (and the driver lets another thread use `connection`), one thread runs them on
    `connection`, up to PREFETCH_AHEAD statements ahead of the caller: the server executes the
    next query (and the driver waits for it without the GIL) while the caller parses the rows
    of the one before, instead of one after the other. Inside the block the caller must not
    use `connection`. A statement's error is raised in the caller's thread when it reaches
    that statement; on leaving the block, by return or raise, the statements not started are
    dropped and the thread is joined."""
    if not threaded or len(statements) < 2 or not _shareable(connection):
        yield (connection.execute(statement).all() for statement in statements)
        return
    stop = threading.Event()

    def fetch(statement: Executable) -> Sequence[_Row]:
        if stop.is_set():
            return []
        try:
            return connection.execute(statement).all()
        except BaseException:
            stop.set()
            raise

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch")
    try:
        yield _in_order(pool, fetch, statements)
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


def _in_order(
    pool: ThreadPoolExecutor,
    fetch: Callable[[Executable], Sequence[_Row]],
    statements: Sequence[Executable],
) -> Iterator[Sequence[_Row]]:
    waiting = iter(statements)
    running = deque(pool.submit(fetch, s) for s in islice(waiting, PREFETCH_AHEAD))
    while running:
        rows = running.popleft().result()
        running.extend(pool.submit(fetch, s) for s in islice(waiting, 1))
        yield rows


def _shareable(connection: Connection) -> bool:
    """Whether another thread may use the driver's connection: sqlite3 refuses one opened
    without check_same_thread=False (connectors.db.make_engine opens them so; an engine made
    elsewhere may not). psycopg connections are thread-safe."""
    if connection.dialect.name != "sqlite":
        return True
    driver = connection.connection.dbapi_connection
    refused: list[BaseException] = []

    def probe() -> None:
        try:
            driver.cursor().close()  # type: ignore[union-attr]
        except Exception as exc:
            refused.append(exc)

    thread = threading.Thread(target=probe, name="prefetch-probe")
    thread.start()
    thread.join()
    return not refused
