"""The gate in two halves (rcm.batching.start_gate, finish_gate): files built and submitted
without writing anything, verdicts recorded later (another session, after other practices'
files were started), with the same outcomes as build_and_gate; a validator that fails is told
apart from a file that fails."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from rcm.batching import (
    BatchError,
    build_and_gate,
    build_interchange_bytes,
    finish_gate,
    start_gate,
)
from rcm.models import (
    Claim,
    ClaimEdit,
    ClaimEvent,
    ClaimStatus,
    ClaimType,
    EditSeverity,
    Interchange,
    InterchangeStatus,
    Payer,
)
from rcm.x12.validate import ValidationReport
from tests.rcm.claims.test_create import Clinic
from tests.rcm.test_batching import assert_clean, assign, make_ready


def _clinic(session: Session, slug: str, *, bad: bool = False) -> Clinic:
    """Two professional claims and an institutional one; with `bad`, one subscriber's payer
    has SBR09 "XX", which pyx12 refuses."""
    clinic = Clinic(session, slug=slug)
    for name in ("A", "B"):
        patient, coverage = clinic.patient()
        if bad and name == "B":
            payer = session.execute(
                select(Payer).where(col(Payer.key) == "bad-plan")
            ).scalar_one_or_none() or Payer(
                key="bad-plan", name="BAD PLAN", payer_id="33333", claim_filing_indicator="XX"
            )
            session.add(payer)
            session.flush()
            coverage.payer_id = payer.id
            session.add(coverage)
        clinic.encounter(patient, coverage, external_id=name)
    patient, coverage = clinic.patient()
    clinic.encounter(
        patient, coverage, claim_type=ClaimType.INSTITUTIONAL, lines=(("97110", "300.00", ()),)
    )
    make_ready(session, clinic)
    return clinic


def _state(engine: Engine) -> tuple[object, ...]:
    """Everything the gate writes: interchanges, claim statuses, edits and events."""
    with Session(engine) as session:
        return (
            sorted(
                (str(i.id), i.status.value, i.sha256 or "", i.file_name or "")
                for i in session.execute(select(Interchange)).scalars()
            ),
            sorted(
                (str(c.id), c.status.value, str(c.interchange_id))
                for c in session.execute(select(Claim)).scalars()
            ),
            len(session.execute(select(ClaimEdit)).scalars().all()),
            len(session.execute(select(ClaimEvent)).scalars().all()),
        )


def _summary(outcomes: list[object]) -> list[tuple[object, ...]]:
    return [
        (o.status, o.claim_count, len(o.held_claim_ids), o.errors > 0)  # type: ignore[attr-defined]
        for o in outcomes
    ]


def test_started_gates_of_several_practices_recorded_later(engine: Engine) -> None:
    with Session(engine) as session:
        north = _clinic(session, "northside")
        south = _clinic(session, "southside", bad=True)
        north_ids = [i.id for i in assign(session, north)]
        south_ids = [i.id for i in assign(session, south)]
    before = _state(engine)
    with ProcessPoolExecutor(max_workers=2) as pool:
        # Each practice's files start in their own session (a task each) and nothing is
        # written; the recording comes after both have started, in new sessions.
        tickets = {}
        for name, ids in (("north", north_ids), ("south", south_ids)):
            with Session(engine) as session:
                tickets[name] = start_gate(session, ids, executor=pool)
                assert not (session.new or session.dirty or session.deleted)
                session.commit()
        assert _state(engine) == before
        outcomes = {}
        for name in ("north", "south"):
            with Session(engine) as session:
                outcomes[name] = finish_gate(session, tickets[name], source="test")
                session.commit()
    assert [o.interchange_id for o in outcomes["north"]] == north_ids
    assert _summary(outcomes["north"]) == [
        (InterchangeStatus.BUILT, 2, 0, False),
        (InterchangeStatus.BUILT, 1, 0, False),
    ]
    for outcome, ticket in zip(outcomes["north"], tickets["north"], strict=True):
        assert outcome.data is ticket.data and outcome.data is not None
        assert_clean(outcome.data)
    # The file pyx12 refuses is rejected and its claims held, as by build_and_gate.
    assert _summary(outcomes["south"]) == [
        (InterchangeStatus.REJECTED, 2, 2, True),
        (InterchangeStatus.BUILT, 1, 0, False),
    ]
    with Session(engine) as session:
        rejected = session.get(Interchange, south_ids[0])
        assert rejected is not None and rejected.status is InterchangeStatus.REJECTED
        held = set(outcomes["south"][0].held_claim_ids)
        claims = [c for c in session.execute(select(Claim)).scalars() if c.id in held]
        assert {c.status for c in claims} == {ClaimStatus.HELD}
        assert all(c.interchange_id is None for c in claims)
        edits = session.execute(select(ClaimEdit)).scalars().all()
        assert {e.claim_id for e in edits} == held
        assert any(e.severity is EditSeverity.ERROR and e.field == "SBR09" for e in edits)


def test_the_same_outcomes_and_bytes_as_build_and_gate(engine: Engine) -> None:
    with Session(engine) as session:
        ids = [i.id for i in assign(session, _clinic(session, "northside", bad=True))]
        again = [i.id for i in assign(session, _clinic(session, "again-northside", bad=True))]
        one_by_one = [build_and_gate(session, i) for i in ids]
        session.commit()
    with ThreadPoolExecutor(max_workers=2) as pool, Session(engine) as session:
        halves = finish_gate(session, start_gate(session, again, executor=pool))
        session.commit()
    assert _summary(halves) == _summary(one_by_one)
    with Session(engine) as session:  # a rebuild gives the bytes that were validated
        for outcome in halves:
            if outcome.passed:
                assert outcome.data == build_interchange_bytes(session, outcome.interchange_id)
            else:
                assert outcome.data is None


def test_a_file_that_cannot_be_written_is_rejected_at_the_finish(session: Session) -> None:
    clinic = Clinic(session)
    patient, coverage = clinic.patient()
    coverage.group_number = "G*1"  # a data element separator inside data
    session.add(coverage)
    clinic.encounter(patient, coverage, external_id="DELIM")
    make_ready(session, clinic)
    (interchange,) = assign(session, clinic)
    with ThreadPoolExecutor(max_workers=1) as pool:
        (ticket,) = start_gate(session, [interchange.id], executor=pool)
        assert ticket.data is None and ticket.verdict is None
        (outcome,) = finish_gate(session, [ticket])
    assert outcome.status is InterchangeStatus.REJECTED
    (edit,) = session.execute(select(ClaimEdit)).scalars().all()
    assert edit.severity is EditSeverity.ERROR and "SBR03" in edit.message
    assert "G*1" not in edit.message


def _dies(data: bytes, *, file_name: str | None = None) -> ValidationReport:
    os._exit(3)


def _raises(data: bytes, *, file_name: str | None = None) -> ValidationReport:
    raise RuntimeError("the validator itself failed")


@pytest.mark.parametrize("validator", [_dies, _raises], ids=["worker-dies", "validator-raises"])
def test_a_failing_validator_rejects_nothing(engine: Engine, validator: object) -> None:
    """The validator's failure is not the file's: finish_gate raises, nothing is recorded, the
    interchange stays assigned and its claims batched for a rerun."""
    with Session(engine) as session:
        ids = [i.id for i in assign(session, _clinic(session, "northside"))]
    before = _state(engine)
    expected = BrokenProcessPool if validator is _dies else RuntimeError
    with ProcessPoolExecutor(max_workers=1) as pool, Session(engine) as session:
        with pytest.raises(expected):
            # A plain process pool breaks for good when its worker dies: the next submit
            # (the second file) may already raise.
            tickets = start_gate(session, ids, executor=pool, validator=validator)  # type: ignore[arg-type]
            finish_gate(session, tickets)
        session.rollback()
    assert _state(engine) == before
    with Session(engine) as session:
        statuses = {i.status for i in session.execute(select(Interchange)).scalars()}
        assert statuses == {InterchangeStatus.ASSIGNED}
        assert not session.execute(select(ClaimEdit)).scalars().all()


def test_only_assigned_interchanges_are_started(session: Session) -> None:
    clinic = _clinic(session, "northside")
    ids = [i.id for i in assign(session, clinic)]
    build_and_gate(session, ids[0])
    session.commit()
    with ThreadPoolExecutor(max_workers=1) as pool, pytest.raises(BatchError, match="not assigned"):
        start_gate(session, ids, executor=pool)
