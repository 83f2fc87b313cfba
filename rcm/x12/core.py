"""X12 core: delimiters, segments, a streaming reader with envelope checks, and a writer.

Reading is streaming and bounded in memory: the source is read in chunks, split on the segment
terminator found in the ISA, and handed out one `Segment` at a time. `read_transactions` groups
segments into transactions whose bodies are iterators too, so a parser that consumes a body
lazily (the 835 parser does) handles a 1 GB file in the memory of one claim.

Writing never escapes silently: a value that contains one of the interchange's delimiters is an
`X12Error` naming the segment and element (``CLM01``), because a delimiter inside data would
change the structure of the file the payer reads.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import BinaryIO, cast

from rcm.errors import X12Error, X12SyntaxError

CHUNK_SIZE = 1 << 20
DECODE_ERRORS = "rcm-x12-latin1"


def _latin1_fallback(error: UnicodeError) -> tuple[str, int]:
    """Bytes that are not UTF-8 are read as Latin-1, one character per byte: senders that use
    the X12 extended character set often write Latin-1, and a lone surrogate (what
    surrogateescape would give) cannot be stored or logged anywhere downstream."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error(DECODE_ERRORS, _latin1_fallback)


def decode_x12(data: bytes) -> str:
    """Bytes of an X12 file as text, the way the reader decodes them (UTF-8, Latin-1 for bytes
    that are not UTF-8, BOM dropped)."""
    text = data.decode("utf-8", errors=DECODE_ERRORS)
    return text[1:] if text.startswith(_BOM) else text


ISA_LENGTH = 106
_BOM = "\ufeff"


@dataclass(frozen=True, slots=True)
class Delimiters:
    element: str = "*"
    component: str = ":"
    repetition: str = "^"
    segment: str = "~"

    def all(self) -> str:
        return self.element + self.component + self.repetition + self.segment


DEFAULT_DELIMITERS = Delimiters()


class Segment:
    """One segment. Elements are addressed 1-based, as the implementation guides number them:
    ``seg[1]`` is CLM01. A missing element reads as the empty string."""

    __slots__ = ("component", "elements", "id", "number", "offset", "repetition")

    def __init__(
        self,
        seg_id: str,
        elements: list[str],
        number: int = 0,
        offset: int = 0,
        component: str = ":",
        repetition: str = "^",
    ) -> None:
        self.id = seg_id
        self.elements = elements
        self.number = number
        self.offset = offset
        self.component = component
        self.repetition = repetition

    def __getitem__(self, index: int) -> str:
        try:
            return self.elements[index - 1] if index > 0 else self.id
        except IndexError:
            return ""

    def get(self, index: int, default: str = "") -> str:
        value = self[index]
        return value if value else default

    def composite(self, index: int) -> list[str]:
        """Components of element `index`; an absent element is an empty list."""
        value = self[index]
        return value.split(self.component) if value else []

    def repeats(self, index: int) -> list[str]:
        value = self[index]
        return value.split(self.repetition) if value else []

    def __len__(self) -> int:
        return len(self.elements)

    def __bool__(self) -> bool:
        # A segment without elements (a bare "ST~") is still a segment; without this, `if seg`
        # would be False for it through __len__.
        return True

    def __repr__(self) -> str:
        return f"Segment({self.id}*{'*'.join(self.elements)} #{self.number})"

    def as_tuple(self) -> tuple[str, ...]:
        return (self.id, *self.elements)


Source = bytes | bytearray | memoryview | str | Path | BinaryIO


def _open_source(source: Source) -> tuple[BinaryIO, bool]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source)), True
    if isinstance(source, str | Path):
        return open(source, "rb"), True
    return source, False


def _parse_isa_delimiters(head: str, file_name: str | None) -> Delimiters:
    """Delimiters from the ISA. Tolerates an ISA whose fixed-width padding is wrong by counting
    element separators instead of trusting positions."""
    if head[:3].upper() != "ISA" or len(head) < 4:
        raise X12SyntaxError(
            "file does not start with an ISA segment",
            file=file_name,
            segment_number=1,
            offset=0,
        )
    element = head[3]
    position = 3
    for _ in range(15):
        position = head.find(element, position + 1)
        if position < 0:
            raise X12SyntaxError(
                "ISA is shorter than 16 elements", file=file_name, segment_number=1, offset=0
            )
    # `position` is now the separator before ISA16; ISA16 is one character, then the terminator.
    if len(head) < position + 3:
        raise X12SyntaxError("ISA is cut off", file=file_name, segment_number=1, offset=0)
    component = head[position + 1]
    terminator = head[position + 2]
    isa_elements = head[: position + 1].split(element)
    repetition = isa_elements[11] if len(isa_elements) > 11 else "U"
    if (
        len(repetition) != 1
        or repetition.isalnum()
        or repetition == " "
        or repetition in (element, component, terminator)
    ):
        # 4010 files carry "U" here and some senders reuse a delimiter: such a file has no
        # repetition separator, so pick a character that cannot occur in its data.
        repetition = "^" if "^" not in (element, component, terminator) else "\x1e"
    if terminator in (" ",) or terminator.isalnum():
        raise X12SyntaxError(
            f"ISA gives an unusable segment terminator {terminator!r}",
            file=file_name,
            segment_number=1,
            offset=position + 2,
        )
    if len({element, component, terminator}) < 3:
        raise X12SyntaxError(
            "ISA delimiters are not distinct", file=file_name, segment_number=1, offset=0
        )
    return Delimiters(element, component, repetition, terminator)


class SegmentReader:
    """Streams segments out of a source. `delimiters` is known after the first segment."""

    def __init__(self, source: Source, *, file_name: str | None = None) -> None:
        self.source = source
        self.file_name = file_name or (str(source) if isinstance(source, str | Path) else None)
        self.delimiters: Delimiters | None = None
        self.segment_count = 0

    def __iter__(self) -> Iterator[Segment]:
        stream, owned = _open_source(self.source)
        try:
            yield from self._segments(stream)
        finally:
            if owned:
                stream.close()

    def _segments(self, stream: BinaryIO) -> Iterator[Segment]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors=DECODE_ERRORS)
        buffer = decoder.decode(stream.read(CHUNK_SIZE))
        offset = 0
        if buffer.startswith(_BOM):
            buffer = buffer[1:]
            offset = 3
        stripped = buffer.lstrip()
        offset += len(buffer) - len(stripped)
        buffer = stripped
        while len(buffer) < ISA_LENGTH + 8:
            more = stream.read(CHUNK_SIZE)
            if not more:
                break
            buffer += decoder.decode(more)
        if not buffer:
            raise X12SyntaxError("file is empty", file=self.file_name, segment_number=0, offset=0)
        delimiters = _parse_isa_delimiters(buffer, self.file_name)
        self.delimiters = delimiters
        terminator = delimiters.segment
        element = delimiters.element
        component = delimiters.component
        repetition = delimiters.repetition
        strip_cr = terminator == "\n"
        number = 0
        file_name = self.file_name
        known_ids: dict[str, str] = {}
        while True:
            pieces = buffer.split(terminator)
            buffer = pieces.pop()
            for raw in pieces:
                if raw[:1] in ("\n", "\r", " ", "\t"):
                    trimmed = raw.lstrip()
                    offset += len(raw) - len(trimmed)
                    raw = trimmed
                if strip_cr and raw[-1:] == "\r":
                    raw = raw[:-1]
                    offset += 1
                if not raw:
                    offset += 1
                    continue
                number += 1
                parts = raw.split(element)
                seg_id = known_ids.get(parts[0])
                if seg_id is None:
                    candidate = parts[0]
                    if not candidate.isalnum() or not candidate.isascii() or len(candidate) > 3:
                        raise X12SyntaxError(
                            f"invalid segment identifier {candidate[:8]!r}",
                            file=file_name,
                            segment_number=number,
                            offset=offset,
                        )
                    seg_id = known_ids[candidate] = candidate.upper()
                del parts[0]
                yield Segment(seg_id, parts, number, offset, component, repetition)
                offset += len(raw) + 1
            more = stream.read(CHUNK_SIZE)
            if not more:
                break
            buffer += decoder.decode(more)
        tail = buffer + decoder.decode(b"", final=True)
        if tail.strip():
            raise X12SyntaxError(
                "file ends in the middle of a segment (no segment terminator)",
                file=file_name,
                segment_number=number + 1,
                offset=offset + (len(tail) - len(tail.lstrip())),
            )
        self.segment_count = number


def iter_segments(source: Source, *, file_name: str | None = None) -> Iterator[Segment]:
    """Every segment of a file, in order, streaming."""
    return iter(SegmentReader(source, file_name=file_name))


@dataclass(frozen=True, slots=True)
class EnvelopeIssue:
    """An envelope count or control number that does not add up, recorded instead of raised when
    a file is read with ``strict=False``. Names positions only, never data."""

    message: str
    file: str | None = None
    segment_number: int | None = None
    offset: int | None = None
    segment_id: str | None = None

    def as_error(self) -> X12SyntaxError:
        return X12SyntaxError(
            self.message,
            file=self.file,
            segment_number=self.segment_number,
            offset=self.offset,
            segment_id=self.segment_id,
        )

    def __str__(self) -> str:
        return str(self.as_error())


@dataclass
class Transaction:
    """One ST..SE transaction set inside its GS and ISA. `body` yields the segments between ST
    and SE lazily; the envelope checks of SE run when the body is exhausted."""

    isa: Segment
    gs: Segment
    st: Segment
    delimiters: Delimiters
    body: Iterator[Segment]
    file_name: str | None = None
    se: Segment | None = None
    issues: list[EnvelopeIssue] = field(default_factory=list)

    @property
    def set_id(self) -> str:
        return self.st[1]

    @property
    def control_number(self) -> str:
        return self.st[2]

    @property
    def version(self) -> str:
        """The implementation guide: ST03 when present, else GS08."""
        return self.st[3] or self.gs[8]

    @property
    def interchange_control_number(self) -> str:
        return self.isa[13]

    @property
    def group_control_number(self) -> str:
        return self.gs[6]

    @property
    def functional_id(self) -> str:
        return self.gs[1]

    def segments(self) -> list[Segment]:
        """The whole body as a list (for small transactions; parsers of big ones iterate)."""
        return list(self.body)


class _Envelope:
    """Walks the ISA/GS/ST structure of one segment stream, checking every count and control
    number, and hands out transactions.

    Strict (the default) raises on the first count or control number that does not add up.
    Lenient records those as `EnvelopeIssue`s (on the transaction and in `issues`) and goes on:
    published remittances are often off by one in SE01 and still carry money that must be
    posted. Structure (missing SE, GE or IEA, a segment outside any transaction, a cut-off
    file) is an error in both modes, because no reading of such a file is trustworthy."""

    def __init__(
        self,
        reader: SegmentReader,
        *,
        strict: bool = True,
        issues: list[EnvelopeIssue] | None = None,
    ) -> None:
        self.reader = reader
        self.segments = iter(reader)
        self.file_name = reader.file_name
        self.strict = strict
        self.issues = issues if issues is not None else []

    def error(self, message: str, seg: Segment | None) -> X12SyntaxError:
        return X12SyntaxError(
            message,
            file=self.file_name,
            segment_number=seg.number if seg is not None else None,
            offset=seg.offset if seg is not None else None,
            segment_id=seg.id if seg is not None else None,
        )

    def mismatch(self, message: str, seg: Segment, tx: Transaction | None = None) -> None:
        """A count or control number that does not add up: raise, or record when lenient."""
        if self.strict:
            raise self.error(message, seg)
        issue = EnvelopeIssue(message, self.file_name, seg.number, seg.offset, seg.id)
        self.issues.append(issue)
        if tx is not None:
            tx.issues.append(issue)

    def transactions(self) -> Iterator[Transaction]:
        isa: Segment | None = None
        gs: Segment | None = None
        group_count = 0
        tx_count = 0
        interchanges = 0
        last: Segment | None = None
        for seg in self.segments:
            last = seg
            sid = seg.id
            if sid == "ST":
                if gs is None or isa is None:
                    raise self.error("ST outside a functional group", seg)
                assert self.reader.delimiters is not None
                tx_count += 1
                tx = Transaction(isa, gs, seg, self.reader.delimiters, iter(()), self.file_name)
                body = self._body(tx)
                tx.body = body
                yield tx
                for _ in body:
                    pass
            elif sid == "GS":
                if isa is None:
                    raise self.error("GS outside an interchange", seg)
                if gs is not None:
                    raise self.error("GS before the previous group's GE", seg)
                gs = seg
                tx_count = 0
                group_count += 1
            elif sid == "GE":
                if gs is None:
                    raise self.error("GE without GS", seg)
                if seg[2] != gs[6]:
                    self.mismatch(f"GE02 {seg[2]!r} does not match GS06 {gs[6]!r}", seg)
                if not is_count(seg[1]) or int(seg[1]) != tx_count:
                    self.mismatch(
                        f"GE01 says {seg[1]!r} transaction sets, the group has {tx_count}", seg
                    )
                gs = None
            elif sid == "ISA":
                if isa is not None:
                    raise self.error("ISA before the previous interchange's IEA", seg)
                if len(seg.elements) < 16:
                    raise self.error("ISA has fewer than 16 elements", seg)
                isa = seg
                group_count = 0
                interchanges += 1
            elif sid == "IEA":
                if isa is None:
                    raise self.error("IEA without ISA", seg)
                if gs is not None:
                    raise self.error("IEA before the group's GE", seg)
                if seg[2].strip() != isa[13].strip():
                    self.mismatch(f"IEA02 {seg[2]!r} does not match ISA13 {isa[13]!r}", seg)
                if not is_count(seg[1].strip()) or int(seg[1]) != group_count:
                    self.mismatch(
                        f"IEA01 says {seg[1]!r} functional groups, the interchange has "
                        f"{group_count}",
                        seg,
                    )
                isa = None
            elif sid == "TA1":
                if isa is None:
                    raise self.error("TA1 outside an interchange", seg)
            else:
                raise self.error(f"{sid} segment outside a transaction set", seg)
        if isa is not None or gs is not None:
            raise self.error("file ends before IEA closes the interchange", last)
        if interchanges == 0:
            raise self.error("no interchange in file", last)

    def _body(self, tx: Transaction) -> Iterator[Segment]:
        count = 1
        last = tx.st
        for seg in self.segments:
            last = seg
            count += 1
            sid = seg.id
            if sid == "SE":
                if seg[2] != tx.st[2]:
                    self.mismatch(f"SE02 {seg[2]!r} does not match ST02 {tx.st[2]!r}", seg, tx)
                if not is_count(seg[1]) or int(seg[1]) != count:
                    self.mismatch(
                        f"SE01 says {seg[1]!r} segments, the transaction set has {count}", seg, tx
                    )
                tx.se = seg
                return
            if sid in ("ST", "GE", "IEA", "ISA", "GS"):
                raise self.error(f"{sid} inside transaction set {tx.st[2]!r} (missing SE)", seg)
            yield seg
        raise self.error(
            f"file ends inside transaction set {tx.st[2]!r} (missing SE) after this segment", last
        )


def read_transactions(
    source: Source,
    *,
    file_name: str | None = None,
    strict: bool = True,
    issues: list[EnvelopeIssue] | None = None,
) -> Iterator[Transaction]:
    """Transactions of a file, streaming, with every envelope count and control number checked.

    Raises `X12SyntaxError` naming file, segment number and offset on the first problem. With
    ``strict=False`` count and control-number mismatches are appended to `issues` (and to the
    transaction's own `issues`) instead; structural problems still raise."""
    reader = SegmentReader(source, file_name=file_name)
    return _Envelope(reader, strict=strict, issues=issues).transactions()


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------

Scalar = str | int | Decimal | date | None
Element = Scalar | Sequence[str | int | Decimal | None]


class Repeat(tuple[Element, ...]):
    """A repeated element (joined with the repetition separator), e.g. CTX01 in a 999:
    ``Repeat([("SITUATIONAL TRIGGER", "2"), ("CLM01", "A1")])``."""


def format_decimal(value: Decimal) -> str:
    """X12 R type: no exponent, no trailing zeros after the point, no lone point."""
    if not value.is_finite():
        raise X12Error(f"not a finite amount: {value}")
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text


def _text(value: str | int | Decimal | date | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise X12Error("booleans have no X12 form; map them to a code first")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, datetime):
        return value.strftime("%Y%m%d")
    if isinstance(value, date):
        return value.strftime("%Y%m%d")
    raise X12Error(f"cannot write {type(value).__name__} into X12")


@dataclass
class X12Writer:
    """Accumulates segments as text. `segment("CLM", pcn, charge, ...)`: a list or tuple element
    is a composite; None and "" are empty; trailing empty elements are dropped."""

    delimiters: Delimiters = DEFAULT_DELIMITERS
    line_break: bool = False
    parts: list[str] = field(default_factory=list)
    count: int = 0

    def segment(self, seg_id: str, *elements: Element | Repeat) -> None:
        d = self.delimiters
        out: list[str] = []
        for position, value in enumerate(elements, start=1):
            if isinstance(value, Repeat):
                out.append(d.repetition.join(self._element(seg_id, position, v) for v in value))
            else:
                out.append(self._element(seg_id, position, value))
        while out and not out[-1]:
            out.pop()
        self.parts.append(d.element.join((seg_id, *out)) if out else seg_id)
        self.count += 1

    def _element(self, seg_id: str, position: int, value: Element) -> str:
        d = self.delimiters
        forbidden = d.all()
        if isinstance(value, list | tuple):
            components = [_text(c) for c in value]
            for c_pos, component in enumerate(components, start=1):
                for ch in forbidden:
                    if ch in component:
                        raise X12Error(
                            f"{seg_id}{position:02d}-{c_pos} contains the delimiter {ch!r}"
                        )
            while components and not components[-1]:
                components.pop()
            return d.component.join(components)
        text = _text(cast(Scalar, value))
        for ch in forbidden:
            if ch in text:
                raise X12Error(f"{seg_id}{position:02d} contains the delimiter {ch!r}")
        return text

    def raw(self, text: str) -> None:
        """A segment already in this writer's delimiters (the ISA, whose repetition element is
        itself a delimiter)."""
        self.parts.append(text)
        self.count += 1

    def text(self) -> str:
        sep = self.delimiters.segment + ("\n" if self.line_break else "")
        return sep.join(self.parts) + sep

    def to_bytes(self) -> bytes:
        # surrogateescape gives back the original bytes of any text decoded that way elsewhere.
        return self.text().encode("utf-8", errors="surrogateescape")


@dataclass(frozen=True)
class InterchangeEnvelope:
    """What the ISA and GS carry. Control numbers are allocated by the caller (rcm's control
    number allocator) so a rebuild of the same row yields the same bytes."""

    sender_qualifier: str
    sender_id: str
    receiver_qualifier: str
    receiver_id: str
    control_number: int
    group_control_number: int
    functional_id: str
    version: str
    created: datetime
    application_sender: str | None = None
    application_receiver: str | None = None
    usage: str = "P"
    ack_requested: str = "0"
    delimiters: Delimiters = DEFAULT_DELIMITERS


@dataclass
class TransactionBody:
    """Segments between ST and SE, each a sequence whose first item is the segment ID."""

    set_id: str
    control_number: str
    segments: Sequence[Sequence[Element | Repeat]]
    implementation: str | None = None


def _isa_field(value: str, width: int, name: str) -> str:
    if len(value) > width:
        raise X12Error(f"{name} {value!r} is longer than {width} characters")
    return value.ljust(width)


def write_interchange(
    envelope: InterchangeEnvelope,
    transactions: Iterable[TransactionBody],
    *,
    line_break: bool = False,
) -> bytes:
    """One interchange with one functional group around `transactions`, with every count and
    control number filled in."""
    d = envelope.delimiters
    if envelope.usage not in ("P", "T"):
        raise X12Error(f"ISA15 usage indicator must be P or T, not {envelope.usage!r}")
    if not 0 < envelope.control_number <= 999_999_999:
        raise X12Error(f"ISA13 control number out of range: {envelope.control_number}")
    created = envelope.created
    if created.tzinfo is None:
        raise X12Error("interchange creation time must be timezone-aware")
    isa = d.element.join(
        [
            "ISA",
            "00",
            " " * 10,
            "00",
            " " * 10,
            _isa_field(envelope.sender_qualifier, 2, "ISA05"),
            _isa_field(envelope.sender_id, 15, "ISA06"),
            _isa_field(envelope.receiver_qualifier, 2, "ISA07"),
            _isa_field(envelope.receiver_id, 15, "ISA08"),
            created.strftime("%y%m%d"),
            created.strftime("%H%M"),
            d.repetition,
            "00501",
            f"{envelope.control_number:09d}",
            envelope.ack_requested,
            envelope.usage,
            d.component,
        ]
    )
    writer = X12Writer(d, line_break=line_break)
    writer.raw(isa)
    writer.segment(
        "GS",
        envelope.functional_id,
        envelope.application_sender or envelope.sender_id,
        envelope.application_receiver or envelope.receiver_id,
        created.strftime("%Y%m%d"),
        created.strftime("%H%M"),
        str(envelope.group_control_number),
        "X",
        envelope.version,
    )
    tx_count = 0
    for tx in transactions:
        tx_count += 1
        start = writer.count
        writer.segment("ST", tx.set_id, tx.control_number, tx.implementation)
        for seg in tx.segments:
            writer.segment(str(seg[0]), *seg[1:])
        writer.segment("SE", str(writer.count - start + 1), tx.control_number)
    writer.segment("GE", str(tx_count), str(envelope.group_control_number))
    writer.segment("IEA", "1", f"{envelope.control_number:09d}")
    return writer.to_bytes()


def is_count(text: str, max_digits: int = 10) -> bool:
    """A count or control number as X12 writes one: 1 to `max_digits` ASCII digits. (Python's
    `isdigit` also accepts superscripts and other scripts' digits, which `int` refuses.)"""
    return 0 < len(text) <= max_digits and text.isascii() and text.isdigit()


def parse_x12_date(value: str) -> date | None:
    """CCYYMMDD (or YYMMDD) to a date; empty gives None; anything else raises ValueError."""
    if not value:
        return None
    if len(value) == 8:
        return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    if len(value) == 6:
        year = int(value[:2])
        return date(2000 + year if year < 50 else 1900 + year, int(value[2:4]), int(value[4:6]))
    raise ValueError(f"not an X12 date: {value!r}")


# X12 R (decimal) elements hold at most 18 digits, plus a sign and a point; the HIPAA guides
# use no exponents.
MAX_NUMBER_LENGTH = 20
_NUMBER_CHARACTERS = "-.0123456789"


def x12_number(value: str, seg: Segment, index: int, file_name: str | None = None) -> Decimal:
    """Element `index` of `seg` (its text is `value`) as a Decimal, or an `X12SyntaxError`
    naming the element. Decimal alone would also read NaN, Infinity, "1_000", "1E999999",
    padded text and numbers too long for any X12 element, which then break arithmetic
    downstream. Only digits, one leading minus and a point are X12 numbers here."""
    try:
        number: Decimal | None = Decimal(value)
    except InvalidOperation:
        number = None
    if (
        number is None
        or len(value) > MAX_NUMBER_LENGTH
        or not number.is_finite()
        or value.strip(_NUMBER_CHARACTERS)
    ):
        problem = "is required" if not value else "is not an X12 number"
        raise _element_error(f"{seg.id}{index:02d} {problem}", seg, file_name)
    return number


def _element_error(message: str, seg: Segment, file_name: str | None) -> X12SyntaxError:
    return X12SyntaxError(
        message, file=file_name, segment_number=seg.number, offset=seg.offset, segment_id=seg.id
    )


def parse_decimal(value: str) -> Decimal | None:
    """An X12 R/N value to Decimal; empty gives None."""
    if not value:
        return None
    return Decimal(value)
