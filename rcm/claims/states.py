"""The claim state graph (DESIGN.md, Claim states) and the one function that moves a claim.

    DRAFT ─scrub─► HELD ─fix─► DRAFT
          └──────► READY ─batch─► BATCHED ─upload─► SUBMITTED
    READY ─rescrub─► HELD            BATCHED ─pyx12 gate rejects the file─► HELD
    SUBMITTED ─999/277CA─► ACCEPTED | REJECTED ─► HELD (for correction)
    ACCEPTED ─835─► PAID | PARTIAL | DENIED    (a pended claim stays ACCEPTED)
    DENIED ─► APPEALED | REPLACED (freq 7) | VOIDED (freq 8) | WRITTEN_OFF
    APPEALED ─► PAID | PARTIAL | DENIED
    PAID | PARTIAL | DENIED | APPEALED ─reversal (CLP02=22)─► ACCEPTED
    PAID | PARTIAL | WRITTEN_OFF ─balance 0─► CLOSED

Two edges beyond DESIGN.md's drawing, because real flows need them:

- PARTIAL → APPEALED: an 835 that pays some lines and denies others leaves the claim PARTIAL;
  appealing the denied lines must not require marking the whole claim DENIED first.
- CLOSED → ACCEPTED: payers recoup months after a claim is paid and closed; the reversal
  (CLP02=22) reopens it like any other paid state.

Moving to CLOSED requires the claim's ledger balance to be zero. REPLACED and VOIDED are final:
the corrected (frequency 7) or void (frequency 8) claim is a new claim with its own life.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from sqlmodel import Session

from rcm.errors import StateError
from rcm.ledger import claim_balance
from rcm.logging import logger
from rcm.models.claim import Claim, ClaimEvent, ClaimStatus
from rcm.models.types import utcnow

S = ClaimStatus

ALLOWED_TRANSITIONS: Mapping[ClaimStatus, frozenset[ClaimStatus]] = MappingProxyType(
    {
        S.DRAFT: frozenset({S.HELD, S.READY}),
        S.HELD: frozenset({S.DRAFT}),
        S.READY: frozenset({S.BATCHED, S.HELD}),
        S.BATCHED: frozenset({S.SUBMITTED, S.HELD}),
        S.SUBMITTED: frozenset({S.ACCEPTED, S.REJECTED}),
        S.REJECTED: frozenset({S.HELD}),
        S.ACCEPTED: frozenset({S.PAID, S.PARTIAL, S.DENIED}),
        S.PAID: frozenset({S.ACCEPTED, S.CLOSED}),
        S.PARTIAL: frozenset({S.ACCEPTED, S.CLOSED, S.APPEALED}),
        S.DENIED: frozenset({S.APPEALED, S.REPLACED, S.VOIDED, S.WRITTEN_OFF, S.ACCEPTED}),
        S.APPEALED: frozenset({S.PAID, S.PARTIAL, S.DENIED, S.ACCEPTED}),
        S.WRITTEN_OFF: frozenset({S.CLOSED}),
        S.CLOSED: frozenset({S.ACCEPTED}),
        S.REPLACED: frozenset(),
        S.VOIDED: frozenset(),
    }
)


def can_transition(from_status: ClaimStatus, to_status: ClaimStatus) -> bool:
    """True when the graph has an edge from `from_status` to `to_status`."""
    return to_status in ALLOWED_TRANSITIONS[ClaimStatus(from_status)]


def transition(
    session: Session,
    claim: Claim,
    to_status: ClaimStatus,
    *,
    reason: str,
    source: str,
) -> ClaimEvent:
    """Move `claim` to `to_status` and record why.

    Checks the edge against the graph (and, for CLOSED, that the balance is zero), sets
    status and updated_at (and submitted_at on SUBMITTED), adds a ClaimEvent and flushes. The
    caller's transaction commits. `reason` is read by billers and `source` names the file,
    interchange or flow run: neither may contain PHI.
    """
    from_status = ClaimStatus(claim.status)
    to_status = ClaimStatus(to_status)
    if not can_transition(from_status, to_status):
        raise StateError(
            f"claim {claim.id} cannot move from {from_status.value} to {to_status.value}"
        )
    if to_status is S.CLOSED:
        balance = claim_balance(session, practice_id=claim.practice_id, claim_id=claim.id)
        if balance != 0:
            raise StateError(
                f"claim {claim.id} cannot move from {from_status.value} to CLOSED: "
                f"balance is {balance}, not 0.00"
            )
    now = utcnow()
    claim.status = to_status
    claim.updated_at = now
    if to_status is S.SUBMITTED:
        claim.submitted_at = now
    event = ClaimEvent(
        practice_id=claim.practice_id,
        claim_id=claim.id,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        source=source,
        created_at=now,
    )
    session.add(claim)
    session.add(event)
    session.flush()
    logger.bind(claim_id=str(claim.id), source=source).debug(
        "claim {} {} -> {}", claim.id, from_status.value, to_status.value
    )
    return event
