"""The database: engines, sessions and migrations.

SQLite is the embedded default and PostgreSQL is production. Production tables come only from
Alembic migrations (rcm/migrations), which these functions run through Alembic's Python API with
the script location inside the installed package, so they work from any working directory.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import Session

import rcm
from rcm.settings import get_settings

MIGRATIONS_DIR = Path(rcm.__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Page cache per connection, in KiB (SQLite's default is 2 MiB). An 835 of 100,000 claim payments
# writes ~1.4 million rows into tables whose indexes are keyed by claim and by UUID; with 2 MiB
# nearly every index update misses the cache and posting takes twice as long. The cache grows
# only as pages are used: a connection that reads a few rows stays small.
SQLITE_CACHE_KIB = 131_072


def _is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def _sqlite_file(url: URL) -> Path | None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def make_engine(url: str | URL, **engine_kwargs: Any) -> Engine:
    """An engine for `url`.

    SQLite: WAL journal, foreign keys enforced, 30 s busy timeout, a 128 MiB page cache (large
    ERAs; see SQLITE_CACHE_KIB), usable from any thread (Prefect
    runs tasks in threads), and the folder of the database file is created. Transactions begin
    with an explicit BEGIN so that SELECTs and SAVEPOINTs belong to the transaction, which the
    sqlite3 driver's legacy mode does not do. PostgreSQL: connections are pinged before use.
    """
    parsed = make_url(url)
    if not _is_sqlite(parsed):
        engine_kwargs.setdefault("pool_pre_ping", True)
        return create_engine(parsed, **engine_kwargs)

    db_file = _sqlite_file(parsed)
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
    connect_args = dict(engine_kwargs.pop("connect_args", {}))
    connect_args.setdefault("check_same_thread", False)
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
    engine = create_engine(parsed, connect_args=connect_args, **engine_kwargs)
    use_wal = db_file is not None

    @event.listens_for(engine, "connect")
    def _configure_sqlite(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see "begin" below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if use_wal:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")

    return engine


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def get_engine() -> Engine:
    """The process-wide engine for RCM_DATABASE_URL (one per URL, created on first use)."""
    url = get_settings().database_url
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = make_engine(url)
        return engine


def dispose_engines() -> None:
    """Close every engine get_engine() made and forget them (tests, forked workers)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session that commits when the block ends and rolls back if it raises."""
    session = Session(engine if engine is not None else get_engine(), expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str | URL) -> Config:
    """An Alembic config for the packaged migrations, pointed at `url`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = _render_url(url)
    return config


def _render_url(url: str | URL) -> str:
    if isinstance(url, URL):
        return url.render_as_string(hide_password=False)
    return url


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Migrate the database at `url` up to `revision`, creating a SQLite file if needed."""
    parsed = make_url(url)
    if _is_sqlite(parsed) and (db_file := _sqlite_file(parsed)) is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | URL, revision: str) -> None:
    """Migrate the database at `url` down to `revision` ("base" drops every table)."""
    command.downgrade(alembic_config(url), revision)


def current_revision(url: str | URL) -> str | None:
    """The revision the database at `url` is at; None when it has never been migrated (a
    SQLite file that does not exist yet is not created)."""
    parsed = make_url(url)
    db_file = _sqlite_file(parsed) if _is_sqlite(parsed) else None
    if db_file is not None and not db_file.exists():
        return None
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    """The newest revision shipped with the code."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
