"""KPIs on a small hand-built ledger; every expected figure is worked out in the comments."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlmodel import Session

from rcm.models import (
    Appeal,
    Claim,
    ClaimEvent,
    ClaimPayment,
    ClaimStatus,
    Coverage,
    Denial,
    Direction,
    Encounter,
    Interchange,
    InterchangeKind,
    InterchangeStatus,
    LedgerEntry,
    LedgerKind,
    Patient,
    Payer,
    Practice,
    Remittance,
    Responsible,
)
from rcm.reports import compute_kpis, render_kpi_html
from rcm.reports.kpis import PATIENT_ROW

S = ClaimStatus
AS_OF = date(2026, 3, 31)


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)


class World:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.practice = Practice(
            slug="kpi-test",
            name="KPI Test Clinic",
            billing_npi="1234567893",
            tin="123456789",
            taxonomy_code="207Q00000X",
            address1="1 Main St",
            city="Philadelphia",
            state="PA",
            zip="19130",
            clearinghouse="sandbox",
            clearinghouse_account="KPI01",
        )
        self.aetna = Payer(key="aetna-test", name="Aetna Test", payer_id="60054")
        self.medicare = Payer(key="medicare-test", name="Medicare Test", payer_id="12502")
        session.add_all([self.practice, self.aetna, self.medicare])
        session.flush()
        self.patient = Patient(
            practice_id=self.practice.id,
            account_number="A1",
            first_name="Test",
            last_name="Patient",
            birth_date=date(1970, 1, 1),
        )
        session.add(self.patient)
        session.flush()
        self.coverage = Coverage(
            practice_id=self.practice.id,
            patient_id=self.patient.id,
            payer_id=self.aetna.id,
            member_id="M1",
        )
        session.add(self.coverage)
        session.flush()
        self.interchange = Interchange(
            practice_id=self.practice.id,
            clearinghouse="sandbox",
            direction=Direction.INBOUND,
            kind=InterchangeKind.REMITTANCE_835,
            status=InterchangeStatus.PROCESSED,
        )
        session.add(self.interchange)
        session.flush()

    def claim(self, pcn: str, payer: Payer, served: str, charge: str) -> Claim:
        encounter = Encounter(
            practice_id=self.practice.id,
            external_id=pcn,
            patient_id=self.patient.id,
            payer_id=payer.id,
            service_date=date.fromisoformat(served),
        )
        self.session.add(encounter)
        self.session.flush()
        claim = Claim(
            practice_id=self.practice.id,
            encounter_id=encounter.id,
            patient_id=self.patient.id,
            coverage_id=self.coverage.id,
            payer_id=payer.id,
            patient_control_number=pcn,
            total_charge=Decimal(charge),
            service_date_from=date.fromisoformat(served),
            service_date_to=date.fromisoformat(served),
        )
        self.session.add(claim)
        self.session.flush()
        return claim

    def events(self, claim: Claim, *steps: tuple[str, S, S]) -> None:
        for day, from_status, to_status in steps:
            self.session.add(
                ClaimEvent(
                    practice_id=self.practice.id,
                    claim_id=claim.id,
                    from_status=from_status,
                    to_status=to_status,
                    reason="test",
                    source="test",
                    created_at=at(day),
                )
            )

    def entry(
        self,
        claim: Claim,
        day: str,
        kind: LedgerKind,
        amount: str,
        responsible: Responsible = Responsible.PAYER,
        group: str | None = None,
        reverses: uuid.UUID | None = None,
    ) -> LedgerEntry:
        row = LedgerEntry(
            practice_id=self.practice.id,
            claim_id=claim.id,
            kind=kind,
            amount=Decimal(amount),
            responsible=responsible,
            group_code=group,
            reverses_entry_id=reverses,
            created_at=at(day),
        )
        self.session.add(row)
        self.session.flush()
        return row

    def remittance(self, trace: str, day: str, claim: Claim, charge: str, paid: str, code: str):
        remit = Remittance(
            practice_id=self.practice.id,
            interchange_id=self.interchange.id,
            payer_identifier="P",
            trace_number=trace,
            total_paid=Decimal(paid),
            payment_method="ACH",
            posted_at=at(day),
        )
        self.session.add(remit)
        self.session.flush()
        payment = ClaimPayment(
            practice_id=self.practice.id,
            remittance_id=remit.id,
            claim_id=claim.id,
            patient_control_number=claim.patient_control_number,
            status_code=code,
            total_charge=Decimal(charge),
            paid=Decimal(paid),
        )
        self.session.add(payment)
        self.session.flush()
        return payment


@pytest.fixture
def world(session: Session) -> World:
    return seed(session)


def seed(session: Session) -> World:
    """The practice, four claims and their money, as the comments describe (committed)."""
    w = World(session)
    # C1: Aetna, served 03-01, $100: clean, accepted first time, paid 60, CO 30, PR 10; the
    # payment is reversed and paid again on 03-22.
    c1 = w.claim("C1", w.aetna, "2026-03-01", "100.00")
    w.events(
        c1,
        ("2026-03-02", S.DRAFT, S.READY),
        ("2026-03-04", S.READY, S.BATCHED),
        ("2026-03-05", S.BATCHED, S.SUBMITTED),
        ("2026-03-06", S.SUBMITTED, S.ACCEPTED),
        ("2026-03-20", S.ACCEPTED, S.PAID),
    )
    w.entry(c1, "2026-03-02", LedgerKind.CHARGE, "100.00")
    pay = w.entry(c1, "2026-03-20", LedgerKind.PAYER_PAYMENT, "-60.00")
    w.entry(c1, "2026-03-20", LedgerKind.ADJUSTMENT, "-30.00", group="CO")
    w.entry(c1, "2026-03-20", LedgerKind.PATIENT_RESPONSIBILITY, "-10.00", group="PR")
    w.entry(c1, "2026-03-20", LedgerKind.PATIENT_RESPONSIBILITY, "10.00", Responsible.PATIENT, "PR")
    w.entry(c1, "2026-03-22", LedgerKind.REVERSAL, "60.00", reverses=pay.id)
    w.entry(c1, "2026-03-22", LedgerKind.PAYER_PAYMENT, "-60.00")
    w.remittance("T1", "2026-03-20", c1, "100.00", "60.00", "1")

    # C2: Medicare, served 03-10, $200: held by the scrubber, rejected once, then denied
    # (CARC 50) and appealed three days later.
    c2 = w.claim("C2", w.medicare, "2026-03-10", "200.00")
    w.events(
        c2,
        ("2026-03-10", S.DRAFT, S.HELD),
        ("2026-03-11", S.HELD, S.DRAFT),
        ("2026-03-11", S.DRAFT, S.READY),
        ("2026-03-12", S.BATCHED, S.SUBMITTED),
        ("2026-03-13", S.SUBMITTED, S.REJECTED),
        ("2026-03-15", S.BATCHED, S.SUBMITTED),
        ("2026-03-16", S.SUBMITTED, S.ACCEPTED),
        ("2026-03-25", S.ACCEPTED, S.DENIED),
    )
    w.entry(c2, "2026-03-10", LedgerKind.CHARGE, "200.00")
    payment = w.remittance("T2", "2026-03-25", c2, "200.00", "0.00", "4")
    denial = Denial(
        practice_id=w.practice.id,
        claim_id=c2.id,
        claim_payment_id=payment.id,
        carc="50",
        group_code="CO",
        amount=Decimal("200.00"),
        category="medical_necessity",
        recommended_action="appeal",
        created_at=at("2026-03-25"),
    )
    session.add(denial)
    session.flush()
    session.add(
        Appeal(
            practice_id=w.practice.id,
            denial_id=denial.id,
            claim_id=c2.id,
            created_at=at("2026-03-28"),
        )
    )

    # C3: Aetna, served 2025-12-01, $50, charged and submitted before the window: only in A/R.
    c3 = w.claim("C3", w.aetna, "2025-12-01", "50.00")
    w.events(c3, ("2025-12-20", S.BATCHED, S.SUBMITTED))
    w.entry(c3, "2025-12-05", LedgerKind.CHARGE, "50.00")

    # C4: Aetna, served 03-20, $80: clean, submitted 03-30, no answer yet.
    c4 = w.claim("C4", w.aetna, "2026-03-20", "80.00")
    w.events(c4, ("2026-03-21", S.DRAFT, S.READY), ("2026-03-30", S.BATCHED, S.SUBMITTED))
    w.entry(c4, "2026-03-20", LedgerKind.CHARGE, "80.00")
    session.commit()
    return w


def test_hand_computed_kpis(session: Session, world: World) -> None:
    report = compute_kpis(session, practice_id=world.practice.id, as_of=AS_OF, period_days=30)
    value = {k.key: k.value for k in report.kpis}

    # Charges in the window: 100 + 200 + 80 = 380 (C3's 50 is older). Open A/R: C1 10 (patient)
    # + C2 200 + C3 50 + C4 80 = 340. Days in A/R = 340 / (380 / 30) = 26.84.
    assert report.kpi("days_in_ar").numerator == Decimal("340.00")
    assert value["days_in_ar"] == Decimal("26.8")
    # First submitted in the window with an answer: C1 (accepted), C2 (rejected first) → 1/2.
    assert value["first_pass_acceptance_rate"] == Decimal("50.0")
    # First scrubbed in the window: C1, C2 (held), C4 → 2/3.
    assert value["clean_claim_rate"] == Decimal("66.7")
    # Adjudicated: C1, C2; denied C2 → 1/2 by count, 200/300 by dollars.
    assert value["denial_rate_count"] == Decimal("50.0")
    assert value["denial_rate_dollars"] == Decimal("66.7")
    # Payments net of the reversal: 60 + 60 − 60 = 60. Gross 60/380; net 60/(380 − 30).
    assert report.kpi("gross_collection_rate").numerator == Decimal("60.00")
    assert value["gross_collection_rate"] == Decimal("15.8")
    assert value["net_collection_rate"] == Decimal("17.1")
    # Service to first submission: C1 4, C2 2, C4 10 days → 5.33; all within 14 days.
    assert value["days_service_to_submission"] == Decimal("5.3")
    assert value["submitted_within_14_days"] == Decimal("100.0")
    assert value["days_denial_to_appeal"] == Decimal("3.0")

    assert not report.kpi("first_pass_acceptance_rate").meets_benchmark
    assert report.kpi("days_in_ar").meets_benchmark
    assert report.kpi("days_service_to_submission").meets_benchmark

    aging = {row.payer: row for row in report.aging}
    assert [row.payer for row in report.aging] == ["Medicare Test", "Aetna Test", PATIENT_ROW]
    assert aging["Medicare Test"].buckets["0-30"] == Decimal("200.00")
    assert aging["Aetna Test"].buckets["0-30"] == Decimal("80.00")
    assert aging["Aetna Test"].buckets["91-120"] == Decimal("50.00")
    assert aging["Aetna Test"].total == Decimal("130.00")
    assert aging[PATIENT_ROW].buckets["0-30"] == Decimal("10.00")

    assert [(r.carc, r.count, r.amount) for r in report.denial_reasons] == [
        ("50", 1, Decimal("200.00"))
    ]


def test_empty_practice_has_no_rates(session: Session, world: World) -> None:
    report = compute_kpis(session, practice_id=world.practice.id, as_of=date(2024, 1, 1))
    assert report.kpi("days_in_ar").value is None
    assert report.kpi("denial_rate_count").value is None
    assert report.kpi("first_pass_acceptance_rate").display == "n/a"


def test_html_report_is_self_contained_and_has_no_patient_data(
    session: Session, world: World
) -> None:
    report = compute_kpis(session, practice_id=world.practice.id, as_of=AS_OF, period_days=30)
    html = render_kpi_html(report).decode()
    assert html.startswith("<!doctype html>")
    assert "<svg" in html and "<script" not in html
    assert "Days in A/R" in html and "Aetna Test" in html
    assert "Patient" not in html.replace(PATIENT_ROW, "")
    assert "1970-01-01" not in html and "M1" not in html
    json_ready = report.to_dict()
    assert json_ready["kpis"][0]["key"] == "days_in_ar"
