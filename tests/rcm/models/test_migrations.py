"""The migrations are the only source of production tables: `upgrade head` must build exactly
SQLModel.metadata and `downgrade base` must remove it, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, make_url, text
from sqlmodel import SQLModel

import rcm.models  # noqa: F401  (registers every table)
from connectors.db import (
    MIGRATIONS_DIR,
    alembic_config,
    current_revision,
    downgrade,
    head_revision,
    make_engine,
    upgrade,
)


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)],
)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    base = os.environ.get("RCM_TEST_DATABASE_URL")
    if not base:
        pytest.skip("RCM_TEST_DATABASE_URL is not set")
    schema = f"mig_{uuid.uuid4().hex[:20]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield (
            make_url(base)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _differences(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, SQLModel.metadata))
    finally:
        engine.dispose()


def _ledger_triggers(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
            else:
                query = (
                    "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = current_schema() AND NOT t.tgisinternal "
                    "UNION SELECT proname FROM pg_proc p JOIN pg_namespace n "
                    "ON n.oid = p.pronamespace WHERE n.nspname = current_schema()"
                )
            return set(connection.execute(text(query)).scalars())
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_head_builds_exactly_the_models(empty_database: str) -> None:
    upgrade(empty_database)

    assert current_revision(empty_database) == head_revision()
    assert _differences(empty_database) == []
    assert _tables(empty_database) == set(SQLModel.metadata.tables) | {"alembic_version"}
    assert {"ledger_entry_no_update", "ledger_entry_no_delete"} <= _ledger_triggers(
        empty_database
    ) or {"ledger_entry_no_change", "ledger_entry_append_only"} <= _ledger_triggers(empty_database)


def test_downgrade_base_drops_every_table_and_upgrade_rebuilds_them(empty_database: str) -> None:
    upgrade(empty_database)

    downgrade(empty_database, "base")

    assert current_revision(empty_database) is None
    assert _tables(empty_database) == {"alembic_version"}
    assert _ledger_triggers(empty_database) == set()

    upgrade(empty_database)
    assert _differences(empty_database) == []


def test_an_unmigrated_database_has_no_revision(empty_database: str) -> None:
    assert current_revision(empty_database) is None


def test_migrations_have_a_single_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()

    assert heads == [head_revision()]


def test_revision_files_are_portable() -> None:
    for revision in (MIGRATIONS_DIR / "versions").glob("*.py"):
        source = revision.read_text()
        imports = {
            line.split()[1].split(".")[0]
            for line in source.splitlines()
            if line.startswith(("import ", "from "))
        }
        assert imports <= {"collections", "sqlalchemy", "alembic"}, revision.name
        assert "postgresql." not in source and "sqlite." not in source, revision.name


def test_migrations_run_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'nested' / 'folder' / 'rcm.db'}"

    upgrade(url)

    assert current_revision(url) == head_revision()
