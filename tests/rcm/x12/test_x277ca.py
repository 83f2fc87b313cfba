"""277CA: parse, build, round trip (Hypothesis), accept/reject per claim."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rcm.x12.core import InterchangeEnvelope
from rcm.x12.x277ca import (
    Ack277CA,
    ClaimStatus,
    DatePeriod,
    Entity,
    ServiceStatus,
    Status,
    StatusCode,
    build_277ca,
    parse_277ca,
)
from rcm.x12.x835 import Amount, Name, Procedure, Quantity, Reference

ENVELOPE = InterchangeEnvelope(
    sender_qualifier="ZZ",
    sender_id="CLEARINGHOUSE",
    receiver_qualifier="ZZ",
    receiver_id="PRACTICE",
    control_number=11,
    group_control_number=11,
    functional_id="HN",
    version="005010X214",
    created=datetime(2026, 3, 4, 5, 6, tzinfo=UTC),
)


def claim(pcn: str, category: str, status: str, amount: str) -> ClaimStatus:
    return ClaimStatus(
        pcn,
        statuses=[Status([StatusCode(category, status)], date(2026, 3, 4), "WQ", Decimal(amount))],
        references=[Reference("1K", f"PAYER-{pcn}")],
        dates=[DatePeriod("472", date(2026, 2, 1), date(2026, 2, 3))],
    )


def sample() -> Ack277CA:
    rejected = claim("PCN-2", "A7", "562", "75.5")
    rejected.statuses[0].codes.append(StatusCode("A7", "21", "85"))
    rejected.services.append(
        ServiceStatus(
            Procedure("HC", "99213", ["25"]),
            Decimal("75.5"),
            Decimal(0),
            statuses=[Status([StatusCode("A7", "454")])],
            references=[Reference("FJ", "LINE1")],
            dates=[DatePeriod("472", date(2026, 2, 1))],
        )
    )
    patient1 = Entity(
        "PT", Name("QC", "1", "DOE", "JANE"), claims=[claim("PCN-1", "A2", "20", "100")]
    )
    patient2 = Entity("PT", Name("QC", "1", "ROE", "RICK"), claims=[rejected])
    provider = Entity(
        "19",
        Name("85", "2", "GOOD CLINIC", id_qualifier="XX", id="1234567893"),
        trace_type="1",
        trace="PROV-TRACE",
        children=[patient1, patient2],
    )
    receiver = Entity(
        "21",
        Name("41", "2", "BILLING FIRM", id_qualifier="46", id="SUB1"),
        trace_type="2",
        trace="BATCH-1",
        statuses=[Status([StatusCode("A1", "19")], date(2026, 3, 4), "WQ", Decimal("175.5"))],
        quantities=[Quantity("90", Decimal(1)), Quantity("AA", Decimal(1))],
        amounts=[Amount("YU", Decimal(100)), Amount("YY", Decimal("75.5"))],
        children=[provider],
    )
    source = Entity(
        "20",
        Name("PR", "2", "ACME HEALTH", id_qualifier="PI", id="ACME1"),
        trace_type="1",
        trace="SRC-1",
        dates=[DatePeriod("050", date(2026, 3, 4)), DatePeriod("009", date(2026, 3, 4))],
        children=[receiver],
    )
    return Ack277CA([source], "08", "REF-1", date(2026, 3, 4), "1200", "TH", "0001")


def test_round_trip_and_per_claim_verdicts() -> None:
    ack = sample()
    data = build_277ca([ack], ENVELOPE)
    assert b"STC*A7:562**WQ" not in data  # the date is kept
    assert b"STC*A7:562*20260304*WQ*75.5******A7:21:85~" in data
    assert b"DTP*472*RD8*20260201-20260203~" in data
    [parsed] = parse_277ca(data)
    assert parsed == ack
    verdicts = {
        c.patient_control_number: (
            c.accepted,
            c.payer_claim_control_number,
            c.billed_amount,
            c.service_period,
        )
        for c in parsed.claims
    }
    assert verdicts == {
        "PCN-1": (True, "PAYER-PCN-1", Decimal(100), (date(2026, 2, 1), date(2026, 2, 3))),
        "PCN-2": (False, "PAYER-PCN-2", Decimal("75.5"), (date(2026, 2, 1), date(2026, 2, 3))),
    }
    providers = {
        a.claim.patient_control_number: a.provider.name.id  # type: ignore[union-attr]
        for a in parsed.claim_acknowledgments()
    }
    assert providers == {"PCN-1": "1234567893", "PCN-2": "1234567893"}


codes = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=1, max_size=10)
dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 1, 1))
statuses = st.builds(
    Status,
    st.lists(
        st.builds(
            StatusCode,
            st.sampled_from(["A1", "A2", "A3", "A6", "A7", "A8"]),
            codes,
            st.just("") | st.sampled_from(["85", "IL", "QC"]),
        ),
        min_size=1,
        max_size=3,
    ),
    st.none() | dates,
    st.just("") | st.sampled_from(["WQ", "U"]),
    st.none() | st.decimals(min_value=0, max_value=99999, places=2),
)
periods = st.builds(DatePeriod, st.just("472"), dates, st.none() | dates)
claims = st.builds(
    ClaimStatus,
    codes,
    st.lists(statuses, min_size=1, max_size=2),
    st.lists(st.builds(Reference, st.sampled_from(["1K", "D9", "BLT"]), codes), max_size=3),
    st.lists(periods, max_size=1),
)
patients = st.builds(
    Entity,
    st.just("PT"),
    st.builds(Name, st.just("QC"), st.just("1"), codes),
    claims=st.lists(claims, min_size=1, max_size=3),
)
providers = st.builds(
    Entity,
    st.just("19"),
    st.builds(Name, st.just("85"), st.just("2"), codes),
    trace_type=st.just("1"),
    trace=codes,
    children=st.lists(patients, min_size=1, max_size=3),
)
receivers = st.builds(
    Entity,
    st.just("21"),
    st.builds(Name, st.just("41"), st.just("2"), codes),
    trace_type=st.just("2"),
    trace=codes,
    statuses=st.lists(statuses, max_size=1),
    children=st.lists(providers, min_size=1, max_size=2),
)
sources = st.builds(
    Entity,
    st.just("20"),
    st.builds(Name, st.just("PR"), st.just("2"), codes),
    trace_type=st.just("1"),
    trace=codes,
    dates=st.lists(st.builds(DatePeriod, st.sampled_from(["050", "009"]), dates), max_size=2),
    children=st.lists(receivers, min_size=1, max_size=2),
)
acks = st.builds(
    Ack277CA,
    st.lists(sources, min_size=1, max_size=2),
    st.just("08"),
    codes,
    dates,
    st.just("1200"),
    st.just("TH"),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(acks, min_size=1, max_size=2))
def test_build_then_parse_is_identity(values: list[Ack277CA]) -> None:
    for n, ack in enumerate(values, start=1):
        ack.control_number = f"{n:04d}"
    assert parse_277ca(build_277ca(values, ENVELOPE)) == values
