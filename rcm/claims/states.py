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

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, cast

from sqlalchemy import CursorResult, insert, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col

from rcm.errors import StateError
from rcm.ledger import claim_balance
from rcm.logging import logger
from rcm.models.claim import Claim, ClaimEvent, ClaimStatus
from rcm.models.types import new_id, utcnow

S = ClaimStatus
# Claims per UPDATE ... IN (...) and per multi-row INSERT: well under SQLite's variable limit.
_CHUNK = 500

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


def transition_many(
    session: Session,
    claims: Sequence[Claim],
    to_status: ClaimStatus,
    *,
    reason: str | Sequence[str],
    source: str,
    at: datetime | None = None,
) -> int:
    """Move every claim in `claims` to `to_status`, as `transition` does each, in bulk.

    Every edge is checked before anything changes: one claim that may not move raises
    StateError and leaves all of them as they were. `reason` is one text for all, or one per
    claim (same order); `at` is when the move happened (updated_at, submitted_at and the
    events' created_at; default now). Pending changes are flushed once; then one UPDATE and one
    multi-row INSERT of ClaimEvents per chunk of claims. Returns the number of claims moved.
    """
    to_status = ClaimStatus(to_status)
    reasons = [reason] * len(claims) if isinstance(reason, str) else list(reason)
    if len(reasons) != len(claims):
        raise ValueError(f"{len(reasons)} reasons for {len(claims)} claims")
    from_statuses = [ClaimStatus(claim.status) for claim in claims]
    for claim, from_status in zip(claims, from_statuses, strict=True):
        if to_status not in ALLOWED_TRANSITIONS[from_status]:
            raise StateError(
                f"claim {claim.id} cannot move from {from_status.value} to {to_status.value}"
            )
    if to_status is S.CLOSED:
        for claim, from_status in zip(claims, from_statuses, strict=True):
            balance = claim_balance(session, practice_id=claim.practice_id, claim_id=claim.id)
            if balance != 0:
                raise StateError(
                    f"claim {claim.id} cannot move from {from_status.value} to CLOSED: "
                    f"balance is {balance}, not 0.00"
                )
    if not claims:
        return 0
    # New claims and unsaved edits reach the database first, so the UPDATE below sees them.
    session.add_all(claims)
    session.flush()
    now = at or utcnow()
    values: dict[str, object] = {"status": to_status, "updated_at": now}
    if to_status is S.SUBMITTED:
        values["submitted_at"] = now
    events = [
        {
            "id": new_id(),
            "practice_id": claim.practice_id,
            "claim_id": claim.id,
            "from_status": from_status,
            "to_status": to_status,
            "reason": text,
            "source": source,
            "created_at": now,
        }
        for claim, from_status, text in zip(claims, from_statuses, reasons, strict=True)
    ]
    for start in range(0, len(claims), _CHUNK):
        chunk = claims[start : start + _CHUNK]
        by_from: dict[ClaimStatus, list[uuid.UUID]] = {}
        for claim, from_status in zip(chunk, from_statuses[start : start + _CHUNK], strict=True):
            by_from.setdefault(from_status, []).append(claim.id)
        for from_status, ids in by_from.items():
            # Only claims still in the status this run read move: a concurrent run that moved
            # them first wins, and this run's transaction must roll back rather than undo it.
            moved = session.execute(
                update(Claim)
                .where(col(Claim.id).in_(ids), col(Claim.status) == from_status)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            changed = cast("CursorResult[Any]", moved).rowcount
            if changed != len(ids):
                raise StateError(
                    f"{len(ids) - changed} of {len(ids)} claims were no longer "
                    f"{from_status.value} when moving them to {to_status.value}: another run "
                    "changed them first"
                )
        session.execute(insert(ClaimEvent), events[start : start + _CHUNK])
        for claim in chunk:
            # The row already holds these values: record them as loaded, not as changes.
            for name, value in values.items():
                set_committed_value(claim, name, value)
    logger.bind(source=source).debug("{} claims -> {}", len(claims), to_status.value)
    return len(claims)
