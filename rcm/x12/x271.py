"""271 eligibility response (005010X279A1): typed model, parse, build, and a coverage summary.

The practice parses 271s; the sandbox builds them. A `EligibilityResponse` is one member's
answer: the information source and receiver above it (with any AAA rejections at those levels),
the subscriber (2000C) and, when the patient is a dependent, the dependent (2000D). Each member
carries the payer's view of it (NM1/N3/N4/DMG/INS, which a payer may correct), its dates and
references, its AAA rejections, and its benefits (EB loops with their REF, DTP, MSG and the
2120 related entities, such as an other payer the practice did not know about).

`EligibilityResponse.coverage()` turns that into the answer an eligibility flow needs: active
or inactive or rejected, plan, coverage dates, copay, coinsurance, deductible and out-of-pocket
(total and remaining, in and out of network), rejections, and other payers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from rcm.x12.core import (
    InterchangeEnvelope,
    Repeat,
    Segment,
    Source,
    Transaction,
    TransactionBody,
    format_decimal,
    read_transactions,
)
from rcm.x12.x270 import (
    IMPLEMENTATION,
    HLBlock,
    Party,
    address_from,
    address_segments,
    bht_created,
    check_version,
    d8,
    hl_blocks,
    missing_header,
    numbered_interchange,
    opt,
    party_from,
    party_segment,
    period_elements,
    position_error,
    read_d8,
    read_period,
)
from rcm.x12.x837 import Address

# EB01 codes
ACTIVE_CODES = frozenset("12345")
INACTIVE_CODES = frozenset("678")
COINSURANCE, COPAY, DEDUCTIBLE, OUT_OF_POCKET, OTHER_PAYER = "A", "B", "C", "G", "R"
# EB06 time periods that mean "what is left" rather than the total.
REMAINING_PERIODS = frozenset({"29"})

# AAA03 reasons seen most often, for messages and reports.
REJECT_REASONS = {
    "04": "authorized quantity exceeded",
    "15": "required application data missing",
    "41": "authorization/access restrictions",
    "42": "unable to respond at current time",
    "43": "invalid/missing provider identification",
    "51": "provider not on file",
    "52": "service dates not within provider plan enrollment",
    "56": "inappropriate date",
    "57": "invalid/missing date(s) of service",
    "58": "invalid/missing date of birth",
    "60": "date of birth follows date(s) of service",
    "62": "date of death precedes date(s) of service",
    "63": "date of service not within allowable inquiry period",
    "64": "invalid/missing patient ID",
    "65": "invalid/missing patient name",
    "66": "invalid/missing patient gender code",
    "67": "patient not found",
    "68": "duplicate patient ID number",
    "71": "patient birth date does not match that for the patient on the database",
    "72": "invalid/missing subscriber/insured ID",
    "73": "invalid/missing subscriber/insured name",
    "74": "invalid/missing subscriber/insured gender code",
    "75": "subscriber/insured not found",
    "76": "duplicate subscriber/insured ID number",
    "78": "subscriber/insured not in group/plan identified",
    "79": "invalid participant identification",
    "80": "no response received - transaction terminated",
    "97": "invalid or missing provider address",
    "T4": "payer name or identifier missing",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejection:
    """AAA: `reason_code` (AAA03) and `follow_up` (AAA04: C please correct and resubmit, N
    resubmission not allowed, R resubmission allowed, W wait 30 days, X wait 10 days, Y do not
    resubmit, we will hand over). `valid` is AAA01 (N: the request was not valid)."""

    reason_code: str
    follow_up: str | None = None
    valid: str = "N"

    @property
    def reason(self) -> str:
        return REJECT_REASONS.get(self.reason_code, "other")


@dataclass(frozen=True, slots=True, kw_only=True)
class Reference:
    qualifier: str
    value: str
    description: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DateRange:
    """DTP: 346 plan begin, 347 plan end, 356 eligibility begin, 357 eligibility end, 291 plan,
    307 eligibility, 304 latest visit, 348/349 benefit begin/end."""

    qualifier: str
    start: date
    end: date | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Trace:
    """TRN: type 1 (the payer's own trace) or 2 (the 270's trace, echoed)."""

    type_code: str
    number: str
    originator: str | None = None
    supplemental: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RelatedEntity:
    """2120: a party named by a benefit: PR payer (an other payer on EB*R), P3 primary care
    provider, 1P provider, etc."""

    party: Party
    address: Address | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Benefit:
    """One EB with its 2110 detail."""

    information: str
    coverage_level: str | None = None
    service_types: tuple[str, ...] = ()
    insurance_type: str | None = None
    plan_description: str | None = None
    time_period: str | None = None
    amount: Decimal | None = None
    percent: Decimal | None = None
    quantity_qualifier: str | None = None
    quantity: Decimal | None = None
    authorization_required: str | None = None
    in_network: str | None = None
    references: tuple[Reference, ...] = ()
    dates: tuple[DateRange, ...] = ()
    rejections: tuple[Rejection, ...] = ()
    messages: tuple[str, ...] = ()
    entities: tuple[RelatedEntity, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class EligibilityMember:
    """A subscriber (2000C) or dependent (2000D) as the payer sees it. `maintenance_type`
    001 with `maintenance_reason` 25 (INS03/INS04) means the payer corrected the data sent."""

    last_name: str | None = None
    first_name: str | None = None
    middle_name: str | None = None
    suffix: str | None = None
    member_id: str | None = None
    entity_type: str = "1"
    address: Address | None = None
    birth_date: date | None = None
    sex: str | None = None
    insured: str | None = None
    relationship: str | None = None
    maintenance_type: str | None = None
    maintenance_reason: str | None = None
    traces: tuple[Trace, ...] = ()
    references: tuple[Reference, ...] = ()
    dates: tuple[DateRange, ...] = ()
    rejections: tuple[Rejection, ...] = ()
    benefits: tuple[Benefit, ...] = ()

    @property
    def payer_corrected(self) -> bool:
        return self.maintenance_type == "001" and self.maintenance_reason == "25"


@dataclass(frozen=True, slots=True, kw_only=True)
class EligibilityResponse:
    source: Party
    receiver: Party | None = None
    subscriber: EligibilityMember | None = None
    dependent: EligibilityMember | None = None
    source_rejections: tuple[Rejection, ...] = ()
    receiver_rejections: tuple[Rejection, ...] = ()

    @property
    def patient(self) -> EligibilityMember | None:
        return self.dependent or self.subscriber

    @property
    def trace_numbers(self) -> tuple[str, ...]:
        """The 270 trace numbers echoed back (TRN type 2), to match this answer to its
        request."""
        members = [m for m in (self.subscriber, self.dependent) if m is not None]
        return tuple(t.number for m in members for t in m.traces if t.type_code == "2")

    def all_rejections(self) -> list[tuple[str, Rejection]]:
        out: list[tuple[str, Rejection]] = [("source", r) for r in self.source_rejections]
        out += [("receiver", r) for r in self.receiver_rejections]
        for level, member in (("subscriber", self.subscriber), ("dependent", self.dependent)):
            if member is None:
                continue
            out += [(level, r) for r in member.rejections]
            out += [(f"{level} benefit", r) for b in member.benefits for r in b.rejections]
        return out

    def coverage(self) -> dict[str, Any]:
        """What the eligibility flow records. No names, IDs or birth dates: only codes, dates
        of coverage and amounts."""
        members = [m for m in (self.subscriber, self.dependent) if m is not None]
        benefits = [b for m in members for b in m.benefits]
        rejections = self.all_rejections()
        codes = {b.information for b in benefits}
        if rejections and not codes & ACTIVE_CODES:
            status = "rejected"
        elif codes & ACTIVE_CODES:
            status = "active"
        elif codes & INACTIVE_CODES:
            status = "inactive"
        else:
            status = "unknown"
        plan = next(
            (b.plan_description for b in benefits
             if b.information in ACTIVE_CODES and b.plan_description),
            None,
        )  # fmt: skip
        plan_number = next(
            (r.value for m in members for r in m.references if r.qualifier == "18"), None
        ) or next((r.value for b in benefits for r in b.references if r.qualifier == "18"), None)
        dates: dict[str, dict[str, str | None]] = {}
        for d in [d for m in members for d in m.dates] + [
            d for b in benefits if b.information in ACTIVE_CODES | INACTIVE_CODES
            for d in b.dates
        ]:  # fmt: skip
            dates.setdefault(
                d.qualifier,
                {"start": d.start.isoformat(), "end": d.end.isoformat() if d.end else None},
            )

        def money(b: Benefit) -> dict[str, Any]:
            return {
                "service_types": list(b.service_types),
                "coverage_level": b.coverage_level,
                "in_network": b.in_network,
                "time_period": b.time_period,
                "remaining": b.time_period in REMAINING_PERIODS,
                "amount": format_decimal(b.amount) if b.amount is not None else None,
                "percent": format_decimal(b.percent) if b.percent is not None else None,
            }

        return {
            "status": status,
            "plan": plan,
            "plan_number": plan_number,
            "dates": dates,
            "copay": [money(b) for b in benefits if b.information == COPAY],
            "coinsurance": [money(b) for b in benefits if b.information == COINSURANCE],
            "deductible": [money(b) for b in benefits if b.information == DEDUCTIBLE],
            "out_of_pocket": [money(b) for b in benefits if b.information == OUT_OF_POCKET],
            "rejections": [
                {
                    "level": level,
                    "reason_code": r.reason_code,
                    "reason": r.reason,
                    "follow_up": r.follow_up,
                }
                for level, r in rejections
            ],
            "other_payers": [
                {
                    "name": e.party.name,
                    "payer_id": e.party.identifier,
                    "service_types": list(b.service_types),
                    "insurance_type": b.insurance_type,
                }
                for b in benefits
                if b.information == OTHER_PAYER
                for e in b.entities
            ]
            + [
                {
                    "name": None,
                    "payer_id": None,
                    "service_types": list(b.service_types),
                    "insurance_type": b.insurance_type,
                }
                for b in benefits
                if b.information == OTHER_PAYER and not b.entities
            ],
            "payer_corrected": any(m.payer_corrected for m in members),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Eligibility271:
    """One 271 transaction set."""

    reference_id: str
    created: datetime
    responses: tuple[EligibilityResponse, ...]
    control_number: str | None = None


# --------------------------------------------------------------------------------------------
# Parse
# --------------------------------------------------------------------------------------------


def _decimal(seg: Segment, index: int, file_name: str | None) -> Decimal | None:
    value = seg[index]
    if not value:
        return None
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise position_error(f"{seg.id}{index:02d} is not a number", seg, file_name) from None
    if not result.is_finite():
        raise position_error(f"{seg.id}{index:02d} is not a number", seg, file_name)
    return result


def _rejection(seg: Segment) -> Rejection:
    return Rejection(valid=seg[1] or "N", reason_code=seg[3], follow_up=opt(seg[4]))


def _reference(seg: Segment) -> Reference:
    return Reference(qualifier=seg[1], value=seg[2], description=opt(seg[3]))


def _date_range(seg: Segment, file_name: str | None) -> DateRange | None:
    start, end = read_period(seg, file_name)
    if start is None:
        return None
    return DateRange(qualifier=seg[1], start=start, end=end)


class _BenefitReader:
    def __init__(self, eb: Segment, file_name: str | None) -> None:
        self.eb = eb
        self.file_name = file_name
        self.references: list[Reference] = []
        self.dates: list[DateRange] = []
        self.rejections: list[Rejection] = []
        self.messages: list[str] = []
        self.entities: list[RelatedEntity] = []
        self.entity_nm1: Segment | None = None
        self.n3: Segment | None = None
        self.n4: Segment | None = None
        self.in_loop = False

    def close_entity(self) -> None:
        if self.entity_nm1 is not None:
            self.entities.append(
                RelatedEntity(party=party_from(self.entity_nm1),
                              address=address_from(self.n3, self.n4))
            )  # fmt: skip
        self.entity_nm1 = self.n3 = self.n4 = None

    def add(self, seg: Segment) -> None:
        sid = seg.id
        if sid == "LS":
            self.in_loop = True
        elif sid == "LE":
            self.close_entity()
            self.in_loop = False
        elif self.in_loop:
            if sid == "NM1":
                self.close_entity()
                self.entity_nm1 = seg
            elif sid == "N3":
                self.n3 = seg
            elif sid == "N4":
                self.n4 = seg
        elif sid == "REF":
            self.references.append(_reference(seg))
        elif sid == "DTP":
            found = _date_range(seg, self.file_name)
            if found is not None:
                self.dates.append(found)
        elif sid == "AAA":
            self.rejections.append(_rejection(seg))
        elif sid == "MSG":
            self.messages.append(seg[1])

    def benefit(self) -> Benefit:
        self.close_entity()
        eb = self.eb
        f = self.file_name
        return Benefit(
            information=eb[1],
            coverage_level=opt(eb[2]),
            service_types=tuple(code for code in eb.repeats(3) if code),
            insurance_type=opt(eb[4]),
            plan_description=opt(eb[5]),
            time_period=opt(eb[6]),
            amount=_decimal(eb, 7, f),
            percent=_decimal(eb, 8, f),
            quantity_qualifier=opt(eb[9]),
            quantity=_decimal(eb, 10, f),
            authorization_required=opt(eb[11]),
            in_network=opt(eb[12]),
            references=tuple(self.references),
            dates=tuple(self.dates),
            rejections=tuple(self.rejections),
            messages=tuple(self.messages),
            entities=tuple(self.entities),
        )


def _member(block: HLBlock, file_name: str | None) -> EligibilityMember:
    nm1: Segment | None = None
    n3 = n4 = dmg = ins = None
    traces: list[Trace] = []
    references: list[Reference] = []
    dates: list[DateRange] = []
    rejections: list[Rejection] = []
    benefits: list[Benefit] = []
    current: _BenefitReader | None = None
    for seg in block.segments:
        sid = seg.id
        if sid == "EB":
            if current is not None:
                benefits.append(current.benefit())
            current = _BenefitReader(seg, file_name)
        elif current is not None:
            current.add(seg)
        elif sid == "TRN":
            traces.append(
                Trace(type_code=seg[1], number=seg[2], originator=opt(seg[3]),
                      supplemental=opt(seg[4]))
            )  # fmt: skip
        elif sid == "NM1" and nm1 is None:
            nm1 = seg
        elif sid == "N3":
            n3 = seg
        elif sid == "N4":
            n4 = seg
        elif sid == "DMG":
            dmg = seg
        elif sid == "INS":
            ins = seg
        elif sid == "REF":
            references.append(_reference(seg))
        elif sid == "DTP":
            found = _date_range(seg, file_name)
            if found is not None:
                dates.append(found)
        elif sid == "AAA":
            rejections.append(_rejection(seg))
    if current is not None:
        benefits.append(current.benefit())
    if nm1 is None:
        raise position_error("member level lacks NM1", block.hl, file_name)
    return EligibilityMember(
        last_name=opt(nm1[3]),
        first_name=opt(nm1[4]),
        middle_name=opt(nm1[5]),
        suffix=opt(nm1[7]),
        member_id=opt(nm1[9]),
        entity_type=nm1[2] or "1",
        address=address_from(n3, n4),
        birth_date=read_d8(dmg, 2, file_name) if dmg is not None else None,
        sex=opt(dmg[3]) if dmg is not None else None,
        insured=opt(ins[1]) if ins is not None else None,
        relationship=opt(ins[2]) if ins is not None else None,
        maintenance_type=opt(ins[3]) if ins is not None else None,
        maintenance_reason=opt(ins[4]) if ins is not None else None,
        traces=tuple(traces),
        references=tuple(references),
        dates=tuple(dates),
        rejections=tuple(rejections),
        benefits=tuple(benefits),
    )


def _party_block(block: HLBlock, file_name: str | None) -> tuple[Party, tuple[Rejection, ...]]:
    nm1 = next((s for s in block.segments if s.id == "NM1"), None)
    if nm1 is None:
        raise position_error(f"HL level {block.level} lacks NM1", block.hl, file_name)
    rejections = tuple(_rejection(s) for s in block.segments if s.id == "AAA")
    return party_from(nm1), rejections


def _parse_271_tx(tx: Transaction) -> Eligibility271:
    file_name = tx.file_name
    header, blocks = hl_blocks(tx)
    bht = header.get("BHT")
    if bht is None:
        raise missing_header(tx, "BHT")
    children: dict[str, list[HLBlock]] = {}
    for block in blocks:
        children.setdefault(block.parent, []).append(block)
    responses: list[EligibilityResponse] = []
    for source_block in (b for b in blocks if b.level == "20"):
        source, source_rejections = _party_block(source_block, file_name)
        receivers = children.get(source_block.id, [])
        if not receivers:
            responses.append(
                EligibilityResponse(source=source, source_rejections=source_rejections)
            )
        for receiver_block in receivers:
            receiver, receiver_rejections = _party_block(receiver_block, file_name)
            subscribers = children.get(receiver_block.id, [])
            if not subscribers:
                responses.append(
                    EligibilityResponse(
                        source=source,
                        source_rejections=source_rejections,
                        receiver=receiver,
                        receiver_rejections=receiver_rejections,
                    )
                )
            for sub_block in subscribers:
                subscriber = _member(sub_block, file_name)
                dep_blocks: list[HLBlock | None] = [*children.get(sub_block.id, [])] or [None]
                for dep_block in dep_blocks:
                    responses.append(
                        EligibilityResponse(
                            source=source,
                            source_rejections=source_rejections,
                            receiver=receiver,
                            receiver_rejections=receiver_rejections,
                            subscriber=subscriber,
                            dependent=(
                                _member(dep_block, file_name) if dep_block is not None else None
                            ),
                        )
                    )
    return Eligibility271(
        reference_id=bht[3],
        created=bht_created(bht, file_name),
        responses=tuple(responses),
        control_number=tx.control_number,
    )


def iter_271(
    source: Source, *, file_name: str | None = None, strict: bool = True
) -> Iterator[Eligibility271]:
    for tx in read_transactions(source, file_name=file_name, strict=strict):
        check_version(tx, "271", "005010X279", IMPLEMENTATION)
        yield _parse_271_tx(tx)


def parse_271_transactions(
    source: Source, *, file_name: str | None = None, strict: bool = True
) -> list[Eligibility271]:
    return list(iter_271(source, file_name=file_name, strict=strict))


def parse_271(
    source: Source, *, file_name: str | None = None, strict: bool = True
) -> list[EligibilityResponse]:
    """Every member's response in a 271 file, in file order."""
    return [
        response
        for tx in iter_271(source, file_name=file_name, strict=strict)
        for response in tx.responses
    ]


# --------------------------------------------------------------------------------------------
# Build (the sandbox clearinghouse answers 270s)
# --------------------------------------------------------------------------------------------

_Seg = tuple[Any, ...]


def _rejection_segments(rejections: Iterable[Rejection]) -> list[_Seg]:
    return [("AAA", r.valid, None, r.reason_code, r.follow_up) for r in rejections]


def _dtp(d: DateRange) -> _Seg:
    return ("DTP", d.qualifier, *period_elements(d.start, d.end))


def _member_segments(member: EligibilityMember, entity_id: str) -> list[_Seg]:
    out: list[_Seg] = [
        ("TRN", t.type_code, t.number, t.originator, t.supplemental) for t in member.traces
    ]
    out.append(
        (
            "NM1",
            entity_id,
            member.entity_type,
            member.last_name,
            member.first_name,
            member.middle_name,
            None,
            member.suffix,
            "MI" if member.member_id else None,
            member.member_id,
        )
    )
    out += [("REF", r.qualifier, r.value, r.description) for r in member.references]
    out += address_segments(member.address)
    out += _rejection_segments(member.rejections)
    if member.birth_date is not None or member.sex:
        out.append(
            (
                "DMG",
                "D8" if member.birth_date else None,
                d8(member.birth_date) if member.birth_date else None,
                member.sex,
            )
        )
    if member.insured or member.relationship:
        out.append(
            ("INS", member.insured, member.relationship, member.maintenance_type,
             member.maintenance_reason)
        )  # fmt: skip
    out += [_dtp(d) for d in member.dates]
    for b in member.benefits:
        out.append(
            (
                "EB",
                b.information,
                b.coverage_level,
                Repeat(b.service_types) if b.service_types else None,
                b.insurance_type,
                b.plan_description,
                b.time_period,
                b.amount,
                b.percent,
                b.quantity_qualifier,
                b.quantity,
                b.authorization_required,
                b.in_network,
            )
        )
        out += [("REF", r.qualifier, r.value, r.description) for r in b.references]
        out += [_dtp(d) for d in b.dates]
        out += _rejection_segments(b.rejections)
        out += [("MSG", text) for text in b.messages]
        if b.entities:
            out.append(("LS", "2120"))
            for entity in b.entities:
                out.append(party_segment(entity.party))
                out += address_segments(entity.address)
            out.append(("LE", "2120"))
    return out


def _runs(items: list[EligibilityResponse], key: Any) -> list[list[EligibilityResponse]]:
    """Consecutive items that share `key`."""
    runs: list[list[EligibilityResponse]] = []
    for item in items:
        if runs and key(runs[-1][0]) == key(item):
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs


def build_271(
    response_set: Eligibility271, *, control_number: str | None = None
) -> TransactionBody:
    """One 271. Consecutive responses with the same source share one 2000A, the same receiver
    one 2000B, the same subscriber one 2000C."""
    segs: list[_Seg] = []
    created = response_set.created
    segs.append(
        ("BHT", "0022", "11", response_set.reference_id, d8(created), created.strftime("%H%M"))
    )
    hl = 0
    responses = list(response_set.responses)
    for source_run in _runs(responses, lambda r: (r.source, r.source_rejections)):
        hl += 1
        source_hl = str(hl)
        first = source_run[0]
        has_receivers = any(r.receiver is not None for r in source_run)
        segs.append(("HL", source_hl, None, "20", "1" if has_receivers else "0"))
        segs.append(party_segment(first.source))
        segs += _rejection_segments(first.source_rejections)
        receivers = [r for r in source_run if r.receiver is not None]
        for receiver_run in _runs(receivers, lambda r: (r.receiver, r.receiver_rejections)):
            hl += 1
            receiver_hl = str(hl)
            first = receiver_run[0]
            assert first.receiver is not None
            has_subscribers = any(r.subscriber is not None for r in receiver_run)
            segs.append(("HL", receiver_hl, source_hl, "21", "1" if has_subscribers else "0"))
            segs.append(party_segment(first.receiver))
            segs += _rejection_segments(first.receiver_rejections)
            members = [r for r in receiver_run if r.subscriber is not None]
            for subscriber_run in _runs(members, lambda r: r.subscriber):
                hl += 1
                subscriber_hl = str(hl)
                subscriber = subscriber_run[0].subscriber
                assert subscriber is not None
                dependents = [r.dependent for r in subscriber_run if r.dependent is not None]
                segs.append(("HL", subscriber_hl, receiver_hl, "22", "1" if dependents else "0"))
                segs += _member_segments(subscriber, "IL")
                for dependent in dependents:
                    hl += 1
                    segs.append(("HL", str(hl), subscriber_hl, "23", "0"))
                    segs += _member_segments(dependent, "03")
    return TransactionBody(
        set_id="271",
        control_number=control_number or response_set.control_number or "0001",
        segments=segs,
        implementation=IMPLEMENTATION,
    )


def build_271_interchange(
    envelope: InterchangeEnvelope, response_sets: Iterable[Eligibility271]
) -> bytes:
    return numbered_interchange(
        envelope,
        response_sets,
        build_271,
        set_id="271",
        functional_id="HB",
        version=IMPLEMENTATION,
        item_name="transaction set",
    )
