"""Replacement (frequency 7) and void (frequency 8) claims (rcm.claims.corrections)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlmodel import Session, col

from rcm.claims.corrections import create_replacement_claim, create_void_claim
from rcm.claims.create import create_claims
from rcm.errors import StateError
from rcm.ledger import claim_balance
from rcm.models import Claim, ClaimEvent, ClaimStatus, FrequencyCode, LedgerEntry, LedgerKind
from tests.rcm.claims.test_create import TODAY, Clinic


def denied_claim(
    session: Session, status: ClaimStatus = ClaimStatus.DENIED
) -> tuple[Clinic, Claim]:
    clinic = Clinic(session)
    patient, coverage = clinic.patient()
    clinic.encounter(patient, coverage, external_id="V100")
    create_claims(session, practice_id=clinic.practice.id, today=TODAY)
    (claim,) = clinic.claims()
    claim.status = status  # the lifecycle up to the denial is another module's test
    claim.payer_claim_control_number = "ICN2026001"
    session.add(claim)
    session.flush()
    return clinic, claim


def test_replacement_names_the_original_and_moves_the_charges(session: Session) -> None:
    clinic, original = denied_claim(session)
    replacement = create_replacement_claim(session, original.id, reason="corrected modifier")
    session.commit()
    assert replacement.frequency_code is FrequencyCode.REPLACEMENT
    assert replacement.original_claim_id == original.id
    assert replacement.original_payer_claim_number == "ICN2026001"
    assert replacement.patient_control_number == "NOR-V100R1"
    assert replacement.status is ClaimStatus.DRAFT
    assert replacement.total_charge == Decimal("140.00")
    assert original.status is ClaimStatus.REPLACED
    practice_id = clinic.practice.id
    assert claim_balance(session, practice_id=practice_id, claim_id=original.id) == 0
    assert claim_balance(session, practice_id=practice_id, claim_id=replacement.id) == Decimal(
        "140.00"
    )
    events = (
        session.execute(select(ClaimEvent).where(col(ClaimEvent.claim_id) == original.id))
        .scalars()
        .all()
    )
    assert [e.to_status for e in events][-1] is ClaimStatus.REPLACED


def test_void_reverses_the_charges_and_voids_the_original(session: Session) -> None:
    clinic, original = denied_claim(session)
    void = create_void_claim(session, original.id, reason="billed in error")
    assert void.frequency_code is FrequencyCode.VOID
    assert void.patient_control_number == "NOR-V100V1"
    assert void.total_charge == original.total_charge
    assert original.status is ClaimStatus.VOIDED
    assert claim_balance(session, practice_id=clinic.practice.id, claim_id=original.id) == 0
    assert (
        session.execute(select(LedgerEntry).where(col(LedgerEntry.claim_id) == void.id)).first()
        is None
    )


def test_asking_twice_returns_the_open_correction(session: Session) -> None:
    _, original = denied_claim(session, ClaimStatus.PAID)
    first = create_replacement_claim(session, original.id, reason="add a line")
    second = create_replacement_claim(session, original.id, reason="add a line")
    assert first.id == second.id
    # A paid claim cannot move to REPLACED: it stays PAID until the payer reverses it.
    assert original.status is ClaimStatus.PAID
    reversals = (
        session.execute(select(LedgerEntry).where(col(LedgerEntry.kind) == LedgerKind.REVERSAL))
        .scalars()
        .all()
    )
    assert len(reversals) == 2


def test_claims_the_payer_never_saw_or_without_a_payer_number_are_refused(session: Session) -> None:
    _, original = denied_claim(session, ClaimStatus.READY)
    with pytest.raises(StateError, match="resend"):
        create_replacement_claim(session, original.id, reason="x")
    original.status = ClaimStatus.DENIED
    original.payer_claim_control_number = None
    session.add(original)
    with pytest.raises(StateError, match="REF\\*F8"):
        create_void_claim(session, original.id, reason="x")


def test_a_second_replacement_gets_the_next_number(session: Session) -> None:
    _, original = denied_claim(session, ClaimStatus.PAID)
    first = create_replacement_claim(session, original.id, reason="one")
    first.status = ClaimStatus.REJECTED
    session.add(first)
    session.flush()
    second = create_replacement_claim(session, original.id, reason="two")
    assert second.id != first.id
    assert second.patient_control_number == "NOR-V100R2"
    practice_id = original.practice_id
    assert claim_balance(session, practice_id=practice_id, claim_id=first.id) == 0
    assert claim_balance(session, practice_id=practice_id, claim_id=second.id) == Decimal("140.00")
