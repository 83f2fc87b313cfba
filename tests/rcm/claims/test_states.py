from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlmodel import Session, select

from rcm.claims import ALLOWED_TRANSITIONS, can_transition, transition
from rcm.errors import StateError
from rcm.ledger import append_entries
from rcm.models import ClaimEvent, ClaimStatus, LedgerEntry, LedgerKind, Responsible
from tests.rcm.models.builders import ClaimChain

S = ClaimStatus

# DESIGN.md's graph plus the two documented additions (PARTIAL→APPEALED, CLOSED→ACCEPTED).
EXPECTED_GRAPH = {
    S.DRAFT: {S.HELD, S.READY},
    S.HELD: {S.DRAFT},
    S.READY: {S.BATCHED, S.HELD},
    S.BATCHED: {S.SUBMITTED, S.HELD},
    S.SUBMITTED: {S.ACCEPTED, S.REJECTED},
    S.REJECTED: {S.HELD},
    S.ACCEPTED: {S.PAID, S.PARTIAL, S.DENIED},
    S.PAID: {S.ACCEPTED, S.CLOSED},
    S.PARTIAL: {S.ACCEPTED, S.CLOSED, S.APPEALED},
    S.DENIED: {S.APPEALED, S.REPLACED, S.VOIDED, S.WRITTEN_OFF, S.ACCEPTED},
    S.APPEALED: {S.PAID, S.PARTIAL, S.DENIED, S.ACCEPTED},
    S.WRITTEN_OFF: {S.CLOSED},
    S.CLOSED: {S.ACCEPTED},
    S.REPLACED: set(),
    S.VOIDED: set(),
}

ALLOWED = sorted(
    ((source, target) for source, targets in EXPECTED_GRAPH.items() for target in targets),
    key=lambda edge: (edge[0].value, edge[1].value),
)

DISALLOWED = [
    (S.DRAFT, S.SUBMITTED),
    (S.DRAFT, S.BATCHED),
    (S.HELD, S.READY),
    (S.READY, S.SUBMITTED),
    (S.SUBMITTED, S.PAID),
    (S.REJECTED, S.READY),
    (S.ACCEPTED, S.CLOSED),
    (S.DENIED, S.PAID),
    (S.DENIED, S.CLOSED),
    (S.CLOSED, S.PAID),
    (S.REPLACED, S.DRAFT),
    (S.VOIDED, S.ACCEPTED),
    (S.WRITTEN_OFF, S.DENIED),
    (S.PAID, S.PAID),
]


def test_the_graph_is_the_designed_one() -> None:
    assert {status: set(targets) for status, targets in ALLOWED_TRANSITIONS.items()} == (
        EXPECTED_GRAPH
    )
    assert set(ALLOWED_TRANSITIONS) == set(ClaimStatus)


@pytest.mark.parametrize(("source", "target"), ALLOWED, ids=lambda s: s.value)
def test_every_allowed_transition_moves_the_claim_and_records_an_event(
    session: Session, source: ClaimStatus, target: ClaimStatus
) -> None:
    chain = ClaimChain(session, status=source)
    before = chain.claim.updated_at

    event = transition(session, chain.claim, target, reason="test move", source="flow-run-1")
    session.commit()

    assert chain.claim.status is target
    assert chain.claim.updated_at >= before
    stored = session.exec(select(ClaimEvent).where(ClaimEvent.claim_id == chain.claim.id)).one()
    assert stored.id == event.id
    assert (stored.from_status, stored.to_status) == (source, target)
    assert (stored.reason, stored.source) == ("test move", "flow-run-1")
    assert stored.practice_id == chain.practice.id


@pytest.mark.parametrize(("source", "target"), DISALLOWED, ids=lambda s: s.value)
def test_disallowed_transitions_raise_and_change_nothing(
    session: Session, source: ClaimStatus, target: ClaimStatus
) -> None:
    chain = ClaimChain(session, status=source)

    with pytest.raises(StateError) as raised:
        transition(session, chain.claim, target, reason="bad move", source="test")

    message = str(raised.value)
    assert str(chain.claim.id) in message
    assert source.value in message and target.value in message
    assert chain.claim.status is source
    assert session.exec(select(ClaimEvent)).all() == []
    assert not can_transition(source, target)


def test_closing_needs_a_zero_balance(session: Session) -> None:
    chain = ClaimChain(session, status=S.PARTIAL)
    append_entries(
        session,
        [
            LedgerEntry(
                practice_id=chain.practice.id,
                claim_id=chain.claim.id,
                kind=LedgerKind.PATIENT_RESPONSIBILITY,
                amount=Decimal("20.00"),
                responsible=Responsible.PATIENT,
            )
        ],
    )

    with pytest.raises(StateError, match=r"balance is 20\.00"):
        transition(session, chain.claim, S.CLOSED, reason="paid in full?", source="test")
    assert chain.claim.status is S.PARTIAL

    append_entries(
        session,
        [
            LedgerEntry(
                practice_id=chain.practice.id,
                claim_id=chain.claim.id,
                kind=LedgerKind.PATIENT_PAYMENT,
                amount=Decimal("-20.00"),
                responsible=Responsible.PATIENT,
            )
        ],
    )
    transition(session, chain.claim, S.CLOSED, reason="patient paid", source="test")
    assert chain.claim.status is S.CLOSED


def test_submission_records_when_the_claim_was_sent(session: Session) -> None:
    chain = ClaimChain(session, status=S.BATCHED)
    assert chain.claim.submitted_at is None

    transition(session, chain.claim, S.SUBMITTED, reason="uploaded", source="interchange-1")

    assert chain.claim.submitted_at is not None
    assert chain.claim.submitted_at <= datetime.now(UTC)


def test_a_claims_history_reads_in_order(session: Session) -> None:
    chain = ClaimChain(session)
    path = [S.READY, S.BATCHED, S.SUBMITTED, S.ACCEPTED, S.DENIED, S.APPEALED, S.PAID]
    for status in path:
        transition(session, chain.claim, status, reason=f"to {status.value}", source="test")
    session.commit()

    events = session.exec(
        select(ClaimEvent)
        .where(ClaimEvent.claim_id == chain.claim.id)
        .order_by(ClaimEvent.created_at)  # type: ignore[arg-type]
    ).all()

    assert [e.to_status for e in events] == path
    assert [e.from_status for e in events] == [S.DRAFT, *path[:-1]]
