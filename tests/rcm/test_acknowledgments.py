"""999 and 277CA application: claims move on or go back to HELD with readable edits."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlmodel import Session, col

from rcm.acknowledgments import (
    AcknowledgmentError,
    DuplicateAcknowledgmentError,
    apply_277ca,
    apply_999,
    apply_acknowledgment_file,
    describe_status,
)
from rcm.models import (
    ClaimEdit,
    ClaimEvent,
    ClaimStatus,
    Direction,
    EditSource,
    EligibilityCheck,
    EligibilityCheckStatus,
    Interchange,
    InterchangeKind,
    InterchangeStatus,
)
from rcm.x12.core import InterchangeEnvelope
from rcm.x12.x277ca import (
    Ack277CA,
    Entity,
    Status,
    StatusCode,
    build_277ca,
)
from rcm.x12.x277ca import (
    ClaimStatus as Ack277ClaimStatus,
)
from rcm.x12.x835 import Name, Reference
from rcm.x12.x999 import Ack999, Context, ElementError, SegmentError, TransactionAck, build_999
from tests.rcm.posting.helpers import NPI, D, Seeded, make_payer, make_practice


@pytest.fixture
def submitted(session: Session) -> dict:
    practice = make_practice(session)
    payer = make_payer(session)
    outbound = Interchange(
        practice_id=practice.id,
        clearinghouse="sandbox",
        direction=Direction.OUTBOUND,
        kind=InterchangeKind.CLAIM_837P,
        sender_id="SUBNORTH",
        gs_control_number=42,
        isa_control_number=42,
        status=InterchangeStatus.UPLOADED,
    )
    session.add(outbound)
    session.flush()
    claims = []
    for pcn in ("PCN1", "PCN2"):
        seeded = Seeded(
            session, practice, payer, pcn, [("99213", [], D("100"))], status=ClaimStatus.SUBMITTED
        )
        seeded.claim.interchange_id = outbound.id
        claims.append(seeded.claim)
    session.flush()
    return {"practice": practice, "interchange": outbound, "claims": claims}


def _envelope(functional_id: str, version: str) -> InterchangeEnvelope:
    return InterchangeEnvelope(
        "ZZ",
        "CLEARINGHOUSE",
        "ZZ",
        "SUBNORTH",
        7,
        7,
        functional_id,
        version,
        datetime(2026, 11, 2, 9, tzinfo=UTC),
    )


def _events(session: Session, claim_id) -> list[ClaimStatus]:
    rows = session.scalars(
        select(ClaimEvent)
        .where(col(ClaimEvent.claim_id) == claim_id)
        .order_by(col(ClaimEvent.created_at))
    )
    return [e.to_status for e in rows]


def test_accepted_999_records_acceptance_and_claims_wait_for_the_277ca(
    session: Session, submitted: dict
) -> None:
    ack = Ack999(
        "HC", "42", "A", "005010X222A1", 1, 1, 1, transactions=[TransactionAck("837", "0001", "A")]
    )
    result = apply_999(session, ack, source="ack.999")
    assert result.accepted_transactions == ("0001",) and result.rejected_claim_ids == ()
    session.refresh(submitted["interchange"])
    assert submitted["interchange"].status == InterchangeStatus.ACCEPTED
    for claim in submitted["claims"]:
        session.refresh(claim)
        assert claim.status == ClaimStatus.SUBMITTED


def test_rejected_999_sends_claims_back_with_ik3_ik4_edits(
    session: Session, submitted: dict
) -> None:
    located = SegmentError(
        "NM1",
        12,
        "8",
        "2010BA",
        contexts=[Context([("CLM01", "PCN2")])],
        element_errors=[ElementError(9, "7", "67", bad_value="SECRET123")],
    )
    ack = Ack999(
        "HC",
        "42",
        "R",
        "005010X222A1",
        1,
        1,
        0,
        transactions=[
            TransactionAck("837", "0001", "R", error_codes=["5"], segment_errors=[located])
        ],
    )
    data = build_999([ack], _envelope("FA", "005010X231A1"))
    result = apply_acknowledgment_file(session, data, clearinghouse="sandbox", file_name="a.999")
    (applied,) = result.results_999
    assert applied.rejected_transactions == ("0001",)
    assert len(applied.rejected_claim_ids) == 2
    first, second = submitted["claims"]
    for claim in (first, second):
        session.refresh(claim)
        assert claim.status == ClaimStatus.HELD and claim.interchange_id is None
        assert _events(session, claim.id) == [ClaimStatus.REJECTED, ClaimStatus.HELD]
    edits = {
        c.id: list(session.scalars(select(ClaimEdit).where(col(ClaimEdit.claim_id) == c.id)))
        for c in (first, second)
    }
    (mine,) = edits[second.id]
    assert mine.source == EditSource.ACK_999 and mine.rule_id == "999-IK4-7"
    assert "NM109 invalid code value" in mine.message and "2010BA" in mine.message
    assert "SECRET123" not in mine.message
    (other,) = edits[first.id]
    assert other.rule_id == "999-IK5-R" and "one or more segments in error" in other.message
    session.refresh(submitted["interchange"])
    assert submitted["interchange"].status == InterchangeStatus.REJECTED
    with pytest.raises(DuplicateAcknowledgmentError):
        apply_acknowledgment_file(session, data, clearinghouse="sandbox", file_name="a.999")


def test_999_for_an_unknown_group_is_refused(session: Session, submitted: dict) -> None:
    ack = Ack999("HC", "999", "A", transactions=[TransactionAck("837", "0001", "A")])
    with pytest.raises(AcknowledgmentError, match="group 999"):
        apply_999(session, ack, source="x")


def _inquiry(session: Session, submitted: dict, gs: int) -> tuple[Interchange, EligibilityCheck]:
    """A 270 that was sent, with one pending check in it."""
    practice = submitted["practice"]
    claim = submitted["claims"][0]
    inquiry = Interchange(
        practice_id=practice.id,
        clearinghouse="sandbox",
        direction=Direction.OUTBOUND,
        kind=InterchangeKind.ELIGIBILITY_270,
        sender_id="SUBNORTH",
        gs_control_number=gs,
        isa_control_number=gs,
        status=InterchangeStatus.UPLOADED,
    )
    session.add(inquiry)
    session.flush()
    check = EligibilityCheck(
        practice_id=practice.id,
        patient_id=claim.patient_id,
        coverage_id=claim.coverage_id,
        interchange_id=inquiry.id,
        trace_number="TRACE270",
        service_date=date(2026, 11, 3),
        requested_at=datetime(2026, 11, 2, 8, tzinfo=UTC),
    )
    session.add(check)
    session.flush()
    return inquiry, check


def test_999_for_a_270_is_matched_to_the_inquiry_not_a_claim_file(
    session: Session, submitted: dict
) -> None:
    inquiry, check = _inquiry(session, submitted, gs=42)  # same GS06 as the 837: AK101 decides
    ack = Ack999("HS", "42", "A", transactions=[TransactionAck("270", "0001", "A")])
    result = apply_999(session, ack, source="ack.999")
    assert result.interchange_id == inquiry.id
    session.refresh(inquiry)
    session.refresh(submitted["interchange"])
    assert inquiry.status == InterchangeStatus.ACCEPTED
    assert submitted["interchange"].status == InterchangeStatus.UPLOADED
    assert check.status == EligibilityCheckStatus.PENDING


def test_rejected_270_leaves_its_checks_to_be_asked_again(
    session: Session, submitted: dict
) -> None:
    inquiry, check = _inquiry(session, submitted, gs=43)
    ack = Ack999(
        "HS", "43", "R", transactions=[TransactionAck("270", "0001", "R", error_codes=["5"])]
    )
    apply_999(session, ack, source="ack.999")
    session.refresh(inquiry)
    session.refresh(check)
    assert inquiry.status == InterchangeStatus.REJECTED
    assert check.status == EligibilityCheckStatus.ERROR
    for claim in submitted["claims"]:
        session.refresh(claim)
        assert claim.status == ClaimStatus.SUBMITTED


def _277(*claims: Ack277ClaimStatus) -> Ack277CA:
    patient = Entity("PT", claims=list(claims))
    provider = Entity(
        "19", name=Name("85", "2", "CLINIC", id_qualifier="XX", id=NPI), children=[patient]
    )
    return Ack277CA(
        [Entity("20", children=[Entity("21", children=[provider])])],
        reference="R1",
        created=date(2026, 11, 3),
    )


def _claim_status(pcn: str, category: str, code: str, *, pccn: str = "") -> Ack277ClaimStatus:
    return Ack277ClaimStatus(
        pcn,
        statuses=[
            Status(
                [StatusCode(category, code, "85" if category != "A2" else "")],
                date(2026, 11, 3),
                "WQ" if category == "A2" else "U",
                D("100"),
            )
        ],
        references=[Reference("1K", pccn)] if pccn else [],
    )


def test_277ca_accepts_and_rejects_claim_by_claim(session: Session, submitted: dict) -> None:
    first, second = submitted["claims"]
    ack = _277(
        _claim_status("PCN1", "A2", "20", pccn="PAYER-CCN-1"),
        _claim_status("PCN2", "A7", "562"),
        _claim_status("NOPE", "A2", "20"),
    )
    data = build_277ca([ack], _envelope("HN", "005010X214"))
    result = apply_acknowledgment_file(session, data, clearinghouse="sandbox", file_name="c.277")
    (applied,) = result.results_277ca
    assert applied.accepted_claim_ids == (first.id,)
    assert applied.rejected_claim_ids == (second.id,)
    assert applied.unknown_claims == 1
    session.refresh(first)
    session.refresh(second)
    assert first.status == ClaimStatus.ACCEPTED
    assert first.payer_claim_control_number == "PAYER-CCN-1"
    assert second.status == ClaimStatus.HELD
    (edit,) = session.scalars(select(ClaimEdit).where(col(ClaimEdit.claim_id) == second.id))
    assert edit.source == EditSource.ACK_277CA and edit.rule_id == "277CA-A7-562"
    assert "Rejected for Invalid Information" in edit.message
    assert "National Provider Identifier" in edit.message and "billing provider" in edit.message


def test_277ca_no_response_changes_nothing(session: Session, submitted: dict) -> None:
    first, _ = submitted["claims"]
    result = apply_277ca(session, _277(_claim_status("PCN1", "E1", "")), source="x")
    assert result.no_response_claim_ids == (first.id,)
    session.refresh(first)
    assert first.status == ClaimStatus.SUBMITTED
    (edit,) = session.scalars(select(ClaimEdit).where(col(ClaimEdit.claim_id) == first.id))
    assert edit.severity.value == "warning"


def test_status_descriptions_cover_the_category_table() -> None:
    for category in (
        "A0",
        "A1",
        "A2",
        "A3",
        "A4",
        "A5",
        "A6",
        "A7",
        "A8",
        "E0",
        "E1",
        "E2",
        "E3",
        "E4",
    ):
        assert "claim status category" not in describe_status(category, "")
    assert "Missing or invalid information" in describe_status("A6", "21")


def test_partly_accepted_999_holds_only_the_rejected_transaction_sets_claims(
    session: Session, submitted: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rcm.acknowledgments as acks

    # Built the way rcm.batching builds the 837: claims in PCN order, N per transaction set.
    monkeypatch.setattr(acks, "MAX_CLAIMS_PER_TRANSACTION", 1)
    ack = Ack999(
        "HC",
        "42",
        "P",
        "005010X222A1",
        2,
        2,
        1,
        transactions=[
            TransactionAck("837", "0001", "A"),
            TransactionAck("837", "0002", "R", error_codes=["5"]),
        ],
    )
    result = apply_999(session, ack, source="p.999")
    first, second = submitted["claims"]
    assert result.rejected_claim_ids == (second.id,)
    session.refresh(first)
    session.refresh(second)
    assert (first.status, second.status) == (ClaimStatus.SUBMITTED, ClaimStatus.HELD)
    session.refresh(submitted["interchange"])
    assert submitted["interchange"].status == InterchangeStatus.ACCEPTED
    assert "0002" in (submitted["interchange"].error or "")
