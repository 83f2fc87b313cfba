"""The conformance gate: pyx12 where it has a map, structural checks elsewhere, pyx12's own
failures kept apart from the file's errors, no patient values in messages."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rcm.x12.core import InterchangeEnvelope, TransactionBody, write_interchange
from rcm.x12.validate import _ack_from_tree, _decode, _run_pyx12, validate, validate_file
from rcm.x12.x835 import (
    Adjustment,
    ClaimPayment,
    DateValue,
    Name,
    Party,
    Procedure,
    Remittance835,
    ServicePayment,
    Trace,
    build_835,
)
from rcm.x12.x999 import parse_999

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


def valid_835(*, filing_indicator: str = "12", last_name: str = "ZYXWVUT") -> bytes:
    claim = ClaimPayment(
        patient_control_number="PCN-1",
        status="1",
        charge=Decimal("150"),
        paid=Decimal("100"),
        patient_responsibility=Decimal("0"),
        filing_indicator=filing_indicator,
        payer_claim_control_number="CCN-1",
        facility_type="11",
        frequency="1",
        names=[Name("QC", "1", last_name, "QWERTY", id_qualifier="MI", id="M1234567")],
        dates=[DateValue("050", date(2026, 2, 3))],
        services=[
            ServicePayment(
                Procedure("HC", "99213"),
                Decimal("150"),
                Decimal("100"),
                units=Decimal(1),
                dates=[DateValue("472", date(2026, 2, 1))],
                adjustments=[Adjustment("CO", "45", Decimal("50"))],
            )
        ],
    )
    rem = Remittance835(
        handling="I",
        total_paid=Decimal("100"),
        credit_debit="C",
        payment_method="CHK",
        payment_date=date(2026, 3, 4),
        trace=Trace("1", "CHECK-0001", "1512345678"),
        payer=Party(
            "PR",
            "ACME HEALTH",
            address=["PO BOX 1"],
            city="AUSTIN",
            state="TX",
            postal_code="78701",
        ),
        payee=Party("PE", "GOOD CLINIC", "XX", "1234567893"),
        claims=[claim],
    )
    from rcm.x12.x835 import Contact

    rem.payer.contacts.append(Contact("BL", "EDI", [("TE", "8005550000")]))
    return build_835([rem], ENVELOPE)


def test_valid_835_passes_pyx12_and_gets_an_accepting_999() -> None:
    report = validate(valid_835(), file_name="era.835")
    assert report.validator == "pyx12"
    assert report.errors == [], [e.describe() for e in report.errors]
    assert report.valid
    assert report.ack_999 is not None
    [ack] = parse_999(report.ack_999)
    assert ack.status == "A" and ack.group_control_number == "42"
    # An 835 has no ST03 (not used in X221A1), on which pyx12's 999 writer fails: reported
    # apart, not counted against the file, and the 999 built from pyx12's error tree instead.
    assert report.validator_failure is not None
    assert report.ack_source == "rcm"


def test_element_error_has_position_and_no_patient_value() -> None:
    report = validate(valid_835(filing_indicator="", last_name="ZYXWVUT"), file_name="era.835")
    assert not report.valid
    [err] = [e for e in report.errors if e.element == "CLP06"]
    assert err.segment_id == "CLP" and err.segment_number and err.offset
    assert err.level == "element" and err.code
    everything = " ".join(e.describe() for e in report.errors)
    assert "ZYXWVUT" not in everything and "M1234567" not in everything
    assert report.ack_999 is not None
    [ack] = parse_999(report.ack_999)
    assert ack.status == "R"


def test_value_errors_are_redacted() -> None:
    data = valid_835().replace(b"DTM*472*20260201", b"DTM*472*20261399")
    report = validate(data)
    assert report.errors
    assert "20261399" not in " ".join(e.describe() for e in report.errors)


def test_broken_envelope_is_a_syntax_error_without_pyx12() -> None:
    data = valid_835()
    report = validate(data[: len(data) // 2], file_name="cut.835")
    assert not report.valid
    [err] = report.errors
    assert err.code == "syntax" and err.source == "rcm" and err.segment_number
    assert any("pyx12 not run" in n for n in report.notes)


def test_set_without_a_pyx12_map_gets_structural_checks() -> None:
    env = InterchangeEnvelope(
        "ZZ",
        "PRACTICE",
        "ZZ",
        "PAYER",
        3,
        3,
        "HS",
        "005010X279A1",
        datetime(2026, 1, 1, tzinfo=UTC),
    )
    data = write_interchange(
        env,
        [
            TransactionBody(
                "270",
                "0001",
                [("BHT", "0022", "13", "X1", date(2026, 1, 1), "1200")],
                "005010X279A1",
            )
        ],
    )
    report = validate(data)
    assert report.validator == "structural"
    assert any("no map" in n for n in report.notes)
    assert report.checks[0].startswith("envelope")


def test_st03_in_an_835_is_an_error_per_pyx12() -> None:
    data = valid_835().replace(b"ST*835*0001~", b"ST*835*0001*005010X221A1~")
    report = validate(data)
    assert report.validator == "pyx12" and not report.valid
    assert [(e.element, e.segment_id) for e in report.errors] == [("ST03", "ST")]
    assert report.ack_999 is not None


def test_envelope_count_error_is_reported() -> None:
    data = valid_835().replace(b"SE*", b"SE*9")
    report = validate(data)
    assert not report.valid
    assert any(e.segment_id == "SE" for e in report.errors)


def test_cached_maps_give_the_same_errors_as_fresh_ones() -> None:
    text = _decode(valid_835(filing_indicator=""))
    fresh = _run_pyx12(text, use_cached_maps=False)
    cached = _run_pyx12(text, use_cached_maps=True)
    again = _run_pyx12(text, use_cached_maps=True)
    assert fresh[0] == cached[0] == again[0]
    assert fresh[2] == cached[2] == again[2]
    assert fresh[4] == cached[4] == again[4]


def test_usable_from_a_process_pool(tmp_path: Path) -> None:
    paths = []
    for n, data in enumerate([valid_835(), valid_835(filing_indicator="")]):
        path = tmp_path / f"era{n}.835"
        path.write_bytes(data)
        paths.append(str(path))
    with ProcessPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(validate_file, paths))
    assert [r.valid for r in reports] == [True, False]


@pytest.mark.parametrize("size", [0, 5])
def test_garbage_never_raises(size: int) -> None:
    report = validate(b"NOT X12 " * size)
    assert not report.valid and report.errors[0].code == "syntax"


def _ack_key(acks: list[Any]) -> list[Any]:
    return [
        (
            t.set_id,
            t.control_number,
            t.status,
            sorted(t.error_codes),
            sorted(
                (
                    s.segment_id,
                    s.position,
                    s.code,
                    s.loop_id,
                    sorted((e.position, e.code, e.reference_number) for e in s.element_errors),
                )
                for s in t.segment_errors
            ),
        )
        for a in acks
        for t in a.transactions
    ]


def test_fallback_999_matches_pyx12s_own_where_pyx12_writes_one(x12_corpus: Path) -> None:
    """The 999 built from pyx12's error tree (used when pyx12's writer fails) says what
    pyx12's own writer says, bad values aside, on every small 837P of the corpus."""
    compared = 0
    for path in sorted(x12_corpus.glob("*/*837*")):
        if path.stat().st_size > 20_000 or b"005010X222A1" not in path.read_bytes()[:400]:
            continue
        _, ack, doc, failures, _ = _run_pyx12(_decode(path.read_bytes()))
        if not ack or failures:
            continue
        ours = _ack_from_tree(doc, ("ZZ", "US", "ZZ", "THEM"))
        theirs = parse_999(ack.encode(), strict=False)
        mine = parse_999(ours, strict=False)
        assert _ack_key(mine) == _ack_key(theirs), path.name
        assert [a.status for a in mine] == [a.status for a in theirs], path.name
        compared += 1
    assert compared >= 5
