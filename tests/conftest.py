"""Shared fixtures. Tests use SQLite by default and PostgreSQL when RCM_TEST_DATABASE_URL is set.

Tests marked `integration` talk to a real service. With RCM_REQUIRE_INTEGRATION=1 (set by
.ci/run) a skipped integration test is reported as a failure, so CI cannot pass on a machine
where the services silently went missing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

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
