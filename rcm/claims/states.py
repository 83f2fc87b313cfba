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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session

from rcm.bulk import BulkWriter, as_uuid, id_hex, new_hex_id
from rcm.errors import StateError
from rcm.ledger import claim_balance, claim_balances
from rcm.logging import logger
from rcm.models.claim import Claim, ClaimEvent, ClaimStatus
from rcm.models.types import utcnow
from rcm.rows import array_literal, key_array_literal

S = ClaimStatus
# A status given as the enum or as its value (a StrEnum member hashes and compares as its
# value): the member, by one dict lookup.
_STATUS_OF: Mapping[str, ClaimStatus] = MappingProxyType({s.value: s for s in ClaimStatus})

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


@dataclass(frozen=True, slots=True)
class ClaimMove:
    """One claim's move for `move_claims`.

    `from_status` is the status the caller read; `steps` are the statuses the claim passes
    through, in order, each with the reason recorded on its ClaimEvent (an 835 that arrives
    before the 277CA moves a claim SUBMITTED -> ACCEPTED -> PAID: two steps, two events).
    `values` are the values of the `columns` given to move_claims (other columns of the claim
    row written with the move, such as the payer's claim control number); a move with no steps
    writes only those, still only if the claim is in `from_status`.
    """

    claim_id: uuid.UUID | str
    practice_id: uuid.UUID | str
    from_status: ClaimStatus
    steps: tuple[tuple[ClaimStatus, str], ...]
    values: tuple[Any, ...] = ()


# Columns a move sets itself; `columns` may not name them.
_MOVE_COLUMNS = frozenset({"id", "status", "updated_at", "submitted_at"})


def move_claims(
    session: Session,
    moves: Sequence[ClaimMove],
    *,
    source: str,
    at: datetime | None = None,
    columns: Sequence[str] = (),
) -> int:
    """Move many claims, each along its own path of the graph, in bulk: the row-level
    `transition` for thousands of claims (ERA posting).

    Every step of every move is checked against the graph (and a move to CLOSED against a
    zero balance) before anything is written; one that is not allowed raises StateError and
    nothing changes. Then one UPDATE per status read (SQLite: one executemany; PostgreSQL: one
    statement over arrays) sets status, updated_at (submitted_at on SUBMITTED) and `columns`
    of rows *still in the status the caller read*: a claim another run moved since raises
    StateError, and the caller's transaction must roll back rather than undo that run's move.
    Each step is recorded as a ClaimEvent (one bulk insert). Claims of the session's identity
    map that moved are expired. Returns the number of claims updated.
    """
    return prepare_moves(session, moves, source=source, at=at, columns=columns)()


def prepare_moves(
    session: Session,
    moves: Sequence[ClaimMove],
    *,
    source: str,
    at: datetime | None = None,
    columns: Sequence[str] = (),
) -> Callable[[], int]:
    """`move_claims` in two halves, for a writer thread (rcm.bulk.WriteBehind). Now, in the
    caller's thread and without a query: every step is checked against the graph (StateError,
    ValueError) and the events' rows are built and encoded. The returned call does the rest
    on the session's connection (the balances of moves to CLOSED, the UPDATEs, the events,
    the identity map) and returns the number of claims moved. Posting builds the next batch
    while a thread writes this one: the Python half here would otherwise hold the GIL in the
    writer's thread, which is the one that keeps the database busy."""
    write = _plan_moves(session, moves, source=source, at=at, columns=columns)
    if not moves:
        return write

    def move() -> int:
        moved = write()
        if moved:
            ids = {id_hex(move.claim_id) for move in moves}
            for obj in list(session.identity_map.values()):
                if isinstance(obj, Claim) and obj.id.hex in ids:
                    session.expire(obj)
        return moved

    return move


def _apply_moves(
    session: Session,
    moves: Sequence[ClaimMove],
    *,
    source: str,
    at: datetime | None,
    columns: Sequence[str],
) -> int:
    return _plan_moves(session, moves, source=source, at=at, columns=columns)()


def _plan_moves(
    session: Session,
    moves: Sequence[ClaimMove],
    *,
    source: str,
    at: datetime | None,
    columns: Sequence[str],
) -> Callable[[], int]:
    columns = tuple(columns)
    if _MOVE_COLUMNS & set(columns):
        raise ValueError(f"columns {sorted(_MOVE_COLUMNS & set(columns))} are set by the move")
    width = len(columns)
    for move in moves:
        if len(move.values) != width:
            raise ValueError(f"{len(move.values)} values for {width} columns")
        current = _STATUS_OF[move.from_status]
        for to_status, _ in move.steps:
            if to_status not in ALLOWED_TRANSITIONS[current]:
                raise StateError(
                    f"claim {as_uuid(id_hex(move.claim_id))} cannot move from "
                    f"{current.value} to {_STATUS_OF[to_status].value}"
                )
            current = _STATUS_OF[to_status]
    if not moves:
        return _none_moved
    ids = [id_hex(move.claim_id) for move in moves]
    if len(set(ids)) != len(ids):
        raise ValueError("a claim is moved twice in one call")
    now = at or utcnow()
    table = Claim.__table__  # type: ignore[attr-defined]
    writer = BulkWriter(session.connection(), binary=True)
    stamp = writer.converter(table, "updated_at")(now)
    groups: dict[tuple[ClaimStatus, bool], list[tuple[str, ClaimMove]]] = {}
    for claim_id, move in zip(ids, moves, strict=True):
        submitted = any(step == S.SUBMITTED for step, _ in move.steps)
        groups.setdefault((_STATUS_OF[move.from_status], submitted), []).append((claim_id, move))
    converters = [writer.converter(table, name) for name in columns]
    updates = []
    for (from_status, submitted), members in groups.items():
        targets = [_STATUS_OF[m.steps[-1][0] if m.steps else from_status].value for _, m in members]
        extra = [[convert(m.values[i]) for _, m in members] for i, convert in enumerate(converters)]
        updates.append(
            (from_status, submitted, [claim_id for claim_id, _ in members], targets, extra)
        )
    events = ClaimEvent.__table__  # type: ignore[attr-defined]
    created = writer.converter(events, "created_at")(now)
    text = source[:255]
    rows = []
    practices: dict[Any, str] = {}
    for claim_id, move in zip(ids, moves, strict=True):
        was: str = _STATUS_OF[move.from_status].value
        practice = practices.get(move.practice_id)
        if practice is None:
            practice = practices[move.practice_id] = id_hex(move.practice_id)
        for to_status, reason in move.steps:
            now_value: str = _STATUS_OF[to_status].value
            rows.append((new_hex_id(), practice, claim_id, was, now_value, reason, text, created))
            was = now_value
    insert_events = writer.prepare(events, _EVENT_COLUMNS, rows)
    event_count = len(rows)

    def write() -> int:
        _check_closing(session, moves)
        for from_status, submitted, claim_ids, targets, extra in updates:
            changed = _update_rows(
                session,
                table,
                from_status.value,
                claim_ids,
                targets,
                stamp,
                submitted,
                columns,
                extra,
            )
            if changed != len(claim_ids):
                to_text = ", ".join(sorted(set(targets)))
                raise StateError(
                    f"{len(claim_ids) - changed} of {len(claim_ids)} claims were no longer "
                    f"{from_status.value} when moving them to {to_text}: another run changed "
                    "them first"
                )
        insert_events()
        if event_count:
            logger.bind(source=source).debug("{} claims moved, {} events", len(moves), event_count)
        return len(moves)

    return write


def _none_moved() -> int:
    return 0


_EVENT_COLUMNS = (
    "id",
    "practice_id",
    "claim_id",
    "from_status",
    "to_status",
    "reason",
    "source",
    "created_at",
)


def _check_closing(session: Session, moves: Sequence[ClaimMove]) -> None:
    closing: dict[str, list[ClaimMove]] = {}
    for move in moves:
        if any(step == S.CLOSED for step, _ in move.steps):
            closing.setdefault(id_hex(move.practice_id), []).append(move)
    for practice, members in closing.items():
        balances = claim_balances(
            session,
            practice_id=as_uuid(practice),
            claim_ids=[as_uuid(id_hex(m.claim_id)) for m in members],
        )
        for move in members:
            claim_id = as_uuid(id_hex(move.claim_id))
            balance = balances.get(claim_id, Decimal("0.00"))
            if balance != 0:
                raise StateError(
                    f"claim {claim_id} cannot move from {ClaimStatus(move.from_status).value} "
                    f"to CLOSED: balance is {balance}, not 0.00"
                )


def _update_rows(
    session: Session,
    table: Any,
    from_status: str,
    ids: list[str],
    targets: list[str],
    stamp: Any,
    submitted: bool,
    columns: tuple[str, ...],
    extra: list[list[Any]],
) -> int:
    """UPDATE claim rows still in `from_status`; the number of rows changed."""
    connection = session.connection()
    dialect = connection.dialect
    quote = dialect.identifier_preparer.quote
    changed = 0
    if dialect.name == "postgresql":
        # One statement over arrays per chunk: executemany would be a round trip per claim.
        names = ["status", *columns]
        casts = [table.c[name].type.compile(dialect=dialect) for name in names]
        sets = ", ".join(f"{quote(name)} = m.c{i}" for i, name in enumerate(names))
        stamps = ", updated_at = %(stamp)s" + (", submitted_at = %(stamp)s" if submitted else "")
        arrays = ", ".join(f"%(c{i})s::{cast}[]" for i, cast in enumerate(casts))
        aliases = ", ".join(f"c{i}" for i in range(len(names)))
        sql = (
            f"UPDATE claim SET {sets}{stamps} "
            f"FROM unnest(%(ids)s::uuid[], {arrays}) AS m(id, {aliases}) "
            "WHERE claim.id = m.id AND claim.status = %(from_status)s"
        )
        for start in range(0, len(ids), _PG_CHUNK):
            end = start + _PG_CHUNK
            # Arrays as their text (rcm.rows.array_literal): psycopg would adapt each element
            # of a list in Python.
            params: dict[str, Any] = {
                "ids": key_array_literal(ids[start:end]),
                "stamp": stamp,
                "from_status": from_status,
                "c0": array_literal(targets[start:end]),
            }
            for i, values in enumerate(extra, 1):
                params[f"c{i}"] = array_literal(values[start:end])
            result = connection.exec_driver_sql(sql, params)
            changed += result.rowcount
        return changed
    # SQLite: one UPDATE ... FROM json_each per chunk, which runs without Python's GIL on a
    # writer thread (rcm.bulk.BulkWriter); executemany (the GIL taken back for every claim)
    # without JSON functions or UPDATE ... FROM, or for a chunk whose values cannot go as JSON.
    writer = BulkWriter(connection)
    names = ["status", *columns]
    sets = ", ".join(f"{quote(name)} = m.c{i}" for i, name in enumerate(names))
    stamps = ", updated_at = ?" + (", submitted_at = ?" if submitted else "")
    stamp_params = (stamp, stamp) if submitted else (stamp,)
    per_claim_sets = ", ".join(
        [f"{quote(name)} = ?" for name in ("status", "updated_at", *columns)]
        + (["submitted_at = ?"] if submitted else [])
    )
    per_claim = f"UPDATE claim SET {per_claim_sets} WHERE id = ? AND status = ?"
    for start in range(0, len(ids), 20_000):
        end = start + 20_000
        found = None
        if writer.json_updates:
            chunk = zip(
                ids[start:end], targets[start:end], *(v[start:end] for v in extra), strict=True
            )
            found = writer.json_rows(list(chunk))
        if found is not None:
            picked = ", ".join(
                f"{value} AS {alias}"
                for value, alias in zip(
                    found.values, ["id", *(f"c{i}" for i in range(len(names)))], strict=True
                )
            )
            sql = (
                f"UPDATE claim SET {sets}{stamps} FROM (SELECT {picked} FROM json_each(?)) AS m "
                "WHERE claim.id = m.id AND claim.status = ?"
            )
            result = connection.exec_driver_sql(
                sql, (*stamp_params, *found.parameters, from_status)
            )
        else:
            rows = []
            for n in range(start, min(end, len(ids))):
                row = [targets[n], stamp, *(values[n] for values in extra)]
                if submitted:
                    row.append(stamp)
                row += [ids[n], from_status]
                rows.append(tuple(row))
            result = connection.exec_driver_sql(per_claim, rows)
        changed += result.rowcount
    return changed


_PG_CHUNK = 20_000


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
    events' created_at; default now). Pending changes are flushed once; then the claims move
    through `move_claims` (only rows still in the status read). Returns the number moved.
    """
    to_status = ClaimStatus(to_status)
    reasons = [reason] * len(claims) if isinstance(reason, str) else list(reason)
    if len(reasons) != len(claims):
        raise ValueError(f"{len(reasons)} reasons for {len(claims)} claims")
    if not claims:
        return 0
    moves = [
        ClaimMove(claim.id, claim.practice_id, ClaimStatus(claim.status), ((to_status, text),))
        for claim, text in zip(claims, reasons, strict=True)
    ]
    for move in moves:
        if to_status not in ALLOWED_TRANSITIONS[move.from_status]:
            raise StateError(
                f"claim {move.claim_id} cannot move from {move.from_status.value} to "
                f"{to_status.value}"
            )
    _check_closing(session, moves)
    # New claims and unsaved edits reach the database first, so the UPDATE below sees them.
    session.add_all(claims)
    session.flush()
    now = at or utcnow()
    moved = _apply_moves(session, moves, source=source, at=now, columns=())
    values: dict[str, object] = {"status": to_status, "updated_at": now}
    if to_status is S.SUBMITTED:
        values["submitted_at"] = now
    for claim in claims:
        # The row already holds these values: record them as loaded, not as changes.
        for name, value in values.items():
            set_committed_value(claim, name, value)
    logger.bind(source=source).debug("{} claims -> {}", len(claims), to_status.value)
    return moved
