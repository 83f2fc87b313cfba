"""Synthetic practices, claims and 835s for posting tests (no real patient data)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, SQLModel, col

from rcm.models import (
    Claim,
    ClaimStatus,
    Coverage,
    Direction,
    Encounter,
    Interchange,
    InterchangeKind,
    InterchangeStatus,
    LedgerEntry,
    Patient,
    Payer,
    PayerResponsibility,
    Practice,
    Responsible,
    ServiceLine,
)
from rcm.x12 import x835

D = Decimal
NPI = "1234567893"
TIN = "123456789"
DOS = date(2026, 10, 5)


def make_practice(
    session: Session, slug: str = "northside", npi: str = NPI, tin: str = TIN
) -> Practice:
    practice = Practice(
        slug=slug,
        name=f"{slug} clinic",
        billing_npi=npi,
        tin=tin,
        taxonomy_code="207Q00000X",
        address1="1 Test Way",
        city="Springfield",
        state="IL",
        zip="62701",
        clearinghouse="sandbox",
        clearinghouse_account=f"SUB-{slug}",
    )
    session.add(practice)
    session.flush()
    return practice


def make_payer(session: Session, key: str = "acme", **fields: Any) -> Payer:
    values: dict[str, Any] = {
        "key": key,
        "name": f"{key} health",
        "payer_id": key.upper()[:8],
        "appeal_window_days": 90,
        "address1": "PO Box 1",
        "city": "Chicago",
        "state": "IL",
        "zip": "60601",
    }
    values.update(fields)
    payer = Payer(**values)
    session.add(payer)
    session.flush()
    return payer


def make_interchange(session: Session, practice: Practice) -> Interchange:
    row = Interchange(
        practice_id=practice.id,
        clearinghouse="sandbox",
        direction=Direction.INBOUND,
        kind=InterchangeKind.REMITTANCE_835,
        sha256=uuid.uuid4().hex,
        status=InterchangeStatus.RECEIVED,
    )
    session.add(row)
    session.flush()
    return row


class Seeded:
    """A patient with one claim (and its encounter and lines)."""

    def __init__(
        self,
        session: Session,
        practice: Practice,
        payer: Payer,
        pcn: str,
        lines: Sequence[tuple[str, Sequence[str], Decimal]],
        *,
        status: ClaimStatus = ClaimStatus.ACCEPTED,
        secondary_payer: Payer | None = None,
        patient: Patient | None = None,
        service_date: date = DOS,
    ) -> None:
        self.patient = patient or Patient(
            practice_id=practice.id,
            account_number=f"A-{pcn}",
            first_name="Testy",
            last_name="Patient",
            birth_date=date(1980, 1, 1),
        )
        session.add(self.patient)
        session.flush()
        self.coverage = Coverage(
            practice_id=practice.id,
            patient_id=self.patient.id,
            payer_id=payer.id,
            member_id="M1",
            priority=1,
        )
        session.add(self.coverage)
        if secondary_payer is not None:
            session.add(
                Coverage(
                    practice_id=practice.id,
                    patient_id=self.patient.id,
                    payer_id=secondary_payer.id,
                    member_id="M2",
                    priority=2,
                )
            )
        session.flush()
        self.encounter = Encounter(
            practice_id=practice.id,
            external_id=f"E-{pcn}",
            patient_id=self.patient.id,
            coverage_id=self.coverage.id,
            payer_id=payer.id,
            service_date=service_date,
        )
        session.add(self.encounter)
        session.flush()
        self.lines = []
        for n, (code, modifiers, charge) in enumerate(lines, start=1):
            line = ServiceLine(
                practice_id=practice.id,
                encounter_id=self.encounter.id,
                line_number=n,
                procedure_code=code,
                modifiers=list(modifiers),
                charge=charge,
                diagnosis_pointers=[1],
                service_date=service_date,
            )
            session.add(line)
            self.lines.append(line)
        total = sum((c for _, _, c in lines), D("0"))
        self.claim = Claim(
            practice_id=practice.id,
            encounter_id=self.encounter.id,
            patient_id=self.patient.id,
            coverage_id=self.coverage.id,
            payer_id=payer.id,
            patient_control_number=pcn,
            status=status,
            total_charge=total,
            service_date_from=service_date,
            service_date_to=service_date,
            payer_responsibility=PayerResponsibility.PRIMARY,
        )
        session.add(self.claim)
        session.flush()


def svc(
    code: str,
    charge: str,
    paid: str,
    *cas: tuple[str, str, str],
    modifiers: Sequence[str] = (),
    original: str | None = None,
    service_date: date = DOS,
    remarks: Sequence[str] = (),
) -> x835.ServicePayment:
    return x835.ServicePayment(
        procedure=x835.Procedure("HC", code, list(modifiers)),
        charge=D(charge),
        paid=D(paid),
        original_procedure=x835.Procedure("HC", original) if original else None,
        dates=[x835.DateValue("472", service_date)],
        adjustments=[x835.Adjustment(g, r, D(a)) for g, r, a in cas],
        remarks=[x835.Remark("HE", r) for r in remarks],
    )


def clp(
    pcn: str,
    status: str,
    charge: str,
    paid: str,
    services: Sequence[x835.ServicePayment] = (),
    *cas: tuple[str, str, str],
    pccn: str = "PCCN1",
    patient_responsibility: str | None = None,
) -> x835.ClaimPayment:
    return x835.ClaimPayment(
        patient_control_number=pcn,
        status=status,
        charge=D(charge),
        paid=D(paid),
        patient_responsibility=D(patient_responsibility) if patient_responsibility else None,
        payer_claim_control_number=pccn,
        services=list(services),
        adjustments=[x835.Adjustment(g, r, D(a)) for g, r, a in cas],
    )


def remittance(
    claims: Sequence[x835.ClaimPayment],
    *,
    trace: str = "TRACE1",
    payer_key: str = "1999999999",
    plb: Sequence[tuple[str, str]] = (),
    total: str | None = None,
    npi: str = NPI,
    payment_date: date = date(2026, 11, 1),
) -> x835.Remittance835:
    plbs = [
        x835.ProviderAdjustment(npi, date(2026, 12, 31), reason, D(amount), "REF1")
        for reason, amount in plb
    ]
    paid = sum((c.paid for c in claims), D("0")) - sum((p.amount for p in plbs), D("0"))
    return x835.Remittance835(
        handling="I",
        total_paid=D(total) if total is not None else paid,
        credit_debit="C",
        payment_method="ACH",
        trace=x835.Trace("1", trace, payer_key),
        payer=x835.Party("PR", name="ACME HEALTH"),
        payee=x835.Party("PE", name="NORTHSIDE", id_qualifier="XX", id=npi),
        payment_date=payment_date,
        claims=list(claims),
        provider_adjustments=plbs,
    )


def count_rows(session: Session, *models: type[SQLModel]) -> dict[str, int]:
    return {
        m.__name__: session.scalar(select(func.count()).select_from(m)) or 0  # type: ignore[arg-type]
        for m in models
    }


def balance(
    session: Session,
    practice_id: uuid.UUID,
    *,
    claim_id: uuid.UUID | None = None,
    line_id: uuid.UUID | None = None,
    responsible: Responsible | None = None,
) -> Decimal:
    query = select(func.sum(col(LedgerEntry.amount))).where(
        col(LedgerEntry.practice_id) == practice_id
    )
    if claim_id is not None:
        query = query.where(col(LedgerEntry.claim_id) == claim_id)
    if line_id is not None:
        query = query.where(col(LedgerEntry.service_line_id) == line_id)
    if responsible is not None:
        query = query.where(col(LedgerEntry.responsible) == responsible)
    total = session.scalar(query)
    return D("0.00") if total is None else D(str(total)).quantize(D("0.01"))
