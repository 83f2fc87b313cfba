"""Database rows → the typed 837 model (rcm.claims.submission), through pyx12."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlmodel import Session, col

from rcm.claims.create import create_claims
from rcm.claims.submission import SubmitterInfo, header_837, load_claims_837
from rcm.models import (
    Adjustment,
    AdjustmentGroup,
    Claim,
    ClaimPayment,
    ClaimStatus,
    ClaimType,
    Coverage,
    Direction,
    FrequencyCode,
    Interchange,
    InterchangeKind,
    InterchangeStatus,
    PayerResponsibility,
    Remittance,
    ServiceLine,
)
from rcm.x12 import x837 as m
from rcm.x12.core import InterchangeEnvelope
from rcm.x12.validate import validate
from tests.rcm.claims.test_create import DOS, TODAY, Clinic

CREATED = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)


def envelope(kind: m.ClaimKind) -> InterchangeEnvelope:
    return InterchangeEnvelope(
        sender_qualifier="ZZ",
        sender_id="RCMSUBMITTER",
        receiver_qualifier="ZZ",
        receiver_id="RCMSANDBOX",
        control_number=7,
        group_control_number=7,
        functional_id="HC",
        version=m.IMPLEMENTATION[kind],
        created=CREATED,
        usage="T",
    )


def build(clinic: Clinic, claims: list[m.Claim837]) -> bytes:
    header = header_837(
        clinic.practice,
        SubmitterInfo(receiver_name="RCM SANDBOX", receiver_id="RCMSANDBOX"),
        reference_id="7",
        created=CREATED,
    )
    return m.build_837_interchange(envelope(claims[0].kind), header, claims)


def assert_pyx12_clean(data: bytes) -> None:
    report = validate(data, file_name="generated.837")
    assert report.validator == "pyx12"
    assert report.error_count == 0, "\n".join(e.describe() for e in report.errors[:10])


def typed(session: Session, clinic: Clinic, claims: list[Claim]) -> list[m.Claim837]:
    return load_claims_837(
        session,
        practice_id=clinic.practice.id,
        claim_ids=[c.id for c in claims],
        clearinghouse="sandbox",
    )


def test_professional_claim_maps_providers_pointers_and_lines(session: Session) -> None:
    clinic = Clinic(session)
    patient, coverage = clinic.patient()
    clinic.encounter(
        patient,
        coverage,
        external_id="V1",
        diagnoses=("J069", "R05", "E119"),
        lines=(("99213", "125.00", (2, 1)), ("87880", "30.00", (3,))),
    )
    create_claims(session, practice_id=clinic.practice.id, today=TODAY)
    (claim,) = clinic.claims()
    (c,) = typed(session, clinic, [claim])
    assert c.kind == "P"
    assert c.patient_control_number == "NOR-V1"
    assert c.charge == Decimal("155.00")
    assert c.facility_code == "11"
    assert c.diagnoses == ("J069", "R05", "E119")
    assert [line.diagnosis_pointers for line in c.lines] == [(2, 1), (3,)]
    assert [line.service_date for line in c.lines] == [DOS, DOS]
    assert c.rendering_provider is not None and c.rendering_provider.npi == clinic.rendering.npi
    assert c.billing_provider.npi == clinic.practice.billing_npi
    assert c.subscriber.member_id == coverage.member_id
    assert c.subscriber.payer.payer_id == "11111"
    assert c.patient is None
    assert_pyx12_clean(build(clinic, [c]))


def test_dependent_patient_gets_a_2000c_loop(session: Session) -> None:
    clinic = Clinic(session)
    patient, coverage = clinic.patient()
    coverage.relationship = "19"
    coverage.subscriber_first_name = "PARENT"
    coverage.subscriber_last_name = "SUBSCRIBER"
    coverage.subscriber_birth_date = date(1975, 5, 5)
    session.add(coverage)
    clinic.encounter(patient, coverage)
    create_claims(session, practice_id=clinic.practice.id, today=TODAY)
    (c,) = typed(session, clinic, clinic.claims())
    assert c.patient is not None and c.patient.relationship == "19"
    assert c.subscriber.last_name == "SUBSCRIBER"
    assert_pyx12_clean(build(clinic, [c]))


def test_institutional_claim(session: Session) -> None:
    clinic = Clinic(session)
    patient, coverage = clinic.patient()
    clinic.encounter(
        patient,
        coverage,
        claim_type=ClaimType.INSTITUTIONAL,
        lines=(("97110", "300.00", ()), ("", "50.00", ())),
    )
    create_claims(session, practice_id=clinic.practice.id, today=TODAY)
    (c,) = typed(session, clinic, clinic.claims())
    assert c.kind == "I"
    assert c.facility_code == "13"
    assert c.type_of_bill == "131"
    assert [line.revenue_code for line in c.lines] == ["0510", "0300"]
    assert c.lines[1].procedure_code is None
    assert c.attending_provider is not None and c.attending_provider.role == "71"
    assert (c.statement_from, c.statement_through) == (DOS, DOS)
    assert_pyx12_clean(build(clinic, [c]))


def replacement_of(
    session: Session, clinic: Clinic, original: Claim, frequency: FrequencyCode, pcn: str
) -> Claim:
    claim = Claim(
        practice_id=clinic.practice.id,
        encounter_id=original.encounter_id,
        patient_id=original.patient_id,
        coverage_id=original.coverage_id,
        payer_id=original.payer_id,
        patient_control_number=pcn,
        claim_type=original.claim_type,
        frequency_code=frequency,
        original_claim_id=original.id,
        original_payer_claim_number="PAYERICN0001",
        total_charge=original.total_charge,
        service_date_from=original.service_date_from,
        service_date_to=original.service_date_to,
    )
    session.add(claim)
    session.flush()
    return claim


def test_frequency_7_and_8_carry_the_payer_claim_number(session: Session) -> None:
    clinic = Clinic(session)
    patient, coverage = clinic.patient()
    clinic.encounter(patient, coverage, external_id="V7")
    create_claims(session, practice_id=clinic.practice.id, today=TODAY)
    (original,) = clinic.claims()
    seven = replacement_of(session, clinic, original, FrequencyCode.REPLACEMENT, "NOR-V7R1")
    eight = replacement_of(session, clinic, original, FrequencyCode.VOID, "NOR-V7V1")
    c7, c8 = typed(session, clinic, [seven, eight])
    assert (c7.frequency, c7.original_claim_number) == ("7", "PAYERICN0001")
    assert (c8.frequency, c8.original_claim_number) == ("8", "PAYERICN0001")
    data = build(clinic, [c7, c8])
    assert b"CLM*NOR-V7R1*140***11:B:7" in data
    assert b"REF*F8*PAYERICN0001" in data
    assert_pyx12_clean(data)


def post_primary(session: Session, clinic: Clinic, primary: Claim) -> None:
    """What posting a primary 835 leaves behind: remittance, CLP, SVC and CAS rows."""
    practice_id = clinic.practice.id
    interchange = Interchange(
        practice_id=practice_id,
        clearinghouse="sandbox",
        direction=Direction.INBOUND,
        kind=InterchangeKind.REMITTANCE_835,
        status=InterchangeStatus.PROCESSED,
        sha256="a" * 64,
    )
    session.add(interchange)
    session.flush()
    remittance = Remittance(
        practice_id=practice_id,
        interchange_id=interchange.id,
        payer_identifier="11111",
        trace_number="TRACE1",
        total_paid=Decimal("72.00"),
        payment_method="ACH",
        payment_date=date(2026, 11, 15),
    )
    session.add(remittance)
    session.flush()
    payment = ClaimPayment(
        practice_id=practice_id,
        remittance_id=remittance.id,
        claim_id=primary.id,
        patient_control_number=primary.patient_control_number,
        status_code="1",
        total_charge=Decimal("140.00"),
        paid=Decimal("72.00"),
        patient_responsibility=Decimal("20.00"),
        payer_claim_control_number="ICN777",
    )
    session.add(payment)
    session.flush()
    lines = (
        session.query(ServiceLine)
        .filter(col(ServiceLine.encounter_id) == primary.encounter_id)
        .order_by(col(ServiceLine.line_number))
        .all()
    )
    from rcm.models import ServicePayment

    for line, paid, co, pr in zip(
        lines, ("60.00", "12.00"), ("45.00", "3.00"), ("20.00", "0.00"), strict=True
    ):
        sp = ServicePayment(
            practice_id=practice_id,
            claim_payment_id=payment.id,
            service_line_id=line.id,
            procedure_code=line.procedure_code,
            charge=line.charge,
            paid=Decimal(paid),
            units=Decimal("1"),
            service_date=DOS,
        )
        session.add(sp)
        session.flush()
        session.add(
            Adjustment(
                practice_id=practice_id,
                claim_payment_id=payment.id,
                service_payment_id=sp.id,
                group_code=AdjustmentGroup.CONTRACTUAL,
                reason_code="45",
                amount=Decimal(co),
            )
        )
        if Decimal(pr):
            session.add(
                Adjustment(
                    practice_id=practice_id,
                    claim_payment_id=payment.id,
                    service_payment_id=sp.id,
                    group_code=AdjustmentGroup.PATIENT_RESPONSIBILITY,
                    reason_code="2",
                    amount=Decimal(pr),
                )
            )
    session.flush()


def make_secondary(
    session: Session, clinic: Clinic, claim_type: ClaimType = ClaimType.PROFESSIONAL
) -> tuple[Claim, Claim]:
    patient, coverage = clinic.patient(secondary=True)
    if claim_type is ClaimType.INSTITUTIONAL:
        lines: tuple[tuple[str, str, tuple[int, ...]], ...] = (
            ("97110", "125.00", ()),
            ("", "15.00", ()),
        )
        clinic.encounter(patient, coverage, external_id="V2ND", claim_type=claim_type, lines=lines)
    else:
        clinic.encounter(patient, coverage, external_id="V2ND")
    create_claims(session, practice_id=clinic.practice.id, today=TODAY)
    primary = next(c for c in clinic.claims() if c.patient_id == patient.id)
    primary.status = ClaimStatus.PARTIAL
    primary.payer_claim_control_number = "ICN777"
    session.add(primary)
    post_primary(session, clinic, primary)
    second = (
        session.query(Coverage)
        .filter(col(Coverage.patient_id) == patient.id, col(Coverage.priority) == 2)
        .one()
    )
    secondary = Claim(
        practice_id=clinic.practice.id,
        encounter_id=primary.encounter_id,
        patient_id=patient.id,
        coverage_id=second.id,
        payer_id=second.payer_id,
        patient_control_number="NOR-V2NDS1",
        claim_type=primary.claim_type,
        payer_responsibility=PayerResponsibility.SECONDARY,
        total_charge=primary.total_charge,
        service_date_from=primary.service_date_from,
        service_date_to=primary.service_date_to,
    )
    session.add(secondary)
    session.flush()
    return primary, secondary


def test_secondary_claim_renders_cob_from_the_posted_primary(session: Session) -> None:
    clinic = Clinic(session)
    _, secondary = make_secondary(session, clinic)
    (c,) = typed(session, clinic, [secondary])
    assert c.subscriber.payer_responsibility == "S"
    assert c.subscriber.payer.payer_id == "22222"
    (other,) = c.other_payers
    assert other.payer_responsibility == "P"
    assert other.payer_id == "11111"
    assert other.paid_amount == Decimal("72.00")
    assert other.subscriber_member_id.startswith("MEM")
    adjudications = [line.adjudications for line in c.lines]
    assert [a[0].paid_amount for a in adjudications] == [Decimal("60.00"), Decimal("12.00")]
    assert adjudications[0][0].adjudication_date == date(2026, 11, 15)
    assert {(x.group_code, x.reason_code, x.amount) for x in adjudications[0][0].adjustments} == {
        ("CO", "45", Decimal("45.00")),
        ("PR", "2", Decimal("20.00")),
    }
    data = build(clinic, [c])
    text = data.decode()
    assert "SBR*S*18*******MB~" in text
    assert "SBR*P*18*GRP1******CI~" in text
    assert "AMT*D*72~" in text
    assert "SVD*11111*60*HC:99213**1~CAS*CO*45*45~CAS*PR*2*20~DTP*573*D8*20261115~" in text
    assert_pyx12_clean(data)


def test_institutional_secondary_claim_passes_pyx12(session: Session) -> None:
    clinic = Clinic(session)
    _, secondary = make_secondary(session, clinic, ClaimType.INSTITUTIONAL)
    (c,) = typed(session, clinic, [secondary])
    (other,) = c.other_payers
    assert c.kind == "I"
    # A revenue-code-only line cannot go in a 2430: the prior payer is reported at claim level.
    assert all(not line.adjudications for line in c.lines)
    assert {(a.group_code, a.reason_code, a.amount) for a in other.adjustments} == {
        ("CO", "45", Decimal("48.00")),
        ("PR", "2", Decimal("20.00")),
    }
    assert other.adjudication_date == date(2026, 11, 15)
    assert_pyx12_clean(build(clinic, [c]))
