from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlmodel import Session

from rcm.models import PatientStatement
from rcm.posting import post_remittance
from rcm.statements import build_statements, statements_csv
from tests.rcm.posting.helpers import (
    D,
    Seeded,
    clp,
    make_interchange,
    make_payer,
    make_practice,
    remittance,
    svc,
)

TODAY = date(2026, 12, 1)


def _post(session: Session, practice, claims, trace: str) -> None:
    post_remittance(
        session,
        remittance(claims, trace=trace),
        interchange_id=make_interchange(session, practice).id,
    )


def test_statements_only_for_balances_insurance_is_done_with(session: Session) -> None:
    practice = make_practice(session)
    payer, medigap = make_payer(session, "acme"), make_payer(session, "medigap")
    owes = Seeded(
        session, practice, payer, "PCN1", [("99213", [], D("150")), ("36415", [], D("20"))]
    )
    Seeded(session, practice, payer, "PCN2", [("99213", [], D("150"))], secondary_payer=medigap)
    Seeded(session, practice, payer, "PCN3", [("99213", [], D("150"))])
    Seeded(session, practice, payer, "PCN4", [("99213", [], D("100"))])
    Seeded(session, practice, payer, "PCN5", [("99213", [], D("100"))])
    _post(
        session,
        practice,
        [
            clp(
                "PCN1",
                "1",
                "170",
                "100",
                [
                    svc("99213", "150", "90", ("CO", "45", "30"), ("PR", "2", "30")),
                    svc("36415", "20", "10", ("PR", "1", "10")),
                ],
            ),
            # Secondary coverage: the patient share goes to the secondary claim, not the patient.
            clp(
                "PCN2",
                "1",
                "150",
                "80",
                [svc("99213", "150", "80", ("CO", "45", "40"), ("PR", "2", "30"))],
            ),
            # Forwarded to the next payer by the primary (crossover): pending with that payer.
            clp(
                "PCN3",
                "19",
                "150",
                "80",
                [svc("99213", "150", "80", ("CO", "45", "40"), ("PR", "2", "30"))],
            ),
            # Below the practice's minimum statement balance (5.00).
            clp("PCN4", "1", "100", "97", [svc("99213", "100", "97", ("PR", "3", "3"))]),
        ],
        "T1",
    )
    outputs = build_statements(session, practice_id=practice.id, statement_date=TODAY)
    assert [o.statement.patient_id for o in outputs] == [owes.patient.id]
    (out,) = outputs
    assert out.created and out.statement.balance == Decimal("40.00")
    assert [(r["procedure"], r["patient_owes"]) for r in out.statement.lines] == [
        ("36415", "10.00"),
        ("99213", "30.00"),
    ]
    assert out.pdf.startswith(b"%PDF")
    rows = list(csv.DictReader(io.StringIO(out.csv.decode())))
    assert len(rows) == 2 and {r["balance_due"] for r in rows} == {"40.00"}
    assert rows[0]["insurance_paid"] == "10.00" and rows[1]["adjustments"] == "30.00"
    vendor = statements_csv(outputs).decode().splitlines()
    assert len(vendor) == 3 and vendor[0].startswith("statement_id,")

    again = build_statements(session, practice_id=practice.id, statement_date=TODAY)
    assert [o.statement.id for o in again] == [out.statement.id]
    assert not again[0].created and again[0].pdf == out.pdf
    assert session.scalar(select(func.count()).select_from(PatientStatement)) == 1
