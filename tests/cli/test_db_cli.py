from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect
from typer.testing import CliRunner

from cli.main import app
from connectors.db import current_revision, head_revision, make_engine

runner = CliRunner()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_creates_the_tables_in_rcm_database_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rcm.db'}"  # RCM_DATABASE_URL, set by conftest

    result = runner.invoke(app, ["db", "upgrade"])

    assert result.exit_code == 0, result.output
    assert f"at revision {head_revision()}" in result.output
    assert {"claim", "ledger_entry", "interchange"} <= _tables(url)


def test_current_reports_unmigrated_then_head(tmp_path: Path) -> None:
    before = runner.invoke(app, ["db", "current"])
    runner.invoke(app, ["db", "upgrade"])
    after = runner.invoke(app, ["db", "current"])

    assert before.exit_code == 0 and "not migrated" in before.output
    assert after.exit_code == 0 and "(head)" in after.output


def test_downgrade_to_base_drops_the_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'other' / 'rcm.db'}"
    runner.invoke(app, ["db", "upgrade", "--url", url])

    result = runner.invoke(app, ["db", "downgrade", "base", "--url", url])

    assert result.exit_code == 0, result.output
    assert "base (no tables)" in result.output
    assert _tables(url) == {"alembic_version"}
    assert current_revision(url) is None


def test_an_unknown_revision_fails_with_a_message() -> None:
    result = runner.invoke(app, ["db", "upgrade", "--revision", "nope"])

    assert result.exit_code == 1
    assert "upgrade of" in result.output and "failed" in result.output


def test_passwords_are_not_printed(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["db", "current", "--url", "postgresql+psycopg://rcm:s3cret@127.0.0.1:1/nowhere"]
    )

    assert result.exit_code == 1
    assert "s3cret" not in result.output
