"""What every task shares: the retry policies, one database transaction per task, and the
lookup of domain functions that other modules may not have shipped yet.

Retries: only TransientConnectorError (and, for database tasks, a dropped connection or a lock
timeout) is retried, with exponential backoff and jitter. Permanent connector errors, domain
errors (bad X12, unbalanced ERAs, state errors) and programming errors fail the task at once.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from prefect.client.schemas.objects import TaskRun
from prefect.states import State
from prefect.tasks import Task, exponential_backoff
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session

from connectors.db import session_scope
from connectors.errors import TransientConnectorError
from rcm.bulk import gc_paused

# The first retry waits RCM_RETRY_BACKOFF_SECONDS (default 2 s), then 4, 8, 16 …, each
# stretched by up to 50 % jitter so that many practices retrying one clearinghouse spread out.
BACKOFF_SECONDS = float(os.environ.get("RCM_RETRY_BACKOFF_SECONDS", "2"))
CONNECTOR_RETRIES = int(os.environ.get("RCM_CONNECTOR_RETRIES", "4"))
DATABASE_RETRIES = 3


def _exception_of(state: State[Any]) -> BaseException | None:
    data = state.data
    if isinstance(data, BaseException):
        return data
    try:
        state.result(raise_on_failure=True)
    except BaseException as exc:
        return exc
    return None


def retry_transient_connector_errors(
    task: Task[Any, Any], task_run: TaskRun, state: State[Any]
) -> bool:
    """Retry only what may pass: dropped connections, timeouts, throttling."""
    return isinstance(_exception_of(state), TransientConnectorError)


def retry_transient_database_errors(
    task: Task[Any, Any], task_run: TaskRun, state: State[Any]
) -> bool:
    """Retry a transaction that failed because the database connection dropped or a lock
    timed out; never one that failed on data (constraints, domain errors)."""
    exc = _exception_of(state)
    return exc is not None and is_transient_database_error(exc)


def is_transient_database_error(exc: BaseException) -> bool:
    """A dropped connection or a lock timeout: what a database task retries."""
    if isinstance(exc, (TransientConnectorError, OperationalError)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


CONNECTOR_TASK_OPTIONS: dict[str, Any] = {
    "retries": CONNECTOR_RETRIES,
    "retry_delay_seconds": exponential_backoff(backoff_factor=BACKOFF_SECONDS),
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": retry_transient_connector_errors,
}

DATABASE_TASK_OPTIONS: dict[str, Any] = {
    "retries": DATABASE_RETRIES,
    "retry_delay_seconds": exponential_backoff(backoff_factor=BACKOFF_SECONDS),
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": retry_transient_database_errors,
}


@contextmanager
def transaction() -> Iterator[Session]:
    """One database transaction: committed when the task's one domain call returns, rolled
    back when it raises, so a failed step leaves nothing half done.

    The cyclic garbage collector waits until the transaction ends: a step over a practice's
    day allocates hundreds of thousands of short-lived rows, and the collector's passes over a
    flow run's heap while it does were a fifth of the daily cycle (benchmarks/README.md).
    What the step leaves behind is collected at the collector's next pass."""
    with gc_paused(), session_scope() as session:
        yield session


def domain_function(module: str, name: str) -> Callable[..., Any] | None:
    """`module.name` when that domain module and function exist, else None.

    Some domain modules are written alongside the flows; a flow asks before calling a step and
    skips (with a warning and an artifact line) a step whose domain code is not there yet,
    rather than pretending it ran.
    """
    try:
        found = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module == exc.name or module.startswith(exc.name + ".")):
            return None
        raise
    function = getattr(found, name, None)
    return function if callable(function) else None


def require(module: str, name: str) -> Callable[..., Any]:
    function = domain_function(module, name)
    if function is None:
        raise StepUnavailableError(f"{module}.{name} is not available in this build")
    return function


class StepUnavailableError(RuntimeError):
    """A step whose domain function does not exist in this build."""


__all__ = [
    "CONNECTOR_TASK_OPTIONS",
    "DATABASE_TASK_OPTIONS",
    "StepUnavailableError",
    "domain_function",
    "is_transient_database_error",
    "require",
    "retry_transient_connector_errors",
    "retry_transient_database_errors",
    "transaction",
]
