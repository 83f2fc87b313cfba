"""`rcm demo`: several simulated days of the daily cycle, run through the Prefect flows, from an
empty database.

SQLite under the demo folder, a local archive folder, and the sandbox clearinghouse over SFTP on
loopback. Everything it creates is synthetic and lives under `--workdir` (./var/demo), which is
wiped at the start of every run so the demo always tells the same story.

Each simulated day, every practice's EHR drops the day's charges into its inbox folder and its
upcoming appointments, the `daily-cycle` flow runs for the practice (eligibility, submission,
clearinghouse answers, ERA posting, denials, statements, KPIs), and then the sandbox payers
adjudicate what they accepted, so the next day's cycle posts their 835s. The flows run in this
process against a temporary local Prefect API whose database is kept in the demo folder
(`<workdir>/prefect`), so the runs, their logs and artifacts can be browsed afterwards.
"""

from __future__ import annotations

import contextvars
import logging
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from cli.output import console, print_table

DEMO_SEED = 20261122


@dataclass
class DemoSummary:
    practices: list[str] = field(default_factory=list)
    rows: list[tuple[str, int, int, int, str]] = field(default_factory=list)
    sandbox_checks: list[tuple[str, bool, str]] = field(default_factory=list)
    claims: list[tuple[str, str, int, str]] = field(default_factory=list)
    kpis: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    activity: list[tuple[str, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    payers: int = 0
    claim_count: int = 0
    corrected_created: int = 0
    corrected_submitted: int = 0
    corrected_paid: int = 0
    prefect_api: str | None = None


def command(
    workdir: Path = typer.Option(Path("var/demo"), help="Folder the demo owns (wiped first)."),
    patients: int = typer.Option(80, help="Synthetic patients per practice."),
    days: int = typer.Option(3, help="Simulated days of the daily cycle."),
    encounters_per_day: int = typer.Option(60, help="Visits per practice per day."),
    seed: int = typer.Option(DEMO_SEED, help="Same seed, same demo."),
) -> None:
    """Run the daily cycle through the Prefect flows for several simulated days on synthetic
    practices against the sandbox clearinghouse."""
    started = time.monotonic()
    workdir = workdir.resolve()
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    database_url = f"sqlite:///{workdir / 'rcm.db'}"
    os.environ["RCM_DATABASE_URL"] = database_url
    os.environ["RCM_ARCHIVE_URL"] = f"file://{workdir / 'archive'}"
    os.environ["RCM_VAR_DIR"] = str(workdir)
    # The temporary Prefect API keeps its database here (when prefect is first imported by
    # this process; otherwise the process's own Prefect home is used).
    os.environ.setdefault("PREFECT_HOME", str(workdir / "prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from connectors.db import dispose_engines
    from rcm.settings import reset_settings_cache

    reset_settings_cache()
    dispose_engines()
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        temporary_settings,
    )

    # The configured Prefect API (PREFECT_API_URL), or one temporary API for the whole demo (its
    # database under PREFECT_HOME), started here so that the practices' flows, which run side
    # by side in threads, all report to the same one.
    # Heartbeats detect crashed runs of deployed flows; in-process subflows do not need them,
    # and each would otherwise wait up to a second for its heartbeat thread at exit.
    server = None
    api_url = PREFECT_API_URL.value()
    if not api_url:
        server = SubprocessASGIServer()
        server.start(timeout=120)
        api_url = server.api_url
    try:
        with temporary_settings(
            {PREFECT_API_URL: api_url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
        ):
            summary = run_demo(
                workdir=workdir,
                database_url=database_url,
                patients=patients,
                days=days,
                encounters_per_day=encounters_per_day,
                seed=seed,
            )
    finally:
        _flush_prefect_workers()
        if server is not None:
            server.stop()
    if server is None:
        summary.prefect_api = api_url
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
    print_table("Claims by status", ["practice", "status", "claims", "billed"], summary.claims)
    print_table("The revenue cycle, all practices", ["step", "count"], summary.activity)
    for slug, rows in summary.kpis.items():
        print_table(
            f"KPIs: {slug}",
            ["kpi", "value", "benchmark", "status"],
            ([r["kpi"], r["value"], r["benchmark"], r["status"]] for r in rows),
        )
    for failure in summary.failures:
        console.print(f"[red]failed:[/red] {failure}", highlight=False)
    console.print(f"Claims: {summary.claim_count} across {summary.payers} payers")
    console.print(
        f"Corrected claims (frequency 7, REF*F8): {summary.corrected_created} created, "
        f"{summary.corrected_submitted} sent, {summary.corrected_paid} paid"
    )
    console.print(f"Database: {database_url}")
    console.print(f"Archive:  {workdir / 'archive'}  (every file sent and received, KPI reports)")
    console.print(f"Sandbox:  {workdir / 'sandbox'}")
    console.print(f"Log:      {workdir / 'demo.log'}")
    if summary.prefect_api:
        console.print(f"Prefect UI: {summary.prefect_api.removesuffix('/api')}")
    else:
        console.print(
            f"Prefect UI: PREFECT_HOME={workdir / 'prefect'} prefect server start, "
            "then open http://127.0.0.1:4200 (flow runs, logs, artifacts)"
        )
    console.print(f"Done in {time.monotonic() - started:.1f}s")
    if not all(ok for _, ok, _ in summary.sandbox_checks) or summary.failures:
        raise typer.Exit(1)


def _flush_prefect_workers() -> None:
    """Send the last run logs and events before the temporary API goes away (otherwise the
    process would retry them at exit against a server that is gone)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        worker.drain_all(timeout=15, at_exit=False)


def _quiet_prefect_console() -> None:
    """Prefect's console handlers print every task run; the demo shows progress bars instead
    (everything still reaches the Prefect API and the demo log)."""
    from prefect.logging.handlers import PrefectConsoleHandler

    for name in ("", "prefect", "prefect.flow_runs", "prefect.task_runs"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, PrefectConsoleHandler):
                handler.setLevel(logging.WARNING)
    # paramiko reports every client that hangs up on the sandbox server as an error.
    logging.getLogger("rcm.sandbox.sftp").setLevel(logging.CRITICAL)


def run_demo(
    *,
    workdir: Path,
    database_url: str,
    patients: int,
    days: int,
    encounters_per_day: int,
    seed: int,
) -> DemoSummary:
    from rcm.logging import add_sink, configure_logging, logger

    configure_logging(level="WARNING", force=True)
    log_sink = add_sink(str(workdir / "demo.log"), level="INFO", serialize=False)
    try:
        return _run_days(workdir, database_url, patients, days, encounters_per_day, seed)
    finally:
        logger.remove(log_sink)
        configure_logging(force=True)


def _run_days(
    workdir: Path, database_url: str, patients: int, days: int, encounters_per_day: int, seed: int
) -> DemoSummary:
    from sqlmodel import func, select

    from connectors.clearinghouse import list_profiles
    from connectors.db import make_engine, session_scope, upgrade
    from connectors.secrets import secret_resolves
    from connectors.sftp import check_connection
    from rcm.imports import import_patients
    from rcm.models import Claim, Encounter, Practice, ServiceLine
    from rcm.onboarding.apply import apply_onboarding
    from rcm.onboarding.schema import load_onboarding_file
    from rcm.payers import load_payers, sync_payers
    from rcm.settings import get_settings
    from sandbox.clearinghouse import SandboxClearinghouse
    from sandbox.synthetic import generate_practice, roster_csv
    from tasks.imports import inbox_folder

    settings = get_settings()
    summary = DemoSummary()
    today = date.today()
    first_day = today - timedelta(days=days)
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
            doc = _demo_policies(load_onboarding_file(path))
            with session_scope(engine) as session:
                apply_onboarding(
                    session,
                    doc,
                    source_name=path.name,
                    known_clearinghouses=clearinghouses,
                    secret_resolves=secret_resolves,
                )
            worlds.append(
                generate_practice(doc, payers, seed=seed, patients=patients, today=first_day)
            )
            summary.practices.append(doc.practice.slug)
            progress.advance(task)

        task = progress.add_task("Importing patients", total=len(worlds))
        for world in worlds:
            with session_scope(engine) as session:
                import_patients(session, world.slug, world.patients_csv())
            progress.advance(task)

        task = progress.add_task("Starting the sandbox clearinghouse", total=1)
        sandbox_root = workdir / "sandbox"
        sandbox_root.mkdir(parents=True, exist_ok=True)
        (sandbox_root / "roster.csv").write_bytes(
            roster_csv(m for world in worlds for m in world.roster_members())
        )
        with SandboxClearinghouse(sandbox_root, settings.config_dir, seed) as clearinghouse:
            from tasks.clearinghouse import clearinghouse_profile, set_profile_overrides

            set_profile_overrides("sandbox", clearinghouse.profile_overrides)
            progress.advance(task)
            summary.sandbox_checks = [
                (step.step, step.ok, step.detail)
                for step in check_connection(clearinghouse_profile("sandbox"))
            ]
            from flows.daily import daily_cycle
            from flows.kpis import report_kpis
            from flows.responses import collect_responses

            _quiet_prefect_console()
            for world in worlds:
                _drop(
                    inbox_folder(world.slug, "appointments"),
                    f"appointments-{first_day}.csv",
                    world.appointments_csv(first_day + timedelta(days=1), days + 3, 8),
                )
            task = progress.add_task("Daily cycles (Prefect flows)", total=days * len(worlds))
            for offset in range(days):
                day = first_day + timedelta(days=offset)
                for world in worlds:
                    _drop(
                        inbox_folder(world.slug, "charges"),
                        f"charges-{day}.csv",
                        world.charges_csv(day, encounters_per_day),
                    )
                progress.update(task, description=f"Daily cycles {day}")
                # The practices' cycles run side by side, as `daily-cycle-all` fans them out
                # to workers in production; each is its own Prefect flow run.
                with ThreadPoolExecutor(max_workers=len(worlds)) as pool:
                    runs = [
                        pool.submit(
                            contextvars.copy_context().run, _run, summary, daily_cycle, w.slug, day
                        )
                        for w in worlds
                    ]
                    for run in as_completed(runs):
                        run.result()
                        progress.advance(task)
                clearinghouse.wait_for_uploads()
                clearinghouse.run_cycle()

            task = progress.add_task("Last answers and KPIs", total=len(worlds))
            last = first_day + timedelta(days=days)
            for world in worlds:
                _run(summary, collect_responses, world.slug, last)
                report = _run(summary, report_kpis, world.slug, last)
                if report is not None:
                    summary.kpis[world.slug] = report.table_rows()
                progress.advance(task)
            set_profile_overrides("sandbox", None)

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
            for status, count, billed in session.exec(
                select(Claim.status, func.count(), func.sum(Claim.total_charge))
                .where(Claim.practice_id == practice.id)
                .group_by(Claim.status)
                .order_by(Claim.status)
            ).all():
                summary.claims.append(
                    (practice.slug, str(getattr(status, "value", status)), count, f"{billed}")
                )
        summary.claim_count = session.exec(select(func.count()).select_from(Claim)).one()
        summary.payers = session.exec(select(func.count(func.distinct(Claim.payer_id)))).one()
        _activity(session, summary)
    engine.dispose()
    return summary


def _activity(session: Any, summary: DemoSummary) -> None:
    """What the cycles did, all practices together: one row per step of the revenue cycle."""
    from sqlmodel import col, func, select

    from rcm.models import (
        Appeal,
        AppealStatus,
        Claim,
        ClaimPayment,
        ClaimStatus,
        Denial,
        Direction,
        EligibilityCheck,
        FrequencyCode,
        Interchange,
        PatientStatement,
        PayerResponsibility,
        Remittance,
    )

    def count(query: Any) -> int:
        return int(session.exec(query).one() or 0)

    def files(direction: Direction, *kinds: str) -> int:
        return count(
            select(func.count())
            .select_from(Interchange)
            .where(col(Interchange.direction) == direction.value)
            .where(col(Interchange.kind).in_(kinds))
        )

    paid = [ClaimStatus.PAID.value, ClaimStatus.PARTIAL.value, ClaimStatus.CLOSED.value]

    def claims(*where: Any) -> tuple[int, int, int]:
        base = select(func.count()).select_from(Claim).where(*where)
        return (
            count(base),
            count(base.where(col(Claim.submitted_at).is_not(None))),
            count(base.where(col(Claim.status).in_(paid))),
        )

    checks = count(select(func.count()).select_from(EligibilityCheck))
    answered = count(
        select(func.count())
        .select_from(EligibilityCheck)
        .where(col(EligibilityCheck.responded_at).is_not(None))
    )
    all_claims = claims()
    corrected = claims(col(Claim.frequency_code) == FrequencyCode.REPLACEMENT.value)
    secondary = claims(col(Claim.payer_responsibility) != PayerResponsibility.PRIMARY.value)
    summary.corrected_created, summary.corrected_submitted, summary.corrected_paid = corrected
    appeals = count(
        select(func.count())
        .select_from(Appeal)
        .where(col(Appeal.status) != AppealStatus.DRAFT.value)
    )
    summary.activity = [
        ("eligibility checks (270 → 271)", f"{checks} asked, {answered} answered"),
        (
            "claims (837P/837I)",
            f"{all_claims[0]} created, {all_claims[1]} sent in "
            f"{files(Direction.OUTBOUND, '837P', '837I')} files",
        ),
        (
            "acknowledgments",
            f"{files(Direction.INBOUND, '999')} 999, {files(Direction.INBOUND, '277CA')} 277CA",
        ),
        (
            "ERAs (835) posted",
            f"{count(select(func.count()).select_from(Remittance))} remittances, "
            f"{count(select(func.count()).select_from(ClaimPayment))} claim payments",
        ),
        ("denials", str(count(select(func.count()).select_from(Denial)))),
        ("appeals submitted", str(appeals)),
        (
            "corrected claims (frequency 7)",
            f"{corrected[0]} created, {corrected[1]} sent, {corrected[2]} paid",
        ),
        (
            "secondary claims",
            f"{secondary[0]} created, {secondary[1]} sent, {secondary[2]} paid",
        ),
        ("patient statements", str(count(select(func.count()).select_from(PatientStatement)))),
    ]


def _demo_policies(doc: Any) -> Any:
    """The demo's practices appeal every denial the CARC table says to appeal and correct
    claims automatically (with the fix the denial makes clear, e.g. the GP modifier a CO-4 on a
    therapy code asks for; other corrections go to the billers' queue), so one short run shows
    the whole denial workflow."""
    from rcm.denials.carc import DenialCategory

    policies = doc.policies.model_copy(
        update={"auto_appeal_categories": [c.value for c in DenialCategory], "auto_correct": True}
    )
    return doc.model_copy(update={"policies": policies})


def _drop(folder: Path, name: str, data: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def _run(summary: DemoSummary, flow: Any, *args: Any) -> Any:
    state = flow(*args, return_state=True)
    if state.is_completed():
        return state.result()
    try:
        state.result(raise_on_failure=True)
    except Exception as exc:
        summary.failures.append(f"{flow.name} {' '.join(map(str, args))}: {exc}")
    return None
