"""Shared fixtures. Tests use SQLite by default and PostgreSQL when RCM_TEST_DATABASE_URL is set.

Tests marked `integration` talk to a real service. With RCM_REQUIRE_INTEGRATION=1 (set by
.ci/run) a skipped integration test is reported as a failure, so CI cannot pass on a machine
where the services silently went missing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

# The session's temporary Prefect APIs, for every folder whose tests run flows (one server per
# level per session, however many folders run): see tests/_support/prefect.py.
from tests._support.prefect import (  # noqa: F401
    plan_servers,
    prefect_api,
    prefect_api_lean,
    prefect_api_runs,
    prefect_server,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlmodel import Session

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = REPO_ROOT.parent / "shared"
X12_CORPUS = SHARED_DIR / "x12-corpus"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if (
        report.skipped
        and os.environ.get("RCM_REQUIRE_INTEGRATION") == "1"
        and item.get_closest_marker("integration") is not None
    ):
        report.outcome = "failed"
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"integration test skipped in CI (RCM_REQUIRE_INTEGRATION=1): {reason}"


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the Prefect APIs the collected tests will ask for, in the background."""
    plan_servers(session)


@pytest.fixture(scope="session")
def x12_corpus() -> Path:
    if not X12_CORPUS.is_dir():
        pytest.skip("../shared/x12-corpus is absent")
    return X12_CORPUS


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own var dir and archive; nothing touches the developer's ./var."""
    from rcm.settings import reset_settings_cache

    monkeypatch.setenv("RCM_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("RCM_ARCHIVE_URL", f"file://{tmp_path / 'archive'}")
    monkeypatch.setenv("RCM_DATABASE_URL", f"sqlite:///{tmp_path / 'rcm.db'}")
    reset_settings_cache()
    yield
    reset_settings_cache()


# --- Database fixtures -----------------------------------------------------------------------
#
# `database_url` is an empty database: a SQLite file in tmp_path, or with RCM_TEST_DATABASE_URL a
# fresh PostgreSQL schema (reached through search_path) dropped after the test. It is also set as
# RCM_DATABASE_URL so code that calls connectors.db.get_engine() uses the same database.
# `engine` holds every table. On SQLite it is a copy of a template migrated once per test session
# (real migrations, fast); on PostgreSQL the schema is filled with create_all. The migration
# tests (tests/rcm/models/test_migrations.py) prove `upgrade head` equals SQLModel.metadata on
# both backends, so the two are interchangeable.


def _postgres_base_url() -> str | None:
    return os.environ.get("RCM_TEST_DATABASE_URL") or None


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from connectors.db import upgrade

    path = tmp_path_factory.mktemp("db-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from sqlalchemy import create_engine, make_url, text

    from connectors.db import dispose_engines
    from rcm.settings import reset_settings_cache

    base = _postgres_base_url()
    if base is None:
        url = f"sqlite:///{tmp_path / 'rcm.db'}"
        admin = None
        schema = ""
    else:
        import uuid

        schema = f"test_{uuid.uuid4().hex[:20]}"
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = (
            make_url(base)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    monkeypatch.setenv("RCM_DATABASE_URL", url)
    reset_settings_cache()
    try:
        yield url
    finally:
        dispose_engines()
        if admin is not None:
            with admin.connect() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()


@pytest.fixture
def engine(database_url: str, request: pytest.FixtureRequest) -> Iterator[Engine]:
    from sqlalchemy import make_url
    from sqlmodel import SQLModel

    import rcm.models  # noqa: F401  (registers every table)
    from connectors.db import make_engine

    parsed = make_url(database_url)
    if parsed.get_backend_name() == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        assert parsed.database is not None
        shutil.copyfile(template, parsed.database)
        db_engine = make_engine(database_url)
    else:
        db_engine = make_engine(database_url)
        SQLModel.metadata.create_all(db_engine)
    try:
        yield db_engine
    finally:
        db_engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    from sqlmodel import Session as SQLModelSession

    with SQLModelSession(engine) as db_session:
        yield db_session
