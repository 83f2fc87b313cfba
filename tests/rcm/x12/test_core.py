"""The streaming reader and the writer: odd inputs, envelope checks, lenient mode."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from rcm.errors import X12Error, X12SyntaxError
from rcm.x12.core import (
    Delimiters,
    EnvelopeIssue,
    InterchangeEnvelope,
    Repeat,
    TransactionBody,
    X12Writer,
    format_decimal,
    iter_segments,
    read_transactions,
    write_interchange,
)

CREATED = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)


def envelope(delimiters: Delimiters = Delimiters(), **kw: object) -> InterchangeEnvelope:
    args: dict[str, object] = dict(
        sender_qualifier="ZZ",
        sender_id="SUBMITTER",
        receiver_qualifier="ZZ",
        receiver_id="PAYER",
        control_number=7,
        group_control_number=7,
        functional_id="HP",
        version="005010X221A1",
        created=CREATED,
        delimiters=delimiters,
    )
    args.update(kw)
    return InterchangeEnvelope(**args)  # type: ignore[arg-type]


def small_file(n_tx: int = 1, delimiters: Delimiters = Delimiters()) -> bytes:
    bodies = [
        TransactionBody("835", f"{i:04d}", [("BPR", "I", Decimal("1.5")), ("TRN", "1", str(i))])
        for i in range(1, n_tx + 1)
    ]
    return write_interchange(envelope(delimiters), bodies)


def ids(data: bytes) -> list[str]:
    return [s.id for s in iter_segments(data)]


def test_round_trip_of_the_envelope() -> None:
    txs = list(read_transactions(small_file(3)))
    assert [t.control_number for t in txs] == ["0001", "0002", "0003"]
    assert all(t.version == "005010X221A1" for t in txs)


def test_bom_and_newlines_and_crlf_are_tolerated() -> None:
    data = small_file(2).replace(b"~", b"~\r\n")
    assert ids(b"\xef\xbb\xbf" + data) == ids(small_file(2))
    offsets = [s.offset for s in iter_segments(b"\xef\xbb\xbf" + data)]
    assert offsets[0] == 3


def test_newline_as_segment_terminator_with_crlf() -> None:
    data = small_file(1).replace(b"~", b"\r\n")
    # ISA16 is followed by the terminator itself: the reader takes it from the ISA.
    segs = list(iter_segments(data))
    assert [s.id for s in segs][:3] == ["ISA", "GS", "ST"]
    assert all(not s.elements[-1].endswith("\r") for s in segs if s.elements)


def test_pipe_and_caret_delimiters() -> None:
    d = Delimiters(element="|", component="^", repetition="{", segment="~")
    data = small_file(1, d)
    assert b"|" in data and b"*" not in data
    tx = next(read_transactions(data))
    assert tx.delimiters == d
    assert tx.segments()[0][2] == "1.5"


def test_caret_as_segment_terminator_falls_back_for_repetition() -> None:
    d = Delimiters(element="*", component=":", repetition="^", segment="~")
    data = small_file(1, d).replace(b"~", b"!")
    data = data.replace(b"*^*00501", b"*U*00501")
    tx = next(read_transactions(data))
    assert tx.delimiters.segment == "!"
    assert tx.delimiters.repetition not in "*:!"


def test_lowercase_segment_ids_are_read_as_uppercase() -> None:
    data = small_file(1)
    lowered = data.replace(b"BPR*", b"bpr*").replace(b"TRN*", b"trn*")
    assert ids(lowered) == ids(data)


def test_lowercase_isa_is_read() -> None:
    data = small_file(1)
    assert ids(data.replace(b"ISA*", b"isa*", 1)) == ids(data)


def test_empty_trailing_elements_read_as_empty() -> None:
    data = small_file(1).replace(b"TRN*1*1~", b"TRN*1*1***~")
    seg = next(s for s in iter_segments(data) if s.id == "TRN")
    assert seg[2] == "1" and seg[3] == "" and seg[9] == ""


def test_one_thousand_transactions_in_one_file_stream() -> None:
    data = small_file(1000)
    count = 0
    for tx in read_transactions(io.BytesIO(data)):
        count += 1
        assert tx.segments()[1][2] == str(count)
    assert count == 1000


def test_file_cut_off_mid_segment() -> None:
    data = small_file(1)
    cut = data[: data.index(b"TRN") + 5]
    with pytest.raises(X12SyntaxError) as info:
        list(iter_segments(cut, file_name="cut.835"))
    assert "cut.835" in str(info.value)
    assert info.value.offset is not None and info.value.segment_number is not None


def test_file_cut_off_between_segments_names_missing_se() -> None:
    data = small_file(1)
    cut = data[: data.index(b"SE*")]
    with pytest.raises(X12SyntaxError, match="missing SE"):
        for tx in read_transactions(cut):
            tx.segments()


def test_not_x12() -> None:
    with pytest.raises(X12SyntaxError, match="ISA"):
        list(iter_segments(b"hello world, this is not an interchange at all" * 3))
    with pytest.raises(X12SyntaxError, match="empty"):
        list(iter_segments(b""))


@pytest.mark.parametrize(
    ("old", "new", "what"),
    [
        (b"SE*4*0001", b"SE*5*0001", "SE01"),
        (b"SE*4*0001", b"SE*4*0002", "SE02"),
        (b"GE*1*7", b"GE*2*7", "GE01"),
        (b"GE*1*7", b"GE*1*8", "GE02"),
        (b"IEA*1*000000007", b"IEA*2*000000007", "IEA01"),
        (b"IEA*1*000000007", b"IEA*1*000000008", "IEA02"),
    ],
)
def test_envelope_checks_strict_and_lenient(old: bytes, new: bytes, what: str) -> None:
    data = small_file(1)
    assert old in data
    broken = data.replace(old, new)
    with pytest.raises(X12SyntaxError, match=what):
        for tx in read_transactions(broken, file_name="f.x12"):
            tx.segments()
    issues: list[EnvelopeIssue] = []
    txs = []
    for tx in read_transactions(broken, strict=False, issues=issues):
        tx.segments()
        txs.append(tx)
    assert len(txs) == 1
    assert [i.message[: len(what)] for i in issues] == [what]
    if what.startswith("SE"):
        assert txs[0].issues == issues


def test_structure_errors_raise_even_when_lenient() -> None:
    data = small_file(1).replace(b"GE*1*7~", b"")
    with pytest.raises(X12SyntaxError, match="GE"):
        for tx in read_transactions(data, strict=False):
            tx.segments()


def test_writer_refuses_a_delimiter_inside_a_value() -> None:
    w = X12Writer()
    with pytest.raises(X12Error, match="CLM01"):
        w.segment("CLM", "ABC*123", Decimal("10"))
    with pytest.raises(X12Error, match="SV101-2"):
        w.segment("SV1", ("HC", "99213:25"), Decimal("10"))
    with pytest.raises(X12Error, match="NM103"):
        w.segment("NM1", "IL", "1", "SMITH~JONES")


def test_writer_drops_trailing_empties_and_writes_repeats() -> None:
    w = X12Writer()
    w.segment("REF", "1K", "ABC", None, "")
    w.segment("CTX", Repeat([("A", "1"), ("B", "2")]), "CLM")
    assert w.text() == "REF*1K*ABC~CTX*A:1^B:2*CLM~"


def test_format_decimal() -> None:
    assert format_decimal(Decimal("100.00")) == "100"
    assert format_decimal(Decimal("-0.50")) == "-0.5"
    assert format_decimal(Decimal("1E+2")) == "100"
    assert format_decimal(Decimal("-0")) == "0"


def test_bytes_that_are_not_utf8_are_read_as_latin1() -> None:
    data = small_file(1).replace(b"TRN*1*1~", "TRN*1*JOS\u00c9~".encode("latin-1"))
    seg = next(s for s in iter_segments(data) if s.id == "TRN")
    assert seg[2] == "JOS\u00c9"
    assert seg[2].encode("utf-8")  # no lone surrogates: storable and loggable downstream
    utf8 = small_file(1).replace(b"TRN*1*1~", "TRN*1*JOS\u00c9~".encode())
    assert next(s for s in iter_segments(utf8) if s.id == "TRN")[2] == "JOS\u00c9"


def test_bare_segments_keep_their_position_in_errors() -> None:
    data = small_file(1).replace(b"TRN*1*1~", b"TRN*1*1~ST~")
    with pytest.raises(X12SyntaxError) as info:
        for tx in read_transactions(data):
            tx.segments()
    assert info.value.segment_id == "ST" and info.value.offset and info.value.segment_number
    cut = small_file(1)
    cut = cut[: cut.index(b"SE*")]
    with pytest.raises(X12SyntaxError) as info:
        for tx in read_transactions(cut):
            tx.segments()
    assert info.value.segment_id == "TRN" and info.value.offset is not None


@pytest.mark.parametrize(
    "text", ["NaN", "Infinity", "1_000", " 5", "1" * 25, "abc", "", "1E999999", "+5"]
)
def test_x12_number_refuses_what_decimal_would_accept(text: str) -> None:
    from rcm.x12.core import Segment, x12_number

    seg = Segment("AMT", ["B6", text], number=9, offset=300)
    with pytest.raises(X12SyntaxError) as info:
        x12_number(text, seg, 2, "era.835")
    assert "AMT02" in str(info.value) and info.value.offset == 300
    assert x12_number("-12.50", seg, 2) == Decimal("-12.50")
