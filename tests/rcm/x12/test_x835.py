"""835: parse, build, round trip (Hypothesis), streaming and balancing."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rcm.errors import X12SyntaxError
from rcm.x12.core import InterchangeEnvelope
from rcm.x12.x835 import (
    AdjudicationInfo,
    Adjustment,
    Amount,
    ClaimPayment,
    Contact,
    DateValue,
    Name,
    Party,
    Procedure,
    ProviderAdjustment,
    ProviderSummary,
    Quantity,
    Reference,
    Remark,
    Remittance835,
    ServicePayment,
    Trace,
    balance_835,
    build_835,
    claim_imbalances,
    iter_remittances,
    parse_835,
)

ENVELOPE = InterchangeEnvelope(
    sender_qualifier="ZZ",
    sender_id="PAYERSENDER",
    receiver_qualifier="ZZ",
    receiver_id="PRACTICE",
    control_number=42,
    group_control_number=42,
    functional_id="HP",
    version="005010X221A1",
    created=datetime(2026, 3, 4, 5, 6, tzinfo=UTC),
)


def money(text: str) -> Decimal:
    return Decimal(text)


def sample_remittance() -> Remittance835:
    line1 = ServicePayment(
        procedure=Procedure("HC", "99213", ["25"]),
        charge=money("150"),
        paid=money("80"),
        units=Decimal(1),
        dates=[DateValue("472", date(2026, 2, 1))],
        adjustments=[
            Adjustment("CO", "45", money("50")),
            Adjustment("PR", "2", money("20")),
        ],
        references=[Reference("6R", "LINE1")],
        amounts=[Amount("B6", money("100"))],
        remarks=[Remark("HE", "N130")],
    )
    line2 = ServicePayment(
        procedure=Procedure("HC", "87070"),
        charge=money("50"),
        paid=money("40"),
        original_procedure=Procedure("HC", "87071"),
        adjustments=[Adjustment("CO", "45", money("10"), Decimal(1))],
    )
    paid = ClaimPayment(
        patient_control_number="PCN-1",
        status="1",
        charge=money("200"),
        paid=money("120"),
        patient_responsibility=money("20"),
        filing_indicator="12",
        payer_claim_control_number="PAYER-CCN-1",
        facility_type="11",
        frequency="1",
        header_number="1",
        names=[Name("QC", "1", "DOE", "JANE", id_qualifier="MI", id="M123")],
        outpatient=AdjudicationInfo("MOA", ["", "", "MA01"]),
        references=[Reference("EA", "MRN1")],
        dates=[DateValue("232", date(2026, 2, 1)), DateValue("050", date(2026, 2, 3))],
        contacts=[Contact("CX", "CLAIMS", [("TE", "8005551212")])],
        amounts=[Amount("AU", money("200"))],
        quantities=[Quantity("CA", Decimal(1))],
        services=[line1, line2],
    )
    reversal = ClaimPayment(
        patient_control_number="PCN-0",
        status="22",
        charge=money("-100"),
        paid=money("-60"),
        payer_claim_control_number="PAYER-CCN-0",
        header_number="1",
        adjustments=[Adjustment("CO", "45", money("-40"))],
    )
    return Remittance835(
        handling="I",
        total_paid=money("55"),
        credit_debit="C",
        payment_method="ACH",
        payment_format="CCP",
        bank_details=[
            "01",
            "999999992",
            "DA",
            "123456",
            "1512345678",
            "",
            "01",
            "999988880",
            "DA",
            "98765",
        ],
        payment_date=date(2026, 3, 4),
        trace=Trace("1", "EFT-0001", "1512345678"),
        payer=Party(
            "PR",
            "ACME HEALTH",
            "XV",
            "ACME1",
            ["PO BOX 1"],
            "AUSTIN",
            "TX",
            "78701",
            contacts=[Contact("BL", "EDI", [("TE", "8005550000")])],
        ),
        payee=Party(
            "PE", "GOOD CLINIC", "XX", "1234567893", references=[Reference("TJ", "123456789")]
        ),
        references=[Reference("EV", "RECEIVER1")],
        dates=[DateValue("405", date(2026, 3, 3))],
        summaries=[ProviderSummary("1", ["1234567893", "11", "20261231", "2", "100"])],
        claims=[paid, reversal],
        provider_adjustments=[
            ProviderAdjustment("1234567893", date(2026, 12, 31), "WO", money("5"), "OVERPAY1"),
        ],
    )


def test_round_trip_of_a_full_remittance() -> None:
    rem = sample_remittance()
    data = build_835([rem], ENVELOPE, line_break=True)
    [parsed] = parse_835(data)
    assert parsed == rem
    assert b"CLP*PCN-0*22*-100*-60" in data
    assert b"SVC*HC:87070*50*40***HC:87071" in data
    assert b"PLB*1234567893*20261231*WO:OVERPAY1*5" in data


def test_balancing_passes_and_flags_differences() -> None:
    rem = sample_remittance()
    assert balance_835(rem) == []
    rem.claims[0].services[0].paid = money("81")
    rem.total_paid = money("50")
    found = {
        (i.level, i.patient_control_number, i.service_line): i.difference for i in balance_835(rem)
    }
    assert found == {
        ("service", "PCN-1", 1): money("-1"),
        ("transaction", None, None): money("-5"),
    }


def test_six_triplets_per_cas_and_six_pairs_per_plb() -> None:
    rem = sample_remittance()
    rem.claims[1].adjustments = [Adjustment("CO", str(r), money("-4")) for r in range(10, 20)]
    rem.provider_adjustments = [
        ProviderAdjustment("1234567893", date(2026, 12, 31), "L6", money("0.5"), f"R{i}")
        for i in range(8)
    ]
    data = build_835([rem], ENVELOPE)
    text = data.decode()
    assert text.count("CAS*CO*10") == 1 and "CAS*CO*16" in text
    assert text.count("PLB*") == 2
    [parsed] = parse_835(data)
    assert parsed.claims[1].adjustments == rem.claims[1].adjustments
    assert parsed.provider_adjustments == rem.provider_adjustments


def test_streaming_reads_claims_one_at_a_time() -> None:
    rem = sample_remittance()
    data = build_835([rem, rem], ENVELOPE)
    seen = []
    for stream in iter_remittances(io.BytesIO(data)):
        assert stream.remittance.trace.number == "EFT-0001"
        assert stream.remittance.claims == []
        seen.append([c.patient_control_number for c in stream.claims()])
        assert len(stream.remittance.provider_adjustments) == 1
    assert seen == [["PCN-1", "PCN-0"], ["PCN-1", "PCN-0"]]


def test_streaming_transaction_balance() -> None:
    rem = sample_remittance()
    rem.total_paid = Decimal("54")
    streams = iter_remittances(build_835([rem, rem], ENVELOPE))
    stream = next(streams)
    with pytest.raises(RuntimeError):
        stream.transaction_imbalance()
    claims = list(stream.claims())
    assert [i for c in claims for i in claim_imbalances(c)] == []
    imbalance = stream.transaction_imbalance()
    assert imbalance is not None and imbalance.difference == Decimal("-1")
    assert stream.claim_count == 2
    skipped = next(streams)
    next(streams, None)
    with pytest.raises(RuntimeError, match="before the next"):
        list(skipped.claims())


def test_bad_amount_names_segment_and_element_not_value() -> None:
    data = build_835([sample_remittance()], ENVELOPE).replace(
        b"CLP*PCN-1*1*200", b"CLP*PCN-1*1*2X0"
    )
    with pytest.raises(X12SyntaxError) as info:
        parse_835(data, file_name="era.835")
    message = str(info.value)
    assert "CLP03" in message and "era.835" in message and "2X0" not in message
    assert info.value.segment_id == "CLP"


def test_other_transaction_sets_are_refused() -> None:
    data = build_835([sample_remittance()], ENVELOPE).replace(b"ST*835*", b"ST*837*")
    with pytest.raises(X12SyntaxError, match="not an 835"):
        parse_835(data)


# --- Hypothesis: build -> parse -> equal ------------------------------------------------------

codes = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=1, max_size=6)
words = (
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789.-", min_size=1, max_size=20)
    .map(str.strip)
    .filter(bool)
)
amounts = st.decimals(
    min_value=-99999, max_value=99999, places=2, allow_nan=False, allow_infinity=False
)
dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31))
adjustments = st.builds(
    Adjustment,
    st.sampled_from(["CO", "PR", "OA", "PI", "CR"]),
    codes,
    amounts,
    st.none() | st.decimals(min_value=0, max_value=999, places=0),
)
procedures = st.builds(
    Procedure, st.sampled_from(["HC", "AD", "NU"]), codes, st.lists(codes, max_size=4)
)
services = st.builds(
    ServicePayment,
    procedure=procedures,
    charge=amounts,
    paid=amounts,
    units=st.none() | st.decimals(min_value=1, max_value=99, places=0),
    original_procedure=st.none() | procedures,
    dates=st.lists(st.builds(DateValue, st.sampled_from(["472", "150", "151"]), dates), max_size=2),
    adjustments=st.lists(adjustments, max_size=8),
    remarks=st.lists(st.builds(Remark, st.sampled_from(["HE", "RX"]), codes), max_size=3),
    references=st.lists(
        st.builds(Reference, st.sampled_from(["6R", "LU", "1B"]), codes), max_size=2
    ),
    amounts=st.lists(st.builds(Amount, st.sampled_from(["B6", "KH"]), amounts), max_size=2),
)
claims = st.builds(
    ClaimPayment,
    patient_control_number=codes,
    status=st.sampled_from(["1", "2", "3", "4", "19", "20", "21", "22", "23", "25"]),
    charge=amounts,
    paid=amounts,
    patient_responsibility=st.none() | amounts,
    payer_claim_control_number=codes,
    header_number=st.none() | st.just("1"),
    adjustments=st.lists(adjustments, max_size=8),
    names=st.lists(
        st.builds(
            Name,
            st.sampled_from(["QC", "IL", "74", "82", "TT", "PR"]),
            st.sampled_from(["1", "2"]),
            words,
        ),
        max_size=3,
    ),
    dates=st.lists(st.builds(DateValue, st.sampled_from(["232", "233", "050"]), dates), max_size=3),
    services=st.lists(services, max_size=4),
    references=st.lists(
        st.builds(Reference, st.sampled_from(["1K", "EA", "F8"]), codes), max_size=2
    ),
    amounts=st.lists(st.builds(Amount, st.sampled_from(["AU", "I", "D8"]), amounts), max_size=2),
    quantities=st.lists(
        st.builds(Quantity, st.sampled_from(["CA", "ZK"]), st.decimals(0, 99, places=0)),
        max_size=2,
    ),
    outpatient=st.none()
    | st.builds(AdjudicationInfo, st.just("MOA"), st.lists(codes, min_size=1, max_size=5)),
    contacts=st.lists(
        st.builds(
            Contact, st.just("CX"), words, st.lists(st.tuples(st.just("TE"), codes), max_size=2)
        ),
        max_size=1,
    ),
)
remittances = st.builds(
    Remittance835,
    handling=st.sampled_from(["C", "D", "H", "I", "P", "U", "X"]),
    total_paid=amounts,
    credit_debit=st.sampled_from(["C", "D"]),
    payment_method=st.sampled_from(["ACH", "CHK", "BOP", "FWT", "NON"]),
    trace=st.builds(Trace, st.just("1"), codes, codes),
    payer=st.builds(Party, st.just("PR"), words),
    payee=st.builds(Party, st.just("PE"), words, st.sampled_from(["XX", "FI"]), codes),
    payment_date=dates,
    claims=st.lists(claims, max_size=5),
    provider_adjustments=st.lists(
        st.builds(
            ProviderAdjustment,
            codes,
            dates,
            st.sampled_from(["WO", "L6", "FB", "72"]),
            amounts,
            st.just("") | codes,
        ),
        max_size=8,
    ),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(remittances, min_size=1, max_size=3))
def test_build_then_parse_is_identity(rems: list[Remittance835]) -> None:
    for n, rem in enumerate(rems, start=1):
        rem.control_number = f"{n:04d}"
        # Claims outside any LX loop can only come before the first LX.
        rem.claims.sort(key=lambda c: c.header_number is not None)
        # Every LX read becomes a ProviderSummary, with or without TS3/TS2.
        numbers = dict.fromkeys(c.header_number for c in rem.claims if c.header_number)
        rem.summaries = [ProviderSummary(n) for n in numbers]
    parsed = parse_835(build_835(rems, ENVELOPE))
    assert parsed == rems
