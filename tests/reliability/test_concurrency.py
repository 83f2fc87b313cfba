"""Concurrent flow runs for one practice on PostgreSQL: two schedules overlapping, an operator's
rerun during a scheduled run. Runs are forced to interleave at the step that matters (both
batching at once, both posting at once, one paused between building and uploading while the
other runs whole). A run may fail (a lock or a unique constraint stopping it is the guard
working); what may never happen is a claim submitted twice, a file uploaded twice, a control
number reused or a payment posted twice. A last sequential rerun then finishes everything.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from tests.reliability.invariants import check_invariants

if TYPE_CHECKING:
    from tests.reliability.conftest import Firm

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("prefect_api_lean"),
    pytest.mark.skipif(
        not os.environ.get("RCM_TEST_DATABASE_URL"),
        reason="concurrency needs PostgreSQL (RCM_TEST_DATABASE_URL)",
    ),
]


def _together(*runs: Callable[[], Any]) -> list[BaseException | None]:
    """Run each callable in its own thread (each with a copy of the context, as the demo and a
    worker run flows side by side); the exception each raised, or None."""
    outcomes: list[BaseException | None] = [None] * len(runs)

    def target(i: int, run: Callable[[], Any]) -> None:
        try:
            run()
        except BaseException as exc:
            outcomes[i] = exc

    threads = [
        threading.Thread(target=contextvars.copy_context().run, args=(target, i, run))
        for i, run in enumerate(runs)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a run hung"
    return outcomes


def _meet_at(module: Any, name: str, parties: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every run waits at `module.name` until `parties` runs are there, then all go (a run that
    died before getting there releases the others after a few seconds)."""
    barrier = threading.Barrier(parties, timeout=15)
    original = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)


def _finish(firm: Firm) -> None:
    from flows.responses import collect_responses
    from flows.submission import submit_claims

    submit_claims(firm.slugs[0], firm.today)
    firm.sandbox.wait_for_uploads()
    firm.sandbox.run_cycle()
    collect_responses(firm.slugs[0], firm.today)
    collect_responses(firm.slugs[0], firm.today)
    check_invariants(firm, expect_all_submitted=True)


def test_two_overlapping_scheduled_submissions_never_double_submit(
    firm: Firm, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasks.claims
    from flows.submission import submit_claims

    # Claims created and scrubbed (READY) by an earlier run that batched nothing, so that both
    # runs race at batching itself.
    with monkeypatch.context() as patch:
        patch.setattr(tasks.claims, "assign_batches", lambda *a, **k: [])
        submit_claims(firm.slugs[0], firm.today)
    with monkeypatch.context() as patch:
        _meet_at(tasks.claims, "assign_batches", 2, patch)
        outcomes = _together(
            lambda: submit_claims(firm.slugs[0], firm.today),
            lambda: submit_claims(firm.slugs[0], firm.today),
        )
    assert any(o is None for o in outcomes), outcomes
    check_invariants(firm)
    _finish(firm)


def test_operator_rerun_during_a_scheduled_run_never_double_submits(
    firm: Firm, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasks.claims
    from flows.submission import submit_claims

    built = threading.Event()
    resume = threading.Event()
    original = tasks.claims.build_and_gate_many
    calls = {"n": 0}

    def build_and_gate_many(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 1:  # the scheduled run: pause between building and uploading
            built.set()
            resume.wait(60)
        return result

    def operator() -> None:
        assert built.wait(60)
        try:
            submit_claims(firm.slugs[0], firm.today)
        finally:
            resume.set()

    with monkeypatch.context() as patch:
        patch.setattr(tasks.claims, "build_and_gate_many", build_and_gate_many)
        outcomes = _together(lambda: submit_claims(firm.slugs[0], firm.today), operator)
    assert any(o is None for o in outcomes), outcomes
    check_invariants(firm)
    _finish(firm)


def test_two_runs_creating_claims_at_once_create_each_claim_once(firm: Firm) -> None:
    """Two runs starting together both try to turn the same encounters into claims: the unique
    (practice, patient control number) constraint lets one win; the other fails cleanly."""
    from flows.submission import submit_claims

    _together(
        lambda: submit_claims(firm.slugs[0], firm.today),
        lambda: submit_claims(firm.slugs[0], firm.today),
    )
    check_invariants(firm)
    _finish(firm)


def test_two_overlapping_collections_never_double_post(
    firm: Firm, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.responses
    from flows.responses import collect_responses
    from flows.submission import submit_claims

    submit_claims(firm.slugs[0], firm.today)
    firm.sandbox.wait_for_uploads()
    assert firm.sandbox.run_cycle()
    with monkeypatch.context() as patch:
        _meet_at(flows.responses, "process_files", 2, patch)
        outcomes = _together(
            lambda: collect_responses(firm.slugs[0], firm.today),
            lambda: collect_responses(firm.slugs[0], firm.today),
        )
    assert any(o is None for o in outcomes), outcomes
    figures = check_invariants(firm, expect_all_submitted=True)
    assert figures.remittances >= 1
    _finish(firm)


def test_a_stale_scrub_never_unbatches_a_claim(firm: Firm, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two runs scrub the same DRAFT claims: both have loaded them when the first moves them on;
    the first then batches them; only then does the second write its (stale) result."""
    import rcm.scrub.adapter
    import tasks.claims
    from flows.submission import submit_claims

    # The claims exist (DRAFT) before the runs start, so both runs reach scrubbing.
    tasks.claims.create_claims.fn(firm.practice_id(firm.slugs[0]), firm.today, "setup")
    loaded = threading.Barrier(2, timeout=20)
    batched = threading.Event()
    order: list[str] = []
    lock = threading.Lock()
    original_transition = rcm.scrub.adapter.move_claims
    original_assign = tasks.claims.assign_batches

    def transition_many(*args: Any, **kwargs: Any) -> Any:
        with contextlib.suppress(threading.BrokenBarrierError):
            loaded.wait()
        with lock:
            order.append("scrub")
            second = len(order) > 1
        if second:
            batched.wait(30)
        return original_transition(*args, **kwargs)

    def assign_batches(*args: Any, **kwargs: Any) -> Any:
        try:
            return original_assign(*args, **kwargs)
        finally:
            batched.set()

    monkeypatch.setattr(rcm.scrub.adapter, "move_claims", transition_many)
    monkeypatch.setattr(tasks.claims, "assign_batches", assign_batches)
    _together(
        lambda: submit_claims(firm.slugs[0], firm.today),
        lambda: submit_claims(firm.slugs[0], firm.today),
    )
    monkeypatch.undo()
    # The operator reruns, as the failed run's message says.
    with contextlib.suppress(Exception):
        submit_claims(firm.slugs[0], firm.today)
    check_invariants(firm, expect_all_submitted=True)
