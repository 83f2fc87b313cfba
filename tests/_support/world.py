"""Synthetic practices on a test database and the sandbox clearinghouse they bill through."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from sandbox.clearinghouse import SandboxClearinghouse
    from sandbox.synthetic import SyntheticPractice


def onboard_practice(
    engine: Engine,
    practice_file: str,
    *,
    seed: int,
    patients: int,
    today: date,
    adjust: Callable[[Any], Any] | None = None,
) -> SyntheticPractice:
    """Sync the payers, onboard `config/practices/<practice_file>` (after `adjust` when given)
    and import the synthetic practice's patients. Returns the synthetic practice, whose charges,
    appointments and roster the caller imports or hands to the sandbox."""
    from connectors.clearinghouse import list_profiles
    from connectors.db import session_scope
    from connectors.secrets import secret_resolves
    from rcm.imports import import_patients
    from rcm.onboarding.apply import apply_onboarding
    from rcm.onboarding.schema import load_onboarding_file
    from rcm.payers import load_payers, sync_payers
    from rcm.settings import get_settings
    from sandbox.synthetic import generate_practice

    payers = {p.key: p for p in load_payers()}
    path = get_settings().config_dir / "practices" / practice_file
    doc = load_onboarding_file(path)
    if adjust is not None:
        doc = adjust(doc)
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
    world = generate_practice(doc, payers, seed=seed, patients=patients, today=today)
    with session_scope(engine) as session:
        import_patients(session, world.slug, world.patients_csv())
    return world


def start_sandbox(
    root: Path,
    worlds: Iterable[SyntheticPractice],
    seed: int,
    *,
    observe_upload: Callable[[str, Path], None] | None = None,
) -> SandboxClearinghouse:
    """The sandbox clearinghouse in this process under `root/sandbox`, its payers knowing the
    worlds' members, on a loopback port the `sandbox` clearinghouse profile points at.
    `observe_upload(account, path)` sees every arrival before the sandbox answers it."""
    from rcm.settings import get_settings
    from sandbox.clearinghouse import SandboxClearinghouse
    from sandbox.synthetic import roster_csv
    from tasks.clearinghouse import set_profile_overrides

    sandbox_root = root / "sandbox"
    sandbox_root.mkdir(parents=True, exist_ok=True)
    members = [m for world in worlds for m in world.roster_members()]
    (sandbox_root / "roster.csv").write_bytes(roster_csv(members))
    clearinghouse = SandboxClearinghouse(sandbox_root, get_settings().config_dir, seed)
    if observe_upload is not None:
        answer = clearinghouse.server.on_upload

        def on_upload(account: str, path: Path) -> None:
            observe_upload(account, path)
            if answer is not None:
                answer(account, path)

        clearinghouse.server.on_upload = on_upload
    clearinghouse.start()
    set_profile_overrides("sandbox", clearinghouse.profile_overrides)
    return clearinghouse


def stop_sandbox(clearinghouse: SandboxClearinghouse) -> None:
    from tasks.clearinghouse import set_profile_overrides

    set_profile_overrides("sandbox", None)
    clearinghouse.stop()


__all__ = ["onboard_practice", "start_sandbox", "stop_sandbox"]
