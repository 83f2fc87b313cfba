from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlmodel import Session, select

from rcm.claims import ALLOWED_TRANSITIONS, can_transition, transition
from rcm.claims.states import ClaimMove, move_claims, transition_many
from rcm.errors import StateError
from rcm.ledger import append_entries
from rcm.models import ClaimEvent, ClaimStatus, LedgerEntry, LedgerKind, Responsible
from tests.rcm.models.builders import ClaimChain, make_practice

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


def _chains(session: Session, statuses: list[ClaimStatus]) -> list[ClaimChain]:
    practice = make_practice(session)
    return [
        ClaimChain(session, practice=practice, pcn=f"PCN{n:04d}", status=status)
        for n, status in enumerate(statuses)
    ]


def test_transition_many_moves_every_claim_and_records_each_event(session: Session) -> None:
    chains = _chains(session, [S.DRAFT, S.DRAFT, S.DRAFT])
    claims = [c.claim for c in chains]

    moved = transition_many(session, claims, S.READY, reason=["a", "b", "c"], source="flow-run-2")
    assert not session.dirty  # the rows are written: nothing left for a later flush
    session.commit()
    session.expire_all()

    assert [c.status for c in claims] == [S.READY] * 3
    stored = {e.claim_id: e for e in session.exec(select(ClaimEvent)).all()}
    assert set(stored) == {c.id for c in claims}
    assert [stored[c.id].reason for c in claims] == ["a", "b", "c"]
    assert {(e.from_status, e.to_status, e.source) for e in stored.values()} == {
        (S.DRAFT, S.READY, "flow-run-2")
    }
    assert moved == 3


def test_transition_many_sets_submitted_at_and_accepts_mixed_sources(session: Session) -> None:
    chains = _chains(session, [S.BATCHED, S.BATCHED])

    transition_many(session, [c.claim for c in chains], S.SUBMITTED, reason="up", source="ic-1")
    in_memory = [c.claim.submitted_at for c in chains]
    session.commit()
    session.expire_all()

    assert all(at is not None for at in in_memory)
    assert [c.claim.submitted_at for c in chains] == in_memory
    assert [c.claim.status for c in chains] == [S.SUBMITTED, S.SUBMITTED]


def test_transition_many_writes_new_claims_and_pending_edits_too(session: Session) -> None:
    chains = _chains(session, [S.DRAFT, S.DRAFT])
    chains[0].claim.payer_claim_control_number = "PCCN-1"

    transition_many(session, [c.claim for c in chains], S.HELD, reason="held", source="t")
    session.commit()
    session.expire_all()

    assert chains[0].claim.payer_claim_control_number == "PCCN-1"
    assert [c.claim.status for c in chains] == [S.HELD, S.HELD]


def test_transition_many_checks_every_edge_before_changing_anything(session: Session) -> None:
    chains = _chains(session, [S.DRAFT, S.SUBMITTED, S.DRAFT])
    claims = [c.claim for c in chains]

    with pytest.raises(StateError) as raised:
        transition_many(session, claims, S.READY, reason="bulk", source="test")

    assert str(claims[1].id) in str(raised.value)
    assert [c.status for c in claims] == [S.DRAFT, S.SUBMITTED, S.DRAFT]
    assert session.exec(select(ClaimEvent)).all() == []


def test_transition_many_needs_one_reason_per_claim(session: Session) -> None:
    chains = _chains(session, [S.DRAFT, S.DRAFT])

    with pytest.raises(ValueError, match="1 reasons for 2 claims"):
        transition_many(session, [c.claim for c in chains], S.READY, reason=["x"], source="t")


def test_transition_many_closing_needs_zero_balances(session: Session) -> None:
    chains = _chains(session, [S.PAID, S.PAID])
    append_entries(
        session,
        [
            LedgerEntry(
                practice_id=chains[1].practice.id,
                claim_id=chains[1].claim.id,
                kind=LedgerKind.PATIENT_RESPONSIBILITY,
                amount=Decimal("5.00"),
                responsible=Responsible.PATIENT,
            )
        ],
    )

    with pytest.raises(StateError, match=r"balance is 5\.00"):
        transition_many(session, [c.claim for c in chains], S.CLOSED, reason="z", source="t")
    assert [c.claim.status for c in chains] == [S.PAID, S.PAID]


def test_transition_many_of_nothing_is_nothing(session: Session) -> None:
    assert transition_many(session, [], S.READY, reason="none", source="t") == 0


def test_transition_many_records_when_it_happened(session: Session) -> None:
    chains = _chains(session, [S.BATCHED])
    at = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)

    transition_many(session, [chains[0].claim], S.SUBMITTED, reason="up", source="t", at=at)
    session.commit()
    session.expire_all()

    assert chains[0].claim.submitted_at == at
    assert chains[0].claim.updated_at == at
    assert session.exec(select(ClaimEvent)).one().created_at == at


def test_transition_many_refuses_claims_another_run_moved_first(session: Session) -> None:
    """A run that read claims as DRAFT must not write over what a concurrent run did since."""
    from sqlalchemy import update

    from rcm.models import Claim

    practice = make_practice(session)
    chains = [ClaimChain(session, practice=practice, pcn=f"PCN{n}") for n in range(3)]
    stale = [c.claim for c in chains]
    session.flush()
    # Another run scrubbed and batched one of them behind this session's back.
    session.execute(
        update(Claim)
        .where(Claim.id == stale[1].id)
        .values(status=S.BATCHED)
        .execution_options(synchronize_session=False)
    )
    with pytest.raises(StateError, match="1 of 3 claims were no longer DRAFT"):
        transition_many(session, stale, S.READY, reason="scrubbed", source="stale run")


# -- move_claims: the row-level bulk transition (ERA posting) ------------------------------------


def _move(chain: ClaimChain, *steps: tuple[ClaimStatus, str], **kw: object) -> ClaimMove:
    return ClaimMove(chain.claim.id, chain.practice.id, chain.claim.status, steps, **kw)  # type: ignore[arg-type]


def _events(session: Session, chain: ClaimChain) -> list[tuple[ClaimStatus, ClaimStatus, str]]:
    return [
        (e.from_status, e.to_status, e.reason)
        for e in session.exec(
            select(ClaimEvent).where(ClaimEvent.claim_id == chain.claim.id).order_by(ClaimEvent.id)  # type: ignore[arg-type]
        ).all()
    ]


def test_move_claims_moves_each_claim_along_its_own_path(session: Session) -> None:
    submitted, paid, accepted = _chains(session, [S.SUBMITTED, S.PAID, S.ACCEPTED])
    session.commit()

    moved = move_claims(
        session,
        [
            _move(submitted, (S.ACCEPTED, "835 first"), (S.PAID, "paid")),
            _move(paid, (S.ACCEPTED, "reversed"), (S.PAID, "paid again")),
            # hex keys, as bulk readers hold them, work too
            ClaimMove(
                accepted.claim.id.hex, accepted.practice.id.hex, S.ACCEPTED, ((S.DENIED, "no"),)
            ),
        ],
        source="interchange-9",
    )
    session.commit()

    assert moved == 3
    assert [c.claim.status for c in (submitted, paid, accepted)] == [S.PAID, S.PAID, S.DENIED]
    assert _events(session, submitted) == [
        (S.SUBMITTED, S.ACCEPTED, "835 first"),
        (S.ACCEPTED, S.PAID, "paid"),
    ]
    assert _events(session, paid) == [
        (S.PAID, S.ACCEPTED, "reversed"),
        (S.ACCEPTED, S.PAID, "paid again"),
    ]
    assert _events(session, accepted) == [(S.ACCEPTED, S.DENIED, "no")]
    sources = {e.source for e in session.exec(select(ClaimEvent)).all()}
    assert sources == {"interchange-9"}


def test_move_claims_writes_other_columns_with_the_move(session: Session) -> None:
    moving, staying = _chains(session, [S.ACCEPTED, S.PAID])
    at = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)

    move_claims(
        session,
        [_move(moving, (S.PAID, "paid"), values=("ICN-1",)), _move(staying, values=("ICN-2",))],
        source="t",
        at=at,
        columns=("payer_claim_control_number",),
    )
    session.commit()
    session.expire_all()

    assert (moving.claim.status, moving.claim.payer_claim_control_number) == (S.PAID, "ICN-1")
    assert (staying.claim.status, staying.claim.payer_claim_control_number) == (S.PAID, "ICN-2")
    assert moving.claim.updated_at == staying.claim.updated_at == at
    assert _events(session, staying) == []


def test_move_claims_checks_every_step_before_writing(session: Session) -> None:
    fine, bad = _chains(session, [S.ACCEPTED, S.SUBMITTED])

    with pytest.raises(StateError) as raised:
        move_claims(
            session,
            [_move(fine, (S.PAID, "ok")), _move(bad, (S.PAID, "skips ACCEPTED"))],
            source="t",
        )

    assert str(bad.claim.id) in str(raised.value)
    assert "SUBMITTED to PAID" in str(raised.value)
    session.expire_all()
    assert [fine.claim.status, bad.claim.status] == [S.ACCEPTED, S.SUBMITTED]
    assert session.exec(select(ClaimEvent)).all() == []


def test_move_claims_refuses_claims_another_run_moved_first(session: Session) -> None:
    from sqlalchemy import update

    from rcm.models import Claim

    chains = _chains(session, [S.ACCEPTED, S.ACCEPTED, S.ACCEPTED])
    moves = [_move(c, (S.PAID, "paid")) for c in chains]
    session.execute(
        update(Claim)
        .where(Claim.id == chains[2].claim.id)  # type: ignore[arg-type]
        .values(status=S.DENIED)
        .execution_options(synchronize_session=False)
    )

    with pytest.raises(StateError, match="1 of 3 claims were no longer ACCEPTED"):
        move_claims(session, moves, source="stale run")


def test_move_claims_closing_needs_zero_balances(session: Session) -> None:
    chain = _chains(session, [S.PAID])[0]
    append_entries(
        session,
        [
            LedgerEntry(
                practice_id=chain.practice.id,
                claim_id=chain.claim.id,
                kind=LedgerKind.CHARGE,
                amount=Decimal("7.50"),
                responsible=Responsible.PAYER,
            )
        ],
    )

    with pytest.raises(StateError, match=r"balance is 7\.50"):
        move_claims(session, [_move(chain, (S.CLOSED, "z"))], source="t")


def test_move_claims_refuses_a_claim_twice_and_misfit_values(session: Session) -> None:
    chain = _chains(session, [S.ACCEPTED])[0]

    with pytest.raises(ValueError, match="twice"):
        move_claims(
            session, [_move(chain, (S.PAID, "a")), _move(chain, (S.DENIED, "b"))], source="t"
        )
    with pytest.raises(ValueError, match="1 values for 0 columns"):
        move_claims(session, [_move(chain, (S.PAID, "a"), values=("x",))], source="t")
    with pytest.raises(ValueError, match="set by the move"):
        move_claims(session, [_move(chain, values=("PAID",))], source="t", columns=("status",))
    assert move_claims(session, [], source="t") == 0


def _copies(
    session: Session, chain: ClaimChain, count: int, status: ClaimStatus, pcn: str = "BULK"
) -> list[str]:
    """`count` claims like `chain`'s (its encounter, coverage and payer) in `status`, inserted in
    bulk, patient control numbers `pcn` and a count; their keys as hex, ascending."""
    import uuid

    from rcm.bulk import BulkWriter, new_hex_ids
    from rcm.models import Claim

    table = Claim.__table__  # type: ignore[attr-defined]
    session.flush()
    model = session.connection().execute(select(table).where(table.c.id == chain.claim.id)).one()
    writer = BulkWriter(session.connection())
    names = [column.name for column in table.c]
    keys = new_hex_ids(count)
    fixed = {
        name: (value.hex if isinstance(value, uuid.UUID) else writer.converter(table, name)(value))
        for name, value in model._mapping.items()
    }
    fixed["status"] = status.value
    rows = [
        tuple(
            keys[n]
            if name == "id"
            else f"{pcn}{n:06d}"
            if name == "patient_control_number"
            else fixed[name]
            for name in names
        )
        for n in range(count)
    ]
    writer.insert(table, names, rows)
    return keys


def test_move_claims_in_chunks_counts_every_row_and_refuses_a_stale_one(session: Session) -> None:
    """More claims than one statement takes (20,000): every chunk's rows are counted, and a
    claim another run moved in a later chunk still fails the whole move."""
    from sqlalchemy import func, update
    from sqlmodel import col

    from rcm.models import Claim

    chain = ClaimChain(session)
    keys = _copies(session, chain, 20_005, S.ACCEPTED)
    practice = chain.practice.id.hex

    moved = move_claims(
        session,
        [
            ClaimMove(key, practice, S.ACCEPTED, ((S.PAID, "paid"),), (f"ICN-{n}",))
            for n, key in enumerate(keys)
        ],
        source="big 835",
        columns=("payer_claim_control_number",),
    )
    assert moved == 20_005
    statuses = session.execute(
        select(col(Claim.status), func.count())
        .where(col(Claim.patient_control_number).like("BULK%"))
        .group_by(col(Claim.status))
    ).all()
    assert [(status, n) for status, n in statuses] == [(S.PAID, 20_005)]
    icns = session.scalars(
        select(col(Claim.payer_claim_control_number))
        .where(col(Claim.patient_control_number).in_(["BULK000000", "BULK020004"]))
        .order_by(col(Claim.patient_control_number))
    ).all()
    assert icns == ["ICN-0", "ICN-20004"]

    session.execute(
        update(Claim)
        .where(col(Claim.patient_control_number) == "BULK020002")  # in the second chunk
        .values(status=S.DENIED)
        .execution_options(synchronize_session=False)
    )
    with pytest.raises(StateError, match="1 of 20005 claims were no longer PAID"):
        move_claims(
            session,
            [ClaimMove(key, practice, S.PAID, ((S.ACCEPTED, "reversed"),)) for key in keys],
            source="reversals",
        )


def _fixed(value: bool) -> property:
    def get(self: object) -> bool:
        return value

    return property(get)


def test_move_claims_stores_what_the_per_claim_update_stores(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite: the UPDATE ... FROM json_each leaves each claim as executemany's per-claim
    UPDATE does (storage class and value), also where a value cannot go as JSON."""
    from sqlalchemy import func
    from sqlmodel import col

    from rcm.bulk import BulkWriter
    from rcm.models import Claim

    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("SQLite's JSON path")
    values = ["ICN-1", "123", "4.50", "é 😀", 'quote " back\\slash', "", None, 77]
    chain = ClaimChain(session)
    practice = chain.practice.id.hex
    stored = []
    for json_updates in (True, False):
        monkeypatch.setattr(BulkWriter, "json_updates", _fixed(json_updates))
        keys = _copies(session, chain, len(values), S.BATCHED, pcn=f"JSON{json_updates}")
        move_claims(
            session,
            [
                ClaimMove(key, practice, S.BATCHED, ((S.SUBMITTED, "sent"),), (value,))
                for key, value in zip(keys, values, strict=True)
            ],
            source="t",
            at=datetime(2026, 11, 23, 8, 30, tzinfo=UTC),
            columns=("payer_claim_control_number",),
        )
        listed = ", ".join(
            f"typeof({name}), {name}"
            for name in ("status", "payer_claim_control_number", "updated_at", "submitted_at")
        )
        stored.append(
            session.connection()
            .exec_driver_sql(
                f"SELECT {listed} FROM claim WHERE id IN ({', '.join('?' * len(keys))}) "
                "ORDER BY id",
                tuple(keys),
            )
            .all()
        )
        assert session.scalar(select(func.count()).where(col(Claim.status) == S.SUBMITTED)) == len(
            values
        ) * (2 if not json_updates else 1)
    assert stored[0] == stored[1]
    assert [row[3] for row in stored[0]] == [
        "ICN-1",
        "123",
        "4.50",
        "é 😀",
        'quote " back\\slash',
        "",
        None,
        "77",
    ]
    # A NUL cannot go as JSON: that chunk is updated claim by claim, and stored whole.
    keys = _copies(session, chain, 2, S.BATCHED, pcn="NUL")
    monkeypatch.setattr(BulkWriter, "json_updates", _fixed(True))
    move_claims(
        session,
        [
            ClaimMove(key, practice, S.BATCHED, ((S.SUBMITTED, "sent"),), (value,))
            for key, value in zip(keys, ["a\x00b", "c"], strict=True)
        ],
        source="t",
        columns=("payer_claim_control_number",),
    )
    icns = session.connection().exec_driver_sql(
        "SELECT payer_claim_control_number FROM claim WHERE id IN (?, ?) ORDER BY id", tuple(keys)
    )
    assert [icn for (icn,) in icns] == ["a\x00b", "c"]
