"""Reliability fixtures: one or two practices on one database and one in-process sandbox
clearinghouse (a shared SFTP login, as a billing firm's practices often share one). The
practices are onboarded once per session (per backend, sizes and date) and restored into each
test's fresh database (tests/_support/database.py). The temporary Prefect API is the session's
(tests/_support/prefect.py): `prefect_api_lean` for the tests that only run flows,
`prefect_api` for the PHI tests, which read task runs back from it.

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

from tests._support.database import WorldCache, world_cache
from tests._support.world import onboard_practice, start_sandbox, stop_sandbox

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


def _summit_billing_zip9(doc: Any) -> Any:
    """summit-orthopaedics ships a 5-digit billing ZIP, which the scrubber holds (BILLING-ZIP9) by
    design; these tests need its claims to go out."""
    address = doc.practice.address
    if len(address.zip) != 5:
        return doc
    practice = doc.practice.model_copy(
        update={"address": address.model_copy(update={"zip": f"{address.zip}-0001"})}
    )
    return doc.model_copy(update={"practice": practice})


def onboard(engine: Engine, practice_file: str, *, patients: int, per_day: int, today: date) -> Any:
    """Onboard one practice from config/practices and import synthetic patients and one day of
    charges. Returns the SyntheticPractice."""
    from connectors.db import session_scope
    from rcm.imports import import_charges

    world = onboard_practice(
        engine,
        practice_file,
        seed=SEED,
        patients=patients,
        today=today,
        adjust=_summit_billing_zip9,
    )
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


def start_firm(
    engine: Engine,
    root: Path,
    practice_files: tuple[str, ...],
    worlds: WorldCache | None = None,
    **sizes: Any,
) -> Firm:
    """Onboard `practice_files` (or restore them from `worlds`, where the first test to ask built
    them) and start the sandbox for them under `root`."""
    today = date.today()
    patients, per_day = sizes.get("patients", 6), sizes.get("per_day", 4)

    def build(engine: Engine) -> dict[str, Any]:
        built = {}
        for practice_file in practice_files:
            world = onboard(engine, practice_file, patients=patients, per_day=per_day, today=today)
            built[world.slug] = world
        return built

    key = (practice_files, patients, per_day, today)
    practices = build(engine) if worlds is None else worlds.world(engine, key, build)
    arrivals: list[str] = []
    lock = threading.Lock()

    def count_arrival(account: str, path: Path) -> None:
        with lock:
            arrivals.append(path.name)

    clearinghouse = start_sandbox(root, practices.values(), SEED, observe_upload=count_arrival)
    return Firm(engine, today, root, clearinghouse, dict(practices), arrivals, lock)


def stop_firm(firm: Firm) -> None:
    stop_sandbox(firm.sandbox)


@pytest.fixture(scope="session")
def onboarded_worlds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorldCache]:
    """The practices onboarded once per session and restored into each test's database."""
    yield from world_cache(
        tmp_path_factory.mktemp("worlds"), os.environ.get("RCM_TEST_DATABASE_URL") or None
    )


@pytest.fixture
def firm(engine: Engine, tmp_path: Path, onboarded_worlds: WorldCache) -> Iterator[Firm]:
    """One practice (riverside-family-medicine) on the sandbox."""
    world = start_firm(engine, tmp_path, PRACTICE_FILES[:1], onboarded_worlds)
    try:
        yield world
    finally:
        stop_firm(world)


@pytest.fixture
def two_practices(engine: Engine, tmp_path: Path, onboarded_worlds: WorldCache) -> Iterator[Firm]:
    """riverside-family-medicine and summit-orthopaedics sharing one sandbox login."""
    world = start_firm(engine, tmp_path, PRACTICE_FILES, onboarded_worlds)
    try:
        yield world
    finally:
        stop_firm(world)
