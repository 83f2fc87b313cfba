"""A clean professional claim and its context; tests change one thing and scrub it."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

from rcm.codesets import CodeSets, icd10cm, load_code_sets
from rcm.codesets.config import discover
from rcm.identifiers import make_npi
from rcm.scrub.context import EnrollmentIndex, EnrollmentSpan, ScrubContext, make_context
from rcm.scrub.model import (
    ScrubAddress,
    ScrubBillingProvider,
    ScrubClaim,
    ScrubCoverage,
    ScrubDiagnosis,
    ScrubLine,
    ScrubPatient,
    ScrubPayer,
    ScrubProvider,
)

CMS_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "cms"
TODAY = date(2026, 3, 15)
DOS = date(2026, 3, 2)
PRACTICE_ID = uuid.UUID("00000000-0000-0000-0000-0000000000a1")
PAYER_ID = uuid.UUID("00000000-0000-0000-0000-0000000000b1")
RENDERING_ID = uuid.UUID("00000000-0000-0000-0000-0000000000c1")
BILLING_NPI = make_npi("123456789")
RENDERING_NPI = make_npi("198765432")
REFERRING_NPI = make_npi("155555555")


def line(
    number: int = 1,
    code: str = "99213",
    *,
    modifiers: tuple[str, ...] = (),
    units: str = "1",
    charge: str = "120.00",
    pointers: tuple[int, ...] = (1,),
    service_date: date = DOS,
) -> ScrubLine:
    return ScrubLine(
        line_number=number,
        procedure_code=code,
        modifiers=modifiers,
        units=Decimal(units),
        charge=Decimal(charge),
        diagnosis_pointers=pointers,
        service_date=service_date,
    )


def clean_claim(**changes: object) -> ScrubClaim:
    lines = changes.pop("lines", None) or [line()]
    claim = ScrubClaim(
        id=uuid.uuid4(),
        practice_id=PRACTICE_ID,
        encounter_id=uuid.uuid4(),
        patient_control_number="PCN0001",
        claim_type="professional",
        frequency_code="1",
        payer_responsibility="P",
        total_charge=sum((ln.charge for ln in lines), Decimal(0)),  # type: ignore[union-attr]
        service_date_from=DOS,
        service_date_to=DOS,
        billing=ScrubBillingProvider(
            npi=BILLING_NPI,
            tin="123456789",
            taxonomy_code="207Q00000X",
            name="Keystone Family Medicine",
            address=ScrubAddress("100 Market St", "Harrisburg", "PA", "171011234"),
            submitter_id="SUB-KEYSTONE",
        ),
        patient=ScrubPatient(
            id=uuid.uuid4(),
            last_name="Testpatient",
            first_name="Alex",
            birth_date=date(1960, 5, 1),
            sex="F",
            address=ScrubAddress("12 Elm St", "Harrisburg", "PA", "17101"),
        ),
        coverage=ScrubCoverage(
            id=uuid.uuid4(),
            priority=1,
            member_id="1EG4TE5MK73",
            relationship="18",
            eligibility_status="active",
        ),
        payer=ScrubPayer(
            id=PAYER_ID,
            key="medicare-b-jl",
            name="Novitas JL Part B",
            payer_id="12502",
            claim_filing_indicator="MB",
            timely_filing_days=365,
        ),
        lines=lines,  # type: ignore[arg-type]
        diagnoses=[ScrubDiagnosis(1, "M1711"), ScrubDiagnosis(2, "I10")],
        place_of_service="11",
        rendering=ScrubProvider(id=RENDERING_ID, npi=RENDERING_NPI, role="rendering"),
    )
    for name, value in changes.items():
        if not hasattr(claim, name):
            raise AttributeError(name)
        setattr(claim, name, value)
    if "total_charge" not in changes:
        claim.total_charge = sum((ln.charge for ln in claim.lines), Decimal(0))
    return claim


def enrollments() -> EnrollmentIndex:
    index = EnrollmentIndex()
    index.add(
        PRACTICE_ID, PAYER_ID, RENDERING_ID, EnrollmentSpan("approved", date(2020, 1, 1), None)
    )
    return index


def cms_code_sets() -> CodeSets:
    return load_code_sets(discover(CMS_FIXTURES))


def context(*, cms: bool = False, today: date = TODAY) -> ScrubContext:
    code_sets = cms_code_sets() if cms else CodeSets(icd10=icd10cm())
    return make_context(today, code_sets=code_sets, enrollments=enrollments())
