"""Flow tests run against a real temporary Prefect API (started once per session:
`prefect_api` in tests/_support/prefect.py) and the sandbox clearinghouse in-process on a
loopback port."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests._support.world import onboard_practice, start_sandbox, stop_sandbox

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from sandbox.clearinghouse import SandboxClearinghouse
    from sandbox.synthetic import SyntheticPractice

# Fast retries in tests: the first retry waits 0.2 s instead of 2 s.
os.environ.setdefault("RCM_RETRY_BACKOFF_SECONDS", "0.2")

PRACTICE_FILE = "riverside-family-medicine.yaml"
SEED = 4242


@pytest.fixture(autouse=True)
def _flows_run_on_prefect(prefect_api: None) -> None:
    """Every flow test has the session's temporary Prefect API (tests/_support/prefect.py)."""


@dataclass
class BillingWorld:
    engine: Engine
    slug: str
    today: date
    sandbox: SandboxClearinghouse
    synthetic: SyntheticPractice
    root: Path

    def counts(self) -> dict[str, int]:
        from sqlmodel import Session

        from rcm.reports.worklists import table_counts

        with Session(self.engine) as session:
            return table_counts(session)

    def remote_files(self, folder: str) -> list[str]:
        base = self.root / "sandbox" / "rcm-demo" / folder
        return sorted(p.name for p in base.iterdir() if p.is_file()) if base.is_dir() else []


def build_world(
    engine: Engine, root: Path, *, patients: int = 12, days: int = 1, per_day: int = 8
) -> tuple[str, date, Any]:
    """Onboard one practice, import synthetic patients, appointments and charges."""
    from connectors.db import session_scope
    from rcm.imports import import_appointments, import_charges

    today = date.today()
    world = onboard_practice(engine, PRACTICE_FILE, seed=SEED, patients=patients, today=today)
    with session_scope(engine) as session:
        import_appointments(session, world.slug, world.appointments_csv(today + timedelta(1), 2, 4))
    for back in range(days, 0, -1):
        with session_scope(engine) as session:
            import_charges(
                session,
                world.slug,
                world.charges_csv(today - timedelta(days=back), per_day),
                source_name=f"charges-{back}.csv",
            )
    return world.slug, today, world


@pytest.fixture
def billing_world(engine: Engine, tmp_path: Path) -> Iterator[BillingWorld]:
    slug, today, world = build_world(engine, tmp_path)
    clearinghouse = start_sandbox(tmp_path, [world], SEED)
    try:
        yield BillingWorld(engine, slug, today, clearinghouse, world, tmp_path)
    finally:
        stop_sandbox(clearinghouse)
