"""Gates started on the pool and recorded later (tasks.claims.build_and_gate_many with
record=False, then record=True; tasks._validation_pool.StartedGates): the files of several
practices validate while the caller goes on, nothing is written until the recording call, and
the outcomes are those of one call."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import Engine

from tasks._validation_pool import StartedGates, shutdown_validation_pool, started_gates
from tasks.claims import build_and_gate_many
from tests.rcm.test_batching_pipeline import _state
from tests.tasks.test_claims_gate import _summary, _world


@pytest.fixture(params=["0", "2"], ids=["in-process", "pool"])
def workers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("RCM_VALIDATION_WORKERS", request.param)
    monkeypatch.setenv("RCM_VALIDATION_INLINE_BYTES", "0")  # ship even small files
    shutdown_validation_pool()
    yield request.param
    shutdown_validation_pool()


def test_started_then_recorded_per_practice(engine: Engine, workers: str) -> None:
    ids = _world(engine)
    north, south = ids[:3], ids[3:]
    before = _state(engine)
    # The flow's first pass: each practice's files started as its batches are assigned.
    assert build_and_gate_many.fn(north, "test-run", record=False) == []
    assert build_and_gate_many.fn(south, "test-run", record=False) == []
    assert _state(engine) == before  # nothing written, nothing waited for
    assert len(started_gates()) == (0 if workers == "0" else 4)
    # The second pass: the verdicts recorded practice by practice.
    built = build_and_gate_many.fn(north, "test-run") + build_and_gate_many.fn(south, "test-run")
    assert len(started_gates()) == 0
    assert [b.interchange_id for b in built] == ids
    # The same outcomes as one call over every file (another copy of the same world).
    together = build_and_gate_many.fn(_world(engine, "again-"), "test-run")
    assert _summary(engine, built) == _summary(engine, together)
    assert [b.status for b in built] == ["built", "built", "built", "rejected"]


def test_a_file_not_started_here_is_built_and_gated_by_the_recording_call(
    engine: Engine, workers: str
) -> None:
    ids = _world(engine)
    build_and_gate_many.fn(ids[:2], "test-run", record=False)
    built = build_and_gate_many.fn(ids, "test-run")  # two started, two not
    assert [b.status for b in built] == ["built", "built", "built", "rejected"]
    assert len(started_gates()) == 0


@dataclass
class _Ticket:
    interchange_id: uuid.UUID
    started: float = field(default_factory=time.monotonic)


def test_started_gates_replace_and_expire() -> None:
    gates = StartedGates(max_age=60)
    first, second = _Ticket(uuid.uuid4()), _Ticket(uuid.uuid4())
    gates.put([first, second])
    newer = _Ticket(first.interchange_id)
    gates.put([newer])
    assert len(gates) == 2
    assert gates.take(first.interchange_id) is newer
    assert gates.take(first.interchange_id) is None
    second.started -= 61  # a ticket nobody took for longer than max_age is dropped
    assert gates.take(second.interchange_id) is None and len(gates) == 0
