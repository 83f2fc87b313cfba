"""999: parse, build, round trip (Hypothesis), and acknowledging a received file."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rcm.errors import X12SyntaxError
from rcm.x12.core import InterchangeEnvelope, TransactionBody, write_interchange
from rcm.x12.x999 import (
    Ack999,
    Context,
    ElementError,
    SegmentError,
    TransactionAck,
    acknowledgement_for,
    build_999,
    parse_999,
)

ENVELOPE = InterchangeEnvelope(
    sender_qualifier="ZZ",
    sender_id="CLEARINGHOUSE",
    receiver_qualifier="ZZ",
    receiver_id="PRACTICE",
    control_number=5,
    group_control_number=5,
    functional_id="FA",
    version="005010X231A1",
    created=datetime(2026, 3, 4, 5, 6, tzinfo=UTC),
)


def rejected_ack() -> Ack999:
    return Ack999(
        functional_id="HC",
        group_control_number="17",
        status="P",
        version="005010X222A1",
        included=2,
        received=2,
        accepted_count=1,
        transactions=[
            TransactionAck("837", "0001", "A", "005010X222A1"),
            TransactionAck(
                "837",
                "0002",
                "R",
                "005010X222A1",
                ["5"],
                [
                    SegmentError(
                        "CLM",
                        22,
                        "8",
                        "2300",
                        [Context([("CLM01", "PCN-9")])],
                        [ElementError(2, "1", "782")],
                    ),
                    SegmentError(
                        "REF",
                        57,
                        "I9",
                        contexts=[
                            Context(
                                [("SITUATIONAL TRIGGER", ""), ("SITUATIONAL TRIGGER", "2")],
                                "CLM",
                                43,
                                "",
                                ["5", "3"],
                                ["1325"],
                            )
                        ],
                    ),
                ],
            ),
        ],
    )


def test_round_trip() -> None:
    ack = rejected_ack()
    data = build_999([ack], ENVELOPE)
    assert b"CTX*SITUATIONAL TRIGGER^SITUATIONAL TRIGGER:2*CLM*43**5:3*1325~" in data
    assert b"IK5*R*5~AK9*P*2*2*1~" in data
    [parsed] = parse_999(data)
    assert parsed == ack
    assert not parsed.transactions[1].accepted and parsed.transactions[0].accepted


def test_ik4_before_ik3_is_refused() -> None:
    data = build_999([rejected_ack()], ENVELOPE).replace(b"IK3*CLM*22*2300*8~", b"")
    data = data.replace(b"SE*13*", b"SE*12*")
    with pytest.raises(X12SyntaxError, match="IK4"):
        parse_999(data)


def _claims_file(n: int) -> bytes:
    env = InterchangeEnvelope(
        "ZZ", "PRACTICE", "ZZ", "CH", 9, 9, "HC", "005010X222A1", datetime(2026, 1, 1, tzinfo=UTC)
    )
    bodies = [
        TransactionBody(
            "837",
            f"{i:04d}",
            [("BHT", "0019", "00", str(i)), ("CLM", f"P{i}", Decimal(1))],
            "005010X222A1",
        )
        for i in range(1, n + 1)
    ]
    return write_interchange(env, bodies)


def test_acknowledgement_for_a_received_file() -> None:
    data = _claims_file(3)
    [ack] = acknowledgement_for(data)
    assert ack.status == "A" and ack.accepted_count == 3 and ack.group_control_number == "9"
    [ack] = acknowledgement_for(data, rejections={("9", "0002"): [SegmentError("CLM", 3, "8")]})
    assert ack.status == "P" and [t.status for t in ack.transactions] == ["A", "R", "A"]
    broken = data.replace(b"SE*4*0003", b"SE*5*0003").replace(b"GE*3*9", b"GE*4*9")
    [ack] = acknowledgement_for(broken)
    assert ack.transactions[2].error_codes == ["4"] and ack.error_codes == ["5"]
    # And the model is a valid 999 of our own.
    assert parse_999(build_999([ack], ENVELOPE)) == [ack]


texts = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=8)
contexts = st.builds(
    Context,
    st.lists(st.tuples(texts, st.just("") | texts), min_size=1, max_size=3),
    st.just("") | texts,
    st.none() | st.integers(1, 999),
    st.just("") | texts,
)
element_errors = st.builds(
    ElementError,
    st.integers(1, 30),
    st.sampled_from(["1", "2", "4", "5", "7", "8", "I9"]),
    st.just("") | st.from_regex(r"[0-9]{2,4}", fullmatch=True),
    st.none() | st.integers(1, 9),
    st.none(),
    st.just("") | texts,
    st.lists(contexts, max_size=1),
)
segment_errors = st.builds(
    SegmentError,
    st.sampled_from(["CLM", "NM1", "REF", "SV1", "HL"]),
    st.integers(1, 9999),
    st.sampled_from(["1", "2", "3", "8", "I4"]),
    st.just("") | st.sampled_from(["2300", "2010BA"]),
    st.lists(contexts, max_size=2),
    st.lists(element_errors, max_size=3),
)
transaction_acks = st.builds(
    TransactionAck,
    st.sampled_from(["837", "835", "270"]),
    st.from_regex(r"[0-9]{4,9}", fullmatch=True),
    st.sampled_from(["A", "E", "R"]),
    st.just("") | st.just("005010X222A1"),
    st.lists(st.sampled_from(["1", "2", "3", "4", "5"]), max_size=5),
    st.lists(segment_errors, max_size=3),
)
acks = st.builds(
    Ack999,
    st.sampled_from(["HC", "HP", "HS"]),
    st.from_regex(r"[1-9][0-9]{0,8}", fullmatch=True),
    st.sampled_from(["A", "E", "P", "R"]),
    st.just("005010X222A1"),
    st.integers(0, 99),
    st.integers(0, 99),
    st.integers(0, 99),
    st.lists(st.sampled_from(["1", "2", "3", "4", "5"]), max_size=5),
    st.lists(transaction_acks, max_size=4),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(acks, min_size=1, max_size=3))
def test_build_then_parse_is_identity(values: list[Ack999]) -> None:
    for n, ack in enumerate(values, start=1):
        ack.control_number = f"{n:04d}"
    assert parse_999(build_999(values, ENVELOPE)) == values
