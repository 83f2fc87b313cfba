"""The billing firm's whole day, end to end: N practices, M claims, under Prefect.

`run()` (what `make bench` calls) runs the cycle in a fresh subprocess per database: SQLite, and
PostgreSQL when one answers on RCM_BENCH_POSTGRES_URL, RCM_TEST_DATABASE_URL or the local server
that .ci/run starts. 10 practices and 2,000 claims by default, 100 practices and 100,000 claims
with BENCH_FULL=1 (RCM_BENCH_CYCLE_PRACTICES / RCM_BENCH_CYCLE_CLAIMS override both). By hand:

    python -m benchmarks.cycle_bench --practices 10 --claims 2000 --database sqlite
    python -m benchmarks.cycle_bench --practices 100 --claims 100000 --profile benchmarks/profiles

Setup (not timed as the cycle): benchmarks/workload.py writes the onboarding files, config,
sandbox roster and inbox CSVs; the database is migrated, the practices onboarded and their
patients imported; the sandbox clearinghouse starts in-process on loopback SFTP. The cycle
(timed, peak memory measured from its start) is what the firm runs every day:

1. `daily_cycle_all` (flows/daily.py): per practice eligibility (270 up, 271 back), charges
   import, claim creation, scrub, batching, 837 build, pyx12 gate, archive, SFTP upload, the
   999/277CA answers, denials, statements and KPIs;
2. the sandbox payers adjudicate (the payers' side: timed apart and left out of the platform's
   figures);
3. `collect_responses_all` (every practice, each account read once): the 835s are archived
   and posted (payments, denials, PLB); then a second adjudication round and
   `collect_responses_all` again post the reversals (CLP02=22) and corrected payments the
   sandbox sends for some of the paid claims.

Each database's subprocess is stopped after RCM_BENCH_CYCLE_TIMEOUT seconds (default 1 h, 4 h
with BENCH_FULL=1) and reported as `cycle.<database>.timed_out_after`.

Prefect's share is the flows' wall time less the time spent inside task bodies (every Task in
tasks/ is timed), over the flows' wall time; the Prefect API server's CPU time (a child process)
is reported beside it.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import gc
import io
import json
import os
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

TARGET_WALL_S_PER_100K = 600.0
TARGET_PEAK_MB = 2048.0
TARGET_PREFECT_SHARE = 10.0
TOP_TASKS = 15
REPO = Path(__file__).resolve().parent.parent


# --- measuring helpers -----------------------------------------------------------------------


def _proc_status(pid: int | str, field: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1]) / 1024.0  # kB -> MB
    except OSError:
        pass
    return 0.0


def _reset_peak_rss() -> bool:
    """Start VmHWM again from the current RSS (Linux: clear_refs 5)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children[int(fields[1])].append(int(entry.name))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class TaskTimer:
    """Wall time spent inside every Prefect task body, per task name."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self._depth = 0

    def install(self) -> int:
        import importlib
        import pkgutil

        from prefect.tasks import Task

        import tasks

        wrapped = 0
        for info in pkgutil.iter_modules(tasks.__path__):
            module = importlib.import_module(f"tasks.{info.name}")
            for value in vars(module).values():
                if isinstance(value, Task) and not getattr(value.fn, "_bench_timed", False):
                    value.fn = self._wrap(value.name, value.fn)
                    wrapped += 1
        return wrapped

    def _wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            # A task called from inside another task's body is already counted.
            if self._depth:
                return fn(*args, **kwargs)
            self._depth += 1
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - started
                self.calls[name] += 1
                self._depth -= 1

        timed._bench_timed = True  # type: ignore[attr-defined]
        return timed


class _CollectorClock:
    """Time the garbage collector's pauses (every thread's) while the cycle runs."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections[info["generation"]] += 1


@contextmanager
def _profiled(enabled: bool, out: Path | None, title: str) -> Iterator[None]:
    if not enabled or out is None:
        yield
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        text.write(f"# {title}\n# cProfile, main thread only, sorted by cumulative time\n")
        stats.sort_stats("cumulative").print_stats(60)
        text.write("\n# the project's own code, sorted by cumulative time\n")
        stats.sort_stats("cumulative").print_stats(r"(rcm|tasks|flows|connectors|sandbox)/", 80)
        text.write("\n# sorted by own time\n")
        stats.sort_stats("tottime").print_stats(40)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text.getvalue().replace(str(REPO) + "/", ""), encoding="utf-8")


# --- the cycle (runs in a subprocess of its own) ---------------------------------------------


def _database_url(kind: str, workdir: Path) -> tuple[str, Callable[[], None]]:
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'rcm.db'}", lambda: None
    import uuid

    from sqlalchemy import create_engine, make_url, text

    base = kind if "://" in kind else _postgres_base()
    schema = f"bench_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = (
        make_url(base)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

    return url, drop


# Where .ci/run starts PostgreSQL; tried when neither variable names a server.
LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_base() -> str:
    return (
        os.environ.get("RCM_BENCH_POSTGRES_URL")
        or os.environ.get("RCM_TEST_DATABASE_URL")
        or LOCAL_POSTGRES
    )


def cycle(args: argparse.Namespace) -> list[dict[str, Any]]:
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="rcm-cycle-")).resolve()
    keep = args.workdir is not None
    workdir.mkdir(parents=True, exist_ok=True)
    setup_started = time.perf_counter()
    from benchmarks.workload import build_workload, write_workload

    workload = build_workload(args.practices, args.claims, seed=args.seed)
    paths = write_workload(workload, workdir)
    generated_s = time.perf_counter() - setup_started

    database_url, drop_database = _database_url(args.database, workdir)
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    os.environ["RCM_DATABASE_URL"] = database_url
    os.environ["RCM_ARCHIVE_URL"] = f"file://{workdir / 'archive'}"
    os.environ["RCM_VAR_DIR"] = str(workdir)
    os.environ["RCM_CONFIG_DIR"] = str(paths.config_dir)
    os.environ.setdefault("PREFECT_HOME", str(workdir / "prefect"))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Starting the temporary API server takes longer than its 20 s default on a busy 2-core box.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("RCM_RETRY_BACKOFF_SECONDS", "0.2")
    try:
        return _cycle(args, workload, paths, database_url, backend, generated_s, setup_started)
    finally:
        from connectors.db import dispose_engines

        dispose_engines()
        drop_database()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _cycle(
    args: argparse.Namespace,
    workload: Any,
    paths: Any,
    database_url: str,
    backend: str,
    generated_s: float,
    setup_started: float,
) -> list[dict[str, Any]]:
    from sqlmodel import func, select

    from benchmarks.workload import onboard_workload
    from connectors.db import session_scope
    from rcm.imports import import_patients
    from rcm.models import Claim, ClaimPayment, ProviderAdjustment
    from sandbox.clearinghouse import SandboxClearinghouse

    engine = onboard_workload(workload, paths, database_url)
    import_started = time.perf_counter()
    for world in workload.practices:
        inbox = paths.inbox / world.slug / "patients"
        source = inbox / "patients.csv"
        with session_scope(engine) as session:
            import_patients(session, world.slug, source.read_bytes(), source_name=source.name)
        (inbox / "imported").mkdir(exist_ok=True)
        source.replace(inbox / "imported" / source.name)
    patients_s = time.perf_counter() - import_started
    setup_s = time.perf_counter() - setup_started

    from flows.daily import daily_cycle_all
    from flows.responses import collect_responses_all
    from tasks.clearinghouse import set_profile_overrides

    timer = TaskTimer()
    timer.install()
    if args.what_if_untagged:
        _untag_flows()
    day = workload.service_date
    answers_day = day + timedelta(days=1)
    figures: list[dict[str, Any]] = []
    failures: list[str] = []
    # The sandbox (the payers' side) keeps its state in memory: written after every upload,
    # it would cost time in proportion to all it remembers, on the platform's cores.
    with SandboxClearinghouse(
        paths.sandbox_root, paths.config_dir, args.seed, state_in_memory=True
    ) as clearinghouse:
        set_profile_overrides("sandbox", clearinghouse.profile_overrides)
        # Start the Prefect API (a temporary server) before the clock does.
        _warm_up_prefect()
        server_pids = _descendants(os.getpid())
        server_cpu_before = sum(_cpu_seconds(p) for p in server_pids)
        peak_reset = _reset_peak_rss()
        rss_start = _proc_status("self", "VmRSS")
        profile_dir = Path(args.profile) if args.profile else None
        label = f"{backend}-{args.practices}x{args.claims}"

        # In-process subflows would each wait up to 1 s at exit for their heartbeat thread
        # (the demo and the flow tests turn them off the same way).
        from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

        collector = _CollectorClock()
        if args.gc_freeze:
            gc.collect()
            gc.freeze()
        gc.callbacks.append(collector)
        with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            started = time.perf_counter()
            with _profiled(bool(profile_dir), _out(profile_dir, label, "day"), f"day {label}"):
                state = daily_cycle_all(run_date=day, return_state=True)
            day_s = time.perf_counter() - started
            if not state.is_completed():
                failures.append(f"daily-cycle-all: {_message(state)}")

            adjudicate_started = time.perf_counter()
            clearinghouse.wait_for_uploads(timeout=600)
            clearinghouse.run_cycle()
            adjudicate_s = time.perf_counter() - adjudicate_started

            answers_s = 0.0
            # Round 1 posts the payers' decisions; round 2 the reversals (CLP02=22) and
            # corrected payments the sandbox sends for some of the claims paid in round 1.
            for round_number in (1, 2):
                if round_number == 2:
                    adjudicate_started = time.perf_counter()
                    clearinghouse.run_cycle()
                    adjudicate_s += time.perf_counter() - adjudicate_started
                answers_started = time.perf_counter()
                part = f"era{round_number}"
                with _profiled(bool(profile_dir), _out(profile_dir, label, part), part):
                    answered = collect_responses_all(
                        answers_day + timedelta(days=round_number - 1), return_state=True
                    )
                    if not answered.is_completed():
                        failures.append(f"collect-responses-all: {_message(answered)}")
                answers_s += time.perf_counter() - answers_started
        gc.callbacks.remove(collector)
        set_profile_overrides("sandbox", None)
        server_cpu = sum(_cpu_seconds(p) for p in server_pids) - server_cpu_before
        peak_mb = _proc_status("self", "VmHWM")
        children_mb = sum(_proc_status(p, "VmRSS") for p in _descendants(os.getpid()))

    with session_scope(engine) as session:
        statuses = {
            str(getattr(s, "value", s)): n
            for s, n in session.exec(select(Claim.status, func.count()).group_by(Claim.status))
        }
        payments = session.exec(select(func.count()).select_from(ClaimPayment)).one()
        reversals = session.exec(
            select(func.count()).select_from(ClaimPayment).where(ClaimPayment.status_code == "22")
        ).one()
        plb = session.exec(select(func.count()).select_from(ProviderAdjustment)).one()
    engine.dispose()

    platform_s = day_s + answers_s
    inside_tasks = sum(timer.seconds.values())
    prefect_share = 100.0 * max(0.0, platform_s - inside_tasks) / platform_s if platform_s else 0.0
    adjudicated = sum(n for s, n in statuses.items() if s in ("PAID", "PARTIAL", "DENIED"))
    denied = statuses.get("DENIED", 0)
    with_denials = denied + statuses.get("PARTIAL", 0)
    workload_text = json.dumps(
        {
            **workload.describe(),
            "database": backend,
            "driver": "flows: daily_cycle_all(stages) then collect_responses_all"
            + (" [what-if: flows' practice tags removed]" if args.what_if_untagged else "")
            + (" [what-if: start-up heap frozen]" if args.gc_freeze else ""),
            "claim_statuses": statuses,
            "claim_payments_posted": payments,
            "reversals": reversals,
            "plb": plb,
            "denied_claims_percent": round(100.0 * denied / adjudicated, 1) if adjudicated else 0,
            "claims_with_denied_lines_percent": (
                round(100.0 * with_denials / adjudicated, 1) if adjudicated else 0
            ),
            "failures": failures[:5],
            "peak_rss_reset_at_cycle_start": peak_reset,
            "cores": os.cpu_count(),
        },
        sort_keys=True,
    )
    scale = args.claims / 100_000

    def figure(name: str, value: float, unit: str, baseline: dict[str, Any] | None) -> None:
        figures.append(
            {
                "name": f"cycle.{backend}.{name}",
                "value": round(value, 3),
                "unit": unit,
                "workload": workload_text,
                "baseline": baseline,
            }
        )

    figure(
        "wall",
        platform_s,
        "s",
        {"name": "target_scaled", "value": round(TARGET_WALL_S_PER_100K * scale, 1), "unit": "s"},
    )
    figure(
        "throughput",
        args.claims / platform_s if platform_s else 0.0,
        "claims/s",
        {"name": "target", "value": round(100_000 / TARGET_WALL_S_PER_100K, 1), "unit": "claims/s"},
    )
    figure("day_flows_wall", day_s, "s", None)
    figure("era_posting_wall", answers_s, "s", None)
    figure(
        "posting",
        payments / answers_s if answers_s else 0.0,
        "claim payments/s",
        None,
    )
    figure("sandbox_adjudication_wall", adjudicate_s, "s", None)
    figure(
        "peak_rss",
        peak_mb,
        "MB",
        {"name": "target", "value": TARGET_PEAK_MB, "unit": "MB"},
    )
    figure("rss_at_cycle_start", rss_start, "MB", None)
    figure("children_rss", children_mb, "MB", None)
    figure(
        "prefect_share",
        prefect_share,
        "%",
        {"name": "target", "value": TARGET_PREFECT_SHARE, "unit": "%"},
    )
    figure("prefect_server_cpu", server_cpu, "s", None)
    figure(
        "gc_pauses",
        collector.seconds,
        "s",
        {"name": "full_collections", "value": collector.collections[2]},
    )
    figure("setup_wall", setup_s, "s", None)
    figure("setup_generate_wall", generated_s, "s", None)
    figure("setup_patients_import_wall", patients_s, "s", None)
    # The tasks that take the time; the rest are in the profile.
    for name, seconds in sorted(timer.seconds.items(), key=lambda item: -item[1])[:TOP_TASKS]:
        figure(f"task.{name}", seconds, "s", {"name": "calls", "value": timer.calls[name]})
    # Task runs started from the flows (nested ones are not counted): each is API and
    # server work whatever it does, so their number per practice is what scales with practices.
    runs = sum(timer.calls.values())
    figure("task_runs", runs, "task runs", {"name": "per_practice", "value": runs / args.practices})
    print(
        "task runs by name: "
        + ", ".join(f"{name} {n}" for name, n in sorted(timer.calls.items(), key=lambda i: -i[1])),
        file=sys.stderr,
    )
    return figures


def _untag_flows() -> None:
    """What-if for the report, never the default: the flows' `with tags("practice:<slug>")`
    blocks become no-ops, so only the SFTP tasks (tagged by `on_account`) still take a
    concurrency slot from the Prefect API before they run."""
    import contextlib
    import importlib
    import pkgutil

    import flows

    def untagged(*names: str, **kwargs: Any) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    for info in pkgutil.iter_modules(flows.__path__):
        module: Any = importlib.import_module(f"flows.{info.name}")
        if hasattr(module, "tags"):
            module.tags = untagged


def _message(state: Any) -> str:
    try:
        state.result(raise_on_failure=True)
    except BaseException as exc:
        return f"{type(exc).__name__}: {str(exc)[:300]}"
    return str(state.message or state.name)


def _out(folder: Path | None, label: str, part: str) -> Path | None:
    return folder / f"cycle-{label}-{part}.txt" if folder else None


def _warm_up_prefect() -> None:
    from prefect import flow

    @flow(name="bench-warm-up")
    def warm_up() -> int:
        return 1

    warm_up()


# --- the `make bench` entry ------------------------------------------------------------------


def _postgres_answers() -> bool:
    try:
        from sqlalchemy import create_engine, text

        engine = create_engine(_postgres_base(), connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        engine.dispose()
    except Exception:
        return False
    return True


def run() -> list[dict[str, Any]]:
    full = os.environ.get("BENCH_FULL") == "1"
    practices = int(os.environ.get("RCM_BENCH_CYCLE_PRACTICES", 100 if full else 10))
    claims = int(os.environ.get("RCM_BENCH_CYCLE_CLAIMS", 100_000 if full else 2000))
    timeout = float(os.environ.get("RCM_BENCH_CYCLE_TIMEOUT", 4 * 3600 if full else 3600))
    databases = ["sqlite"] + (["postgres"] if _postgres_answers() else [])
    figures: list[dict[str, Any]] = []
    for database in databases:
        command = [
            sys.executable,
            "-m",
            "benchmarks.cycle_bench",
            "--practices",
            str(practices),
            "--claims",
            str(claims),
            "--database",
            database,
        ]
        # Its own session, so a timeout also ends the Prefect API server it started.
        child = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            start_new_session=True,
        )
        try:
            stdout, stderr = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
            figures.append(
                {
                    "name": f"cycle.{database}.timed_out_after",
                    "value": timeout,
                    "unit": "s",
                    "workload": f"{practices} practices, {claims} claims: no figures",
                    "baseline": None,
                }
            )
            continue
        lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
        if child.returncode != 0 or not lines:
            sys.stderr.write(stderr[-4000:])
            raise RuntimeError(f"cycle on {database} exited {child.returncode}")
        figures.extend(json.loads(line) for line in lines)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--practices", type=int, default=10)
    parser.add_argument("--claims", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument(
        "--database", default="sqlite", help="sqlite, postgres, or a PostgreSQL URL"
    )
    parser.add_argument("--workdir", help="keep everything here (default: a temporary folder)")
    parser.add_argument("--profile", help="write cProfile text profiles of the cycle here")
    parser.add_argument(
        "--what-if-untagged",
        action="store_true",
        help="measure the flows without their practice tags (a what-if, not the product)",
    )
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() the start-up heap before the cycle (a what-if, not the product)",
    )
    args = parser.parse_args(argv)
    for figure in cycle(args):
        print(json.dumps(figure, default=str), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
