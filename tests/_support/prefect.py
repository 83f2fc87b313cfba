"""The temporary Prefect API for tests that run flows: one server per kind, per test session.

What Prefect's own `prefect_test_harness` does (a temporary SQLite database, the API server in a
subprocess on a free port, PREFECT_API_URL pointing at it), with the server's background
services chosen per kind, and the servers started in the background as soon as collection knows
which the session's tests need. Three fixtures ask for one:

- `prefect_api`: a "full" server, running every service Prefect starts by default. tests/flows
  uses it.
- `prefect_api_runs`: a "runs" server: it records flow runs, task runs (from the task engine's
  events), logs and artifacts, but does not persist the events themselves and runs none of the
  schedulers, reconcilers and trigger services, which no test here uses. For tests that read
  task runs back (tests/reliability/test_phi.py).
- `prefect_api_lean`: either server, with this process sending no events during the test
  (`EventsWorker.set_client_override(NullEventsClient)`: the hook Prefect's process-pool task
  runner uses to route its workers' events, here pointed at Prefect's null client). Flow runs,
  their states, logs and artifacts reach the API as always, and the flows behave the same (task
  retries and states are orchestrated by the task engine in the test process; tag concurrency
  limits are their own API); only task runs are not recorded on the server. Turning task-run
  events into task runs is most of the server's work (on the shared 2-core machine, busy, a flow
  of a dozen tasks took 1.7-2.2 s with them and 0.3-0.4 s without, and the server's CPU per
  flow fell from 0.45 s to 0.12 s),
  so the flow-heavy reliability tests that never read task runs use this one.

A test runs on the running server when it is of the kind asked for or records more ("full");
otherwise that server is stopped (after the log and event workers are drained: the event worker
keeps the address of the API it was created for, so a new one is created for the next server)
and the next one is used. `pytest_collection_finish` (tests/conftest.py) calls `plan_servers`,
which starts the servers the session will need, one after the other, in background threads, so
a server's start (~10 s on a 2-core machine, mostly imports and migrations) overlaps collection,
the first test's setup or the tests that run before it is needed. Flow heartbeats are off
(in-process flow runs do not need them, and each would hold its flow's exit for up to a second).
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

LEVELS = ("runs", "full")
FIXTURE_LEVELS = {"prefect_api_lean": "runs", "prefect_api_runs": "runs", "prefect_api": "full"}
# Server services a "runs" server does not run (PREFECT_SERVER_SERVICES_<NAME>_ENABLED=false).
SERVICES_OFF = {
    "runs": (
        "CANCELLATION_CLEANUP",
        "CLEANUP_RECONCILER",
        "DB_VACUUM",
        "EVENT_PERSISTER",
        "FOREMAN",
        "LATE_RUNS",
        "PAUSE_EXPIRATIONS",
        "REPOSSESSOR",
        "SCHEDULER",
        "TRIGGERS",
    ),
    "full": (),
}
STARTUP_TIMEOUT = 120


def _covers(running: str, wanted: str) -> bool:
    return LEVELS.index(running) >= LEVELS.index(wanted)


class _Server:
    """One API server subprocess, started on a background thread."""

    def __init__(self, level: str, after: _Server | None = None) -> None:
        self.level = level
        self._after = after
        self.folder = Path(tempfile.mkdtemp(prefix=f"prefect-test-{level}-"))
        self.database_url = f"sqlite+aiosqlite:///{self.folder / 'prefect.db'}"
        self.process: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._start, name=f"prefect-api-{level}", daemon=True
        )
        self._thread.start()

    def _start(self) -> None:
        if self._after is not None:
            # One start at a time: two at once would each take twice as long on two cores.
            self._after._thread.join(STARTUP_TIMEOUT + 30)
        try:
            import prefect.settings as settings
            from prefect.server.api.server import SubprocessASGIServer
            from prefect.testing.utilities import _find_available_port

            updates: dict[Any, Any] = {
                settings.PREFECT_SERVER_DATABASE_CONNECTION_URL: self.database_url,
            }
            for name in SERVICES_OFF[self.level]:
                updates[getattr(settings, f"PREFECT_SERVER_SERVICES_{name}_ENABLED")] = False
            if self.level != "full":
                updates[settings.PREFECT_SERVER_ANALYTICS_ENABLED] = False
            # The subprocess's environment is built from the settings of the thread starting it.
            with settings.temporary_settings(updates=updates):
                server = SubprocessASGIServer(port=_find_available_port())
                self.process = server
                server.start(timeout=STARTUP_TIMEOUT)
        except BaseException as exc:
            self.error = exc

    def ready(self) -> Any:
        self._thread.join(STARTUP_TIMEOUT + 30)
        if self.error is not None:
            raise RuntimeError(f"the {self.level} Prefect test API did not start") from self.error
        if self._thread.is_alive() or self.process is None:
            raise RuntimeError(f"the {self.level} Prefect test API did not start in time")
        return self.process

    def stop(self) -> None:
        self._thread.join(STARTUP_TIMEOUT + 30)
        if self.process is not None:
            self.process.stop()
            self.process = None
        shutil.rmtree(self.folder, ignore_errors=True)


def flush_prefect_workers() -> None:
    """Send the logs and events still queued in this process to the API that is running, and
    stop the workers, so that the next ones are created for the next API."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        worker.drain_all(timeout=15, at_exit=False)


class PrefectServers:
    """The session's temporary Prefect APIs (see the module docstring)."""

    def __init__(self) -> None:
        self._servers: dict[str, _Server] = {}
        self._active: str | None = None
        self._stack: ExitStack | None = None
        self.started: list[str] = []
        atexit.register(self.close)

    def start(self, levels: Sequence[str]) -> None:
        """Start the servers for `levels` in the background (those not started already), one
        after the other."""
        for level in levels:
            if level not in self._servers:
                previous = self._servers.get(self.started[-1]) if self.started else None
                self._servers[level] = _Server(level, after=previous)
                self.started.append(level)

    def ensure(self, level: str) -> None:
        """Point this process at a server recording at least what `level` records."""
        if self._active is not None and _covers(self._active, level):
            return
        self.start([level])
        server = self._servers[level]
        process = server.ready()
        self._deactivate()
        self._stack = self._activate(process, server.database_url)
        self._active = level

    @staticmethod
    def _activate(server: Any, database_url: str) -> ExitStack:
        """What prefect_test_harness does once its server answers."""
        import prefect.context
        import prefect.settings as settings
        from prefect.server.api.server import SubprocessASGIServer
        from prefect.server.database.dependencies import temporary_database_interface

        stack = ExitStack()
        try:
            stack.enter_context(temporary_database_interface())
            stack.enter_context(
                settings.temporary_settings(
                    updates={
                        settings.PREFECT_SERVER_DATABASE_CONNECTION_URL: database_url,
                        settings.PREFECT_API_URL: server.api_url,
                        settings.PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None,
                    }
                )
            )
            # Code whose context was copied before this point (threads the flows start from a
            # copied context, for one) sees the same settings.
            stack.enter_context(
                prefect.context._temporary_global_settings_context(
                    prefect.context.get_settings_context()
                )
            )
            # Prefect code asking for "the" ephemeral server finds this one.
            prior = SubprocessASGIServer._instances.get(None)
            SubprocessASGIServer._instances[None] = server

            def restore() -> None:
                if prior is None:
                    SubprocessASGIServer._instances.pop(None, None)
                else:
                    SubprocessASGIServer._instances[None] = prior

            stack.callback(restore)
        except BaseException:
            stack.close()
            raise
        return stack

    def _deactivate(self) -> None:
        if self._stack is None:
            return
        stack, self._stack, level, self._active = self._stack, None, self._active, None
        try:
            flush_prefect_workers()
        finally:
            stack.close()
            if level is not None:
                self._servers.pop(level).stop()

    def close(self) -> None:
        try:
            self._deactivate()
        finally:
            for server in self._servers.values():
                with contextlib.suppress(Exception):
                    server.stop()
            self._servers.clear()


_SERVERS: PrefectServers | None = None


def servers() -> PrefectServers:
    global _SERVERS
    if _SERVERS is None:
        _SERVERS = PrefectServers()
    return _SERVERS


def item_level(item: pytest.Item) -> str | None:
    """The server kind a collected test asks for, None when it runs no flows (or asks for a
    `prefect_api` its module overrides with a server of its own: tests/flows/test_workers.py)."""
    names = getattr(item, "fixturenames", ())
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    wanted = [
        level
        for name, level in FIXTURE_LEVELS.items()
        if name in names
        and (not definitions.get(name) or definitions[name][-1].func.__module__ == __name__)
    ]
    return max(wanted, key=LEVELS.index) if wanted else None


def plan_servers(session: pytest.Session) -> None:
    """Start, in the background, the servers the session's tests will ask for: the first test's
    kind, then each kind the running one does not cover when a later test asks for it."""
    if session.config.option.collectonly:
        return
    levels: list[str] = []
    for item in session.items:
        if _skipped(item):
            continue
        level = item_level(item)
        if level is not None and (not levels or not _covers(levels[-1], level)):
            levels.append(level)
    if levels:
        servers().start(levels)


def _skipped(item: pytest.Item) -> bool:
    """Marked to be skipped whatever happens (`skip`, or `skipif` with a true condition)."""
    if item.get_closest_marker("skip") is not None:
        return True
    return any(
        isinstance(condition, bool) and condition
        for marker in item.iter_markers("skipif")
        for condition in (*marker.args, marker.kwargs.get("condition", False))
    )


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[PrefectServers]:
    """The session's Prefect APIs; stopped at the end of the session."""
    try:
        yield servers()
    finally:
        servers().close()


@pytest.fixture
def prefect_api(prefect_server: PrefectServers) -> None:
    """A temporary Prefect API running every service Prefect runs by default."""
    prefect_server.ensure("full")


@pytest.fixture
def prefect_api_runs(prefect_server: PrefectServers) -> None:
    """A temporary Prefect API that records flow runs, task runs, logs and artifacts."""
    prefect_server.ensure("runs")


@pytest.fixture
def prefect_api_lean(prefect_server: PrefectServers) -> Iterator[None]:
    """A temporary Prefect API to which this process sends no events during the test: flow runs,
    logs and artifacts are recorded, task runs are not."""
    from prefect.events.clients import NullEventsClient
    from prefect.events.worker import EventsWorker

    prefect_server.ensure("runs")
    EventsWorker.set_client_override(NullEventsClient)
    try:
        yield
    finally:
        EventsWorker.set_client_override(None)


__all__ = [
    "FIXTURE_LEVELS",
    "LEVELS",
    "SERVICES_OFF",
    "PrefectServers",
    "flush_prefect_workers",
    "item_level",
    "plan_servers",
    "prefect_api",
    "prefect_api_lean",
    "prefect_api_runs",
    "prefect_server",
    "servers",
]
