"""Each constraint of docs/data-model.md rejects the bad row and accepts the good one."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, select

from rcm.models import (
    Appointment,
    ControlNumber,
    ControlNumberKind,
    Diagnosis,
    EligibilityCheck,
    Encounter,
    Patient,
    PatientStatement,
    PayerEnrollment,
    Practice,
    Provider,
    Remittance,
    ServiceLine,
)
from tests.rcm.models.builders import (
    ClaimChain,
    make_interchange,
    make_patient,
    make_practice,
)


def _rejected(session: Session) -> None:
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_duplicate_patient_control_number_in_one_practice_is_rejected(session: Session) -> None:
    first = ClaimChain(session, pcn="PCN0001")
    session.commit()

    with pytest.raises(IntegrityError):
        ClaimChain(session, practice=first.practice, payer=first.payer, pcn="PCN0001")
    session.rollback()


def test_same_patient_control_number_is_allowed_in_another_practice(session: Session) -> None:
    first = ClaimChain(session, pcn="PCN0001")
    other = make_practice(session, slug="southside")

    chain = ClaimChain(session, practice=other, payer=first.payer, pcn="PCN0001")
    session.commit()

    assert chain.claim.practice_id == other.id


def test_the_same_file_is_one_interchange_per_clearinghouse(session: Session) -> None:
    practice = make_practice(session)
    make_interchange(session, practice, sha256="a" * 64)
    session.commit()

    with pytest.raises(IntegrityError):
        make_interchange(session, practice, sha256="a" * 64)
    session.rollback()

    other_clearinghouse = make_interchange(
        session, practice, sha256="a" * 64, clearinghouse="availity"
    )
    assert other_clearinghouse.sha256 == "a" * 64


def test_interchanges_not_yet_built_may_share_an_empty_sha256(session: Session) -> None:
    practice = make_practice(session)

    make_interchange(session, practice)
    make_interchange(session, practice)
    session.commit()


def test_a_control_number_is_used_once_per_sender_and_kind(session: Session) -> None:
    practice = make_practice(session)
    interchange = make_interchange(session, practice)

    def number(sender: str, kind: ControlNumberKind, value: int) -> ControlNumber:
        return ControlNumber(
            sender_id=sender, kind=kind, value=value, serial=value, interchange_id=interchange.id
        )

    session.add(number("SUBMITTER1", ControlNumberKind.ISA, 1))
    session.add(number("SUBMITTER1", ControlNumberKind.GS, 1))
    session.add(number("SUBMITTER2", ControlNumberKind.ISA, 1))
    session.commit()

    session.add(number("SUBMITTER1", ControlNumberKind.ISA, 1))
    _rejected(session)


def test_a_patient_row_needs_a_practice(session: Session) -> None:
    session.add(
        Patient(
            account_number="A1",
            first_name="Testy",
            last_name="Patient",
            birth_date=date(1980, 1, 1),
        )
    )
    _rejected(session)


def test_foreign_keys_are_enforced(session: Session) -> None:
    session.add(
        Patient(
            practice_id=uuid.uuid4(),
            account_number="A1",
            first_name="Testy",
            last_name="Patient",
            birth_date=date(1980, 1, 1),
        )
    )
    _rejected(session)


def test_every_patient_and_money_table_requires_a_practice() -> None:
    import rcm.models  # noqa: F401

    tables = {
        name: table
        for name, table in SQLModel.metadata.tables.items()
        if "practice_id" in table.columns
    }
    # AuditEvent may record actions that belong to no practice (onboarding, payer updates).
    tables.pop("audit_event")
    # Posting tables whose practice another foreign key of the row pins (migration 0004):
    # table -> that key's column.
    pinned = {
        "claim_payment": "remittance_id",
        "service_payment": "claim_payment_id",
        "adjustment": "claim_payment_id",
        "denial": "claim_id",
        "ledger_entry": "claim_id",
    }
    assert len(tables) >= 20
    for name, table in tables.items():
        column = table.columns["practice_id"]
        assert not column.nullable, name
        targets = {fk.target_fullname for fk in column.foreign_keys}
        if name in pinned:
            assert targets == set(), name
            assert table.columns[pinned[name]].foreign_keys, name
        else:
            assert targets == {"practice.id"}, name


def _duplicate_factories() -> list[tuple[str, Callable[[Session, ClaimChain], object]]]:
    def provider(session: Session, chain: ClaimChain) -> object:
        return Provider(practice_id=chain.practice.id, npi="1972615244", last_name="Doe")

    def enrollment(session: Session, chain: ClaimChain) -> object:
        return PayerEnrollment(practice_id=chain.practice.id, payer_id=chain.payer.id)

    def appointment(session: Session, chain: ClaimChain) -> object:
        doctor = session.exec(
            select(Provider).where(Provider.practice_id == chain.practice.id)
        ).first()
        if doctor is None:
            doctor = Provider(practice_id=chain.practice.id, npi="1972615244", last_name="Doe")
            session.add(doctor)
            session.flush()
        return Appointment(
            practice_id=chain.practice.id,
            external_id="APPT-1",
            patient_id=chain.patient.id,
            provider_id=doctor.id,
            scheduled_at=datetime(2026, 11, 3, 15, tzinfo=UTC),
        )

    def eligibility(session: Session, chain: ClaimChain) -> object:
        return EligibilityCheck(
            practice_id=chain.practice.id,
            patient_id=chain.patient.id,
            coverage_id=chain.coverage.id,
            trace_number="TRACE-1",
            service_date=date(2026, 11, 3),
        )

    def encounter(session: Session, chain: ClaimChain) -> object:
        return Encounter(
            practice_id=chain.practice.id,
            external_id="ENC-2",
            patient_id=chain.patient.id,
            payer_id=chain.payer.id,
            service_date=date(2026, 11, 2),
        )

    def service_line(session: Session, chain: ClaimChain) -> object:
        return ServiceLine(
            practice_id=chain.practice.id,
            encounter_id=chain.encounter.id,
            line_number=2,
            procedure_code="99214",
            charge=Decimal("90.00"),
        )

    def diagnosis(session: Session, chain: ClaimChain) -> object:
        return Diagnosis(
            practice_id=chain.practice.id, encounter_id=chain.encounter.id, sequence=1, code="Z0000"
        )

    def remittance(session: Session, chain: ClaimChain) -> object:
        interchange = make_interchange(session, chain.practice)
        return Remittance(
            practice_id=chain.practice.id,
            interchange_id=interchange.id,
            payer_identifier="1TEST1",
            trace_number="EFT-0001",
            total_paid=Decimal("10.00"),
            payment_method="ACH",
        )

    def statement(session: Session, chain: ClaimChain) -> object:
        return PatientStatement(
            practice_id=chain.practice.id,
            patient_id=chain.patient.id,
            statement_date=date(2026, 11, 30),
            balance=Decimal("20.00"),
        )

    def patient(session: Session, chain: ClaimChain) -> object:
        return Patient(
            practice_id=chain.practice.id,
            account_number="ACCT-2",
            first_name="Other",
            last_name="Person",
            birth_date=date(1990, 2, 2),
        )

    def practice(session: Session, chain: ClaimChain) -> object:
        fields = chain.practice.model_dump(exclude={"id", "slug"})
        return Practice(**fields, slug="west")

    return [
        ("provider npi per practice", provider),
        ("group enrollment per practice and payer", enrollment),
        ("appointment external id per practice", appointment),
        ("eligibility trace number per practice", eligibility),
        ("encounter external id per practice", encounter),
        ("service line number per encounter", service_line),
        ("diagnosis sequence per encounter", diagnosis),
        ("remittance payer and trace number per practice", remittance),
        ("one statement per patient per day", statement),
        ("patient account number per practice", patient),
        ("practice slug", practice),
    ]


@pytest.mark.parametrize(
    "factory", [f for _, f in _duplicate_factories()], ids=[n for n, _ in _duplicate_factories()]
)
def test_unique_keys_reject_the_second_row(
    session: Session, factory: Callable[[Session, ClaimChain], object]
) -> None:
    chain = ClaimChain(session)
    session.add(factory(session, chain))
    session.commit()

    session.add(factory(session, chain))
    _rejected(session)


def test_provider_enrollments_are_unique_per_provider(session: Session) -> None:
    chain = ClaimChain(session)
    doctor = Provider(practice_id=chain.practice.id, npi="1972615244", last_name="Doe")
    session.add(doctor)
    session.flush()

    def enrollment() -> PayerEnrollment:
        return PayerEnrollment(
            practice_id=chain.practice.id, payer_id=chain.payer.id, provider_id=doctor.id
        )

    session.add(enrollment())
    session.add(PayerEnrollment(practice_id=chain.practice.id, payer_id=chain.payer.id))
    session.commit()

    session.add(enrollment())
    _rejected(session)


def test_patient_account_numbers_may_repeat_across_practices(session: Session) -> None:
    north = make_practice(session, slug="north")
    south = make_practice(session, slug="south")

    make_patient(session, north, account_number="1001")
    make_patient(session, south, account_number="1001")
    session.commit()
