"""Snapshots of a test database, so that a world built once per session (practices onboarded,
patients and charges imported) is restored into each test's fresh database instead of being
built again.

SQLite: the snapshot is a copy of the database file (SQLite's backup API), restored over the
test's file. PostgreSQL: the snapshot is a schema holding a copy of every table's rows, inserted
into the test's own schema (which the `engine` fixture created empty from the same metadata).
Only rows are copied: the schema itself is always the test's own.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Hashable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Engine


@dataclass(frozen=True)
class Snapshot:
    backend: str
    location: str  # the SQLite file, or the PostgreSQL schema


def _tables() -> list[Any]:
    from sqlmodel import SQLModel

    import rcm.models  # noqa: F401  (registers every table)

    return list(SQLModel.metadata.sorted_tables)


def _schema(engine: Engine) -> str:
    from sqlalchemy import text

    with engine.connect() as connection:
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
    return str(schema)


def take_snapshot(engine: Engine, folder: Path) -> Snapshot:
    from sqlalchemy import text

    if engine.url.get_backend_name() == "sqlite":
        assert engine.url.database
        target = folder / f"snapshot-{uuid.uuid4().hex[:12]}.db"
        with (
            closing(sqlite3.connect(engine.url.database)) as source,
            closing(sqlite3.connect(target)) as copy,
        ):
            source.backup(copy)
        return Snapshot("sqlite", str(target))
    source_schema = _schema(engine)
    schema = f"snap_{uuid.uuid4().hex[:20]}"
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        for table in _tables():
            connection.execute(
                text(
                    f'CREATE TABLE "{schema}"."{table.name}" AS '
                    f'SELECT * FROM "{source_schema}"."{table.name}"'
                )
            )
    return Snapshot("postgresql", schema)


def restore_snapshot(engine: Engine, snapshot: Snapshot) -> None:
    """Put the snapshot's rows into the (empty, fully created) database of `engine`."""
    from sqlalchemy import text

    if snapshot.backend == "sqlite":
        assert engine.url.database
        engine.dispose()
        with (
            closing(sqlite3.connect(snapshot.location)) as source,
            closing(sqlite3.connect(engine.url.database)) as target,
        ):
            source.backup(target)
        return
    schema = _schema(engine)
    with engine.begin() as connection:
        for table in _tables():
            connection.execute(
                text(
                    f'INSERT INTO "{schema}"."{table.name}" '
                    f'SELECT * FROM "{snapshot.location}"."{table.name}"'
                )
            )


def drop_snapshot(snapshot: Snapshot, admin_url: str | None) -> None:
    if snapshot.backend == "sqlite":
        Path(snapshot.location).unlink(missing_ok=True)
        return
    if admin_url is None:
        return
    from sqlalchemy import create_engine, text

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{snapshot.location}" CASCADE'))
    finally:
        admin.dispose()


@dataclass
class WorldCache:
    """Worlds built once per session and per key (what was built, the sizes, the date, the
    backend), restored into each test's database. `build(engine)` fills an empty database and
    returns what the tests need besides the rows (the synthetic practices)."""

    folder: Path
    admin_url: str | None
    entries: dict[Hashable, tuple[Snapshot, Any]] = field(default_factory=dict)
    builds: int = 0
    restores: int = 0

    def world(self, engine: Engine, key: Hashable, build: Callable[[Engine], Any]) -> Any:
        key = (engine.url.get_backend_name(), key)
        cached = self.entries.get(key)
        if cached is None:
            value = build(engine)
            self.entries[key] = (take_snapshot(engine, self.folder), value)
            self.builds += 1
            return value
        snapshot, value = cached
        restore_snapshot(engine, snapshot)
        self.restores += 1
        return value

    def close(self) -> None:
        for snapshot, _ in self.entries.values():
            drop_snapshot(snapshot, self.admin_url)
        self.entries.clear()


def world_cache(folder: Path, admin_url: str | None) -> Iterator[WorldCache]:
    cache = WorldCache(folder, admin_url)
    try:
        yield cache
    finally:
        cache.close()


__all__ = ["Snapshot", "WorldCache", "restore_snapshot", "take_snapshot", "world_cache"]
