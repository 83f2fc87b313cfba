"""Claims from charges: encounters without a claim become DRAFT claims (create_claims).

The builders here (`Clinic`) make a practice with providers, payers, patients, coverages and
encounters; the submission, batching and correction tests use them too. Synthetic data only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select
from sqlmodel import Session, col

from rcm.claims.create import (
    NO_PRIMARY_COVERAGE,
    PCN_MAX_LENGTH,
    create_claims,
    derived_control_number,
    patient_control_number,
    practice_prefix,
)
from rcm.identifiers import make_npi
from rcm.ledger import claim_balance
from rcm.models import (
    Claim,
    ClaimEvent,
    ClaimStatus,
    ClaimType,
    Coverage,
    CredentialingStatus,
    Diagnosis,
    DiagnosisKind,
    Encounter,
    LedgerEntry,
    LedgerKind,
    Patient,
    Payer,
    PayerEnrollment,
    Practice,
    Provider,
    ProviderRole,
    Responsible,
    ServiceLine,
    Sex,
    WorkItem,
    new_id,
)

TODAY = date(2026, 11, 20)
DOS = date(2026, 11, 2)


@dataclass
class Clinic:
    """A practice with a rendering provider, a facility, two payers and helpers for patients
    and encounters."""

    session: Session
    slug: str = "northside"
    practice: Practice = field(init=False)
    rendering: Provider = field(init=False)
    facility: Provider = field(init=False)
    payer: Payer = field(init=False)
    second_payer: Payer = field(init=False)
    _count: int = 0

    def __post_init__(self) -> None:
        s = self.session
        self.practice = Practice(
            slug=self.slug,
            name=f"{self.slug.title()} Family Medicine",
            billing_npi=make_npi("123456789"),
            tin="123456789",
            taxonomy_code="207Q00000X",
            address1="1 TEST WAY",
            city="SPRINGFIELD",
            state="IL",
            zip="627010001",
            phone="5555550100",
            clearinghouse="sandbox",
            clearinghouse_account="SUBMIT01",
        )
        s.add(self.practice)
        s.flush()
        self.rendering = Provider(
            practice_id=self.practice.id,
            npi=make_npi("111111111"),
            first_name="ANN",
            last_name="DOCTOR",
            taxonomy_code="207Q00000X",
            role=ProviderRole.RENDERING,
        )
        self.facility = Provider(
            practice_id=self.practice.id,
            npi=make_npi("222222222"),
            last_name="NORTHSIDE SURGERY CENTER",
            role=ProviderRole.FACILITY,
        )
        self.payer = s.execute(
            select(Payer).where(col(Payer.key) == "plan-one")
        ).scalars().first() or Payer(
            key="plan-one", name="PLAN ONE", payer_id="11111", claim_filing_indicator="CI"
        )
        self.second_payer = s.execute(
            select(Payer).where(col(Payer.key) == "plan-two")
        ).scalars().first() or Payer(
            key="plan-two", name="PLAN TWO", payer_id="22222", claim_filing_indicator="MB"
        )
        s.add_all([self.rendering, self.facility, self.payer, self.second_payer])
        s.flush()
        for payer in (self.payer, self.second_payer):
            s.add(
                PayerEnrollment(
                    practice_id=self.practice.id,
                    payer_id=payer.id,
                    credentialing_status=CredentialingStatus.APPROVED,
                    effective_date=date(2020, 1, 1),
                )
            )
        s.flush()

    def patient(self, *, secondary: bool = False, **fields: Any) -> tuple[Patient, Coverage]:
        self._count += 1
        patient = Patient(
            practice_id=self.practice.id,
            account_number=f"ACCT{self._count:05d}",
            first_name="TESTY",
            last_name=f"PATIENT{self._count}",
            birth_date=date(1970, 1, 1),
            sex=Sex.FEMALE,
            address1="5 ELM ST",
            city="SPRINGFIELD",
            state="IL",
            zip="62701",
            **fields,
        )
        self.session.add(patient)
        self.session.flush()
        coverage = Coverage(
            practice_id=self.practice.id,
            patient_id=patient.id,
            payer_id=self.payer.id,
            priority=1,
            member_id=f"MEM{self._count:06d}",
            group_number="GRP1",
            effective_date=date(2026, 1, 1),
        )
        self.session.add(coverage)
        if secondary:
            self.session.add(
                Coverage(
                    practice_id=self.practice.id,
                    patient_id=patient.id,
                    payer_id=self.second_payer.id,
                    priority=2,
                    member_id=f"SEC{self._count:06d}",
                )
            )
        self.session.flush()
        return patient, coverage

    def encounter(
        self,
        patient: Patient,
        coverage: Coverage | None,
        *,
        external_id: str | None = None,
        claim_type: ClaimType = ClaimType.PROFESSIONAL,
        lines: tuple[tuple[str, str, tuple[int, ...]], ...] = (
            ("99213", "125.00", (1, 2)),
            ("36415", "15.00", (1,)),
        ),
        diagnoses: tuple[str, ...] = ("E119", "I10"),
        service_date: date = DOS,
    ) -> Encounter:
        self._count += 1
        institutional = claim_type == ClaimType.INSTITUTIONAL
        encounter = Encounter(
            practice_id=self.practice.id,
            external_id=external_id or f"E{self._count}",
            patient_id=patient.id,
            coverage_id=coverage.id if coverage else None,
            payer_id=coverage.payer_id if coverage else self.payer.id,
            rendering_provider_id=self.rendering.id,
            facility_provider_id=self.facility.id if institutional else None,
            service_date=service_date,
            place_of_service=None if institutional else "11",
            claim_type=claim_type,
            type_of_bill="0131" if institutional else None,
            admission_type="3" if institutional else None,
            admission_source="1" if institutional else None,
            patient_status="01" if institutional else None,
        )
        self.session.add(encounter)
        self.session.flush()
        for number, (code, charge, pointers) in enumerate(lines, start=1):
            self.session.add(
                ServiceLine(
                    practice_id=self.practice.id,
                    encounter_id=encounter.id,
                    line_number=number,
                    procedure_code=code,
                    charge=Decimal(charge),
                    diagnosis_pointers=list(pointers),
                    service_date=service_date,
                    revenue_code=("0510" if number == 1 else "0300") if institutional else None,
                )
            )
        for sequence, code in enumerate(diagnoses, start=1):
            self.session.add(
                Diagnosis(
                    practice_id=self.practice.id,
                    encounter_id=encounter.id,
                    sequence=sequence,
                    code=code,
                    kind=DiagnosisKind.PRINCIPAL if sequence == 1 else DiagnosisKind.OTHER,
                )
            )
        self.session.flush()
        return encounter

    def claims(self) -> list[Claim]:
        return list(
            self.session.execute(
                select(Claim)
                .where(col(Claim.practice_id) == self.practice.id)
                .order_by(col(Claim.patient_control_number))
            ).scalars()
        )


def count(session: Session, model: Any, *conditions: Any) -> int:
    return int(
        session.execute(select(func.count()).select_from(model).where(*conditions)).scalar_one()
    )


# --------------------------------------------------------------------------------------------


def test_professional_and_institutional_claims_from_encounters(session: Session) -> None:
    clinic = Clinic(session)
    patient, coverage = clinic.patient()
    clinic.encounter(patient, coverage, external_id="V1001")
    clinic.encounter(
        patient,
        coverage,
        external_id="V1002",
        claim_type=ClaimType.INSTITUTIONAL,
        lines=(("97110", "300.00", ()), ("", "50.00", ())),
    )
    result = create_claims(session, practice_id=clinic.practice.id, today=TODAY)
    session.commit()

    assert len(result.created) == 2
    assert result.total_charge == Decimal("490.00")
    claims = {c.patient_control_number: c for c in clinic.claims()}
    assert set(claims) == {"NOR-V1001", "NOR-V1002"}
    professional = claims["NOR-V1001"]
    assert professional.claim_type == ClaimType.PROFESSIONAL
    assert professional.status == ClaimStatus.DRAFT
    assert professional.total_charge == Decimal("140.00")
    assert professional.coverage_id == coverage.id
    assert professional.payer_id == clinic.payer.id
    assert (professional.service_date_from, professional.service_date_to) == (DOS, DOS)
    assert claims["NOR-V1002"].claim_type == ClaimType.INSTITUTIONAL

    charges = (
        session.execute(select(LedgerEntry).where(col(LedgerEntry.claim_id) == professional.id))
        .scalars()
        .all()
    )
    assert sorted(e.amount for e in charges) == [Decimal("15.00"), Decimal("125.00")]
    assert {(e.kind, e.responsible) for e in charges} == {(LedgerKind.CHARGE, Responsible.PAYER)}
    assert all(e.service_line_id is not None for e in charges)
    assert claim_balance(
        session, practice_id=clinic.practice.id, claim_id=professional.id
    ) == Decimal("140.00")
    events = (
        session.execute(select(ClaimEvent).where(col(ClaimEvent.claim_id) == professional.id))
        .scalars()
        .all()
    )
    assert [(e.from_status, e.to_status) for e in events] == [
        (ClaimStatus.DRAFT, ClaimStatus.DRAFT)
    ]


def test_rerun_creates_nothing_new(session: Session) -> None:
    clinic = Clinic(session)
    patient, coverage = clinic.patient()
    clinic.encounter(patient, coverage)
    first = create_claims(session, practice_id=clinic.practice.id, today=TODAY)
    session.commit()
    second = create_claims(session, practice_id=clinic.practice.id, today=TODAY)
    session.commit()
    assert len(first.created) == 1
    assert second.created == [] and second.skipped == {}
    assert count(session, Claim) == 1
    assert count(session, LedgerEntry) == 2
    assert count(session, ClaimEvent) == 1


def test_primary_coverage_active_on_the_date_of_service(session: Session) -> None:
    clinic = Clinic(session)
    patient, old = clinic.patient()
    old.termination_date = date(2026, 6, 30)
    new = Coverage(
        practice_id=clinic.practice.id,
        patient_id=patient.id,
        payer_id=clinic.second_payer.id,
        priority=1,
        member_id="NEWMEM",
        effective_date=date(2026, 7, 1),
    )
    session.add_all([old, new])
    session.flush()
    # The encounter was imported against the old coverage, which ended before the visit.
    clinic.encounter(patient, old)
    create_claims(session, practice_id=clinic.practice.id, today=TODAY)
    (claim,) = clinic.claims()
    assert claim.coverage_id == new.id
    assert claim.payer_id == clinic.second_payer.id


def test_no_primary_coverage_raises_one_work_item_and_no_claim(session: Session) -> None:
    clinic = Clinic(session)
    patient, coverage = clinic.patient()
    coverage.active = False
    session.add(coverage)
    encounter = clinic.encounter(patient, coverage)
    for _ in range(2):
        result = create_claims(session, practice_id=clinic.practice.id, today=TODAY)
        assert result.created == []
        assert encounter.id in result.skipped
    items = session.execute(select(WorkItem)).scalars().all()
    assert [i.kind for i in items] == [NO_PRIMARY_COVERAGE]
    assert str(encounter.id) in items[0].detail
    assert patient.last_name not in items[0].detail


def test_patient_control_numbers_are_unique_and_bounded(session: Session) -> None:
    clinic = Clinic(session)
    patient, coverage = clinic.patient()
    long_a = "ENCOUNTER-" + "A" * 40 + "-1"
    long_b = "ENCOUNTER-" + "A" * 40 + "-2"
    clinic.encounter(patient, coverage, external_id=long_a)
    clinic.encounter(patient, coverage, external_id=long_b)
    clinic.encounter(patient, coverage, external_id="SHORT1")
    create_claims(session, practice_id=clinic.practice.id, today=TODAY)
    numbers = [c.patient_control_number for c in clinic.claims()]
    assert len(set(numbers)) == 3
    assert all(len(n) <= PCN_MAX_LENGTH for n in numbers)
    assert "NOR-SHORT1" in numbers
    assert patient_control_number("NOR", long_a) == patient_control_number("NOR", long_a)


def test_a_pcn_already_taken_gets_a_salted_hash(session: Session) -> None:
    clinic = Clinic(session)
    patient, coverage = clinic.patient()
    encounter = clinic.encounter(patient, coverage, external_id="X1")
    other = clinic.encounter(patient, coverage, external_id="X2")
    # A claim (say, a manual one) already holds the number X1's claim would get.
    session.add(
        Claim(
            practice_id=clinic.practice.id,
            encounter_id=other.id,
            patient_id=patient.id,
            coverage_id=coverage.id,
            payer_id=clinic.payer.id,
            patient_control_number="NOR-X1",
            total_charge=Decimal("1.00"),
            service_date_from=DOS,
            service_date_to=DOS,
        )
    )
    session.flush()
    create_claims(session, practice_id=clinic.practice.id, today=TODAY)
    claim = (
        session.execute(select(Claim).where(col(Claim.encounter_id) == encounter.id))
        .scalars()
        .one()
    )
    assert claim.patient_control_number.startswith("NOR.")
    assert len(claim.patient_control_number) == PCN_MAX_LENGTH


def test_prefix_and_derived_numbers() -> None:
    assert practice_prefix("riverside-family-medicine") == "RIV"
    assert practice_prefix("--") == "RCM"
    assert derived_control_number("NOR-V1001", "R", []) == "NOR-V1001R1"
    assert derived_control_number("NOR-V1001", "R", ["NOR-V1001R1"]) == "NOR-V1001R2"
    long = "N" * 20
    assert derived_control_number(long, "V", []) == "N" * 18 + "V1"


def test_other_practices_are_left_alone(session: Session) -> None:
    north = Clinic(session)
    south = Clinic(session, slug="southside")
    n_patient, n_cov = north.patient()
    s_patient, s_cov = south.patient()
    north.encounter(n_patient, n_cov)
    south.encounter(s_patient, s_cov)
    result = create_claims(session, practice_id=north.practice.id, today=TODAY)
    assert len(result.created) == 1
    assert south.claims() == []


def _bulk_encounters(session: Session, clinic: Clinic, n: int) -> None:
    """n encounters with two lines each, inserted in bulk (the ORM would dominate the test)."""
    practice_id = clinic.practice.id
    patients: list[dict[str, Any]] = []
    coverages: list[dict[str, Any]] = []
    encounters: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    for i in range(n):
        patient_id, coverage_id, encounter_id = new_id(), new_id(), new_id()
        if i % 4 == 0:
            patients.append(
                dict(
                    id=patient_id,
                    practice_id=practice_id,
                    account_number=f"B{i}",
                    first_name="T",
                    last_name="P",
                    birth_date=date(1980, 1, 1),
                )
            )
            coverages.append(
                dict(
                    id=coverage_id,
                    practice_id=practice_id,
                    patient_id=patient_id,
                    payer_id=clinic.payer.id,
                    priority=1,
                    member_id=f"M{i}",
                )
            )
            current = (patient_id, coverage_id)
        encounters.append(
            dict(
                id=encounter_id,
                practice_id=practice_id,
                external_id=f"BULK{i}",
                patient_id=current[0],
                coverage_id=current[1],
                payer_id=clinic.payer.id,
                service_date=DOS,
                claim_type=ClaimType.PROFESSIONAL,
                place_of_service="11",
                created_at=datetime(2026, 11, 3).astimezone(),
            )
        )
        for number, charge in ((1, "100.00"), (2, "20.00")):
            lines.append(
                dict(
                    id=new_id(),
                    practice_id=practice_id,
                    encounter_id=encounter_id,
                    line_number=number,
                    procedure_code="99213",
                    charge=Decimal(charge),
                    units=Decimal("1"),
                    modifiers=[],
                    diagnosis_pointers=[1],
                )
            )
    for model, rows in (
        (Patient, patients),
        (Coverage, coverages),
        (Encounter, encounters),
        (ServiceLine, lines),
    ):
        session.execute(insert(model), rows)
    session.commit()


def test_bulk_creation_is_fast_and_uses_few_queries(session: Session) -> None:
    clinic = Clinic(session)
    session.commit()
    n = 3000
    _bulk_encounters(session, clinic, n)
    statements: list[str] = []
    from sqlalchemy import event

    def count_statement(*args: Any) -> None:
        statements.append(args[2])

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", count_statement)
    try:
        started = time.perf_counter()
        result = create_claims(
            session, practice_id=clinic.practice.id, today=TODAY, chunk_size=1000
        )
        session.commit()
        elapsed = time.perf_counter() - started
    finally:
        event.remove(engine, "before_cursor_execute", count_statement)
    assert len(result.created) == n
    assert count(session, LedgerEntry, col(LedgerEntry.kind) == LedgerKind.CHARGE) == 2 * n
    # A handful of statements per chunk (insertmanyvalues batches count separately), never
    # one per encounter.
    assert len(statements) < n / 5
    assert elapsed < 30
