from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import delete, update
from sqlmodel import Session, select

from rcm.errors import PostingError, RcmError
from rcm.ledger import (
    LedgerAppendOnlyError,
    append_entries,
    claim_balance,
    line_balance,
    practice_balance,
    reverse_entries,
)
from rcm.models import LedgerEntry, LedgerKind, Responsible
from tests.rcm.models.builders import ClaimChain, make_practice


def _entry(
    chain: ClaimChain, kind: LedgerKind, amount: str, responsible: Responsible
) -> LedgerEntry:
    return LedgerEntry(
        practice_id=chain.practice.id,
        claim_id=chain.claim.id,
        service_line_id=chain.line.id,
        kind=kind,
        amount=Decimal(amount),
        responsible=responsible,
    )


@pytest.fixture
def posted(session: Session) -> tuple[ClaimChain, list[LedgerEntry]]:
    """A $125.00 charge; the payer pays $80.00, adjusts $25.00 (CO-45), patient owes $20.00."""
    chain = ClaimChain(session)
    entries = append_entries(
        session,
        [
            _entry(chain, LedgerKind.CHARGE, "125.00", Responsible.PAYER),
            _entry(chain, LedgerKind.PAYER_PAYMENT, "-80.00", Responsible.PAYER),
            _entry(chain, LedgerKind.ADJUSTMENT, "-25.00", Responsible.PAYER),
            _entry(chain, LedgerKind.PATIENT_RESPONSIBILITY, "-20.00", Responsible.PAYER),
            _entry(chain, LedgerKind.PATIENT_RESPONSIBILITY, "20.00", Responsible.PATIENT),
        ],
    )
    session.commit()
    return chain, entries


def test_balances_are_sums_of_entries(
    session: Session, posted: tuple[ClaimChain, list[LedgerEntry]]
) -> None:
    chain, _ = posted
    practice_id = chain.practice.id

    assert claim_balance(session, practice_id=practice_id, claim_id=chain.claim.id) == Decimal(
        "20.00"
    )
    assert claim_balance(
        session, practice_id=practice_id, claim_id=chain.claim.id, responsible=Responsible.PAYER
    ) == Decimal("0.00")
    assert line_balance(
        session,
        practice_id=practice_id,
        service_line_id=chain.line.id,
        responsible=Responsible.PATIENT,
    ) == Decimal("20.00")
    assert practice_balance(session, practice_id=practice_id) == Decimal("20.00")


def test_balances_never_cross_practices(
    session: Session, posted: tuple[ClaimChain, list[LedgerEntry]]
) -> None:
    chain, _ = posted
    other = make_practice(session, slug="southside")

    assert claim_balance(session, practice_id=other.id, claim_id=chain.claim.id) == Decimal("0.00")
    assert practice_balance(session, practice_id=other.id) == Decimal("0.00")


def test_an_empty_claim_has_a_zero_balance(session: Session) -> None:
    chain = ClaimChain(session)

    balance = claim_balance(session, practice_id=chain.practice.id, claim_id=chain.claim.id)

    assert balance == Decimal("0.00")
    assert str(balance) == "0.00"


def test_ledger_entries_cannot_be_changed(
    session: Session, posted: tuple[ClaimChain, list[LedgerEntry]]
) -> None:
    _, entries = posted
    entries[1].amount = Decimal("-90.00")

    with pytest.raises(LedgerAppendOnlyError, match="cannot be changed"):
        session.flush()


def test_ledger_entries_cannot_be_deleted(
    session: Session, posted: tuple[ClaimChain, list[LedgerEntry]]
) -> None:
    _, entries = posted
    session.delete(entries[1])

    with pytest.raises(LedgerAppendOnlyError, match="cannot be deleted"):
        session.flush()


def test_bulk_update_and_delete_are_refused(
    session: Session, posted: tuple[ClaimChain, list[LedgerEntry]]
) -> None:
    with pytest.raises(LedgerAppendOnlyError):
        session.execute(update(LedgerEntry).values(amount=Decimal("0.00")))
    with pytest.raises(LedgerAppendOnlyError):
        session.execute(delete(LedgerEntry))


def test_append_only_error_is_a_domain_error() -> None:
    assert issubclass(LedgerAppendOnlyError, RcmError)


def test_reading_entries_back_is_not_a_change(
    session: Session, posted: tuple[ClaimChain, list[LedgerEntry]]
) -> None:
    chain, _ = posted
    session.expire_all()
    rows = session.exec(select(LedgerEntry).where(LedgerEntry.claim_id == chain.claim.id)).all()

    session.commit()

    assert len(rows) == 5


def test_reversal_negates_the_entries_and_points_at_them(
    session: Session, posted: tuple[ClaimChain, list[LedgerEntry]]
) -> None:
    chain, entries = posted
    payment = entries[1:4]

    reversals = reverse_entries(
        session, practice_id=chain.practice.id, entries=payment, reason="CLP02=22 take-back"
    )
    session.commit()

    assert [r.amount for r in reversals] == [Decimal("80.00"), Decimal("25.00"), Decimal("20.00")]
    assert [r.reverses_entry_id for r in reversals] == [e.id for e in payment]
    assert {r.kind for r in reversals} == {LedgerKind.REVERSAL}
    assert claim_balance(
        session,
        practice_id=chain.practice.id,
        claim_id=chain.claim.id,
        responsible=Responsible.PAYER,
    ) == Decimal("125.00")
    assert len(session.exec(select(LedgerEntry)).all()) == 8


def test_an_entry_is_reversed_only_once(
    session: Session, posted: tuple[ClaimChain, list[LedgerEntry]]
) -> None:
    chain, entries = posted
    reverse_entries(session, practice_id=chain.practice.id, entries=[entries[1]], reason="22")
    session.commit()

    with pytest.raises(PostingError, match="already reversed"):
        reverse_entries(session, practice_id=chain.practice.id, entries=[entries[1]], reason="22")


def test_reversing_another_practices_entries_is_refused(
    session: Session, posted: tuple[ClaimChain, list[LedgerEntry]]
) -> None:
    _, entries = posted
    other = make_practice(session, slug="southside")

    with pytest.raises(PostingError, match="another practice"):
        reverse_entries(session, practice_id=other.id, entries=entries, reason="wrong practice")


def test_appending_an_existing_entry_again_is_refused(
    session: Session, posted: tuple[ClaimChain, list[LedgerEntry]]
) -> None:
    _, entries = posted

    with pytest.raises(LedgerAppendOnlyError, match="already in the ledger"):
        append_entries(session, [entries[0]])


def test_appended_amounts_must_be_whole_cents(session: Session) -> None:
    chain = ClaimChain(session)

    with pytest.raises(ValueError, match="fractions of a cent"):
        append_entries(session, [_entry(chain, LedgerKind.CHARGE, "10.001", Responsible.PAYER)])


def test_the_database_refuses_raw_updates_and_deletes(
    session: Session, posted: tuple[ClaimChain, list[LedgerEntry]]
) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    for statement in ("UPDATE ledger_entry SET amount = 0", "DELETE FROM ledger_entry"):
        with pytest.raises(DBAPIError, match="append-only"):
            session.execute(text(statement))
        session.rollback()

    assert len(session.exec(select(LedgerEntry)).all()) == 5


def test_an_entry_loaded_elsewhere_cannot_be_appended_again(
    session: Session, posted: tuple[ClaimChain, list[LedgerEntry]]
) -> None:
    _, entries = posted
    session.expunge(entries[0])

    with pytest.raises(LedgerAppendOnlyError, match="already in the ledger"):
        append_entries(session, [entries[0]])


def test_bulk_rows_append_in_cents_and_sum_into_balances(session: Session) -> None:
    from rcm.ledger import append_ledger_rows

    chain = ClaimChain(session)
    row = {
        "practice_id": chain.practice.id,
        "claim_id": chain.claim.id,
        "kind": LedgerKind.CHARGE,
        "responsible": Responsible.PAYER,
    }
    with pytest.raises(ValueError, match="fractions of a cent"):
        append_ledger_rows(session, [{**row, "amount": Decimal("120.005")}])
    appended = append_ledger_rows(
        session,
        [
            {
                "practice_id": chain.practice.id,
                "claim_id": chain.claim.id,
                "kind": LedgerKind.CHARGE,
                "amount": Decimal("120.01"),
                "responsible": Responsible.PAYER,
            },
            {
                "practice_id": chain.practice.id,
                "claim_id": chain.claim.id,
                "kind": LedgerKind.PAYER_PAYMENT,
                "amount": Decimal("-100"),
                "responsible": Responsible.PAYER,
            },
        ],
    )
    assert appended == 2
    assert append_ledger_rows(session, []) == 0
    balance = claim_balance(session, practice_id=chain.practice.id, claim_id=chain.claim.id)
    assert balance == Decimal("20.01")
