"""Patient statements: what each patient owes once insurance has finished with their claims, as a
PDF to mail and CSV rows for print-and-mail vendors.

A claim's patient balance (ledger entries owed by the patient) goes on a statement only when
insurance is done with it: the claim is PAID, PARTIAL, DENIED, WRITTEN_OFF or CLOSED, no other
claim of the same encounter (a secondary or tertiary claim, a corrected claim) is still with a
payer, and its last adjudication was not forwarded to another payer (CLP02 19, 20, 21) without
that payer's answer. Balances still pending with a payer never appear as patient-due.

`build_statements` is idempotent per (patient, statement date): a statement already built for
that date is returned as it was (same lines, same PDF bytes), never built twice. Archiving the
PDF and CSV (pdf_key, csv_key) is the caller's job.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from fpdf import FPDF
from sqlalchemy import func, select
from sqlmodel import Session, col

from rcm.models import (
    Claim,
    ClaimPayment,
    ClaimStatus,
    LedgerEntry,
    LedgerKind,
    MatchStatus,
    Patient,
    PatientStatement,
    Practice,
    Remittance,
    Responsible,
    ServiceLine,
)

ZERO = Decimal("0.00")
DONE = frozenset(
    {
        ClaimStatus.PAID,
        ClaimStatus.PARTIAL,
        ClaimStatus.DENIED,
        ClaimStatus.WRITTEN_OFF,
        ClaimStatus.CLOSED,
    }
)
FINAL = DONE | {ClaimStatus.REPLACED, ClaimStatus.VOIDED}
FORWARDED = frozenset({"19", "20", "21"})
DUE_DAYS = 30
DEFAULT_MIN_BALANCE = Decimal("5.00")

CSV_COLUMNS = [
    "statement_id",
    "statement_date",
    "due_date",
    "practice_name",
    "practice_address",
    "practice_city",
    "practice_state",
    "practice_zip",
    "practice_phone",
    "account_number",
    "patient_name",
    "address1",
    "address2",
    "city",
    "state",
    "zip",
    "balance_due",
    "service_date",
    "claim",
    "procedure",
    "description",
    "charge",
    "insurance_paid",
    "adjustments",
    "patient_owes",
]


@dataclass(frozen=True, slots=True)
class StatementOutput:
    statement: PatientStatement
    pdf: bytes
    csv: bytes
    created: bool


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):,}"


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def _min_balance(practice: Practice) -> Decimal:
    raw = (practice.policies or {}).get("statement_min_balance")
    try:
        return Decimal(str(raw)) if raw is not None else DEFAULT_MIN_BALANCE
    except ArithmeticError:
        return DEFAULT_MIN_BALANCE


def _finished_claims(session: Session, practice_id: uuid.UUID) -> set[uuid.UUID]:
    claims = list(
        session.execute(
            select(col(Claim.id), col(Claim.encounter_id), col(Claim.status)).where(
                col(Claim.practice_id) == practice_id
            )
        ).tuples()
    )
    pending_encounters = {enc for _, enc, status in claims if ClaimStatus(status) not in FINAL}
    last_status: dict[uuid.UUID, tuple[datetime, str]] = {}
    for claim_id, status_code, posted_at in session.execute(
        select(col(ClaimPayment.claim_id), col(ClaimPayment.status_code), col(Remittance.posted_at))
        .join(Remittance, col(Remittance.id) == col(ClaimPayment.remittance_id))
        .where(col(ClaimPayment.practice_id) == practice_id)
        .where(col(ClaimPayment.match_status) != MatchStatus.UNMATCHED)
    ).tuples():
        when = posted_at or datetime.min.replace(tzinfo=UTC)
        if claim_id is not None and (
            claim_id not in last_status or when >= last_status[claim_id][0]
        ):
            last_status[claim_id] = (when, status_code)
    return {
        claim_id
        for claim_id, encounter_id, status in claims
        if ClaimStatus(status) in DONE
        and encounter_id not in pending_encounters
        and last_status.get(claim_id, (None, ""))[1] not in FORWARDED
    }


def _lines(
    session: Session, practice_id: uuid.UUID, claim_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """Per patient, one row per claim line with a patient balance: charge, insurance paid,
    adjustments and what the patient owes."""
    sums: dict[tuple[uuid.UUID, uuid.UUID | None], dict[str, Decimal]] = defaultdict(
        lambda: defaultdict(lambda: ZERO)
    )
    for start in range(0, len(claim_ids), 500):
        chunk = list(claim_ids[start : start + 500])
        for claim_id, line_id, kind, responsible, total in session.execute(
            select(
                col(LedgerEntry.claim_id),
                col(LedgerEntry.service_line_id),
                col(LedgerEntry.kind),
                col(LedgerEntry.responsible),
                func.sum(col(LedgerEntry.amount)),
            )
            .where(col(LedgerEntry.practice_id) == practice_id)
            .where(col(LedgerEntry.claim_id).in_(chunk))
            .group_by(
                col(LedgerEntry.claim_id),
                col(LedgerEntry.service_line_id),
                col(LedgerEntry.kind),
                col(LedgerEntry.responsible),
            )
        ).tuples():
            bucket = sums[(claim_id, line_id)]
            amount = Decimal(str(total)).quantize(Decimal("0.01"))
            if responsible == Responsible.PATIENT:
                bucket["patient"] += amount
            elif kind == LedgerKind.CHARGE:
                bucket["charge"] += amount
            elif kind == LedgerKind.PAYER_PAYMENT:
                bucket["paid"] -= amount
            elif kind in (LedgerKind.ADJUSTMENT, LedgerKind.REVERSAL):
                bucket["adjusted"] -= amount
    claims = {c.id: c for c in session.scalars(select(Claim).where(col(Claim.id).in_(claim_ids)))}
    line_ids = [line_id for _, line_id in sums if line_id is not None]
    lines = (
        {
            sl.id: sl
            for sl in session.scalars(select(ServiceLine).where(col(ServiceLine.id).in_(line_ids)))
        }
        if line_ids
        else {}
    )
    out: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for (claim_id, line_id), bucket in sums.items():
        if bucket["patient"] == ZERO:
            continue
        claim = claims[claim_id]
        line = lines.get(line_id) if line_id is not None else None
        out[claim.patient_id].append(
            {
                "service_date": (
                    line.service_date if line and line.service_date else claim.service_date_from
                ).isoformat(),
                "claim": claim.patient_control_number,
                "procedure": line.procedure_code if line else "",
                "description": "Professional services" if line else "Claim balance",
                "charge": str(bucket["charge"]),
                "insurance_paid": str(bucket["paid"]),
                "adjustments": str(bucket["adjusted"]),
                "patient_owes": str(bucket["patient"]),
            }
        )
    for rows in out.values():
        rows.sort(key=lambda r: (r["service_date"], r["claim"], r["procedure"]))
    return out


def render_pdf(practice: Practice, patient: Patient, statement: PatientStatement) -> bytes:
    """The statement as a one-page (or more) letter-size PDF. Deterministic for the same rows."""
    pdf = FPDF(format="letter", unit="pt")
    created = datetime.combine(statement.statement_date, datetime.min.time(), tzinfo=UTC)
    pdf.set_creation_date(created)
    pdf.set_title(_latin1(f"Statement {statement.statement_date.isoformat()}"))
    pdf.set_auto_page_break(auto=True, margin=54)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 18, _latin1(practice.name), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for text in (
        practice.address1,
        f"{practice.city}, {practice.state} {practice.zip}",
        practice.phone or "",
    ):
        if text:
            pdf.cell(0, 13, _latin1(text), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(16)
    due = statement.statement_date + timedelta(days=DUE_DAYS)
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 16, "PATIENT STATEMENT", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for text in (
        f"Statement date: {statement.statement_date.isoformat()}",
        f"Account: {patient.account_number}",
        f"Amount due: ${_money(statement.balance)} by {due.isoformat()}",
    ):
        pdf.cell(0, 13, _latin1(text), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(10)
    name = " ".join(p for p in (patient.first_name, patient.middle_name, patient.last_name) if p)
    address = [
        name,
        patient.address1 or "",
        patient.address2 or "",
        f"{patient.city or ''}, {patient.state or ''} {patient.zip or ''}".strip(", "),
    ]
    for text in address:
        if text:
            pdf.cell(0, 13, _latin1(text), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(16)
    widths = (70, 90, 60, 70, 80, 75, 75)
    headers = ("Date", "Claim", "Code", "Charge", "Insurance paid", "Adjusted", "You owe")
    pdf.set_font("Helvetica", "B", 9)
    for width, header in zip(widths, headers, strict=True):
        pdf.cell(width, 14, header, border="B")
    pdf.ln(14)
    pdf.set_font("Helvetica", "", 9)
    for row in statement.lines:
        values = (
            row["service_date"],
            row["claim"],
            row["procedure"],
            _money(Decimal(row["charge"])),
            _money(Decimal(row["insurance_paid"])),
            _money(Decimal(row["adjustments"])),
            _money(Decimal(row["patient_owes"])),
        )
        for width, value in zip(widths, values, strict=True):
            pdf.cell(width, 13, _latin1(str(value)))
        pdf.ln(13)
    pdf.ln(8)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(
        0, 16, _latin1(f"Total due: ${_money(statement.balance)}"), new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_font("Helvetica", "", 9)
    pdf.multi_cell(
        0,
        12,
        _latin1(
            "Your insurance has processed these services; the amounts above are your share "
            "(deductible, coinsurance, copay or services your plan does not cover). Please pay by "
            f"the due date or call {practice.phone or 'our office'} with questions."
        ),
    )
    return bytes(pdf.output())


def render_csv(
    practice: Practice, patient: Patient, statement: PatientStatement, *, header: bool = True
) -> bytes:
    """Rows for a print-and-mail vendor: one per statement line, statement fields repeated."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(CSV_COLUMNS)
    due = statement.statement_date + timedelta(days=DUE_DAYS)
    name = " ".join(p for p in (patient.first_name, patient.middle_name, patient.last_name) if p)
    head = [
        str(statement.id),
        statement.statement_date.isoformat(),
        due.isoformat(),
        practice.name,
        practice.address1,
        practice.city,
        practice.state,
        practice.zip,
        practice.phone or "",
        patient.account_number,
        name,
        patient.address1 or "",
        patient.address2 or "",
        patient.city or "",
        patient.state or "",
        patient.zip or "",
        str(statement.balance),
    ]
    for row in statement.lines:
        writer.writerow(head + [row[c] for c in CSV_COLUMNS[len(head) :]])
    return buffer.getvalue().encode("utf-8")


def build_statements(
    session: Session,
    *,
    practice_id: uuid.UUID,
    statement_date: date,
    min_balance: Decimal | None = None,
) -> list[StatementOutput]:
    """A statement for every patient of the practice who owes at least the practice's
    statement_min_balance on claims insurance has finished with. Flushes; the caller commits."""
    practice = session.get(Practice, practice_id)
    if practice is None:
        raise ValueError(f"no practice {practice_id}")
    floor = min_balance if min_balance is not None else _min_balance(practice)
    finished = sorted(_finished_claims(session, practice_id))
    lines_by_patient = _lines(session, practice_id, finished) if finished else {}
    existing = {
        s.patient_id: s
        for s in session.scalars(
            select(PatientStatement).where(
                col(PatientStatement.practice_id) == practice_id,
                col(PatientStatement.statement_date) == statement_date,
            )
        )
    }
    patient_ids = set(lines_by_patient) | set(existing)
    patients = (
        {
            p.id: p
            for p in session.scalars(select(Patient).where(col(Patient.id).in_(list(patient_ids))))
        }
        if patient_ids
        else {}
    )
    out: list[StatementOutput] = []
    for patient_id in sorted(patient_ids, key=lambda pid: patients[pid].account_number):
        patient = patients[patient_id]
        statement = existing.get(patient_id)
        created = statement is None
        if statement is None:
            rows = lines_by_patient.get(patient_id, [])
            balance = sum((Decimal(r["patient_owes"]) for r in rows), ZERO)
            if balance <= ZERO or balance < floor:
                continue
            statement = PatientStatement(
                practice_id=practice_id,
                patient_id=patient_id,
                statement_date=statement_date,
                balance=balance,
                lines=rows,
            )
            session.add(statement)
            session.flush()
        out.append(
            StatementOutput(
                statement,
                render_pdf(practice, patient, statement),
                render_csv(practice, patient, statement),
                created,
            )
        )
    return out


def statements_csv(outputs: Sequence[StatementOutput]) -> bytes:
    """One vendor file for a statement run: the header once, then every statement's rows."""
    parts = [",".join(CSV_COLUMNS).encode() + b"\n"]
    for output in outputs:
        parts.append(output.csv.split(b"\n", 1)[1])
    return b"".join(parts)


__all__ = [
    "CSV_COLUMNS",
    "StatementOutput",
    "build_statements",
    "render_csv",
    "render_pdf",
    "statements_csv",
]
