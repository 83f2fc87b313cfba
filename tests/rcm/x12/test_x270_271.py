"""270 build/parse and 271 parse/build (005010X279A1), coverage summary, corpus."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from rcm.errors import X12Error, X12SyntaxError
from rcm.x12 import x270, x271
from rcm.x12.core import InterchangeEnvelope, read_transactions
from rcm.x12.structural import check_structure
from tests.rcm.x12 import strategies as s
from tests.rcm.x12.test_x837 import _corpus_rows

FAST = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


def envelope(functional_id: str) -> InterchangeEnvelope:
    return InterchangeEnvelope(
        sender_qualifier="ZZ",
        sender_id="PRACTICE",
        receiver_qualifier="ZZ",
        receiver_id="PAYER",
        control_number=7,
        group_control_number=7,
        functional_id=functional_id,
        version="005010X279A1",
        created=datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
    )


PAYER = x270.Party(entity_id="PR", name="SYNTHETIC HEALTH PLAN", id_qualifier="PI",
                   identifier="99999")  # fmt: skip
PROVIDER = x270.Party(entity_id="1P", name="SYNTHETIC CLINIC", id_qualifier="XX",
                      identifier="1234567893")  # fmt: skip


# --------------------------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------------------------


@FAST
@given(st_requests=s.st.lists(s.eligibility_requests, min_size=1, max_size=2))
def test_270_build_parse_round_trip(st_requests: list[x270.EligibilityRequest]) -> None:
    data = x270.build_270_interchange(envelope("HS"), st_requests)
    parsed = x270.parse_270(data)
    expected = [
        x270.EligibilityRequest(**{**_fields(r), "control_number": f"{i:04d}"})
        for i, r in enumerate(st_requests, start=1)
    ]
    assert parsed == expected
    for tx in read_transactions(data):
        assert check_structure(tx) == []


@FAST
@given(s.eligibility_271s())
def test_271_build_parse_round_trip(response_set: x271.Eligibility271) -> None:
    data = x271.build_271_interchange(envelope("HB"), [response_set])
    [parsed] = x271.parse_271_transactions(data)
    assert parsed.responses == response_set.responses
    assert (parsed.reference_id, parsed.created) == (
        response_set.reference_id,
        response_set.created,
    )
    assert x271.parse_271(data) == list(response_set.responses)
    for tx in read_transactions(data):
        assert check_structure(tx) == []
    for response in parsed.responses:
        summary = response.coverage()
        assert summary["status"] in ("active", "inactive", "rejected", "unknown")


def _fields(obj: object) -> dict[str, object]:
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------
# 270 shape
# --------------------------------------------------------------------------------------------


def test_270_subscriber_and_dependent_inquiries() -> None:
    request = x270.EligibilityRequest(
        source=PAYER,
        receiver=PROVIDER,
        reference_id="ELIG1",
        created=datetime(2026, 3, 1, 8, 0),
        inquiries=(
            x270.EligibilityInquiry(
                trace_number="TRACE1",
                trace_originator="1123456789",
                subscriber=x270.Member(last_name="TESTER", first_name="PAT", member_id="MEM1",
                                       birth_date=date(1970, 1, 1), sex="F"),
                service_date=date(2026, 3, 2),
            ),
            x270.EligibilityInquiry(
                trace_number="TRACE2",
                trace_originator="1123456789",
                subscriber=x270.Member(last_name="TESTER", first_name="PAT", member_id="MEM1"),
                dependent=x270.Member(last_name="TESTER", first_name="KID",
                                      birth_date=date(2015, 6, 1), sex="M"),
                service_date=date(2026, 3, 2),
            ),
        ),
    )  # fmt: skip
    data = x270.build_270_interchange(envelope("HS"), [request])
    text = data.decode()
    assert "GS*HS*" in text
    assert (
        "BHT*0022*13*ELIG1*20260301*0800~HL*1**20*1~NM1*PR*2*SYNTHETIC HEALTH PLAN*****PI*" in text
    )
    assert (
        "HL*3*2*22*0~TRN*1*TRACE1*1123456789~NM1*IL*1*TESTER*PAT****MI*MEM1~"
        "DMG*D8*19700101*F~DTP*291*D8*20260302~EQ*30~"
    ) in text
    assert (
        "HL*4*2*22*1~NM1*IL*1*TESTER*PAT****MI*MEM1~HL*5*4*23*0~TRN*1*TRACE2*1123456789~"
        "NM1*03*1*TESTER*KID~DMG*D8*20150601*M~DTP*291*D8*20260302~EQ*30~"
    ) in text
    [parsed] = x270.parse_270(data)
    assert parsed.inquiries == request.inquiries


# --------------------------------------------------------------------------------------------
# 271 meaning
# --------------------------------------------------------------------------------------------

ACTIVE_271 = (
    "ISA*00*          *00*          *ZZ*PAYER          *ZZ*PRACTICE       *260301*0800*^*00501*"
    "000000001*0*P*:~GS*HB*PAYER*PRACTICE*20260301*0800*1*X*005010X279A1~"
    "ST*271*0001*005010X279A1~BHT*0022*11*ELIG1*20260301*0800~"
    "HL*1**20*1~NM1*PR*2*SYNTHETIC HEALTH PLAN*****PI*99999~"
    "HL*2*1*21*1~NM1*1P*2*SYNTHETIC CLINIC*****XX*1234567893~"
    "HL*3*2*22*0~TRN*2*TRACE1*1123456789~TRN*1*PAYERTRACE*9999999999~"
    "NM1*IL*1*TESTER*PATRICIA****MI*MEM1~REF*18*PLAN77~N3*1 ELM ST~N4*SPRINGFIELD*IL*62701~"
    "DMG*D8*19700101*F~INS*Y*18*001*25~DTP*346*D8*20260101~DTP*347*D8*20261231~"
    "EB*1*IND*30^1^33**GOLD PPO~"
    "EB*B*IND*98***27*25*****Y~EB*B*IND*98***27*60*****N~"
    "EB*A*IND*30*****0.2****Y~"
    "EB*C*IND*30***23*1500*****Y~EB*C*IND*30***29*400.50*****Y~"
    "EB*G*IND*30***23*5000*****Y~EB*G*IND*30***29*4100*****Y~"
    "EB*R**30*MB~LS*2120~NM1*PR*2*MEDICARE PART B*****PI*00435~LE*2120~"
    "SE*30*0001~GE*1*1~IEA*1*000000001~"
)


def test_271_active_coverage_summary() -> None:
    [response] = x271.parse_271(ACTIVE_271.encode())
    assert response.trace_numbers == ("TRACE1",)
    subscriber = response.subscriber
    assert subscriber is not None and subscriber.payer_corrected
    assert subscriber.first_name == "PATRICIA"
    summary = response.coverage()
    assert summary["status"] == "active"
    assert summary["plan"] == "GOLD PPO"
    assert summary["plan_number"] == "PLAN77"
    assert summary["dates"]["346"] == {"start": "2026-01-01", "end": None}
    assert summary["dates"]["347"]["start"] == "2026-12-31"
    assert [(c["amount"], c["in_network"]) for c in summary["copay"]] == [("25", "Y"), ("60", "N")]
    assert summary["coinsurance"][0]["percent"] == "0.2"
    assert [(d["amount"], d["remaining"]) for d in summary["deductible"]] == [
        ("1500", False),
        ("400.5", True),
    ]
    assert [(d["amount"], d["remaining"]) for d in summary["out_of_pocket"]] == [
        ("5000", False),
        ("4100", True),
    ]
    assert summary["other_payers"] == [
        {"name": "MEDICARE PART B", "payer_id": "00435", "service_types": ["30"],
         "insurance_type": "MB"}
    ]  # fmt: skip
    assert summary["rejections"] == []
    assert summary["payer_corrected"] is True
    assert "TESTER" not in str(summary) and "MEM1" not in str(summary)
    assert response.subscriber is not None
    eb = response.subscriber.benefits[0]
    assert eb.service_types == ("30", "1", "33")
    # and it rebuilds to the same response
    rebuilt = x271.build_271_interchange(
        envelope("HB"),
        [x271.Eligibility271(reference_id="ELIG1", created=datetime(2026, 3, 1, 8),
                             responses=(response,))],
    )  # fmt: skip
    assert x271.parse_271(rebuilt) == [response]


@pytest.mark.parametrize(
    ("level_segments", "level", "code"),
    [
        ("HL*1**20*0~NM1*PR*2*PLAN*****PI*99999~AAA*Y**42*R~", "source", "42"),
        (
            "HL*1**20*1~NM1*PR*2*PLAN*****PI*99999~HL*2*1*21*0~NM1*1P*2*CLINIC*****XX*1234567893~"
            "AAA*N**43*N~",
            "receiver",
            "43",
        ),
        (
            "HL*1**20*1~NM1*PR*2*PLAN*****PI*99999~HL*2*1*21*1~NM1*1P*2*CLINIC*****XX*1234567893~"
            "HL*3*2*22*0~TRN*2*T1*1123456789~NM1*IL*1*TESTER*PAT****MI*BAD1~AAA*N**72*C~",
            "subscriber",
            "72",
        ),
        (
            "HL*1**20*1~NM1*PR*2*PLAN*****PI*99999~HL*2*1*21*1~NM1*1P*2*CLINIC*****XX*1234567893~"
            "HL*3*2*22*0~TRN*2*T1*1123456789~NM1*IL*1*TESTER*PAT****MI*M1~AAA*N**58*C~",
            "subscriber",
            "58",
        ),
        (
            "HL*1**20*1~NM1*PR*2*PLAN*****PI*99999~HL*2*1*21*1~NM1*1P*2*CLINIC*****XX*1234567893~"
            "HL*3*2*22*1~NM1*IL*1*TESTER*PAT****MI*M1~HL*4*3*23*0~TRN*2*T1*1123456789~"
            "NM1*03*1*TESTER*KID~AAA*N**73*C~",
            "dependent",
            "73",
        ),
    ],
)
def test_271_rejections_at_each_level(level_segments: str, level: str, code: str) -> None:
    body = f"BHT*0022*11*R1*20260301*0800~{level_segments}"
    count = body.count("~") + 2
    data = (
        "ISA*00*          *00*          *ZZ*PAYER          *ZZ*PRACTICE       *260301*0800*^*"
        "00501*000000001*0*P*:~GS*HB*PAYER*PRACTICE*20260301*0800*1*X*005010X279A1~"
        f"ST*271*0001*005010X279A1~{body}SE*{count}*0001~GE*1*1~IEA*1*000000001~"
    )
    [response] = x271.parse_271(data.encode())
    summary = response.coverage()
    assert summary["status"] == "rejected"
    assert [(r["level"], r["reason_code"]) for r in summary["rejections"]] == [(level, code)]
    assert summary["rejections"][0]["reason"] != "other"
    for tx in read_transactions(data.encode()):
        assert check_structure(tx) == []


def test_inactive_coverage() -> None:
    data = ACTIVE_271.replace("EB*1*IND*30^1^33**GOLD PPO~", "EB*6*IND*30~").encode()
    data = data.replace(b"EB*B*IND*98***27*25*****Y~", b"")
    data = data.replace(b"SE*30*", b"SE*29*")
    [response] = x271.parse_271(data)
    assert response.coverage()["status"] == "inactive"


def test_unsupported_versions_and_sets() -> None:
    data = ACTIVE_271.replace("005010X279A1", "004010X092A1").encode()
    with pytest.raises(X12Error, match="not supported"):
        x271.parse_271(data)
    with pytest.raises(X12Error, match="not a 270"):
        x270.parse_270(ACTIVE_271.encode())


def test_bad_date_names_position_not_value() -> None:
    data = ACTIVE_271.replace("DMG*D8*19700101", "DMG*D8*19701399").encode()
    with pytest.raises(X12SyntaxError) as caught:
        x271.parse_271(data, file_name="e.271")
    assert "DMG02" in str(caught.value) and "19701399" not in str(caught.value)


def test_eb_amount_is_decimal() -> None:
    [response] = x271.parse_271(ACTIVE_271.encode())
    assert response.subscriber is not None
    deductibles = [b for b in response.subscriber.benefits if b.information == "C"]
    assert deductibles[1].amount == Decimal("400.50")


# --------------------------------------------------------------------------------------------
# Corpus
# --------------------------------------------------------------------------------------------

ROWS = _corpus_rows(("270", "271"))
# Valid per the manifest, unreadable as written.
BROKEN = {"aaronhuggins__node-x12/test__test-data__271.edi": "no IEA: the interchange never ends"}


@pytest.mark.parametrize("row", ROWS, ids=[r["saved_path"][-60:] for r in ROWS])
def test_corpus_270_271(row: dict[str, str], x12_corpus: Path) -> None:
    path = x12_corpus / row["saved_path"]
    data = path.read_bytes()
    parse = x270.parse_270 if row["transaction_set"] == "270" else x271.parse_271
    versions = row["version"].split()
    if not any(v.startswith("005010X279") for v in versions):
        with pytest.raises(X12Error, match="not supported"):
            parse(data, file_name=path.name)
        return
    if row["saved_path"] in BROKEN:
        with pytest.raises(X12SyntaxError):
            parse(data, file_name=path.name, strict=False)
        return
    if row["valid_or_invalid"] == "valid":
        results = parse(data, file_name=path.name, strict=False)
        assert results
        if isinstance(results[0], x271.EligibilityResponse):
            for response in results:
                assert response.coverage()["status"] in (
                    "active",
                    "inactive",
                    "rejected",
                    "unknown",
                )
        if "auto-envelope-check" in row["notes"] and versions[0].startswith("005010"):
            with pytest.raises(X12SyntaxError):
                parse(data, file_name=path.name)
        return
    # Invalid: either the parser refuses it, or the structural checks flag it.
    try:
        parse(data, file_name=path.name)
    except X12Error:
        return
    issues = [i for tx in read_transactions(data) for i in check_structure(tx)]
    assert issues, "an invalid 270/271 passed both the parser and the structural checks"
