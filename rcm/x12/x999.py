"""999 Implementation Acknowledgment, 005010X231A1: typed model, parser and builder.

One 999 transaction acknowledges one functional group (AK1 .. AK9); inside it one AK2 loop per
transaction set, with its IK3 segment errors (and CTX contexts), IK4 element errors and the
IK5 verdict. `acknowledgement_for` builds the 999 model for a file we received, accepting every
transaction set except the ones the caller rejects, and reporting envelope counts that do not
add up with their own codes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from rcm.errors import X12SyntaxError
from rcm.x12.core import (
    Element,
    EnvelopeIssue,
    InterchangeEnvelope,
    Repeat,
    Segment,
    Source,
    TransactionBody,
    is_count,
    read_transactions,
    write_interchange,
)

IMPLEMENTATION = "005010X231A1"
FUNCTIONAL_ID = "FA"

AckCode = Literal["A", "E", "M", "P", "R", "W", "X"]

# IK5 transaction set syntax error codes used by `acknowledgement_for`.
IK5_TRAILER_MISSING = "2"
IK5_CONTROL_NUMBER_MISMATCH = "3"
IK5_SEGMENT_COUNT_MISMATCH = "4"
IK5_SEGMENTS_IN_ERROR = "5"
# AK9 functional group syntax error codes.
AK9_CONTROL_NUMBER_MISMATCH = "4"
AK9_TRANSACTION_COUNT_MISMATCH = "5"


@dataclass(slots=True)
class Context:
    """CTX: business unit or segment context. `identifications` is CTX01 (repeatable
    name:reference pairs); the rest locate the segment that triggered the error."""

    identifications: list[tuple[str, str]] = field(default_factory=list)
    segment_id: str = ""
    segment_position: int | None = None
    loop_id: str = ""
    element_position: list[str] = field(default_factory=list)  # CTX05: element:component:repeat
    element_reference: list[str] = field(default_factory=list)  # CTX06: element:component ref


@dataclass(slots=True)
class ElementError:
    """IK4: position in segment (IK401 composite), data element reference number, error code
    (IK403) and the bad value (IK404; a copy of received data, so never logged)."""

    position: int
    code: str
    reference_number: str = ""
    component_position: int | None = None
    repetition_position: int | None = None
    bad_value: str = ""
    contexts: list[Context] = field(default_factory=list)


@dataclass(slots=True)
class SegmentError:
    """IK3: segment ID, position in the transaction set (ST is 1), loop ID and error code."""

    segment_id: str
    position: int
    code: str
    loop_id: str = ""
    contexts: list[Context] = field(default_factory=list)
    element_errors: list[ElementError] = field(default_factory=list)


@dataclass(slots=True)
class TransactionAck:
    """AK2 loop: one acknowledged transaction set and its IK5 verdict."""

    set_id: str
    control_number: str
    status: str
    implementation: str = ""
    error_codes: list[str] = field(default_factory=list)
    segment_errors: list[SegmentError] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.status in ("A", "E")


@dataclass(slots=True)
class Ack999:
    """One 999 transaction set: the acknowledgment of one functional group."""

    functional_id: str
    group_control_number: str
    status: str
    version: str = ""
    included: int = 0
    received: int = 0
    accepted_count: int = 0
    error_codes: list[str] = field(default_factory=list)
    transactions: list[TransactionAck] = field(default_factory=list)
    control_number: str = "0001"
    implementation: str = IMPLEMENTATION
    issues: list[EnvelopeIssue] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.status in ("A", "E")


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------


def _fail(seg: Segment, message: str, file_name: str | None) -> X12SyntaxError:
    return X12SyntaxError(
        message, file=file_name, segment_number=seg.number, offset=seg.offset, segment_id=seg.id
    )


def _int(seg: Segment, index: int, file_name: str | None, *, required: bool = True) -> int | None:
    value = seg[index]
    if not value:
        if required:
            raise _fail(seg, f"{seg.id}{index:02d} is required", file_name)
        return None
    if not is_count(value):
        raise _fail(seg, f"{seg.id}{index:02d} is not a whole number", file_name)
    return int(value)


def _opt_int(text: str) -> int | None:
    return int(text) if is_count(text) else None


def _context(seg: Segment, file_name: str | None) -> Context:
    ids = []
    for rep in seg.repeats(1):
        parts = rep.split(seg.component)
        ids.append((parts[0], parts[1] if len(parts) > 1 else ""))
    return Context(
        ids,
        seg[2],
        _int(seg, 3, file_name, required=False),
        seg[4],
        seg.composite(5),
        seg.composite(6),
    )


def _codes(seg: Segment, first: int, last: int) -> list[str]:
    return [seg[i] for i in range(first, last + 1) if seg[i]]


def parse_999(
    data: Source,
    *,
    file_name: str | None = None,
    strict: bool = True,
    issues: list[EnvelopeIssue] | None = None,
) -> list[Ack999]:
    """Every 999 transaction of a file."""
    out: list[Ack999] = []
    for tx in read_transactions(data, file_name=file_name, strict=strict, issues=issues):
        fn = file_name or tx.file_name
        if tx.set_id != "999":
            raise _fail(tx.st, f"transaction set {tx.set_id!r} is not a 999", fn)
        ack: Ack999 | None = None
        current: TransactionAck | None = None
        seg_err: SegmentError | None = None
        elem_err: ElementError | None = None
        for seg in tx.body:
            sid = seg.id
            if sid == "AK1":
                ack = Ack999(
                    seg[1],
                    seg[2],
                    "",
                    seg[3],
                    control_number=tx.control_number,
                    implementation=tx.st[3] or tx.gs[8],
                    issues=tx.issues,
                )
                continue
            if ack is None:
                raise _fail(seg, f"{sid} before AK1", fn)
            if sid == "AK2":
                current = TransactionAck(seg[1], seg[2], "", seg[3])
                ack.transactions.append(current)
                seg_err = elem_err = None
            elif sid == "IK3":
                if current is None:
                    raise _fail(seg, "IK3 outside an AK2 loop", fn)
                position = _int(seg, 2, fn)
                assert position is not None
                seg_err = SegmentError(seg[1], position, seg[4], seg[3])
                current.segment_errors.append(seg_err)
                elem_err = None
            elif sid == "IK4":
                if seg_err is None:
                    raise _fail(seg, "IK4 outside an IK3 loop", fn)
                pos = seg.composite(1)
                if not pos or not is_count(pos[0]):
                    raise _fail(seg, "IK401 element position is required", fn)
                elem_err = ElementError(
                    int(pos[0]),
                    seg[3],
                    seg[2],
                    _opt_int(pos[1]) if len(pos) > 1 else None,
                    _opt_int(pos[2]) if len(pos) > 2 else None,
                    seg[4],
                )
                seg_err.element_errors.append(elem_err)
            elif sid == "CTX":
                ctx = _context(seg, fn)
                if elem_err is not None:
                    elem_err.contexts.append(ctx)
                elif seg_err is not None:
                    seg_err.contexts.append(ctx)
                else:
                    raise _fail(seg, "CTX outside an IK3 or IK4", fn)
            elif sid == "IK5":
                if current is None:
                    raise _fail(seg, "IK5 outside an AK2 loop", fn)
                current.status = seg[1]
                current.error_codes = _codes(seg, 2, 6)
                current = seg_err = elem_err = None
            elif sid == "AK9":
                ack.status = seg[1]
                ack.included = _int(seg, 2, fn) or 0
                ack.received = _int(seg, 3, fn) or 0
                ack.accepted_count = _int(seg, 4, fn) or 0
                ack.error_codes = _codes(seg, 5, 9)
            else:
                raise _fail(seg, f"unexpected {sid} in a 999", fn)
        if ack is None:
            raise _fail(tx.se if tx.se is not None else tx.st, "999 has no AK1", fn)
        if not ack.status:
            raise _fail(tx.se if tx.se is not None else tx.st, "999 has no AK9", fn)
        out.append(ack)
    return out


# ---------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------


def _ctx_segment(c: Context) -> tuple[Element | Repeat, ...]:
    return (
        "CTX",
        Repeat(pair for pair in c.identifications),
        c.segment_id,
        c.segment_position,
        c.loop_id,
        tuple(c.element_position),
        tuple(c.element_reference),
    )


def _transaction_segments(ack: Ack999) -> list[tuple[Element | Repeat, ...]]:
    out: list[tuple[Element | Repeat, ...]] = [
        ("AK1", ack.functional_id, ack.group_control_number, ack.version)
    ]
    for t in ack.transactions:
        out.append(("AK2", t.set_id, t.control_number, t.implementation))
        for s in t.segment_errors:
            out.append(("IK3", s.segment_id, s.position, s.loop_id, s.code))
            out += [_ctx_segment(c) for c in s.contexts]
            for e in s.element_errors:
                position = (
                    str(e.position),
                    "" if e.component_position is None else str(e.component_position),
                    "" if e.repetition_position is None else str(e.repetition_position),
                )
                out.append(("IK4", position, e.reference_number, e.code, e.bad_value))
                out += [_ctx_segment(c) for c in e.contexts]
        out.append(("IK5", t.status, *t.error_codes[:5]))
    out.append(
        ("AK9", ack.status, ack.included, ack.received, ack.accepted_count, *ack.error_codes[:5])
    )
    return out


def build_999(
    acks: Iterable[Ack999],
    envelope: InterchangeEnvelope,
    *,
    line_break: bool = False,
) -> bytes:
    """One interchange, one FA functional group, one 999 per acknowledged functional group.
    The envelope's `functional_id` should be FA and its `version` 005010X231A1."""
    bodies = [
        TransactionBody(
            "999", ack.control_number, _transaction_segments(ack), ack.implementation or None
        )
        for ack in acks
    ]
    return write_interchange(envelope, bodies, line_break=line_break)


# ---------------------------------------------------------------------------------------------
# Acknowledging a received file
# ---------------------------------------------------------------------------------------------


def acknowledgement_for(
    source: Source,
    *,
    file_name: str | None = None,
    rejections: Mapping[tuple[str, str], Sequence[SegmentError]] | None = None,
) -> list[Ack999]:
    """The 999 model acknowledging every functional group of a received file.

    A transaction set is accepted unless `rejections` has errors for its (GS06, ST02), or its
    SE count or control number does not add up. Groups are A (all accepted), P (some) or R
    (none)."""
    rejections = rejections or {}
    issues: list[EnvelopeIssue] = []
    acks: list[Ack999] = []
    by_group: dict[int, Ack999] = {}
    last_se: dict[int, int] = {}
    for tx in read_transactions(source, file_name=file_name, strict=False, issues=issues):
        key = tx.gs.number
        ack = by_group.get(key)
        if ack is None:
            ack = Ack999(tx.functional_id, tx.group_control_number, "A", tx.gs[8])
            by_group[key] = ack
            acks.append(ack)
        for _ in tx.body:
            pass
        if tx.se is not None:
            last_se[id(ack)] = tx.se.number
        errors = list(rejections.get((tx.group_control_number, tx.control_number), ()))
        codes = []
        for issue in tx.issues:
            if issue.message.startswith("SE02"):
                codes.append(IK5_CONTROL_NUMBER_MISMATCH)
            elif issue.message.startswith("SE01"):
                codes.append(IK5_SEGMENT_COUNT_MISMATCH)
        if errors:
            codes.append(IK5_SEGMENTS_IN_ERROR)
        status = "R" if codes else "A"
        ack.transactions.append(
            TransactionAck(tx.set_id, tx.control_number, status, tx.st[3], codes, errors)
        )
    for issue in issues:
        if issue.segment_id != "GE" or issue.segment_number is None:
            continue
        # A GE issue belongs to the group whose last SE comes right before that GE.
        owner = max(
            (a for a in acks if last_se.get(id(a), 0) < issue.segment_number),
            key=lambda a: last_se.get(id(a), 0),
            default=None,
        )
        if owner is None:
            continue
        code = (
            AK9_CONTROL_NUMBER_MISMATCH
            if issue.message.startswith("GE02")
            else AK9_TRANSACTION_COUNT_MISMATCH
        )
        if code not in owner.error_codes:
            owner.error_codes.append(code)
    for n, ack in enumerate(acks, start=1):
        ack.control_number = f"{n:04d}"
        ack.included = ack.received = len(ack.transactions)
        ack.accepted_count = sum(1 for t in ack.transactions if t.accepted)
        if ack.accepted_count == ack.received and not ack.error_codes:
            ack.status = "A"
        elif ack.accepted_count == 0:
            ack.status = "R"
        else:
            ack.status = "P"
    return acks
