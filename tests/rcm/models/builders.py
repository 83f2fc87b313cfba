"""Minimal valid rows for tests (synthetic data only). Each builder adds and flushes."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from sqlmodel import Session

from rcm.models import (
    Claim,
    ClaimStatus,
    Coverage,
    Direction,
    Encounter,
    Interchange,
    InterchangeKind,
    InterchangeStatus,
    Patient,
    Payer,
    Practice,
    ServiceLine,
)

T = TypeVar("T")


def _save(session: Session, row: T) -> T:
    session.add(row)
    session.flush()
    return row


def make_practice(session: Session, slug: str = "northside", **fields: Any) -> Practice:
    values: dict[str, Any] = {
        "slug": slug,
        "name": f"{slug.title()} Family Medicine",
        "billing_npi": "1234567893",
        "tin": "123456789",
        "taxonomy_code": "207Q00000X",
        "address1": "1 Test Way",
        "city": "Springfield",
        "state": "IL",
        "zip": "62701",
        "clearinghouse": "sandbox",
        "clearinghouse_account": f"SUB-{slug}",
    }
    values.update(fields)
    return _save(session, Practice(**values))


def make_payer(session: Session, key: str = "test-payer", **fields: Any) -> Payer:
    values: dict[str, Any] = {"key": key, "name": "Test Payer", "payer_id": "TEST1"}
    values.update(fields)
    return _save(session, Payer(**values))


def make_patient(
    session: Session, practice: Practice, account_number: str = "ACCT-1", **fields: Any
) -> Patient:
    values: dict[str, Any] = {
        "practice_id": practice.id,
        "account_number": account_number,
        "first_name": "Testy",
        "last_name": "Patient",
        "birth_date": date(1980, 1, 1),
    }
    values.update(fields)
    return _save(session, Patient(**values))


def make_interchange(
    session: Session,
    practice: Practice,
    *,
    sha256: str | None = None,
    clearinghouse: str = "sandbox",
    kind: InterchangeKind = InterchangeKind.CLAIM_837P,
    direction: Direction = Direction.OUTBOUND,
) -> Interchange:
    return _save(
        session,
        Interchange(
            practice_id=practice.id,
            clearinghouse=clearinghouse,
            direction=direction,
            kind=kind,
            sha256=sha256,
            status=InterchangeStatus.ASSIGNED,
        ),
    )


class ClaimChain:
    """A practice with one patient, coverage, encounter, service line and claim."""

    def __init__(
        self,
        session: Session,
        *,
        practice: Practice | None = None,
        payer: Payer | None = None,
        pcn: str = "PCN0001",
        status: ClaimStatus = ClaimStatus.DRAFT,
        charge: Decimal = Decimal("125.00"),
    ) -> None:
        self.practice = practice or make_practice(session)
        self.payer = payer or make_payer(session, key=f"payer-{pcn.lower()}")
        self.patient = make_patient(session, self.practice, account_number=f"ACCT-{pcn}")
        self.coverage = _save(
            session,
            Coverage(
                practice_id=self.practice.id,
                patient_id=self.patient.id,
                payer_id=self.payer.id,
                member_id="MEMBER-TEST-1",
            ),
        )
        self.encounter = _save(
            session,
            Encounter(
                practice_id=self.practice.id,
                external_id=f"ENC-{pcn}",
                patient_id=self.patient.id,
                coverage_id=self.coverage.id,
                payer_id=self.payer.id,
                service_date=date(2026, 11, 2),
            ),
        )
        self.line = _save(
            session,
            ServiceLine(
                practice_id=self.practice.id,
                encounter_id=self.encounter.id,
                line_number=1,
                procedure_code="99213",
                charge=charge,
                diagnosis_pointers=[1],
            ),
        )
        self.claim = _save(
            session,
            Claim(
                practice_id=self.practice.id,
                encounter_id=self.encounter.id,
                patient_id=self.patient.id,
                coverage_id=self.coverage.id,
                payer_id=self.payer.id,
                patient_control_number=pcn,
                status=status,
                total_charge=charge,
                service_date_from=date(2026, 11, 2),
                service_date_to=date(2026, 11, 2),
            ),
        )
