"""276 build/parse and 277 (005010X212) parse/build, corpus.

pyx12 4.0 has no map in its index for X212 (nor for X279), so the structural checks stand in
for it here.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from rcm.errors import X12Error, X12SyntaxError
from rcm.x12 import x276, x277
from rcm.x12.core import InterchangeEnvelope, read_transactions
from rcm.x12.structural import check_structure
from rcm.x12.x270 import Member, Party
from tests.rcm.x12 import strategies as s
from tests.rcm.x12.test_x837 import _corpus_rows

FAST = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


def envelope(functional_id: str) -> InterchangeEnvelope:
    return InterchangeEnvelope(
        sender_qualifier="ZZ",
        sender_id="PRACTICE",
        receiver_qualifier="ZZ",
        receiver_id="PAYER",
        control_number=9,
        group_control_number=9,
        functional_id=functional_id,
        version="005010X212",
        created=datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
    )


PAYER = Party(entity_id="PR", name="SYNTHETIC HEALTH PLAN", id_qualifier="PI", identifier="99999")
RECEIVER = Party(entity_id="41", name="SYNTHETIC BILLING", id_qualifier="46", identifier="SUB01")
PROVIDER = Party(entity_id="1P", name="SYNTHETIC CLINIC", id_qualifier="XX",
                 identifier="1234567893")  # fmt: skip
SUBSCRIBER = Member(last_name="TESTER", first_name="PAT", member_id="MEM1",
                    birth_date=date(1970, 1, 1), sex="F")  # fmt: skip


@FAST
@given(s.status_requests())
def test_276_build_parse_round_trip(request: x276.ClaimStatusRequest) -> None:
    data = x276.build_276_interchange(envelope("HR"), [request])
    [parsed] = x276.parse_276(data)
    assert parsed.source == request.source and parsed.receiver == request.receiver
    assert (parsed.reference_id, parsed.created) == (request.reference_id, request.created)
    assert list(parsed.inquiries) == s.status_file_order(request.inquiries)
    for tx in read_transactions(data):
        assert check_structure(tx) == []


@FAST
@given(s.status_responses())
def test_277_build_parse_round_trip(response: x277.ClaimStatusResponse) -> None:
    data = x277.build_277_interchange(envelope("HN"), [response])
    [parsed] = x277.parse_277_responses(data)
    providers = tuple(ls.party for ls in response.level_statuses if ls.level == "provider")
    assert list(parsed.claims) == s.status_file_order(response.claims, providers)
    assert parsed.level_statuses == response.level_statuses
    assert (parsed.source, parsed.receiver) == (response.source, response.receiver)
    for tx in read_transactions(data):
        assert check_structure(tx) == []


def test_276_shape() -> None:
    inquiry = x276.ClaimStatusInquiry(
        provider=PROVIDER,
        subscriber=SUBSCRIBER,
        trace_number="TRACE1",
        payer_claim_number="ICN123",
        patient_control_number="PCN1",
        charge=Decimal("125.00"),
        service_date=date(2026, 2, 10),
    )
    request = x276.ClaimStatusRequest(
        source=PAYER, receiver=RECEIVER, inquiries=(inquiry,), reference_id="CS1",
        created=datetime(2026, 3, 1, 8, 0),
    )  # fmt: skip
    text = x276.build_276_interchange(envelope("HR"), [request]).decode()
    assert "GS*HR*" in text
    assert (
        "HL*3*2*19*1~NM1*1P*2*SYNTHETIC CLINIC*****XX*1234567893~HL*4*3*22*0~"
        "DMG*D8*19700101*F~NM1*IL*1*TESTER*PAT****MI*MEM1~TRN*1*TRACE1~REF*1K*ICN123~"
        "REF*EJ*PCN1~AMT*T3*125~DTP*472*D8*20260210~SE*"
    ) in text


PAID_277 = (
    "ISA*00*          *00*          *ZZ*PAYER          *ZZ*PRACTICE       *260301*0800*^*00501*"
    "000000001*0*P*:~GS*HN*PAYER*PRACTICE*20260301*0800*1*X*005010X212~"
    "ST*277*0001*005010X212~BHT*0010*08*CS1*20260301*0800*DG~"
    "HL*1**20*1~NM1*PR*2*SYNTHETIC HEALTH PLAN*****PI*99999~"
    "HL*2*1*21*1~NM1*41*2*SYNTHETIC BILLING*****46*SUB01~"
    "HL*3*2*19*1~NM1*1P*2*SYNTHETIC CLINIC*****XX*1234567893~"
    "HL*4*3*22*0~NM1*IL*1*TESTER*PAT****MI*MEM1~TRN*2*TRACE1~"
    "STC*F1:65*20260225**125*100*20260224*ACH*20260226*EFT0001~"
    "REF*1K*ICN123~REF*EJ*PCN1~DTP*472*D8*20260210~"
    "SVC*HC:99213:25*125*100****1~STC*F1:65*20260225~REF*FJ*LINE1~DTP*472*D8*20260210~"
    "SE*20*0001~GE*1*1~IEA*1*000000001~"
)


def test_277_paid_claim() -> None:
    [claim] = x277.parse_277(PAID_277.encode())
    assert claim.outcome == "finalized"
    assert claim.trace_number == "TRACE1"
    assert claim.payer_claim_number == "ICN123"
    assert claim.patient_control_number == "PCN1"
    assert claim.paid_amount == Decimal("100")
    assert claim.payment_date == date(2026, 2, 26)
    status = claim.statuses[0]
    assert (status.status.category, status.status.code) == ("F1", "65")
    assert status.payment_method == "ACH" and status.check_number == "EFT0001"
    assert status.charge == Decimal("125")
    [line] = claim.lines
    assert (line.procedure_code, line.modifiers, line.paid_amount) == ("99213", ("25",), 100)
    assert line.line_item_control_number == "LINE1"
    summary = claim.summary()
    assert summary["paid_amount"] == "100" and summary["payment_date"] == "2026-02-26"
    assert "TESTER" not in str(summary) and "MEM1" not in str(summary)


def test_277_rejected_and_pending_outcomes() -> None:
    rejected = PAID_277.replace("STC*F1:65*20260225**125*100*20260224*ACH*20260226*EFT0001~",
                                "STC*A7:21:IL*20260225*U*125~")  # fmt: skip
    [claim] = x277.parse_277(rejected.encode())
    assert claim.outcome == "rejected"
    assert claim.statuses[0].status.entity == "IL"
    pending = PAID_277.replace("STC*F1:65*20260225**125*100*20260224*ACH*20260226*EFT0001~",
                               "STC*P1:20*20260225~")  # fmt: skip
    assert x277.parse_277(pending.encode())[0].outcome == "pending"


def test_277ca_and_4010_are_refused() -> None:
    with pytest.raises(X12Error, match="not supported"):
        x277.parse_277(PAID_277.replace("005010X212", "005010X214").encode())
    with pytest.raises(X12Error, match="not a 276"):
        x276.parse_276(PAID_277.encode())


def test_bad_amount_names_position_not_value() -> None:
    broken = PAID_277.replace("**125*100*20260224", "**12X*100*20260224")
    with pytest.raises(X12SyntaxError) as caught:
        x277.parse_277(broken.encode(), file_name="s.277")
    assert "STC04" in str(caught.value) and "12X" not in str(caught.value)


def test_277_builder_needs_a_status() -> None:
    [claim] = x277.parse_277(PAID_277.encode())
    response = x277.ClaimStatusResponse(
        source=PAYER, receiver=RECEIVER, claims=(replace(claim, statuses=()),),
        reference_id="X", created=datetime(2026, 3, 1),
    )  # fmt: skip
    with pytest.raises(X12Error, match="STC"):
        x277.build_277_interchange(envelope("HN"), [response])


ROWS = [r for r in _corpus_rows(("276", "277")) if r["transaction_set"] in ("276", "277")]


@pytest.mark.parametrize("row", ROWS, ids=[r["saved_path"][-60:] for r in ROWS])
def test_corpus_276_277(row: dict[str, str], x12_corpus: Path) -> None:
    path = x12_corpus / row["saved_path"]
    data = path.read_bytes()
    parse = x276.parse_276 if row["transaction_set"] == "276" else x277.parse_277_responses
    if not row["version"].startswith("005010X212"):
        with pytest.raises(X12Error, match="not supported"):
            parse(data, file_name=path.name)
        return
    results = parse(data, file_name=path.name, strict=False)
    assert results
    for item in results:
        if isinstance(item, x277.ClaimStatusResponse):
            assert item.claims or item.level_statuses
            for claim in item.claims:
                assert claim.statuses
                assert claim.outcome != "other"
    if "auto-envelope-check" in row["notes"]:
        with pytest.raises(X12SyntaxError):
            parse(data, file_name=path.name)
    else:
        assert parse(data, file_name=path.name) == results
    for tx in read_transactions(data, strict=False):
        assert check_structure(tx) == []
