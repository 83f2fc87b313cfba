"""`rcm demo`: the daily cycle on embedded defaults, from an empty database.

SQLite under the demo folder, a local archive folder, and the sandbox clearinghouse over SFTP on
loopback. Everything it creates is synthetic and lives under `--workdir` (./var/demo), which is
wiped at the start of every run so the demo always tells the same story.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from cli.output import console, print_table

DEMO_SEED = 20261122


@dataclass
class DemoSummary:
    practices: list[str] = field(default_factory=list)
    rows: list[tuple[str, int, int, int, str]] = field(default_factory=list)
    sandbox_checks: list[tuple[str, bool, str]] = field(default_factory=list)


def command(
    workdir: Path = typer.Option(Path("var/demo"), help="Folder the demo owns (wiped first)."),
    patients: int = typer.Option(80, help="Synthetic patients per practice."),
    days: int = typer.Option(3, help="Simulated days of charges per practice."),
    encounters_per_day: int = typer.Option(40, help="Visits per practice per day."),
    seed: int = typer.Option(DEMO_SEED, help="Same seed, same demo."),
) -> None:
    """Run the daily cycle on synthetic practices against the sandbox clearinghouse."""
    started = time.monotonic()
    workdir = workdir.resolve()
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    database_url = f"sqlite:///{workdir / 'rcm.db'}"
    os.environ["RCM_DATABASE_URL"] = database_url
    os.environ["RCM_ARCHIVE_URL"] = f"file://{workdir / 'archive'}"
    os.environ["RCM_VAR_DIR"] = str(workdir)
    from rcm.settings import reset_settings_cache

    reset_settings_cache()
    summary = run_demo(
        workdir=workdir,
        database_url=database_url,
        patients=patients,
        days=days,
        encounters_per_day=encounters_per_day,
        seed=seed,
    )
    print_table(
        "Practices",
        ["practice", "patients", "encounters", "service lines", "charges"],
        summary.rows,
    )
    print_table(
        "Sandbox clearinghouse check",
        ["step", "ok", "detail"],
        [(step, "yes" if ok else "NO", detail) for step, ok, detail in summary.sandbox_checks],
    )
    console.print(f"Database: {database_url}")
    console.print(f"Archive:  {workdir / 'archive'}")
    console.print(f"Sandbox:  {workdir / 'sandbox'}")
    console.print(f"Done in {time.monotonic() - started:.1f}s")
    if not all(ok for _, ok, _ in summary.sandbox_checks):
        raise typer.Exit(1)


def run_demo(
    *,
    workdir: Path,
    database_url: str,
    patients: int,
    days: int,
    encounters_per_day: int,
    seed: int,
) -> DemoSummary:
    from sqlmodel import func, select

    from connectors.clearinghouse import list_profiles, load_profile
    from connectors.db import make_engine, session_scope, upgrade
    from connectors.secrets import secret_resolves
    from connectors.sftp import check_connection
    from rcm.imports import import_appointments, import_charges, import_patients
    from rcm.models import Encounter, Practice, ServiceLine
    from rcm.onboarding.apply import apply_onboarding
    from rcm.onboarding.schema import load_onboarding_file
    from rcm.payers import load_payers, sync_payers
    from rcm.settings import get_settings
    from sandbox.clearinghouse import SandboxClearinghouse
    from sandbox.synthetic import generate_practice, roster_csv

    settings = get_settings()
    summary = DemoSummary()
    today = date.today()
    practice_files = sorted((settings.config_dir / "practices").glob("*.yaml"))
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("Migrating an empty database", total=1)
        upgrade(database_url)
        engine = make_engine(database_url)
        progress.advance(task)

        payers = {p.key: p for p in load_payers()}
        with session_scope(engine) as session:
            sync_payers(session, list(payers.values()))

        task = progress.add_task("Onboarding practices", total=len(practice_files))
        clearinghouses = set(list_profiles())
        worlds = []
        for path in practice_files:
            doc = load_onboarding_file(path)
            with session_scope(engine) as session:
                apply_onboarding(
                    session,
                    doc,
                    source_name=path.name,
                    known_clearinghouses=clearinghouses,
                    secret_resolves=secret_resolves,
                )
            worlds.append(generate_practice(doc, payers, seed=seed, patients=patients, today=today))
            summary.practices.append(doc.practice.slug)
            progress.advance(task)

        task = progress.add_task("Importing patients, visits and charges", total=len(worlds))
        for world in worlds:
            with session_scope(engine) as session:
                import_patients(session, world.slug, world.patients_csv())
            with session_scope(engine) as session:
                import_appointments(
                    session, world.slug, world.appointments_csv(today + timedelta(days=1), 3, 12)
                )
            for back in range(days, 0, -1):
                with session_scope(engine) as session:
                    import_charges(
                        session,
                        world.slug,
                        world.charges_csv(today - timedelta(days=back), encounters_per_day),
                        source_name=f"charges-{today - timedelta(days=back)}.csv",
                    )
            progress.advance(task)

        task = progress.add_task("Starting the sandbox clearinghouse", total=1)
        sandbox_root = workdir / "sandbox"
        sandbox_root.mkdir(parents=True, exist_ok=True)
        (sandbox_root / "roster.csv").write_bytes(
            roster_csv(m for world in worlds for m in world.roster_members())
        )
        with SandboxClearinghouse(sandbox_root, settings.config_dir, seed) as clearinghouse:
            profile = load_profile("sandbox").model_copy(update=clearinghouse.profile_overrides)
            progress.advance(task)
            summary.sandbox_checks = [
                (step.step, step.ok, step.detail) for step in check_connection(profile)
            ]

    with session_scope(engine) as session:
        for practice in session.exec(select(Practice).order_by(Practice.slug)).all():
            patients_count = sum(1 for w in worlds if w.slug == practice.slug for _ in w.patients)
            encounters = session.exec(
                select(func.count())
                .select_from(Encounter)
                .where(Encounter.practice_id == practice.id)
            ).one()
            lines, charges = session.exec(
                select(func.count(), func.coalesce(func.sum(ServiceLine.charge), 0)).where(
                    ServiceLine.practice_id == practice.id
                )
            ).one()
            summary.rows.append((practice.slug, patients_count, encounters, lines, f"{charges}"))
    engine.dispose()
    return summary
