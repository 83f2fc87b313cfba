from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, MetaData, Table, text
from sqlalchemy.exc import StatementError
from sqlmodel import Session, select

from connectors.db import make_engine
from rcm.models import (
    Claim,
    ClaimStatus,
    LedgerEntry,
    LedgerKind,
    Money,
    Responsible,
    utcnow,
)
from tests.rcm.models.builders import ClaimChain


def _reload_claim(session: Session, claim: Claim) -> Claim:
    claim_id = claim.id
    session.commit()
    session.expunge_all()
    return session.exec(select(Claim).where(Claim.id == claim_id)).one()


@pytest.mark.parametrize(
    "amount", ["0.01", "125.00", "1234567.89", "9999999999.99", "-0.10", "0.29", "100"]
)
def test_money_comes_back_as_the_exact_decimal_in_cents(session: Session, amount: str) -> None:
    chain = ClaimChain(session, charge=Decimal(amount))

    claim = _reload_claim(session, chain.claim)

    assert isinstance(claim.total_charge, Decimal)
    assert claim.total_charge == Decimal(amount)
    assert claim.total_charge.as_tuple().exponent == -2


def test_money_refuses_float(session: Session) -> None:
    chain = ClaimChain(session)
    chain.claim.total_charge = 10.1  # type: ignore[assignment]
    session.add(chain.claim)

    with pytest.raises(StatementError, match="money must be Decimal"):
        session.flush()


def test_money_refuses_fractions_of_a_cent(session: Session) -> None:
    chain = ClaimChain(session)
    chain.claim.total_charge = Decimal("10.005")
    session.add(chain.claim)

    with pytest.raises(StatementError, match="fractions of a cent"):
        session.flush()


def test_a_sum_of_money_is_exact_in_cents(session: Session) -> None:
    chain = ClaimChain(session)
    for _ in range(10):
        session.add(
            LedgerEntry(
                practice_id=chain.practice.id,
                claim_id=chain.claim.id,
                kind=LedgerKind.PATIENT_PAYMENT,
                amount=Decimal("0.10"),
                responsible=Responsible.PATIENT,
            )
        )
    session.flush()

    from sqlalchemy import func
    from sqlmodel import col

    total = session.exec(select(func.sum(col(LedgerEntry.amount)))).one()

    assert total == Decimal("1.00")
    assert str(total) == "1.00"


def test_timestamps_come_back_timezone_aware_in_utc(session: Session) -> None:
    chain = ClaimChain(session)
    eastern = timezone(timedelta(hours=-5))
    chain.claim.submitted_at = datetime(2026, 11, 2, 9, 30, tzinfo=eastern)

    claim = _reload_claim(session, chain.claim)

    assert claim.submitted_at == datetime(2026, 11, 2, 14, 30, tzinfo=UTC)
    assert claim.submitted_at is not None
    assert claim.submitted_at.utcoffset() == timedelta(0)
    assert claim.created_at.tzinfo is not None


def test_naive_timestamps_are_refused(session: Session) -> None:
    chain = ClaimChain(session)
    chain.claim.submitted_at = datetime(2026, 11, 2, 9, 30)
    session.add(chain.claim)

    with pytest.raises(StatementError, match="naive datetime refused"):
        session.flush()


def test_utcnow_is_aware() -> None:
    assert utcnow().tzinfo is UTC


def test_enums_are_stored_as_their_string_values(session: Session) -> None:
    chain = ClaimChain(session, status=ClaimStatus.WRITTEN_OFF)
    session.commit()

    stored = session.execute(
        text("SELECT status, claim_type FROM claim WHERE patient_control_number = :pcn"),
        {"pcn": "PCN0001"},
    ).one()

    assert tuple(stored) == ("WRITTEN_OFF", "professional")
    assert _reload_claim(session, chain.claim).status is ClaimStatus.WRITTEN_OFF


_money_table = Table("money_probe", MetaData(), Column("amount", Money))


@settings(max_examples=200, deadline=None)
@given(
    amount=st.decimals(
        min_value=Decimal("-9999999999.99"),
        max_value=Decimal("9999999999.99"),
        places=2,
        allow_nan=False,
        allow_infinity=False,
    )
)
def test_every_amount_in_range_round_trips_exactly_through_sqlite(amount: Decimal) -> None:
    engine = make_engine("sqlite://")
    _money_table.create(engine)
    with engine.begin() as connection:
        connection.execute(_money_table.insert().values(amount=amount))
        stored = connection.execute(select(_money_table.c.amount)).scalar_one()
    engine.dispose()

    assert stored == amount
    assert stored.as_tuple().exponent == -2
