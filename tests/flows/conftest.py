"""Flow tests run against a real temporary Prefect API (started once per session) and the
sandbox clearinghouse in-process on a loopback port."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from sandbox.clearinghouse import SandboxClearinghouse
    from sandbox.synthetic import SyntheticPractice

# Fast retries in tests: the first retry waits 0.2 s instead of 2 s.
os.environ.setdefault("RCM_RETRY_BACKOFF_SECONDS", "0.2")

PRACTICE_FILE = "riverside-family-medicine.yaml"
SEED = 4242


@pytest.fixture(scope="session", autouse=True)
def prefect_api() -> Iterator[None]:
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    # No heartbeat threads for in-process subflows: each would hold its flow's exit ~1 s.
    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield


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
    from connectors.clearinghouse import list_profiles
    from connectors.db import session_scope
    from connectors.secrets import secret_resolves
    from rcm.imports import import_appointments, import_charges, import_patients
    from rcm.onboarding.apply import apply_onboarding
    from rcm.onboarding.schema import load_onboarding_file
    from rcm.payers import load_payers, sync_payers
    from rcm.settings import get_settings
    from sandbox.synthetic import generate_practice

    today = date.today()
    payers = {p.key: p for p in load_payers()}
    path = get_settings().config_dir / "practices" / PRACTICE_FILE
    doc = load_onboarding_file(path)
    with session_scope(engine) as session:
        sync_payers(session, list(payers.values()))
    with session_scope(engine) as session:
        apply_onboarding(
            session,
            doc,
            source_name=path.name,
            known_clearinghouses=set(list_profiles()),
            secret_resolves=secret_resolves,
        )
    world = generate_practice(doc, payers, seed=SEED, patients=patients, today=today)
    with session_scope(engine) as session:
        import_patients(session, world.slug, world.patients_csv())
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
    from rcm.settings import get_settings
    from sandbox.clearinghouse import SandboxClearinghouse
    from sandbox.synthetic import roster_csv
    from tasks.clearinghouse import set_profile_overrides

    slug, today, world = build_world(engine, tmp_path)
    sandbox_root = tmp_path / "sandbox"
    sandbox_root.mkdir(parents=True, exist_ok=True)
    (sandbox_root / "roster.csv").write_bytes(roster_csv(world.roster_members()))
    clearinghouse = SandboxClearinghouse(sandbox_root, get_settings().config_dir, SEED)
    clearinghouse.start()
    set_profile_overrides("sandbox", clearinghouse.profile_overrides)
    try:
        yield BillingWorld(engine, slug, today, clearinghouse, world, tmp_path)
    finally:
        set_profile_overrides("sandbox", None)
        clearinghouse.stop()
