"""The process pool the pyx12 gate runs on: every core, warm, long-lived, self-healing.

pyx12 is pure Python and CPU-bound (2-5 ms per 837P claim) and keeps module state, so one process
validates one file at a time; the gate gets its parallelism from worker processes. This module
owns one pool per process, created on first use and shut down at exit:

- `RCM_VALIDATION_WORKERS` worker processes (default: `os.cpu_count()`); `0` validates in the
  calling process (tests, tiny runs, hosts where a process pool is not wanted).
- Workers start from a forkserver (never `fork`: Prefect runs threads, and forking a threaded
  process can copy a held lock). The forkserver imports `rcm.x12.validate` (and with it pyx12)
  once, every worker is forked from it, and each worker's initializer loads the control, 837P
  and 837I maps, so the first real file is not the one that pays for parsing maps. Workers do
  not re-import the parent's __main__ (see below), so a worker costs about 60 MB and 1-3 s once.
- A broken pool (a worker killed by the OOM killer or an operator) is replaced on the next
  call, and every file that was in flight on it is validated again on the new pool, up to
  `MAX_ATTEMPTS` times, rather than failing the run.
- While no pool is running yet, a file small enough to validate in a few tens of milliseconds
  (`RCM_VALIDATION_INLINE_BYTES`, default 64 KiB: about 150 837P claims) is validated in the
  calling process instead of starting the pool for it (benchmarks/README.md has the figures).

The pool is a `concurrent.futures.Executor`, so `rcm.batching.build_and_gate_all(session, ids,
executor=validation_executor())` uses it as it would any executor. `StartedGates` keeps the files
a task handed to the pool without waiting (`rcm.batching.start_gate`) until the task that records
their verdicts takes them (`tasks.claims.build_and_gate_many`). Nothing here imports prefect:
worker processes import this module and stay light.
"""

from __future__ import annotations

import atexit
import io
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import CancelledError, Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from rcm.errors import ConfigError
from rcm.logging import logger

WORKERS_ENV = "RCM_VALIDATION_WORKERS"
INLINE_BYTES_ENV = "RCM_VALIDATION_INLINE_BYTES"
DEFAULT_INLINE_BYTES = 64 * 1024
# A file is tried on this many pools before its BrokenProcessPool reaches the caller (a file
# that itself kills every worker it lands on must not loop for ever).
MAX_ATTEMPTS = 3
START_METHOD = "forkserver"
# Imported once by the forkserver, so every worker forks with pyx12 already imported.
FORKSERVER_PRELOAD = ["rcm.x12.validate"]

T = TypeVar("T")

_WARMUP_ISA = (
    "ISA*00*          *00*          *ZZ*RCMWARMUP      *ZZ*RCMWARMUP      *260101*1200*^*00501*"
    "000000001*0*T*:~"
)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must be 0 or more, not {value}")
    return value


def validation_workers() -> int:
    """Worker processes for the gate: RCM_VALIDATION_WORKERS, default the CPU count; 0 means
    validate in the calling process."""
    return _env_int(WORKERS_ENV, os.cpu_count() or 1)


def inline_max_bytes() -> int:
    """Files up to this size are validated in-process while no pool is running."""
    return _env_int(INLINE_BYTES_ENV, DEFAULT_INLINE_BYTES)


def warm_pyx12() -> None:
    """Load pyx12's control map and the 837P and 837I maps into this process (each is parsed
    once per process and kept; see rcm.x12.validate). A worker's initializer; also callable in
    the main process. Validates two envelope-only interchanges, whose errors are ignored."""
    from rcm.x12.validate import validate
    from rcm.x12.x837 import IMPLEMENTATION

    for version in IMPLEMENTATION.values():
        text = (
            f"{_WARMUP_ISA}GS*HC*RCMWARMUP*RCMWARMUP*20260101*1200*1*X*{version}~"
            f"ST*837*0001*{version}~SE*2*0001~GE*1*1~IEA*1*000000001~"
        )
        validate(text.encode("ascii"), file_name="warmup")


# --- Workers that do not import the parent's __main__ ---------------------------------------
#
# A spawn or forkserver child normally re-imports the parent's main module first (as
# __mp_main__). Workers here only ever run rcm.x12.validate, so that import is waste at best
# (a Prefect flow-run process's main is prefect.engine: about 3 s of CPU and 65 MB per worker)
# and at worst re-runs a script that has no `if __name__ == "__main__"` guard. The lean context
# is the stock forkserver one with the main-module entries left out of the preparation data.
# It reaches into multiprocessing's internals, so it is used only where they look as they do
# in CPython 3.11; elsewhere the stock context is used (and workers import __main__ again).

_MAIN_KEYS = ("init_main_from_name", "init_main_from_path")

try:
    from multiprocessing import context as _mp_context
    from multiprocessing import forkserver as _forkserver
    from multiprocessing import popen_forkserver as _popen_forkserver
    from multiprocessing import reduction as _reduction
    from multiprocessing import spawn as _spawn
    from multiprocessing import util as _util

    _LEAN = all(
        (
            hasattr(_forkserver, "connect_to_new_process"),
            hasattr(_forkserver, "read_signed"),
            hasattr(_popen_forkserver.Popen, "_launch"),
            hasattr(_mp_context, "set_spawning_popen"),
            hasattr(_mp_context, "ForkServerProcess"),
            hasattr(_mp_context, "ForkServerContext"),
        )
    )
except ImportError:  # no fd passing on this platform: no forkserver
    _LEAN = False

if _LEAN:

    class _LeanPopen(_popen_forkserver.Popen):  # type: ignore[misc,name-defined]
        """popen_forkserver.Popen._launch (CPython 3.11) minus the main-module entries."""

        def _launch(self, process_obj: Any) -> None:
            prep_data = {
                key: value
                for key, value in _spawn.get_preparation_data(process_obj._name).items()
                if key not in _MAIN_KEYS
            }
            buf = io.BytesIO()
            _mp_context.set_spawning_popen(self)
            try:
                _reduction.dump(prep_data, buf)
                _reduction.dump(process_obj, buf)
            finally:
                _mp_context.set_spawning_popen(None)
            self.sentinel, w = _forkserver.connect_to_new_process(self._fds)  # type: ignore[attr-defined]
            parent_w = os.dup(w)
            self.finalizer = _util.Finalize(self, _util.close_fds, (parent_w, self.sentinel))  # type: ignore[attr-defined]
            with open(w, "wb", closefd=True) as f:
                f.write(buf.getbuffer())
            self.pid = _forkserver.read_signed(self.sentinel)

    class _LeanProcess(_mp_context.ForkServerProcess):  # type: ignore[misc,name-defined]
        @staticmethod
        def _Popen(process_obj: Any) -> Any:
            return _LeanPopen(process_obj)

    class _LeanContext(_mp_context.ForkServerContext):  # type: ignore[misc,name-defined]
        Process = _LeanProcess


def _context(start_method: str) -> Any:
    if start_method == "forkserver":
        context = _LeanContext() if _LEAN else multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(FORKSERVER_PRELOAD)
        return context
    return multiprocessing.get_context(start_method)


def _payload_size(args: tuple[Any, ...]) -> int | None:
    if args and isinstance(args[0], bytes | bytearray | memoryview):
        return len(args[0])
    return None


class ValidationPool(Executor):
    """A ProcessPoolExecutor that is created on first use, replaced when it breaks, and whose
    futures survive the replacement: work that was on a broken pool is submitted again to the
    new one (at most `max_attempts` pools per call).

    `max_workers=0` runs every call in the calling thread (the returned future is done).
    `inline_bytes`: while no pool is running, a call whose first argument is bytes of at most
    this length runs in the calling thread instead of starting the pool.
    """

    def __init__(
        self,
        max_workers: int | None = None,
        *,
        start_method: str = START_METHOD,
        initializer: Callable[[], None] | None = warm_pyx12,
        max_attempts: int = MAX_ATTEMPTS,
        inline_bytes: int = 0,
    ) -> None:
        self.max_workers = validation_workers() if max_workers is None else max_workers
        if self.max_workers < 0:
            raise ConfigError("max_workers must be 0 or more")
        self.start_method = start_method
        self.initializer = initializer
        self.max_attempts = max(1, max_attempts)
        self.inline_bytes = inline_bytes
        self.restarts = 0  # pools replaced after breaking (for logs and tests)
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._generation = 0
        self._closed = False

    # -- the underlying pool -------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether worker processes exist (a pool was started and not discarded)."""
        return self._pool is not None

    def _current(self) -> tuple[ProcessPoolExecutor, int]:
        with self._lock:
            if self._closed:
                raise RuntimeError("the validation pool is shut down")
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=self.max_workers,
                    mp_context=_context(self.start_method),
                    initializer=self.initializer,
                )
                logger.bind(workers=self.max_workers).debug("validation pool started")
            return self._pool, self._generation

    def _discard(self, generation: int) -> None:
        """Forget the pool of `generation` if it is still the current one (several futures of
        one broken pool report it; only the first replaces it)."""
        with self._lock:
            if generation != self._generation or self._pool is None:
                return
            broken, self._pool = self._pool, None
            self._generation += 1
            self.restarts += 1
        logger.bind(workers=self.max_workers).warning(
            "validation pool broke (a worker died); files in flight go to a new pool"
        )
        broken.shutdown(wait=False, cancel_futures=True)

    # -- Executor ----------------------------------------------------------------------------

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        if self.max_workers == 0 or (
            self._pool is None
            and self.inline_bytes > 0
            and (size := _payload_size(args)) is not None
            and size <= self.inline_bytes
        ):
            return self._inline(fn, args, kwargs)
        outer: Future[T] = Future()
        outer.set_running_or_notify_cancel()
        self._attempt(outer, fn, args, kwargs, 1)
        return outer

    @staticmethod
    def _inline(fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Future[T]:
        future: Future[T] = Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future

    def _attempt(
        self,
        outer: Future[T],
        fn: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        attempt: int,
    ) -> None:
        try:
            pool, generation = self._current()
        except BaseException as exc:
            outer.set_exception(exc)
            return
        try:
            inner = pool.submit(fn, *args, **kwargs)
        except BrokenProcessPool as exc:
            # The pool broke between our last look and this submit.
            self._discard(generation)
            if attempt < self.max_attempts:
                self._attempt(outer, fn, args, kwargs, attempt + 1)
            else:
                outer.set_exception(exc)
            return
        except BaseException as exc:
            outer.set_exception(exc)
            return

        def done(inner: Future[T]) -> None:
            if inner.cancelled():  # the pool was shut down with the file still queued
                outer.set_exception(CancelledError("the validation pool was shut down"))
                return
            exc = inner.exception()
            if isinstance(exc, BrokenProcessPool):
                self._discard(generation)
            if isinstance(exc, BrokenProcessPool) and attempt < self.max_attempts:
                # Called on the dying pool's manager thread: resubmit from a thread of our own.
                threading.Thread(
                    target=self._attempt,
                    args=(outer, fn, args, kwargs, attempt + 1),
                    name="validation-pool-resubmit",
                    daemon=True,
                ).start()
            elif exc is not None:
                outer.set_exception(exc)
            else:
                outer.set_result(inner.result())

        inner.add_done_callback(done)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=cancel_futures)

    def worker_pids(self) -> list[int]:
        """The live worker processes' ids (tests kill one to prove a broken pool heals)."""
        pool = self._pool
        processes = getattr(pool, "_processes", None) or {}
        return [p.pid for p in list(processes.values()) if p.pid is not None]


_shared: ValidationPool | None = None
_shared_lock = threading.Lock()
_atexit_registered = False


def validation_pool() -> ValidationPool:
    """This process's validation pool (created on first call with RCM_VALIDATION_WORKERS
    workers; its processes start on the first file that needs them)."""
    global _shared, _atexit_registered
    with _shared_lock:
        if _shared is None:
            _shared = ValidationPool(inline_bytes=inline_max_bytes())
            if not _atexit_registered:
                atexit.register(shutdown_validation_pool)
                _atexit_registered = True
        return _shared


def validation_executor() -> Executor | None:
    """The executor for `rcm.batching.build_and_gate_all`: the shared pool, or None (validate
    in-process, file by file) when RCM_VALIDATION_WORKERS is 0."""
    if validation_workers() == 0:
        return None
    return validation_pool()


def shutdown_validation_pool(wait: bool = True) -> None:
    """Stop this process's pool (at exit; tests). The next call creates a new one."""
    global _shared
    with _shared_lock:
        pool, _shared = _shared, None
    if pool is not None:
        pool.shutdown(wait=wait, cancel_futures=True)


# --- Gates started and not yet recorded ---------------------------------------------------


class StartedGates:
    """Files built and handed to the pool (`rcm.batching.start_gate` tickets), waiting in this
    process for the call that records their verdicts, by interchange id.

    `tasks.claims.build_and_gate_many(ids, source, record=False)` puts them here and returns
    at once; the recording call for the same interchanges takes them back and only waits for
    what the pool has not finished. A ticket nobody takes (its run failed before recording)
    is dropped after `max_age` seconds, at the next put or take; an interchange whose ticket
    is not here (another process, a dropped ticket) is simply built and validated again by the
    recording call.
    """

    def __init__(self, max_age: float = 3600.0) -> None:
        self.max_age = max_age
        self._lock = threading.Lock()
        self._tickets: dict[Any, Any] = {}

    def _expire(self) -> None:
        limit = time.monotonic() - self.max_age
        for key in [k for k, t in self._tickets.items() if t.started < limit]:
            del self._tickets[key]

    def put(self, tickets: Iterable[Any]) -> None:
        """Keep `tickets` (anything with `interchange_id` and a `started` monotonic time); a
        newer ticket for the same interchange replaces the older one."""
        with self._lock:
            self._expire()
            for ticket in tickets:
                self._tickets[ticket.interchange_id] = ticket

    def take(self, interchange_id: Any) -> Any | None:
        """The ticket started for `interchange_id`, removed from here; None if there is none."""
        with self._lock:
            self._expire()
            return self._tickets.pop(interchange_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._tickets)


_started = StartedGates()


def started_gates() -> StartedGates:
    """This process's gates started and not yet recorded."""
    return _started


__all__ = [
    "DEFAULT_INLINE_BYTES",
    "INLINE_BYTES_ENV",
    "MAX_ATTEMPTS",
    "WORKERS_ENV",
    "StartedGates",
    "ValidationPool",
    "inline_max_bytes",
    "shutdown_validation_pool",
    "started_gates",
    "validation_executor",
    "validation_pool",
    "validation_workers",
    "warm_pyx12",
]
