"""Hand-computed postings for each CLP status, CAS group and PLB kind."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import null, select, update
from sqlmodel import Session, col

from rcm.errors import PostingError
from rcm.models import (
    Adjustment,
    Claim,
    ClaimEvent,
    ClaimPayment,
    ClaimStatus,
    Denial,
    LedgerEntry,
    LedgerKind,
    MatchStatus,
    PayerResponsibility,
    ProviderAdjustment,
    Remittance,
    Responsible,
    ServicePayment,
    WorkItem,
)
from rcm.posting import (
    DuplicateRemittanceError,
    NotUnmatchedError,
    UnbalancedRemittanceError,
    UnknownPayeeError,
    match_claim_payment,
    post_remittance,
    prior_adjudications,
    unmatched_claim_payments,
)
from rcm.x12 import x835
from tests.rcm.posting.helpers import (
    D,
    Seeded,
    balance,
    clp,
    count_rows,
    make_interchange,
    make_payer,
    make_practice,
    remittance,
    svc,
)

ALL = (
    Remittance,
    ClaimPayment,
    ServicePayment,
    Adjustment,
    ProviderAdjustment,
    LedgerEntry,
    Denial,
    ClaimEvent,
    Claim,
    WorkItem,
)


@pytest.fixture
def world(session: Session) -> dict:
    practice = make_practice(session)
    payer = make_payer(session)
    interchange = make_interchange(session, practice)
    return {"practice": practice, "payer": payer, "interchange": interchange}


def _post(session: Session, world: dict, rem) -> object:
    return post_remittance(session, rem, interchange_id=world["interchange"].id)


def _entries(session: Session, claim_id) -> list[LedgerEntry]:
    return list(session.scalars(select(LedgerEntry).where(col(LedgerEntry.claim_id) == claim_id)))


def test_paid_primary_contractual_and_cost_sharing(session: Session, world: dict) -> None:
    p = world["practice"]
    s = Seeded(
        session, p, world["payer"], "PCN1", [("99213", [], D("150.00")), ("85025", [], D("50.00"))]
    )
    rem = remittance(
        [
            clp(
                "PCN1",
                "1",
                "200",
                "100",
                [
                    svc("99213", "150", "80", ("CO", "45", "40"), ("PR", "1", "30")),
                    svc("85025", "50", "20", ("CO", "45", "20"), ("PR", "2", "10")),
                ],
                patient_responsibility="40",
            ),
        ]
    )
    result = _post(session, world, rem)
    assert result.matched == 1 and result.unmatched == 0 and result.denials == 0
    session.refresh(s.claim)
    assert s.claim.status == ClaimStatus.PAID
    assert s.claim.payer_claim_control_number == "PCCN1"
    line1, line2 = s.lines
    assert balance(session, p.id, line_id=line1.id, responsible=Responsible.PAYER) == D("0.00")
    assert balance(session, p.id, line_id=line1.id, responsible=Responsible.PATIENT) == D("30.00")
    assert balance(session, p.id, line_id=line2.id, responsible=Responsible.PATIENT) == D("10.00")
    assert balance(session, p.id, claim_id=s.claim.id) == D("40.00")
    entries = _entries(session, s.claim.id)
    kinds = sorted(
        (e.kind.value, str(e.amount), e.responsible.value)
        for e in entries
        if e.service_line_id == line1.id
    )
    assert kinds == [
        ("adjustment", "-40.00", "payer"),
        ("charge", "150.00", "payer"),
        ("patient_responsibility", "-30.00", "payer"),
        ("patient_responsibility", "30.00", "patient"),
        ("payer_payment", "-80.00", "payer"),
    ]
    events = list(session.scalars(select(ClaimEvent).where(col(ClaimEvent.claim_id) == s.claim.id)))
    assert [(e.from_status, e.to_status) for e in events] == [
        (ClaimStatus.ACCEPTED, ClaimStatus.PAID)
    ]
    assert events[0].source == str(world["interchange"].id)
    sps = list(session.scalars(select(ServicePayment)))
    assert {sp.service_line_id for sp in sps} == {line1.id, line2.id}


def test_submitted_claim_is_accepted_on_the_way(session: Session, world: dict) -> None:
    s = Seeded(
        session,
        world["practice"],
        world["payer"],
        "PCN1",
        [("99213", [], D("100"))],
        status=ClaimStatus.SUBMITTED,
    )
    _post(
        session, world, remittance([clp("PCN1", "1", "100", "100", [svc("99213", "100", "100")])])
    )
    events = list(session.scalars(select(ClaimEvent).where(col(ClaimEvent.claim_id) == s.claim.id)))
    assert [e.to_status for e in events] == [ClaimStatus.ACCEPTED, ClaimStatus.PAID]


@pytest.mark.parametrize("status", ["19", "2", "3", "20", "21"])
def test_other_processed_statuses_post_as_paid(session: Session, world: dict, status: str) -> None:
    s = Seeded(session, world["practice"], world["payer"], "PCN1", [("99213", [], D("100"))])
    _post(
        session,
        world,
        remittance(
            [
                clp(
                    "PCN1",
                    status,
                    "100",
                    "70",
                    [svc("99213", "100", "70", ("CO", "45", "20"), ("PR", "2", "10"))],
                ),
            ]
        ),
    )
    session.refresh(s.claim)
    assert s.claim.status == ClaimStatus.PAID
    assert balance(session, world["practice"].id, claim_id=s.claim.id) == D("10.00")


def test_denied_claim_creates_denials(session: Session, world: dict) -> None:
    p = world["practice"]
    s = Seeded(session, p, world["payer"], "PCN1", [("99214", [], D("150"))])
    result = _post(
        session,
        world,
        remittance(
            [
                clp(
                    "PCN1",
                    "4",
                    "150",
                    "0",
                    [svc("99214", "150", "0", ("CO", "50", "150"), remarks=["N115"])],
                ),
            ]
        ),
    )
    assert result.denials == 1
    session.refresh(s.claim)
    assert s.claim.status == ClaimStatus.DENIED
    denial = session.scalars(select(Denial)).one()
    assert (denial.carc, denial.group_code, denial.amount) == ("50", "CO", D("150.00"))
    assert denial.rarcs == ["N115"]
    assert denial.category == "medical_necessity"
    assert denial.recommended_action == "appeal"
    assert denial.appeal_deadline == date(2026, 11, 1) + (date(2026, 1, 31) - date(2025, 11, 2))
    assert denial.service_line_id == s.lines[0].id
    assert balance(session, p.id, claim_id=s.claim.id) == D("0.00")


def test_zero_paid_with_denial_reason_is_denied_even_if_status_1(
    session: Session, world: dict
) -> None:
    s = Seeded(session, world["practice"], world["payer"], "PCN1", [("99214", [], D("150"))])
    _post(
        session,
        world,
        remittance(
            [
                clp("PCN1", "1", "150", "0", [svc("99214", "150", "0", ("CO", "197", "150"))]),
            ]
        ),
    )
    session.refresh(s.claim)
    assert s.claim.status == ClaimStatus.DENIED
    assert session.scalars(select(Denial)).one().category == "authorization"


def test_zero_paid_all_deductible_is_paid_balance_to_patient(session: Session, world: dict) -> None:
    s = Seeded(session, world["practice"], world["payer"], "PCN1", [("99213", [], D("100"))])
    _post(
        session,
        world,
        remittance(
            [
                clp(
                    "PCN1",
                    "1",
                    "100",
                    "0",
                    [svc("99213", "100", "0", ("CO", "45", "25"), ("PR", "1", "75"))],
                ),
            ]
        ),
    )
    session.refresh(s.claim)
    assert s.claim.status == ClaimStatus.PAID
    assert session.scalars(select(Denial)).all() == []
    assert balance(
        session, world["practice"].id, claim_id=s.claim.id, responsible=Responsible.PATIENT
    ) == D("75.00")


def test_partial_when_some_lines_are_denied(session: Session, world: dict) -> None:
    s = Seeded(
        session,
        world["practice"],
        world["payer"],
        "PCN1",
        [("99213", [], D("100")), ("36415", [], D("20"))],
    )
    _post(
        session,
        world,
        remittance(
            [
                clp(
                    "PCN1",
                    "1",
                    "120",
                    "80",
                    [
                        svc("99213", "100", "80", ("CO", "45", "20")),
                        svc("36415", "20", "0", ("CO", "97", "20"), remarks=["M15"]),
                    ],
                ),
            ]
        ),
    )
    session.refresh(s.claim)
    assert s.claim.status == ClaimStatus.PARTIAL
    denial = session.scalars(select(Denial)).one()
    assert (denial.category, denial.service_line_id) == ("bundling", s.lines[1].id)


def test_patient_non_covered_is_a_denial_billed_to_the_patient(
    session: Session, world: dict
) -> None:
    s = Seeded(session, world["practice"], world["payer"], "PCN1", [("99213", [], D("100"))])
    _post(
        session,
        world,
        remittance(
            [
                clp("PCN1", "1", "100", "0", [svc("99213", "100", "0", ("PR", "204", "100"))]),
            ]
        ),
    )
    denial = session.scalars(select(Denial)).one()
    assert (denial.category, denial.recommended_action) == ("non_covered", "bill_patient")
    assert balance(
        session, world["practice"].id, claim_id=s.claim.id, responsible=Responsible.PATIENT
    ) == D("100.00")


def test_every_cas_group_posts_as_an_adjustment(session: Session, world: dict) -> None:
    p = world["practice"]
    s = Seeded(session, p, world["payer"], "PCN1", [("99213", [], D("100"))])
    _post(
        session,
        world,
        remittance(
            [
                clp(
                    "PCN1",
                    "1",
                    "100",
                    "70",
                    [
                        svc(
                            "99213",
                            "100",
                            "70",
                            ("CO", "45", "10"),
                            ("PI", "253", "2"),
                            ("CR", "45", "3"),
                            ("OA", "23", "5"),
                            ("PR", "3", "10"),
                        ),
                    ],
                ),
            ]
        ),
    )
    entries = _entries(session, s.claim.id)
    adjustments = sorted(
        (e.group_code, e.reason_code, e.amount) for e in entries if e.kind == LedgerKind.ADJUSTMENT
    )
    assert adjustments == [
        ("CO", "45", D("-10.00")),
        ("CR", "45", D("-3.00")),
        ("OA", "23", D("-5.00")),
        ("PI", "253", D("-2.00")),
    ]
    assert session.scalars(select(Denial)).all() == []
    assert balance(session, p.id, claim_id=s.claim.id, responsible=Responsible.PAYER) == 0
    assert balance(session, p.id, claim_id=s.claim.id, responsible=Responsible.PATIENT) == 10


def test_claim_level_adjustments_without_service_lines(session: Session, world: dict) -> None:
    p = world["practice"]
    s = Seeded(session, p, world["payer"], "PCN1", [("99213", [], D("100"))])
    _post(
        session,
        world,
        remittance(
            [
                clp("PCN1", "1", "100", "60", [], ("CO", "45", "25"), ("PR", "3", "15")),
            ]
        ),
    )
    stored = session.scalars(select(Adjustment)).all()
    assert {a.service_payment_id for a in stored} == {None}
    assert balance(session, p.id, claim_id=s.claim.id, responsible=Responsible.PAYER) == 0
    assert balance(session, p.id, claim_id=s.claim.id, responsible=Responsible.PATIENT) == 15


def test_plb_posts_to_the_practice_ledger(session: Session, world: dict) -> None:
    p = world["practice"]
    Seeded(session, p, world["payer"], "PCN1", [("99213", [], D("100"))])
    rem = remittance(
        [clp("PCN1", "1", "100", "100", [svc("99213", "100", "100")])],
        plb=[("L6", "-5.25"), ("WO", "30"), ("FB", "10"), ("CS", "1.50")],
    )
    assert rem.total_paid == D("63.75")
    result = _post(session, world, rem)
    assert result.provider_adjustments == 4
    plb = list(session.scalars(select(LedgerEntry).where(col(LedgerEntry.claim_id).is_(None))))
    assert sorted((e.reason_code, e.amount) for e in plb) == [
        ("CS", D("1.50")),
        ("FB", D("10.00")),
        ("L6", D("-5.25")),
        ("WO", D("30.00")),
    ]
    assert {e.responsible for e in plb} == {Responsible.PRACTICE}
    assert {e.kind for e in plb} == {LedgerKind.PROVIDER_ADJUSTMENT}
    cash = [
        e.amount
        for e in session.scalars(select(LedgerEntry))
        if e.kind in (LedgerKind.PAYER_PAYMENT, LedgerKind.PROVIDER_ADJUSTMENT)
    ]
    assert sum(cash) == -rem.total_paid
    stored = session.scalars(select(ProviderAdjustment)).all()
    assert sorted(a.reason_code for a in stored) == ["CS", "FB", "L6", "WO"]


def test_reversal_then_corrected_claim(session: Session, world: dict) -> None:
    p = world["practice"]
    s = Seeded(session, p, world["payer"], "PCN1", [("99213", [], D("100"))])
    _post(
        session,
        world,
        remittance(
            [
                clp("PCN1", "1", "100", "80", [svc("99213", "100", "80", ("CO", "45", "20"))]),
            ],
            trace="T1",
        ),
    )
    second = make_interchange(session, p)
    result = post_remittance(
        session,
        remittance(
            [
                clp(
                    "PCN1", "22", "-100", "-80", [svc("99213", "-100", "-80", ("CO", "45", "-20"))]
                ),
                clp("PCN1", "1", "100", "90", [svc("99213", "100", "90", ("CO", "45", "10"))]),
            ],
            trace="T2",
        ),
        interchange_id=second.id,
    )
    assert result.reversals == 1
    session.refresh(s.claim)
    assert s.claim.status == ClaimStatus.PAID
    events = session.scalars(
        select(ClaimEvent)
        .where(col(ClaimEvent.claim_id) == s.claim.id)
        .order_by(col(ClaimEvent.created_at))
    ).all()
    assert [e.to_status for e in events] == [
        ClaimStatus.PAID,
        ClaimStatus.ACCEPTED,
        ClaimStatus.PAID,
    ]
    entries = _entries(session, s.claim.id)
    reversals = [e for e in entries if e.kind == LedgerKind.REVERSAL]
    assert sorted(e.amount for e in reversals) == [D("20.00"), D("80.00")]
    assert all(e.reverses_entry_id is not None for e in reversals)
    assert balance(session, p.id, claim_id=s.claim.id) == D("0.00")
    payments = sorted(e.amount for e in entries if e.kind == LedgerKind.PAYER_PAYMENT)
    assert payments == [D("-90.00"), D("-80.00")]


def test_unbalanced_line_is_refused_and_nothing_changes(session: Session, world: dict) -> None:
    Seeded(session, world["practice"], world["payer"], "PCN1", [("99213", [], D("100"))])
    before = count_rows(session, *ALL)
    rem = remittance(
        [clp("PCN1", "1", "100", "80", [svc("99213", "100", "80", ("CO", "45", "19.99"))])]
    )
    with pytest.raises(UnbalancedRemittanceError) as info:
        _post(session, world, rem)
    message = str(info.value)
    assert "claim PCN1 service line 1" in message and "0.01" in message
    assert count_rows(session, *ALL) == before


def test_unbalanced_transaction_is_refused(session: Session, world: dict) -> None:
    Seeded(session, world["practice"], world["payer"], "PCN1", [("99213", [], D("100"))])
    before = count_rows(session, *ALL)
    rem = remittance([clp("PCN1", "1", "100", "100", [svc("99213", "100", "100")])], total="99.00")
    with pytest.raises(UnbalancedRemittanceError, match=r"transaction.*1\.00"):
        _post(session, world, rem)
    assert count_rows(session, *ALL) == before


def test_duplicate_trace_is_refused_and_nothing_changes(session: Session, world: dict) -> None:
    Seeded(session, world["practice"], world["payer"], "PCN1", [("99213", [], D("100"))])
    rem = remittance([clp("PCN1", "1", "100", "100", [svc("99213", "100", "100")])])
    _post(session, world, rem)
    before = count_rows(session, *ALL)
    with pytest.raises(DuplicateRemittanceError):
        _post(session, world, rem)
    assert count_rows(session, *ALL) == before


def test_unknown_payee_is_refused(session: Session, world: dict) -> None:
    rem = remittance(
        [clp("PCN1", "1", "100", "100", [svc("99213", "100", "100")])], npi="1111111112"
    )
    with pytest.raises(UnknownPayeeError, match="NPI 1111111112"):
        _post(session, world, rem)


def test_payee_found_by_tin(session: Session, world: dict) -> None:
    s = Seeded(session, world["practice"], world["payer"], "PCN1", [("99213", [], D("100"))])
    rem = remittance([clp("PCN1", "1", "100", "100", [svc("99213", "100", "100")])])
    rem.payee.id_qualifier, rem.payee.id = "FI", "12-3456789"
    _post(session, world, rem)
    session.refresh(s.claim)
    assert s.claim.status == ClaimStatus.PAID


def test_unmatched_claim_goes_to_the_queue_and_is_matched_later(
    session: Session, world: dict
) -> None:
    p = world["practice"]
    s = Seeded(session, p, world["payer"], "PCN1", [("99213", [], D("100"))])
    result = _post(
        session,
        world,
        remittance(
            [
                clp(
                    "TYPO1",
                    "1",
                    "100",
                    "80",
                    [svc("99213", "100", "80", ("CO", "45", "15"), ("PR", "3", "5"))],
                ),
            ]
        ),
    )
    assert result.unmatched == 1
    queue = unmatched_claim_payments(session, practice_id=p.id)
    assert [cp.id for cp in queue] == list(result.unmatched_claim_payment_ids)
    assert queue[0].claim_id is None and queue[0].match_status == MatchStatus.UNMATCHED
    assert session.scalars(select(LedgerEntry)).all() == []
    matched = match_claim_payment(session, queue[0].id, s.claim.id)
    assert matched.matched == 1
    session.refresh(s.claim)
    assert s.claim.status == ClaimStatus.PAID
    assert balance(session, p.id, claim_id=s.claim.id, responsible=Responsible.PATIENT) == 5
    cp = session.get(ClaimPayment, queue[0].id)
    assert cp is not None and cp.match_status == MatchStatus.MANUAL and cp.claim_id == s.claim.id
    assert unmatched_claim_payments(session, practice_id=p.id) == []
    with pytest.raises(NotUnmatchedError):
        match_claim_payment(session, queue[0].id, s.claim.id)


def test_unmatched_denial_keeps_its_remarks_for_the_denial_made_when_matched(
    session: Session, world: dict
) -> None:
    p = world["practice"]
    s = Seeded(session, p, world["payer"], "PCN1", [("99214", [], D("150"))])
    era = clp(
        "TYPO1",
        "4",
        "150",
        "0",
        [svc("99214", "150", "0", ("CO", "50", "150"), remarks=["N115", "M127"])],
    )
    era.outpatient = x835.AdjudicationInfo("MOA", ["", "", "MA130"])
    result = _post(session, world, remittance([era]))
    assert result.unmatched == 1 and result.denials == 0
    (cp_id,) = result.unmatched_claim_payment_ids
    session.expire_all()
    assert session.scalars(select(ServicePayment)).one().remarks == ["N115", "M127"]
    cp = session.get(ClaimPayment, cp_id)
    assert cp is not None and cp.remarks == ["MA130"]

    matched = match_claim_payment(session, cp_id, s.claim.id)

    assert matched.denials == 1
    denial = session.scalars(select(Denial)).one()
    assert (denial.carc, denial.group_code) == ("50", "CO")
    assert denial.rarcs == ["N115", "M127", "MA130"]
    assert denial.service_line_id == s.lines[0].id


def test_claim_payments_posted_before_remarks_were_stored_match_without_them(
    session: Session, world: dict
) -> None:
    s = Seeded(session, world["practice"], world["payer"], "PCN1", [("99214", [], D("150"))])
    era = clp("TYPO1", "4", "150", "0", [svc("99214", "150", "0", ("CO", "50", "150"))])
    (cp_id,) = _post(session, world, remittance([era])).unmatched_claim_payment_ids
    # Rows written before migration 0002 have NULL remarks.
    session.execute(update(ServicePayment).values(remarks=null()))
    session.execute(update(ClaimPayment).values(remarks=null()))
    session.expire_all()

    match_claim_payment(session, cp_id, s.claim.id)

    assert session.scalars(select(Denial)).one().rarcs == []


def test_not_our_claim_posts_nothing_and_raises_a_work_item(session: Session, world: dict) -> None:
    s = Seeded(session, world["practice"], world["payer"], "PCN1", [("99213", [], D("100"))])
    _post(
        session,
        world,
        remittance(
            [
                clp("PCN1", "23", "100", "0", [svc("99213", "100", "0", ("OA", "109", "100"))]),
            ]
        ),
    )
    assert _entries(session, s.claim.id) == []
    session.refresh(s.claim)
    assert s.claim.status == ClaimStatus.ACCEPTED
    assert session.scalars(select(WorkItem)).one().kind == "claim_not_ours"


def test_changed_split_and_bundled_lines_match(session: Session, world: dict) -> None:
    p = world["practice"]
    s = Seeded(
        session,
        p,
        world["payer"],
        "PCN1",
        [
            ("99214", ["25"], D("150")),
            ("97110", [], D("100")),
            ("36415", [], D("20")),
        ],
    )
    _post(
        session,
        world,
        remittance(
            [
                clp(
                    "PCN1",
                    "1",
                    "270",
                    "200",
                    [
                        svc(
                            "99213",
                            "150",
                            "110",
                            ("CO", "45", "40"),
                            modifiers=["25"],
                            original="99214",
                        ),
                        svc("97110", "50", "45", ("CO", "45", "5")),
                        svc("97110", "50", "45", ("CO", "45", "5")),
                        svc("36415", "20", "0", ("CO", "97", "20")),
                    ],
                ),
            ]
        ),
    )
    rows = session.scalars(select(ServicePayment)).all()
    by_code = sorted(
        (sp.procedure_code, sp.original_procedure_code or "", sp.service_line_id) for sp in rows
    )
    line_of = {line.procedure_code: line.id for line in s.lines}
    assert by_code == sorted(
        [
            ("99213", "99214", line_of["99214"]),
            ("97110", "", line_of["97110"]),
            ("97110", "", line_of["97110"]),
            ("36415", "", line_of["36415"]),
        ]
    )
    for line in s.lines:
        assert balance(session, p.id, line_id=line.id) == 0


def test_primary_leaves_patient_share_to_the_secondary_claim(session: Session, world: dict) -> None:
    p = world["practice"]
    secondary = make_payer(session, "medigap")
    s = Seeded(
        session, p, world["payer"], "PCN1", [("99213", [], D("150"))], secondary_payer=secondary
    )
    result = _post(
        session,
        world,
        remittance(
            [
                clp(
                    "PCN1",
                    "1",
                    "150",
                    "80",
                    [svc("99213", "150", "80", ("CO", "45", "40"), ("PR", "2", "30"))],
                ),
            ]
        ),
    )
    assert result.secondary_claims == 1
    sec = session.get(Claim, result.secondary_claim_ids[0])
    assert sec is not None
    assert (sec.payer_responsibility, sec.status, sec.payer_id) == (
        PayerResponsibility.SECONDARY,
        ClaimStatus.DRAFT,
        secondary.id,
    )
    assert sec.encounter_id == s.claim.encounter_id and sec.patient_control_number == "PCN1S"
    assert balance(session, p.id, claim_id=s.claim.id) == D("0.00")
    assert balance(session, p.id, claim_id=sec.id, responsible=Responsible.PAYER) == D("30.00")
    assert balance(session, p.id, responsible=Responsible.PATIENT) == D("0.00")
    prior = prior_adjudications(session, sec.id)
    assert len(prior) == 1
    assert (prior[0].paid, prior[0].adjudication_date) == (D("80.00"), date(2026, 11, 1))
    assert [(a.group, a.reason, a.amount) for a in prior[0].lines[0].adjustments] == [
        ("CO", "45", D("40.00")),
        ("PR", "2", D("30.00")),
    ]
    # The secondary payer's 835: OA-23 is the primary's share, already on the ledger.
    later = make_interchange(session, p)
    post_remittance(
        session,
        remittance(
            [
                clp(
                    "PCN1S",
                    "2",
                    "150",
                    "25",
                    [svc("99213", "150", "25", ("OA", "23", "120"), ("PR", "2", "5"))],
                ),
            ],
            trace="T2",
            payer_key="2888888888",
        ),
        interchange_id=later.id,
    )
    session.refresh(sec)
    assert sec.status == ClaimStatus.DRAFT  # not submitted yet: the move is skipped, money posts
    assert balance(session, p.id, claim_id=sec.id, responsible=Responsible.PAYER) == 0
    assert balance(session, p.id, claim_id=sec.id, responsible=Responsible.PATIENT) == 5


def test_crossover_returns_the_patient_share_for_the_second_payer(
    session: Session, world: dict
) -> None:
    p = world["practice"]
    s = Seeded(session, p, world["payer"], "PCN1", [("99213", [], D("150"))])
    _post(
        session,
        world,
        remittance(
            [
                clp(
                    "PCN1",
                    "19",
                    "150",
                    "80",
                    [svc("99213", "150", "80", ("CO", "45", "40"), ("PR", "2", "30"))],
                ),
            ]
        ),
    )
    assert balance(session, p.id, claim_id=s.claim.id, responsible=Responsible.PATIENT) == 30
    later = make_interchange(session, p)
    post_remittance(
        session,
        remittance(
            [
                clp(
                    "PCN1",
                    "2",
                    "150",
                    "24",
                    [svc("99213", "150", "24", ("OA", "23", "120"), ("PR", "2", "6"))],
                ),
            ],
            trace="T2",
            payer_key="2888888888",
        ),
        interchange_id=later.id,
    )
    assert balance(session, p.id, claim_id=s.claim.id, responsible=Responsible.PAYER) == 0
    assert balance(session, p.id, claim_id=s.claim.id, responsible=Responsible.PATIENT) == 6


def test_failure_while_writing_leaves_nothing_behind(session: Session, world: dict) -> None:
    Seeded(session, world["practice"], world["payer"], "PCN1", [("99213", [], D("100"))])
    before = count_rows(session, *ALL)
    rem = remittance([clp("PCN1", "1", "10.005", "10.005", [svc("99213", "10.005", "10.005")])])
    with pytest.raises(PostingError, match="fractions of a cent"):
        _post(session, world, rem)
    assert count_rows(session, *ALL) == before


def test_secondary_claim_owes_only_the_lines_the_primary_left(
    session: Session, world: dict
) -> None:
    p = world["practice"]
    s = Seeded(
        session,
        p,
        world["payer"],
        "PCN1",
        [("99213", [], D("150")), ("36415", [], D("20"))],
        secondary_payer=make_payer(session, "medigap"),
    )
    result = _post(
        session,
        world,
        remittance(
            [
                clp(
                    "PCN1",
                    "1",
                    "170",
                    "100",
                    [
                        svc("99213", "150", "80", ("CO", "45", "40"), ("PR", "2", "30")),
                        svc("36415", "20", "20"),
                    ],
                ),
            ]
        ),
    )
    (sec_id,) = result.secondary_claim_ids
    later = make_interchange(session, p)
    post_remittance(
        session,
        remittance(
            [
                clp(
                    "PCN1S",
                    "2",
                    "170",
                    "30",
                    [
                        svc("99213", "150", "30", ("OA", "23", "120")),
                        svc("36415", "20", "0", ("OA", "23", "20")),
                    ],
                ),
            ],
            trace="T2",
            payer_key="2888888888",
        ),
        interchange_id=later.id,
    )
    assert balance(session, p.id, claim_id=sec_id) == 0
    assert balance(session, p.id, claim_id=s.claim.id) == 0
    assert balance(session, p.id, line_id=s.lines[1].id) == 0


def test_payment_reversed_later_in_the_same_remittance(session: Session, world: dict) -> None:
    """Pay, reverse and pay again in one 835: the reversal negates the entries posted moments
    before (not yet written), and the denial of the reversed payment is resolved."""
    p = world["practice"]
    s = Seeded(
        session, p, world["payer"], "PCN1", [("99213", [], D("100")), ("36415", [], D("20"))]
    )
    paid = clp(
        "PCN1",
        "1",
        "120",
        "80",
        [
            svc("99213", "100", "80", ("CO", "45", "10"), ("PR", "2", "10")),
            svc("36415", "20", "0", ("CO", "97", "20")),
        ],
        pccn="ICN1",
    )
    reversal = clp(
        "PCN1",
        "22",
        "-120",
        "-80",
        [
            svc("99213", "-100", "-80", ("CO", "45", "-10"), ("PR", "2", "-10")),
            svc("36415", "-20", "0", ("CO", "97", "-20")),
        ],
        pccn="ICN1",
    )
    again = clp(
        "PCN1",
        "1",
        "120",
        "95",
        [
            svc("99213", "100", "85", ("CO", "45", "5"), ("PR", "2", "10")),
            svc("36415", "20", "10", ("CO", "45", "10")),
        ],
        pccn="ICN2",
    )

    result = _post(session, world, remittance([paid, reversal, again]))

    assert result.reversals == 1
    entries = _entries(session, s.claim.id)
    reversals = [e for e in entries if e.kind == LedgerKind.REVERSAL]
    by_id = {e.id: e for e in entries}
    assert len(reversals) == 5  # payment, CO-45, CO-97 and the PR pair of the first payment
    assert all(by_id[e.reverses_entry_id].amount == -e.amount for e in reversals)
    assert balance(session, p.id, claim_id=s.claim.id, responsible=Responsible.PAYER) == 0
    assert balance(session, p.id, claim_id=s.claim.id, responsible=Responsible.PATIENT) == 10
    denial = session.scalars(select(Denial)).one()
    assert (denial.carc, denial.status) == ("97", "resolved")
    session.refresh(s.claim)
    assert s.claim.status == ClaimStatus.PAID
    assert s.claim.payer_claim_control_number == "ICN2"
    events = session.scalars(
        select(ClaimEvent)
        .where(col(ClaimEvent.claim_id) == s.claim.id)
        .order_by(col(ClaimEvent.id))
    ).all()
    assert [(e.from_status, e.to_status) for e in events] == [
        (ClaimStatus.ACCEPTED, ClaimStatus.PARTIAL),
        (ClaimStatus.PARTIAL, ClaimStatus.ACCEPTED),
        (ClaimStatus.ACCEPTED, ClaimStatus.PAID),
    ]


def test_a_reversal_never_targets_a_payment_reversed_before(session: Session, world: dict) -> None:
    """A second reversal naming a payment an earlier 835 already took back reverses the payment
    still standing, not nothing (which would post the payer's amounts a second time)."""
    p = world["practice"]
    s = Seeded(session, p, world["payer"], "PCN1", [("99213", [], D("100"))])

    def paid(amount: str, pccn: str) -> x835.ClaimPayment:
        return clp(
            "PCN1",
            "1",
            "100",
            amount,
            [svc("99213", "100", amount, ("CO", "45", str(100 - int(amount))))],
            pccn=pccn,
        )

    def reversal(amount: str, pccn: str) -> x835.ClaimPayment:
        rest = str(-(100 - int(amount)))
        return clp(
            "PCN1",
            "22",
            "-100",
            f"-{amount}",
            [svc("99213", "-100", f"-{amount}", ("CO", "45", rest))],
            pccn=pccn,
        )

    _post(session, world, remittance([paid("80", "ICN1")], trace="T1"))
    second = make_interchange(session, p)
    post_remittance(
        session,
        remittance([reversal("80", "ICN1"), paid("90", "ICN2")], trace="T2"),
        interchange_id=second.id,
    )
    third = make_interchange(session, p)
    post_remittance(
        session, remittance([reversal("80", "ICN1")], trace="T3"), interchange_id=third.id
    )

    entries = _entries(session, s.claim.id)
    assert not [e for e in entries if e.memo == "payer reversal of a payment not on this ledger"]
    reversed_payments = sorted(
        e.amount
        for e in entries
        if e.kind == LedgerKind.REVERSAL and e.amount > 0 and e.group_code is None
    )
    assert reversed_payments == [D("80.00"), D("90.00")]
    assert balance(session, p.id, claim_id=s.claim.id) == D("100.00")
