"""Reliability fixtures: one or two practices on one database and one in-process sandbox
clearinghouse (a shared SFTP login, as a billing firm's practices often share one), and a
temporary Prefect API started once for the tests that run flows.

Faults are injected by monkeypatching the task and connector functions the flows call (never by
editing the flows), and by the sandbox server's own faults.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from sandbox.clearinghouse import SandboxClearinghouse

os.environ.setdefault("RCM_RETRY_BACKOFF_SECONDS", "0.05")

SEED = 9090
PRACTICE_FILES = ("riverside-family-medicine.yaml", "summit-orthopaedics.yaml")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The figures docs/reliability.md quotes: faults injected, invariant checks, duplicates and
    PHI leaks found. Also written as JSON to $RCM_RELIABILITY_REPORT when set."""
    import json

    from tests.reliability.faults import INJECTED
    from tests.reliability.invariants import TOTALS
    from tests.reliability.test_phi import FIGURES

    figures = {**INJECTED, **TOTALS, **{f"phi {k}": v for k, v in FIGURES.items()}}
    if not any(figures.values()):
        return
    terminalreporter.write_sep("-", "reliability figures")
    for key, value in figures.items():
        terminalreporter.write_line(f"{key}: {value}")
    target = os.environ.get("RCM_RELIABILITY_REPORT")
    if target:
        Path(target).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """A temporary Prefect API for the whole session (started only when a test asks)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield


def onboard(engine: Engine, practice_file: str, *, patients: int, per_day: int, today: date) -> Any:
    """Onboard one practice from config/practices and import synthetic patients and one day of
    charges. Returns the SyntheticPractice."""
    from connectors.clearinghouse import list_profiles
    from connectors.db import session_scope
    from connectors.secrets import secret_resolves
    from rcm.imports import import_charges, import_patients
    from rcm.onboarding.apply import apply_onboarding
    from rcm.onboarding.schema import load_onboarding_file
    from rcm.payers import load_payers, sync_payers
    from rcm.settings import get_settings
    from sandbox.synthetic import generate_practice

    payers = {p.key: p for p in load_payers()}
    path = get_settings().config_dir / "practices" / practice_file
    doc = load_onboarding_file(path)
    address = doc.practice.address
    if len(address.zip) == 5:
        # summit-orthopaedics ships a 5-digit billing ZIP, which the scrubber holds (BILLING-ZIP9)
        # by design; these tests need its claims to go out.
        practice = doc.practice.model_copy(
            update={"address": address.model_copy(update={"zip": f"{address.zip}-0001"})}
        )
        doc = doc.model_copy(update={"practice": practice})
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
        import_charges(
            session,
            world.slug,
            world.charges_csv(today - timedelta(days=1), per_day, distinct_patients=True),
            source_name=f"{world.slug}-charges.csv",
        )
    return world


@dataclass
class Firm:
    """The billing firm's world in a test: practices, the sandbox, every upload it received."""

    engine: Engine
    today: date
    root: Path
    sandbox: SandboxClearinghouse
    worlds: dict[str, Any]
    arrivals: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def slugs(self) -> list[str]:
        return list(self.worlds)

    @property
    def account_dir(self) -> Path:
        return self.root / "sandbox" / "rcm-demo"

    def remote_files(self, folder: str) -> list[Path]:
        base = self.account_dir / folder
        return sorted(p for p in base.rglob("*") if p.is_file()) if base.is_dir() else []

    def outbound_837s(self) -> list[Path]:
        return [
            p
            for p in self.remote_files("outbound")
            if "_837" in p.name and not p.name.startswith(".")
        ]

    def practice_id(self, slug: str) -> Any:
        from sqlmodel import Session, select

        from rcm.models import Practice

        with Session(self.engine) as session:
            return session.exec(select(Practice.id).where(Practice.slug == slug)).one()


def start_firm(engine: Engine, root: Path, practice_files: tuple[str, ...], **sizes: Any) -> Firm:
    from rcm.settings import get_settings
    from sandbox.clearinghouse import SandboxClearinghouse
    from sandbox.synthetic import roster_csv
    from tasks.clearinghouse import set_profile_overrides

    today = date.today()
    worlds = {}
    for practice_file in practice_files:
        world = onboard(
            engine,
            practice_file,
            patients=sizes.get("patients", 6),
            per_day=sizes.get("per_day", 4),
            today=today,
        )
        worlds[world.slug] = world
    sandbox_root = root / "sandbox"
    sandbox_root.mkdir(parents=True, exist_ok=True)
    members = [m for w in worlds.values() for m in w.roster_members()]
    (sandbox_root / "roster.csv").write_bytes(roster_csv(members))
    clearinghouse = SandboxClearinghouse(sandbox_root, get_settings().config_dir, SEED)
    firm = Firm(engine, today, root, clearinghouse, worlds)
    original = clearinghouse.server.on_upload

    def count_arrival(account: str, path: Path) -> None:
        with firm.lock:
            firm.arrivals.append(path.name)
        if original is not None:
            original(account, path)

    clearinghouse.server.on_upload = count_arrival
    clearinghouse.start()
    set_profile_overrides("sandbox", clearinghouse.profile_overrides)
    return firm


def stop_firm(firm: Firm) -> None:
    from tasks.clearinghouse import set_profile_overrides

    set_profile_overrides("sandbox", None)
    firm.sandbox.stop()


@pytest.fixture
def firm(engine: Engine, tmp_path: Path) -> Iterator[Firm]:
    """One practice (riverside-family-medicine) on the sandbox."""
    world = start_firm(engine, tmp_path, PRACTICE_FILES[:1])
    try:
        yield world
    finally:
        stop_firm(world)


@pytest.fixture
def two_practices(engine: Engine, tmp_path: Path) -> Iterator[Firm]:
    """riverside-family-medicine and summit-orthopaedics sharing one sandbox login."""
    world = start_firm(engine, tmp_path, PRACTICE_FILES)
    try:
        yield world
    finally:
        stop_firm(world)
