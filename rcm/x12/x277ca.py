"""277CA Health Care Claim Acknowledgment, 005010X214: typed model, parser and builder.

The hierarchy is the guide's: information source (HL 20: the payer or clearinghouse) >
information receiver (21: the submitter) > billing provider (19) > patient (PT), whose 2200D
loops each acknowledge one claim (TRN02 = the claim's patient control number, CLM01) with STC
statuses, the payer's claim control number (REF*1K) and service dates; 2220D loops carry
service-line statuses.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from rcm.errors import X12SyntaxError
from rcm.x12.core import (
    Element,
    EnvelopeIssue,
    InterchangeEnvelope,
    Segment,
    Source,
    TransactionBody,
    read_transactions,
    write_interchange,
    x12_number,
)
from rcm.x12.x835 import Amount, Name, Procedure, Quantity, Reference

IMPLEMENTATION = "005010X214"
FUNCTIONAL_ID = "HN"

# STC01-1 claim status category codes that mean the claim went on to adjudication.
ACCEPTED_CATEGORIES = frozenset({"A0", "A1", "A2", "A5"})
# ... and the ones that send it back to the provider.
REJECTED_CATEGORIES = frozenset({"A3", "A4", "A6", "A7", "A8"})

LEVEL_SOURCE = "20"
LEVEL_RECEIVER = "21"
LEVEL_PROVIDER = "19"
LEVEL_PATIENT = "PT"


@dataclass(slots=True)
class StatusCode:
    """C043 health care claim status: category (A1, A2, A3, A7 ...), status code (claim status
    code list), entity (STC01-3, e.g. 85 billing provider), code list qualifier (STC01-4)."""

    category: str
    status: str
    entity: str = ""
    code_list: str = ""


@dataclass(slots=True)
class Status:
    """STC: STC01, STC10 and STC11 codes, effective date, action code, total charge (STC04),
    free-form message (STC12)."""

    codes: list[StatusCode]
    effective_date: date | None = None
    action: str = ""
    amount: Decimal | None = None
    message: str = ""

    @property
    def category(self) -> str:
        return self.codes[0].category if self.codes else ""


@dataclass(slots=True)
class DatePeriod:
    """DTP: qualifier (050 received, 009 process, 472 service) and a date or a range (RD8)."""

    qualifier: str
    start: date
    end: date | None = None


@dataclass(slots=True)
class ServiceStatus:
    """2220D: one service line's status (SVC, STC, REF*FJ line item control number, DTP*472)."""

    procedure: Procedure
    charge: Decimal
    paid: Decimal | None = None
    revenue_code: str = ""
    units: Decimal | None = None
    statuses: list[Status] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    dates: list[DatePeriod] = field(default_factory=list)


@dataclass(slots=True)
class ClaimStatus:
    """2200D: the acknowledgment of one claim."""

    patient_control_number: str
    statuses: list[Status] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    dates: list[DatePeriod] = field(default_factory=list)
    services: list[ServiceStatus] = field(default_factory=list)
    trace_type: str = "2"

    def reference(self, qualifier: str) -> str:
        for r in self.references:
            if r.qualifier == qualifier:
                return r.value
        return ""

    @property
    def payer_claim_control_number(self) -> str:
        return self.reference("1K")

    @property
    def billed_amount(self) -> Decimal | None:
        for s in self.statuses:
            if s.amount is not None:
                return s.amount
        return None

    @property
    def category(self) -> str:
        return self.statuses[0].category if self.statuses else ""

    @property
    def accepted(self) -> bool:
        """Accepted into adjudication: no STC says rejected and the first says accepted."""
        if any(c.category in REJECTED_CATEGORIES for s in self.statuses for c in s.codes):
            return False
        return self.category in ACCEPTED_CATEGORIES

    @property
    def service_period(self) -> tuple[date, date] | None:
        for d in self.dates:
            if d.qualifier == "472":
                return (d.start, d.end or d.start)
        return None


@dataclass(slots=True)
class Entity:
    """One HL level: source (20), receiver (21), billing provider (19) or patient (PT)."""

    level: str
    name: Name | None = None
    trace_type: str = ""
    trace: str = ""
    dates: list[DatePeriod] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    quantities: list[Quantity] = field(default_factory=list)
    amounts: list[Amount] = field(default_factory=list)
    children: list[Entity] = field(default_factory=list)
    claims: list[ClaimStatus] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ClaimAcknowledgment:
    """A claim's status with the provider and patient it was filed under (a flat view)."""

    claim: ClaimStatus
    provider: Entity | None
    patient: Entity


@dataclass(slots=True)
class Ack277CA:
    """One 277CA transaction set."""

    sources: list[Entity]
    purpose: str = "08"
    reference: str = ""
    created: date | None = None
    created_time: str = ""
    transaction_type: str = "TH"
    control_number: str = "0001"
    implementation: str = IMPLEMENTATION
    issues: list[EnvelopeIssue] = field(default_factory=list)

    def claim_acknowledgments(self) -> Iterator[ClaimAcknowledgment]:
        # Depth-first with an explicit stack: a hostile file can nest HL levels arbitrarily
        # deep, and recursion would overflow on it.
        stack: list[tuple[Entity, Entity | None]] = [(s, None) for s in reversed(self.sources)]
        while stack:
            entity, provider = stack.pop()
            if entity.level == LEVEL_PROVIDER:
                provider = entity
            for claim in entity.claims:
                yield ClaimAcknowledgment(claim, provider, entity)
            stack.extend((child, provider) for child in reversed(entity.children))

    @property
    def claims(self) -> list[ClaimStatus]:
        return [a.claim for a in self.claim_acknowledgments()]


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------


def _fail(seg: Segment, message: str, file_name: str | None) -> X12SyntaxError:
    return X12SyntaxError(
        message, file=file_name, segment_number=seg.number, offset=seg.offset, segment_id=seg.id
    )


def _opt_dec(seg: Segment, index: int, file_name: str | None) -> Decimal | None:
    return x12_number(seg[index], seg, index, file_name) if seg[index] else None


def _dec(seg: Segment, index: int, file_name: str | None) -> Decimal:
    value = _opt_dec(seg, index, file_name)
    if value is None:
        raise _fail(seg, f"{seg.id}{index:02d} is required", file_name)
    return value


def _ccyymmdd(text: str, seg: Segment, index: int, file_name: str | None) -> date:
    if len(text) != 8 or not text.isdigit():
        raise _fail(seg, f"{seg.id}{index:02d} is not a CCYYMMDD date", file_name)
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        raise _fail(seg, f"{seg.id}{index:02d} is not a calendar date", file_name) from None


def _dtp(seg: Segment, file_name: str | None) -> DatePeriod:
    fmt, value = seg[2], seg[3]
    if fmt == "RD8":
        start, _, end = value.partition("-")
        return DatePeriod(
            seg[1], _ccyymmdd(start, seg, 3, file_name), _ccyymmdd(end, seg, 3, file_name)
        )
    return DatePeriod(seg[1], _ccyymmdd(value, seg, 3, file_name))


def _status(seg: Segment, file_name: str | None) -> Status:
    codes = []
    for index in (1, 10, 11):
        parts = seg.composite(index)
        if parts:
            parts += [""] * (4 - len(parts))
            codes.append(StatusCode(parts[0], parts[1], parts[2], parts[3]))
    if not codes:
        raise _fail(seg, "STC01 claim status is required", file_name)
    return Status(
        codes,
        _ccyymmdd(seg[2], seg, 2, file_name) if seg[2] else None,
        seg[3],
        _opt_dec(seg, 4, file_name),
        seg[12],
    )


def _procedure(seg: Segment, file_name: str | None) -> Procedure:
    parts = seg.composite(1)
    if len(parts) < 2:
        raise _fail(seg, "SVC01 needs a qualifier and a code", file_name)
    return Procedure(
        parts[0], parts[1], [m for m in parts[2:6] if m], parts[6] if len(parts) > 6 else ""
    )


def _name(seg: Segment) -> Name:
    return Name(seg[1], seg[2], seg[3], seg[4], seg[5], seg[7], seg[8], seg[9])


def parse_277ca(
    data: Source,
    *,
    file_name: str | None = None,
    strict: bool = True,
    issues: list[EnvelopeIssue] | None = None,
) -> list[Ack277CA]:
    """Every 277CA transaction of a file."""
    out: list[Ack277CA] = []
    for tx in read_transactions(data, file_name=file_name, strict=strict, issues=issues):
        fn = file_name or tx.file_name
        if tx.set_id != "277":
            raise _fail(tx.st, f"transaction set {tx.set_id!r} is not a 277", fn)
        ack = Ack277CA(
            [],
            control_number=tx.control_number,
            implementation=tx.st[3] or tx.gs[8],
            issues=tx.issues,
        )
        by_id: dict[str, Entity] = {}
        entity: Entity | None = None
        claim: ClaimStatus | None = None
        service: ServiceStatus | None = None
        seen_bht = False
        for seg in tx.body:
            sid = seg.id
            if sid == "BHT":
                ack.purpose, ack.reference = seg[2], seg[3]
                ack.created = _ccyymmdd(seg[4], seg, 4, fn) if seg[4] else None
                ack.created_time, ack.transaction_type = seg[5], seg[6]
                seen_bht = True
                continue
            if sid == "HL":
                entity = Entity(seg[3])
                claim = service = None
                parent_id = seg[2]
                if parent_id:
                    parent = by_id.get(parent_id)
                    if parent is None:
                        raise _fail(seg, "HL02 names a parent that is not in the file", fn)
                    parent.children.append(entity)
                else:
                    ack.sources.append(entity)
                by_id[seg[1]] = entity
                continue
            if entity is None:
                raise _fail(seg, f"{sid} before the first HL", fn)
            if sid == "NM1":
                entity.name = _name(seg)
            elif sid == "TRN":
                if entity.level == LEVEL_PATIENT:
                    claim = ClaimStatus(seg[2], trace_type=seg[1])
                    if not claim.patient_control_number:
                        raise _fail(seg, "TRN02 patient control number is required", fn)
                    entity.claims.append(claim)
                    service = None
                else:
                    entity.trace_type, entity.trace = seg[1], seg[2]
            elif sid == "STC":
                status = _status(seg, fn)
                (service or claim or entity).statuses.append(status)
            elif sid == "REF":
                ref = Reference(seg[1], seg[2])
                (service or claim or entity).references.append(ref)
            elif sid == "DTP":
                period = _dtp(seg, fn)
                (service or claim or entity).dates.append(period)
            elif sid == "QTY":
                entity.quantities.append(Quantity(seg[1], _dec(seg, 2, fn)))
            elif sid == "AMT":
                entity.amounts.append(Amount(seg[1], _dec(seg, 2, fn)))
            elif sid == "SVC":
                if claim is None:
                    raise _fail(seg, "SVC outside a claim status loop", fn)
                service = ServiceStatus(
                    _procedure(seg, fn),
                    _dec(seg, 2, fn),
                    _opt_dec(seg, 3, fn),
                    seg[4],
                    _opt_dec(seg, 7, fn),
                )
                claim.services.append(service)
            else:
                raise _fail(seg, f"unexpected {sid} in a 277CA", fn)
        if not seen_bht:
            raise _fail(tx.st, "277CA has no BHT", fn)
        out.append(ack)
    return out


# ---------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------


def _status_segment(s: Status) -> tuple[Element, ...]:
    def comp(c: StatusCode) -> tuple[str, ...]:
        return (c.category, c.status, c.entity, c.code_list)

    extra = [comp(c) for c in s.codes[1:3]]
    return (
        "STC",
        comp(s.codes[0]),
        s.effective_date,
        s.action,
        s.amount,
        None,
        None,
        None,
        None,
        None,
        extra[0] if extra else None,
        extra[1] if len(extra) > 1 else None,
        s.message,
    )


def _dtp_segment(d: DatePeriod) -> tuple[Element, ...]:
    if d.end is not None:
        return ("DTP", d.qualifier, "RD8", f"{d.start:%Y%m%d}-{d.end:%Y%m%d}")
    return ("DTP", d.qualifier, "D8", d.start)


def _name_segment(n: Name) -> tuple[Element, ...]:
    return (
        "NM1",
        n.entity,
        n.entity_type,
        n.last_or_organization,
        n.first,
        n.middle,
        None,
        n.suffix,
        n.id_qualifier,
        n.id,
    )


def _claim_segments(claim: ClaimStatus) -> list[tuple[Element, ...]]:
    out: list[tuple[Element, ...]] = [("TRN", claim.trace_type, claim.patient_control_number)]
    out.extend(_status_segment(s) for s in claim.statuses)
    out.extend(("REF", r.qualifier, r.value) for r in claim.references)
    out.extend(_dtp_segment(d) for d in claim.dates)
    for sv in claim.services:
        p = sv.procedure
        mods = list(p.modifiers[:4])
        if p.description:
            mods += [""] * (4 - len(mods)) + [p.description]
        out.append(
            (
                "SVC",
                (p.qualifier, p.code, *mods),
                sv.charge,
                sv.paid,
                sv.revenue_code,
                None,
                None,
                sv.units,
            )
        )
        out.extend(_status_segment(s) for s in sv.statuses)
        out.extend(("REF", r.qualifier, r.value) for r in sv.references)
        out.extend(_dtp_segment(d) for d in sv.dates)
    return out


def _transaction_segments(ack: Ack277CA) -> list[tuple[Element, ...]]:
    out: list[tuple[Element, ...]] = [
        (
            "BHT",
            "0085",
            ack.purpose,
            ack.reference,
            ack.created,
            ack.created_time,
            ack.transaction_type,
        )
    ]
    counter = 0
    stack: list[tuple[Entity, int | None]] = [(src, None) for src in reversed(ack.sources)]
    while stack:
        entity, parent = stack.pop()
        counter += 1
        number = counter
        child_code = "1" if entity.children else ("" if entity.level == LEVEL_PATIENT else "0")
        out.append(("HL", number, parent, entity.level, child_code))
        if entity.name is not None:
            out.append(_name_segment(entity.name))
        if entity.level == LEVEL_PATIENT:
            for claim in entity.claims:
                out += _claim_segments(claim)
        else:
            if entity.trace:
                out.append(("TRN", entity.trace_type, entity.trace))
            out.extend(_dtp_segment(d) for d in entity.dates)
            out.extend(_status_segment(s) for s in entity.statuses)
            out.extend(("REF", r.qualifier, r.value) for r in entity.references)
            out.extend(("QTY", q.qualifier, q.quantity) for q in entity.quantities)
            out.extend(("AMT", a.qualifier, a.amount) for a in entity.amounts)
        stack.extend((child, number) for child in reversed(entity.children))
    return out


def build_277ca(
    acks: Iterable[Ack277CA],
    envelope: InterchangeEnvelope,
    *,
    line_break: bool = False,
) -> bytes:
    """One interchange, one HN functional group, one 277 per acknowledgment. The envelope's
    `functional_id` should be HN and its `version` 005010X214."""
    bodies = [
        TransactionBody(
            "277", ack.control_number, _transaction_segments(ack), ack.implementation or None
        )
        for ack in acks
    ]
    return write_interchange(envelope, bodies, line_break=line_break)
