from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from connectors.db import (
    current_revision,
    dispose_engines,
    get_engine,
    head_revision,
    make_engine,
    session_scope,
    upgrade,
)
from rcm.models import Practice
from rcm.settings import reset_settings_cache
from tests.rcm.models.builders import make_practice


def _pragma(engine: Engine, name: str) -> object:
    with engine.connect() as connection:
        return connection.exec_driver_sql(f"PRAGMA {name}").scalar()


def test_sqlite_engine_settings(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'not' / 'yet' / 'there' / 'rcm.db'}")
    try:
        assert _pragma(engine, "foreign_keys") == 1
        assert _pragma(engine, "journal_mode") == "wal"
        assert _pragma(engine, "busy_timeout") == 30_000
        # 128 MiB of page cache (negative: KiB): large ERAs update indexes all over the file.
        assert _pragma(engine, "cache_size") == -131_072
        assert (tmp_path / "not" / "yet" / "there").is_dir()
    finally:
        engine.dispose()


def test_sqlite_connections_work_from_other_threads(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'rcm.db'}")
    seen: list[object] = []
    with engine.connect() as connection:
        worker = threading.Thread(
            target=lambda: seen.append(connection.execute(text("SELECT 1")).scalar())
        )
        worker.start()
        worker.join()
    engine.dispose()

    assert seen == [1]


def test_postgresql_engine_pings_connections_before_use() -> None:
    engine = make_engine("postgresql+psycopg://billing@db.invalid:5432/rcm")

    assert engine.pool._pre_ping is True  # type: ignore[attr-defined]


def test_session_scope_commits_on_success(engine: Engine) -> None:
    with session_scope(engine) as session:
        make_practice(session, slug="committed")

    with Session(engine) as session:
        assert session.exec(select(Practice.slug)).all() == ["committed"]


def test_session_scope_rolls_back_on_error(engine: Engine) -> None:
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        make_practice(session, slug="rolled-back")
        raise RuntimeError("flow task failed")

    with Session(engine) as session:
        assert session.exec(select(Practice)).all() == []


def test_a_savepoint_rollback_keeps_the_outer_transaction(engine: Engine) -> None:
    with session_scope(engine) as session:
        make_practice(session, slug="outer")
        nested = session.begin_nested()
        make_practice(session, slug="inner")
        nested.rollback()

    with Session(engine) as session:
        assert session.exec(select(Practice.slug)).all() == ["outer"]


def test_a_rolled_back_transaction_leaves_nothing_behind_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rcm.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            session.exec(select(Practice)).all()  # the transaction starts at the first read
            make_practice(session, slug="never")
            session.rollback()
            assert session.exec(select(Practice)).all() == []
    finally:
        engine.dispose()


def test_get_engine_follows_rcm_database_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RCM_DATABASE_URL", f"sqlite:///{tmp_path / 'first.db'}")
    reset_settings_cache()
    first = get_engine()
    assert get_engine() is first

    monkeypatch.setenv("RCM_DATABASE_URL", f"sqlite:///{tmp_path / 'second.db'}")
    reset_settings_cache()
    second = get_engine()
    dispose_engines()

    assert second is not first
    assert str(second.url).endswith("second.db")


def test_upgrade_and_current_revision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'var' / 'rcm.db'}"
    assert current_revision(url) is None

    upgrade(url)

    assert current_revision(url) == head_revision() is not None


def test_asking_for_the_revision_does_not_create_a_database(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "rcm.db"

    assert current_revision(f"sqlite:///{path}") is None
    assert not path.exists()
