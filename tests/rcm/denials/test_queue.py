from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlmodel import Session

from rcm.denials import DenialQueueError, assign_denial, list_denials, resolve_denial, show_denial
from rcm.models import AuditEvent, ClaimStatus, DenialStatus, Responsible, utcnow
from rcm.posting import post_remittance
from tests.rcm.posting.helpers import (
    D,
    Seeded,
    balance,
    clp,
    make_interchange,
    make_payer,
    make_practice,
    remittance,
    svc,
)


@pytest.fixture
def queue(session: Session) -> dict:
    practice = make_practice(session)
    acme, other = make_payer(session, "acme"), make_payer(session, "other")
    a = Seeded(session, practice, acme, "PCN1", [("99214", [], D("150")), ("36415", [], D("20"))])
    b = Seeded(session, practice, other, "PCN2", [("99213", [], D("90"))])
    post_remittance(
        session,
        remittance(
            [
                clp(
                    "PCN1",
                    "1",
                    "170",
                    "100",
                    [
                        svc("99214", "150", "100", ("CO", "45", "50")),
                        svc("36415", "20", "0", ("CO", "97", "20")),
                    ],
                ),
            ]
        ),
        interchange_id=make_interchange(session, practice).id,
    )
    post_remittance(
        session,
        remittance(
            [
                clp("PCN2", "4", "90", "0", [svc("99213", "90", "0", ("PR", "204", "90"))]),
            ],
            trace="T2",
            payer_key="2",
        ),
        interchange_id=make_interchange(session, practice).id,
    )
    return {"practice": practice, "acme": acme, "other": other, "a": a, "b": b}


def test_list_filters(session: Session, queue: dict) -> None:
    assert len(list_denials(session)) == 2
    assert [d.carc for d in list_denials(session, payer_id=queue["acme"].id)] == ["97"]
    assert [d.carc for d in list_denials(session, category="non_covered")] == ["204"]
    assert [d.carc for d in list_denials(session, min_amount=Decimal("50"))] == ["204"]
    assert [d.carc for d in list_denials(session, max_amount=Decimal("20"))] == ["97"]
    later = utcnow().date() + timedelta(days=10)
    assert len(list_denials(session, min_age_days=10, today=later)) == 2
    assert list_denials(session, max_age_days=5, today=later) == []
    (view,) = list_denials(session, category="bundling")
    assert view.patient_control_number == "PCN1" and view.payer_key == "acme"
    assert "included in the allowance" in view.carc_description


def test_show_assign_resolve(session: Session, queue: dict) -> None:
    (bundled,) = list_denials(session, category="bundling")
    assign_denial(session, bundled.id, "jo", actor="test")
    shown = show_denial(session, bundled.id)
    assert (shown.status, shown.assignee) == ("assigned", "jo")
    assert [d.id for d in list_denials(session, assignee="jo")] == [bundled.id]
    resolve_denial(session, bundled.id, resolution="reprocessed", actor="test")
    assert show_denial(session, bundled.id).status == "resolved"
    assert len(list_denials(session)) == 1
    with pytest.raises(DenialQueueError):
        resolve_denial(session, bundled.id, resolution="again", actor="test")
    actions = [e.action for e in session.scalars(select(AuditEvent))]
    assert actions == ["denial.assigned", "denial.resolved"]


def test_write_off_patient_denial_clears_patient_balance_and_claim(
    session: Session, queue: dict
) -> None:
    p, b = queue["practice"], queue["b"]
    assert balance(session, p.id, claim_id=b.claim.id, responsible=Responsible.PATIENT) == 90
    (denial,) = list_denials(session, category="non_covered")
    resolve_denial(
        session,
        denial.id,
        resolution="courtesy write-off",
        actor="test",
        status=DenialStatus.WRITTEN_OFF,
    )
    assert balance(session, p.id, claim_id=b.claim.id) == 0
    session.refresh(b.claim)
    assert b.claim.status == ClaimStatus.WRITTEN_OFF
