from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from fpdf import FPDF
from sqlalchemy import select
from sqlmodel import Session, col

import rcm.appeals as appeals
from rcm.appeals import (
    AppealError,
    create_appeal,
    create_corrected_claim,
    record_appeal_outcome,
    submit_appeal,
)
from rcm.models import AppealStatus, Claim, ClaimStatus, Denial, DenialStatus, FrequencyCode
from rcm.posting import post_remittance
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


class _PlainPDF(FPDF):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.set_compression(False)


@pytest.fixture
def denied(session: Session, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setattr(appeals, "FPDF", _PlainPDF)
    practice = make_practice(session)
    payer = make_payer(session)
    seeded = Seeded(session, practice, payer, "PCN1", [("99214", ["25"], D("150"))])
    post_remittance(
        session,
        remittance(
            [
                clp(
                    "PCN1",
                    "4",
                    "150",
                    "0",
                    [
                        svc(
                            "99214",
                            "150",
                            "0",
                            ("CO", "50", "150"),
                            modifiers=["25"],
                            remarks=["N115"],
                        )
                    ],
                )
            ]
        ),
        interchange_id=make_interchange(session, practice).id,
    )
    denial = session.scalars(select(Denial)).one()
    return {"claim": seeded.claim, "denial": denial}


def test_appeal_letter_and_tracking(session: Session, denied: dict) -> None:
    draft = create_appeal(session, denied["denial"].id, today=date(2026, 11, 10))
    pdf = draft.letter_pdf
    assert pdf.startswith(b"%PDF")
    for text in (
        b"PO Box 1",
        b"PCN1",
        b"PCCN1",
        b"99214 25",
        b"CO-50",
        b"medically necessary",
        b"N115",
        b"Letter of medical necessity",
        b"2027-01-30",
    ):
        assert text in pdf, text
    assert draft.appeal.status == AppealStatus.DRAFT
    again = create_appeal(session, denied["denial"].id, today=date(2026, 11, 10))
    assert again.letter_pdf == pdf
    submit_appeal(session, draft.appeal.id, letter_archive_key="k/appeal.pdf")
    session.refresh(denied["claim"])
    assert denied["claim"].status == ClaimStatus.APPEALED
    session.refresh(denied["denial"])
    assert denied["denial"].status == DenialStatus.APPEALED
    record_appeal_outcome(
        session,
        draft.appeal.id,
        outcome=AppealStatus.WON,
        note="overturned",
        amount=Decimal("95.00"),
    )
    session.refresh(draft.appeal)
    assert (draft.appeal.status, draft.appeal.outcome_amount) == (AppealStatus.WON, Decimal("95"))
    session.refresh(denied["denial"])
    assert denied["denial"].status == DenialStatus.RESOLVED
    with pytest.raises(AppealError):
        submit_appeal(session, draft.appeal.id)


def test_appeal_after_deadline_is_refused(session: Session, denied: dict) -> None:
    with pytest.raises(AppealError, match="deadline"):
        create_appeal(session, denied["denial"].id, today=date(2027, 6, 1))


def test_corrected_claim_references_the_original(session: Session, denied: dict) -> None:
    corrected = create_corrected_claim(session, denied["claim"].id, reason="modifier fixed")
    assert corrected.frequency_code == FrequencyCode.REPLACEMENT
    assert corrected.original_claim_id == denied["claim"].id
    assert corrected.original_payer_claim_number == "PCCN1"
    assert corrected.patient_control_number == "PCN1R1" and corrected.status == ClaimStatus.DRAFT
    session.refresh(denied["claim"])
    assert denied["claim"].status == ClaimStatus.REPLACED
    session.refresh(denied["denial"])
    assert denied["denial"].status == DenialStatus.CORRECTED
    claims = session.scalars(
        select(Claim).where(col(Claim.encounter_id) == corrected.encounter_id)
    ).all()
    assert len(claims) == 2
