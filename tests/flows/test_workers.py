"""Issue 7: two process workers against one Prefect server on PostgreSQL, running
`daily_cycle_all(fan_out="deployments")` for 10 practices, do no work twice.

The whole multi-machine shape on one host (infra/README.md, "Many machines"):

- a real `prefect server start` whose database is a fresh PostgreSQL database;
- the platform's rows in a fresh PostgreSQL schema migrated with `connectors.db.upgrade`, the
  archive in a tmp folder, the sandbox clearinghouse in this process on a loopback port;
- 10 practices cloned from the example practices (benchmarks/workload.py), 20 claims each;
- a process work pool with the `daily-cycle` and `daily-cycle-all` deployments (from local
  source), and TWO `prefect worker start` subprocesses.

The workers reach the sandbox through a copy of config/ whose clearinghouses/sandbox.yaml names
the running sandbox's host, port and host key (RCM_CONFIG_DIR): deployed flows read the profile
files as they are (tasks/clearinghouse.py keeps its overrides in-process only).

`daily-cycle-all` runs on a worker and starts one `daily-cycle` run per practice; once those
are running, an operator starts a second `daily-cycle-all` for the same day, so every practice's
day runs twice, overlapping, on either worker. Meanwhile the sandbox payers adjudicate every
2 s, so 835s (and some reversals) are collected and posted by whichever run gets there first.
Every flow run must complete, and nothing may be done twice: no interchange uploaded twice,
no claim in two 837s, no control number reused, no remittance or claim payment posted twice,
no charge standing twice, every claim's balance between zero and its charges.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
PRACTICES = 10
CLAIMS = 200  # 20 per practice
SEED = 20261122
POOL = "rcm-test-pool"
WORKERS = 2
WORKER_LIMIT = 3  # flow runs at once per worker (a 2-core machine)
ROUND_TIMEOUT = 210.0
SERVER_SERVICES_OFF = (
    "CANCELLATION_CLEANUP",
    "EVENT_PERSISTER",
    "FOREMAN",
    "LATE_RUNS",
    "SCHEDULER",
    "PAUSE_EXPIRATIONS",
    "REPOSSESSOR",
    "CLEANUP_RECONCILER",
    "TASK_RUN_RECORDER",
    "TRIGGERS",
)
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """This module starts its own Prefect server: no temporary test harness is needed."""
    yield


def _base_url() -> str:
    url = os.environ.get("RCM_TEST_DATABASE_URL")
    if not url:
        pytest.skip("RCM_TEST_DATABASE_URL is not set (PostgreSQL is needed)")
    return url


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a subprocess started with its own session, and its children."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Services:
    """Subprocesses and databases, torn down whatever happens."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: list[tuple[str, subprocess.Popen[bytes], Path]] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = self.root / f"{name}.log"
        handle = log.open("wb")
        proc = subprocess.Popen(
            args,
            env=env,
            cwd=self.root,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        handle.close()
        self.procs.append((name, proc, log))
        return proc

    def logs(self) -> str:
        return "\n".join(f"--- {name} ---\n{_tail(log)}" for name, _, log in self.procs)

    def stop_all(self) -> None:
        for _, proc, _ in reversed(self.procs):
            _stop(proc)


def _wait_healthy(api_url: str, server: subprocess.Popen[bytes], services: Services) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the Prefect server exited ({server.returncode})\n{services.logs()}")
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"the Prefect server did not answer /api/health in 90 s\n{services.logs()}")


def _point_profile_at(config_dir: Path, sandbox: Any) -> None:
    import yaml

    path = config_dir / "clearinghouses" / "sandbox.yaml"
    profile = yaml.safe_load(path.read_text(encoding="utf-8"))
    profile.update(sandbox.profile_overrides)
    path.write_text(yaml.safe_dump(profile, sort_keys=False), encoding="utf-8")


def _setup_platform(database_url: str, workload: Any, paths: Any) -> None:
    """Migrate, onboard the practices and import their patients (as cycle_bench does)."""
    from connectors.clearinghouse import list_profiles
    from connectors.db import make_engine, session_scope, upgrade
    from rcm.imports import import_patients
    from rcm.onboarding.apply import apply_onboarding
    from rcm.payers import load_payers, sync_payers

    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        payers = load_payers(paths.config_dir / "payers.yaml")
        with session_scope(engine) as session:
            sync_payers(session, payers)
        known = set(list_profiles())
        for world in workload.practices:
            with session_scope(engine) as session:
                apply_onboarding(
                    session,
                    world.doc,
                    source_name=f"{world.slug}.yaml",
                    payers=payers,
                    known_clearinghouses=known,
                )
        for world in workload.practices:
            inbox = paths.inbox / world.slug / "patients"
            source = inbox / "patients.csv"
            with session_scope(engine) as session:
                import_patients(session, world.slug, source.read_bytes(), source_name=source.name)
            (inbox / "imported").mkdir(exist_ok=True)
            source.replace(inbox / "imported" / source.name)
    finally:
        engine.dispose()


def _deploy(pool: str) -> None:
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
    for entrypoint, name, parameters in (
        ("flows/daily.py:daily_cycle", "daily-cycle", {}),
        ("flows/daily.py:daily_cycle_all", "daily-cycle-all", {"fan_out": "deployments"}),
    ):
        # Flow.deploy() in Prefect 3.8.8 first lists the pool's workers with offset/limit None,
        # which its own server refuses (422); RunnerDeployment.apply() registers the same thing.
        remote = flow.from_source(source=str(REPO), entrypoint=entrypoint)
        deployment = remote.to_deployment(  # type: ignore[union-attr]
            name=name, work_pool_name=pool, parameters=parameters
        )
        deployment.apply()


def _flow_runs() -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.sorting import FlowRunSort

    runs: list[Any] = []
    with get_client(sync_client=True) as client:
        offset = 0
        while True:
            # An explicit sort: this server refuses the client's default (null).
            page = client.read_flow_runs(sort=FlowRunSort.ID_DESC, limit=200, offset=offset)
            runs.extend(page)
            if len(page) < 200:
                return runs
            offset += 200


def _deployment_runs(runs: list[Any], deployment_id: Any) -> list[Any]:
    return [r for r in runs if r.deployment_id == deployment_id]


def _state(run: Any) -> str:
    return str(run.state.type.value) if run.state else "NONE"


def _run_round(day: date, services: Services) -> list[Any]:
    """daily-cycle-all for `day`, and while its practices run, a second one (an operator's
    rerun). Returns every flow run of the round once all are final."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    with get_client(sync_client=True) as client:
        every = client.read_deployment_by_name("daily-cycle-all/daily-cycle-all").id
        single = client.read_deployment_by_name("daily-cycle/daily-cycle").id
    before = {r.id for r in _flow_runs()}
    parameters = {"run_date": day.isoformat(), "fan_out": "deployments"}
    first = run_deployment(
        every, parameters=parameters, timeout=0, as_subflow=False, flow_run_name=f"all-{day}-1"
    )
    deadline = time.monotonic() + ROUND_TIMEOUT
    # Overlap: the rerun starts once the first run's practices are running on the workers.
    while time.monotonic() < deadline:
        runs = [r for r in _deployment_runs(_flow_runs(), single) if r.id not in before]
        if any(_state(r) in ("RUNNING", *FINAL) for r in runs):
            break
        time.sleep(0.5)
    second = run_deployment(
        every, parameters=parameters, timeout=0, as_subflow=False, flow_run_name=f"all-{day}-2"
    )
    while True:
        runs = [r for r in _flow_runs() if r.id not in before]
        tops = _deployment_runs(runs, every)
        practices = _deployment_runs(runs, single)
        done = (
            len(tops) == 2
            and all(_state(r) in FINAL for r in tops)
            and len(practices) == 2 * PRACTICES
            and all(_state(r) in FINAL for r in runs)
        )
        if done:
            break
        if time.monotonic() > deadline:
            states = Counter(f"{r.name}:{_state(r)}" for r in tops + practices)
            pytest.fail(
                f"round {day}: flow runs not final after {ROUND_TIMEOUT:.0f} s "
                f"({len(practices)} practice runs; {dict(states)})\n{services.logs()}"
            )
        time.sleep(1)
    took = ROUND_TIMEOUT - (deadline - time.monotonic())
    print(f"round {day}: {len(runs)} flow runs final in {took:.0f} s")
    assert {first.id, second.id} <= {r.id for r in runs}
    bad = [
        f"{r.name} ({_state(r)}): {r.state.message if r.state else ''}"
        for r in runs
        if _state(r) != "COMPLETED"
    ]
    assert not bad, f"round {day}: flow runs not completed: {bad}\n{services.logs()}"
    return runs


def _outbound_files(sandbox_root: Path) -> list[Path]:
    folder = sandbox_root / "rcm-demo" / "outbound"
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def _segments(data: bytes) -> list[list[str]]:
    text = data.decode("ascii", errors="replace")
    element, terminator = text[3], text[105]
    return [s.strip().split(element) for s in text.split(terminator) if s.strip()]


def _snapshot(engine: Any, sandbox_root: Path) -> dict[str, Any]:
    """What must not be done twice, checked, and the counts a rerun must not grow."""
    from sqlmodel import Session, col, select

    from rcm.models import (
        ClaimEvent,
        ClaimStatus,
        ControlNumber,
        Interchange,
        LedgerEntry,
        Remittance,
    )
    from rcm.models.interchange import Direction, InterchangeStatus
    from rcm.models.remittance import ClaimPayment
    from rcm.reports.worklists import table_counts

    files = _outbound_files(sandbox_root)
    file_hashes = Counter(__import__("hashlib").sha256(p.read_bytes()).hexdigest() for p in files)
    assert all(n == 1 for n in file_hashes.values()), f"same bytes uploaded twice: {file_hashes}"
    with Session(engine) as session:
        sent = session.exec(
            select(Interchange).where(col(Interchange.direction) == Direction.OUTBOUND)
        ).all()
        uploaded = [
            i for i in sent if i.status != InterchangeStatus.ASSIGNED and i.uploaded_at is not None
        ]
        # Each file on the clearinghouse is one uploaded interchange, each interchange one file.
        assert len(files) == len(uploaded), (
            f"{len(files)} files on the clearinghouse, {len(uploaded)} uploaded interchanges: "
            f"{sorted(p.name for p in files)}"
        )
        assert set(file_hashes) == {i.sha256 for i in uploaded}
        assert sorted(p.name for p in files) == sorted(str(i.file_name) for i in uploaded)
        # Control numbers: unique per sender and kind, and every ISA13 appears in one file.
        numbers = session.exec(select(ControlNumber)).all()
        keys = Counter((n.sender_id, str(n.kind), n.value) for n in numbers)
        assert all(n == 1 for n in keys.values()), [k for k, n in keys.items() if n > 1]
        isa13 = Counter(_segments(p.read_bytes())[0][13] for p in files)
        assert all(n == 1 for n in isa13.values()), [k for k, n in isa13.items() if n > 1]
        # No claim in two 837s: CLM01 (the patient control number) is unique per practice,
        # and the file name starts with the practice's slug.
        clm01: Counter[tuple[str, str]] = Counter()
        for path in files:
            if "_837" in path.name:
                slug = path.name.split("_", 1)[0]
                clm01.update((slug, s[1]) for s in _segments(path.read_bytes()) if s[0] == "CLM")
        assert all(n == 1 for n in clm01.values()), [k for k, n in clm01.items() if n > 1]
        # Every claim that was ever sent: a claim the payer's 277CA rejected has left its
        # interchange (interchange_id NULL, back to HELD for a biller) but was still in a file.
        submitted = set(
            session.exec(
                select(ClaimEvent.claim_id).where(
                    col(ClaimEvent.to_status) == ClaimStatus.SUBMITTED
                )
            ).all()
        )
        assert len(clm01) == len(submitted)
        # No remittance posted twice: one row per (practice, payer, trace), one CLP posting
        # per claim and remittance.
        remits = session.exec(select(Remittance)).all()
        traces = Counter((r.practice_id, r.payer_identifier, r.trace_number) for r in remits)
        assert all(n == 1 for n in traces.values()), [k for k, n in traces.items() if n > 1]
        payments = session.exec(select(ClaimPayment)).all()
        per_claim = Counter(
            (p.remittance_id, p.patient_control_number, p.status_code) for p in payments
        )
        assert all(n == 1 for n in per_claim.values()), [k for k, n in per_claim.items() if n > 1]
        # Ledger: one charge per claim and line (a secondary claim's lines are charged again,
        # on the secondary claim, with the prior payer's patient share).
        entries = session.exec(select(LedgerEntry)).all()
        # A charge that was reversed (a CLP02=22 reversal of the prior payer's payment) is
        # followed by the corrected one: only charges still standing count.
        reversed_ids = {e.reverses_entry_id for e in entries if e.reverses_entry_id is not None}
        charges = Counter(
            (e.claim_id, e.service_line_id, e.reason_code)
            for e in entries
            if str(e.kind) == "charge" and e.id not in reversed_ids
        )
        twice = [k for k, n in charges.items() if n > 1]
        assert not twice, f"charged twice (claim, line, reason): {twice[:5]}"
        # Every claim payment is on the ledger once: its payer-payment entries add up to the
        # CLP04 amount (twice that if two runs had posted it).
        by_payment: dict[Any, Decimal] = {}
        for e in entries:
            if str(e.kind) == "payer_payment" and e.claim_payment_id is not None:
                by_payment[e.claim_payment_id] = (
                    by_payment.get(e.claim_payment_id, Decimal(0)) + e.amount
                )
        wrong = [
            (p.id, p.paid, by_payment.get(p.id))
            for p in payments
            if p.status_code != "22" and p.paid and by_payment.get(p.id, Decimal(0)) != -p.paid
        ]
        assert not wrong, f"claim payments not on the ledger exactly once: {wrong[:5]}"
        # Each claim's balance (report only: a secondary payer's adjustments can legitimately
        # exceed the prior payer's patient share, so a negative balance is not a double posting).
        balance: dict[Any, Decimal] = {}
        for e in entries:
            balance[e.claim_id] = balance.get(e.claim_id, Decimal(0)) + e.amount
        negative = {str(k): str(v) for k, v in balance.items() if v < 0}
        if negative:
            print(f"claims with a negative balance: {negative}")
        counts = table_counts(session)
    counts["outbound_files"] = len(files)
    counts["claims_submitted"] = len(submitted)
    counts["claim_payments"] = len(payments)
    return counts


class Payers:
    """The sandbox payers adjudicating every couple of seconds while the flows run, so 835s
    (and, later, reversals) reach the clearinghouse between the two overlapping runs' steps."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.stop_event = threading.Event()
        self.files = 0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="sandbox-payers", daemon=True)

    def _run(self) -> None:
        while not self.stop_event.wait(2.0):
            try:
                self.files += len(self.sandbox.run_cycle())
            except BaseException as exc:  # reported by the test
                self.error = exc
                return

    def __enter__(self) -> Payers:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        self.thread.join(timeout=60)


def test_two_workers_running_daily_cycle_all_twice_do_no_work_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = _base_url()
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from sqlalchemy import create_engine, make_url, text

    from benchmarks.workload import build_workload, write_workload
    from connectors.db import dispose_engines, make_engine
    from rcm.settings import reset_settings_cache
    from sandbox.clearinghouse import SandboxClearinghouse

    started = time.monotonic()
    token = uuid.uuid4().hex[:12]
    prefect_db = f"prefect_test_{token}"
    schema = f"workers_{token}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    services = Services(tmp_path)
    sandbox: SandboxClearinghouse | None = None
    engine = None
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{prefect_db}"'))
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        database_url = (
            make_url(base)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
        prefect_db_url = (
            make_url(base)
            .set(drivername="postgresql+asyncpg", database=prefect_db, query={})
            .render_as_string(hide_password=False)
        )
        world_root = tmp_path / "world"
        platform_env = {
            "RCM_DATABASE_URL": database_url,
            "RCM_ARCHIVE_URL": f"file://{tmp_path / 'archive'}",
            "RCM_VAR_DIR": str(world_root),
            "RCM_CONFIG_DIR": str(world_root / "config"),
            "RCM_RETRY_BACKOFF_SECONDS": "0.2",
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(platform_env)

        # The Prefect server on PostgreSQL (it migrates its database while we set up ours).
        port = _free_port()
        api_url = f"http://127.0.0.1:{port}/api"
        server_env = {
            **env,
            "PREFECT_HOME": str(tmp_path / "prefect-server"),
            "PREFECT_API_DATABASE_CONNECTION_URL": prefect_db_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            # Only what orchestrating deployment runs needs: the services that schedule,
            # record events and task runs, reap late runs and so on would compete with the
            # flow runs for this machine's 2 cores.
            **{f"PREFECT_SERVER_SERVICES_{name}_ENABLED": "false" for name in SERVER_SERVICES_OFF},
            "PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED": "[]",
        }
        server = services.start(
            "server",
            [
                str(VENV_BIN / "prefect"),
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                f"{port}",
            ],
            server_env,
        )

        # The billing firm: 10 practices, 20 claims each, inbox CSVs waiting.
        workload = build_workload(PRACTICES, CLAIMS, seed=SEED)
        paths = write_workload(workload, world_root)
        assert paths.config_dir == world_root / "config"
        day: date = workload.service_date
        for key, value in platform_env.items():
            monkeypatch.setenv(key, value)
        reset_settings_cache()
        dispose_engines()
        sandbox = SandboxClearinghouse(paths.sandbox_root, paths.config_dir, SEED).start()
        _point_profile_at(paths.config_dir, sandbox)
        _setup_platform(database_url, workload, paths)
        _wait_healthy(api_url, server, services)

        with temporary_settings({PREFECT_API_URL: api_url}):
            _deploy(POOL)
            for n in range(WORKERS):
                worker_env = {
                    **env,
                    "PREFECT_API_URL": api_url,
                    "PREFECT_HOME": str(tmp_path / f"prefect-worker-{n}"),
                    "PREFECT_WORKER_QUERY_SECONDS": "1",
                    "PREFECT_WORKER_PREFETCH_SECONDS": "2",
                    "PREFECT_LOGGING_LEVEL": "WARNING",
                    "PREFECT_LOGGING_TO_API_ENABLED": "false",
                    "RCM_LOG_LEVEL": "WARNING",
                }
                services.start(
                    f"worker-{n}",
                    [
                        str(VENV_BIN / "prefect"),
                        "worker",
                        "start",
                        "--pool",
                        POOL,
                        "--type",
                        "process",
                        "--name",
                        f"worker-{n}",
                        "--limit",
                        str(WORKER_LIMIT),
                    ],
                    worker_env,
                )

            engine = make_engine(database_url)
            print(f"setup done in {time.monotonic() - started:.0f} s")
            with Payers(sandbox) as payers:
                _run_round(day, services)
            assert payers.error is None, f"the sandbox payers failed: {payers.error!r}"
            after = _snapshot(engine, paths.sandbox_root)
            print(f"after the runs ({time.monotonic() - started:.0f} s): {after}")
            assert after["claims"] >= CLAIMS, after  # and the secondary claims created
            assert after["claims_submitted"] >= CLAIMS * 0.5, after
            assert after["outbound_files"] >= PRACTICES, after
            assert payers.files >= 1, "the sandbox payers wrote no 835"
            assert after["remittances"] >= 1 and after["claim_payments"] >= 1, after
    finally:
        services.stop_all()
        if sandbox is not None:
            sandbox.stop()
        if engine is not None:
            engine.dispose()
        dispose_engines()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{prefect_db}" WITH (FORCE)'))
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
        shutil.rmtree(tmp_path / "world", ignore_errors=True)
