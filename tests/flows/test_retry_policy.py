"""Only transient faults are retried; permanent faults and bad data never are."""

from __future__ import annotations

from typing import Any

import pytest
from prefect.states import Failed
from sqlalchemy.exc import IntegrityError, OperationalError

from connectors.errors import PermanentConnectorError, TransientConnectorError
from rcm.errors import PostingError, X12SyntaxError
from tasks._runtime import (
    CONNECTOR_TASK_OPTIONS,
    retry_transient_connector_errors,
    retry_transient_database_errors,
)


def _failed(exc: BaseException) -> Any:
    return Failed(data=exc)


@pytest.mark.parametrize(
    ("exc", "connector", "database"),
    [
        (TransientConnectorError("connection reset"), True, True),
        (PermanentConnectorError("host key mismatch"), False, False),
        (X12SyntaxError("bad ISA", segment_number=1), False, False),
        (PostingError("unbalanced"), False, False),
        (OperationalError("BEGIN", {}, Exception("database is locked")), False, True),
        (IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed")), False, False),
        (ValueError("a bug"), False, False),
    ],
)
def test_retry_conditions(exc: BaseException, connector: bool, database: bool) -> None:
    state = _failed(exc)
    assert retry_transient_connector_errors(None, None, state) is connector  # type: ignore[arg-type]
    assert retry_transient_database_errors(None, None, state) is database  # type: ignore[arg-type]


def test_connector_tasks_back_off_exponentially_with_jitter() -> None:
    delays = CONNECTOR_TASK_OPTIONS["retry_delay_seconds"](4)
    assert delays == sorted(delays) and delays[1] == 2 * delays[0]
    assert CONNECTOR_TASK_OPTIONS["retry_jitter_factor"] > 0
    assert CONNECTOR_TASK_OPTIONS["retries"] >= 3
