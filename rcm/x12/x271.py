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
    Party,
    address_from,
    address_segments,
    bht_created,
    check_version,
    d8,
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
        rejections = self.all_rejections()
        # One pass over the benefits (this runs once per answer applied).
        codes: set[str] = set()
        plan: str | None = None
        benefit_plan_number: str | None = None
        benefit_dates: list[DateRange] = []
        copay: list[dict[str, Any]] = []
        coinsurance: list[dict[str, Any]] = []
        deductible: list[dict[str, Any]] = []
        out_of_pocket: list[dict[str, Any]] = []
        money_lists = {
            COPAY: copay,
            COINSURANCE: coinsurance,
            DEDUCTIBLE: deductible,
            OUT_OF_POCKET: out_of_pocket,
        }
        named_payers: list[dict[str, Any]] = []
        unnamed_payers: list[dict[str, Any]] = []
        for m in members:
            for b in m.benefits:
                info = b.information
                codes.add(info)
                if info in _STATUS_CODES:
                    if plan is None and info in ACTIVE_CODES and b.plan_description:
                        plan = b.plan_description
                    if b.dates:
                        benefit_dates += b.dates
                if benefit_plan_number is None and b.references:
                    benefit_plan_number = next(
                        (r.value for r in b.references if r.qualifier == "18"), None
                    )
                target = money_lists.get(info)
                if target is not None:
                    target.append(
                        {
                            "service_types": list(b.service_types),
                            "coverage_level": b.coverage_level,
                            "in_network": b.in_network,
                            "time_period": b.time_period,
                            "remaining": b.time_period in REMAINING_PERIODS,
                            "amount": format_decimal(b.amount) if b.amount is not None else None,
                            "percent": (
                                format_decimal(b.percent) if b.percent is not None else None
                            ),
                        }
                    )
                elif info == OTHER_PAYER:
                    if b.entities:
                        named_payers += [
                            {
                                "name": e.party.name,
                                "payer_id": e.party.identifier,
                                "service_types": list(b.service_types),
                                "insurance_type": b.insurance_type,
                            }
                            for e in b.entities
                        ]
                    else:
                        unnamed_payers.append(
                            {
                                "name": None,
                                "payer_id": None,
                                "service_types": list(b.service_types),
                                "insurance_type": b.insurance_type,
                            }
                        )
        if rejections and not codes & ACTIVE_CODES:
            status = "rejected"
        elif codes & ACTIVE_CODES:
            status = "active"
        elif codes & INACTIVE_CODES:
            status = "inactive"
        else:
            status = "unknown"
        plan_number = (
            next((r.value for m in members for r in m.references if r.qualifier == "18"), None)
            or benefit_plan_number
        )
        dates: dict[str, dict[str, str | None]] = {}
        for m in members:
            for d in m.dates:
                if d.qualifier not in dates:
                    dates[d.qualifier] = _date_entry(d)
        for d in benefit_dates:
            if d.qualifier not in dates:
                dates[d.qualifier] = _date_entry(d)
        return {
            "status": status,
            "plan": plan,
            "plan_number": plan_number,
            "dates": dates,
            "copay": copay,
            "coinsurance": coinsurance,
            "deductible": deductible,
            "out_of_pocket": out_of_pocket,
            "rejections": [
                {
                    "level": level,
                    "reason_code": r.reason_code,
                    "reason": r.reason,
                    "follow_up": r.follow_up,
                }
                for level, r in rejections
            ],
            "other_payers": named_payers + unnamed_payers,
            "payer_corrected": any(m.payer_corrected for m in members),
        }


_STATUS_CODES = ACTIVE_CODES | INACTIVE_CODES


def _date_entry(d: DateRange) -> dict[str, str | None]:
    return {"start": d.start.isoformat(), "end": d.end.isoformat() if d.end else None}


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


_PAD = [""] * 12


class _Shared:
    """Values a 271 repeats from member to member (the plan's EBs, group numbers, plan dates,
    amounts), built once per transaction set and shared: the results are immutable, and a
    payer's answer for 10,000 members would otherwise allocate the same objects 10,000 times
    (the allocation, and the garbage collector walking it, was most of the parse)."""

    __slots__ = ("benefits", "dates", "decimals", "references", "rejections")

    def __init__(self) -> None:
        self.benefits: dict[tuple[str, ...], Benefit] = {}
        self.decimals: dict[str, Decimal] = {}
        self.dates: dict[tuple[str, str, str], DateRange | None] = {}
        self.references: dict[tuple[str, str, str], Reference] = {}
        self.rejections: dict[tuple[str, str, str], Rejection] = {}

    def decimal(self, seg: Segment, index: int, file_name: str | None) -> Decimal | None:
        value = seg[index]
        if not value:
            return None
        found = self.decimals.get(value)
        if found is None:
            found = _decimal(seg, index, file_name)
            assert found is not None
            self.decimals[value] = found
        return found

    def date_range(self, seg: Segment, file_name: str | None) -> DateRange | None:
        e = seg.elements
        key = (e[0], e[1], e[2]) if len(e) >= 3 else (seg[1], seg[2], seg[3])
        try:
            return self.dates[key]
        except KeyError:
            found = self.dates[key] = _date_range(seg, file_name)
            return found

    def reference(self, seg: Segment) -> Reference:
        key = (seg[1], seg[2], seg[3])
        found = self.references.get(key)
        if found is None:
            found = self.references[key] = _reference(seg)
        return found

    def rejection(self, seg: Segment) -> Rejection:
        key = (seg[1], seg[3], seg[4])
        found = self.rejections.get(key)
        if found is None:
            found = self.rejections[key] = _rejection(seg)
        return found


class _Block:
    """One HL block of a 271, read as its segments stream by. What a block means depends on
    where the HL tree puts it (a source or receiver party, a subscriber or dependent member),
    which is known only once the whole transaction set is read, so each block keeps both
    readings: the party one as the first NM1 and the AAAs, the member one fully parsed. A
    member that cannot be parsed keeps its error, raised only if the tree uses the block as a
    member, in tree order, as a parser holding every segment until the end would. The segments
    themselves are not kept."""

    __slots__ = (
        "benefit",
        "benefits",
        "dates",
        "dmg",
        "eb",
        "error",
        "file_name",
        "hl",
        "id",
        "ins",
        "level",
        "member",
        "member_nm1",
        "n3",
        "n4",
        "nm1",
        "parent",
        "party",
        "party_aaa",
        "references",
        "rejections",
        "shared",
        "traces",
    )

    def __init__(self, hl: Segment, file_name: str | None, shared: _Shared) -> None:
        self.hl = hl
        e = hl.elements
        if len(e) >= 3:
            self.id, self.parent, self.level = e[0], e[1], e[2]
        else:
            self.id, self.parent, self.level = hl[1], hl[2], hl[3]
        self.file_name = file_name
        self.shared = shared
        self.nm1: Segment | None = None
        self.party_aaa: list[Segment] | None = None
        self.party: tuple[Party, tuple[Rejection, ...]] | None = None
        self.error: Exception | None = None
        self.member: EligibilityMember | None = None
        self.member_nm1: Segment | None = None
        self.n3: Segment | None = None
        self.n4: Segment | None = None
        self.dmg: Segment | None = None
        self.ins: Segment | None = None
        self.traces: list[Trace] | None = None
        self.references: list[Reference] | None = None
        self.dates: list[DateRange] | None = None
        self.rejections: list[Rejection] | None = None
        self.benefits: list[Benefit] | None = None
        self.eb: Segment | None = None
        self.benefit: _BenefitReader | None = None

    def add(self, seg: Segment) -> None:
        sid = seg.id
        if sid == "NM1":
            if self.nm1 is None:
                self.nm1 = seg
        elif sid == "AAA":
            if self.party_aaa is None:
                self.party_aaa = [seg]
            else:
                self.party_aaa.append(seg)
        if self.error is not None:
            return
        try:
            if sid == "EB":
                if self.eb is not None:
                    self._close_benefit()
                self.eb = seg
            elif self.eb is not None:
                if sid in _BENEFIT_DETAIL:
                    if self.benefit is None:
                        self.benefit = _BenefitReader(self.eb, self.file_name, self.shared)
                    self.benefit.add(seg)
            elif sid == "TRN":
                trace = Trace(
                    type_code=seg[1], number=seg[2], originator=opt(seg[3]),
                    supplemental=opt(seg[4]),
                )  # fmt: skip
                if self.traces is None:
                    self.traces = [trace]
                else:
                    self.traces.append(trace)
            elif sid == "NM1":
                if self.member_nm1 is None:
                    self.member_nm1 = seg
            elif sid == "N3":
                self.n3 = seg
            elif sid == "N4":
                self.n4 = seg
            elif sid == "DMG":
                self.dmg = seg
            elif sid == "INS":
                self.ins = seg
            elif sid == "REF":
                reference = self.shared.reference(seg)
                if self.references is None:
                    self.references = [reference]
                else:
                    self.references.append(reference)
            elif sid == "DTP":
                found = self.shared.date_range(seg, self.file_name)
                if found is not None:
                    if self.dates is None:
                        self.dates = [found]
                    else:
                        self.dates.append(found)
            elif sid == "AAA":
                rejection = self.shared.rejection(seg)
                if self.rejections is None:
                    self.rejections = [rejection]
                else:
                    self.rejections.append(rejection)
        except Exception as exc:  # kept for when (if ever) the block is read as a member
            self.error = exc

    def _close_benefit(self) -> None:
        reader = self.benefit
        if reader is not None:
            benefit = reader.benefit()
            self.benefit = None
        else:
            benefit = _plain_benefit(self.eb, self.file_name, self.shared)  # type: ignore[arg-type]
        self.eb = None
        if self.benefits is None:
            self.benefits = [benefit]
        else:
            self.benefits.append(benefit)

    def finish(self) -> None:
        """The block's last segment has been read: build the member reading."""
        if self.error is None:
            try:
                self.member = self._build_member()
            except Exception as exc:
                self.error = exc
        # Only what the tree walk needs is kept.
        self.eb = self.benefit = self.member_nm1 = self.n3 = self.n4 = self.dmg = self.ins = None
        self.traces = self.references = self.dates = self.rejections = self.benefits = None
        self.shared = None  # type: ignore[assignment]

    def _build_member(self) -> EligibilityMember:
        if self.eb is not None:
            self._close_benefit()
        nm1 = self.member_nm1
        if nm1 is None:
            raise position_error("member level lacks NM1", self.hl, self.file_name)
        file_name = self.file_name
        dmg = self.dmg
        ins = self.ins
        e = nm1.elements
        if len(e) < 9:
            e = e + _PAD
        return EligibilityMember(
            last_name=e[2] or None,
            first_name=e[3] or None,
            middle_name=e[4] or None,
            suffix=e[6] or None,
            member_id=e[8] or None,
            entity_type=e[1] or "1",
            address=address_from(self.n3, self.n4),
            birth_date=read_d8(dmg, 2, file_name) if dmg is not None else None,
            sex=opt(dmg[3]) if dmg is not None else None,
            insured=opt(ins[1]) if ins is not None else None,
            relationship=opt(ins[2]) if ins is not None else None,
            maintenance_type=opt(ins[3]) if ins is not None else None,
            maintenance_reason=opt(ins[4]) if ins is not None else None,
            traces=tuple(self.traces) if self.traces else (),
            references=tuple(self.references) if self.references else (),
            dates=tuple(self.dates) if self.dates else (),
            rejections=tuple(self.rejections) if self.rejections else (),
            benefits=tuple(self.benefits) if self.benefits else (),
        )

    def as_member(self) -> EligibilityMember:
        if self.error is not None:
            raise self.error
        assert self.member is not None
        return self.member

    def as_party(self) -> tuple[Party, tuple[Rejection, ...]]:
        if self.party is None:
            if self.nm1 is None:
                raise position_error(f"HL level {self.level} lacks NM1", self.hl, self.file_name)
            rejections = tuple(_rejection(s) for s in self.party_aaa or ())
            self.party = (party_from(self.nm1), rejections)
        return self.party


class _BenefitReader:
    __slots__ = (
        "dates",
        "eb",
        "entities",
        "entity_nm1",
        "file_name",
        "in_loop",
        "messages",
        "n3",
        "n4",
        "references",
        "rejections",
        "shared",
    )

    def __init__(self, eb: Segment, file_name: str | None, shared: _Shared) -> None:
        self.eb = eb
        self.file_name = file_name
        self.shared = shared
        self.references: list[Reference] | None = None
        self.dates: list[DateRange] | None = None
        self.rejections: list[Rejection] | None = None
        self.messages: list[str] | None = None
        self.entities: list[RelatedEntity] | None = None
        self.entity_nm1: Segment | None = None
        self.n3: Segment | None = None
        self.n4: Segment | None = None
        self.in_loop = False

    def close_entity(self) -> None:
        if self.entity_nm1 is not None:
            entity = RelatedEntity(
                party=party_from(self.entity_nm1), address=address_from(self.n3, self.n4)
            )
            if self.entities is None:
                self.entities = [entity]
            else:
                self.entities.append(entity)
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
            if self.references is None:
                self.references = []
            self.references.append(self.shared.reference(seg))
        elif sid == "DTP":
            found = self.shared.date_range(seg, self.file_name)
            if found is not None:
                if self.dates is None:
                    self.dates = []
                self.dates.append(found)
        elif sid == "AAA":
            if self.rejections is None:
                self.rejections = []
            self.rejections.append(self.shared.rejection(seg))
        elif sid == "MSG":
            if self.messages is None:
                self.messages = []
            self.messages.append(seg[1])

    def benefit(self) -> Benefit:
        self.close_entity()
        if (
            self.references is None
            and self.dates is None
            and self.rejections is None
            and self.messages is None
            and self.entities is None
        ):
            return _plain_benefit(self.eb, self.file_name, self.shared)
        return _build_benefit(
            self.eb,
            self.file_name,
            self.shared,
            references=tuple(self.references) if self.references else (),
            dates=tuple(self.dates) if self.dates else (),
            rejections=tuple(self.rejections) if self.rejections else (),
            messages=tuple(self.messages) if self.messages else (),
            entities=tuple(self.entities) if self.entities else (),
        )


# Segments of the 2110 loop that the benefit reads (the rest are skipped).
_BENEFIT_DETAIL = frozenset({"LS", "LE", "NM1", "N3", "N4", "REF", "DTP", "AAA", "MSG"})


def _plain_benefit(eb: Segment, file_name: str | None, shared: _Shared) -> Benefit:
    """An EB with no 2110 detail. The same EB is the same Benefit (the repetition separator is
    the file's, and `shared` lives for one transaction set)."""
    key = tuple(eb.elements)
    found = shared.benefits.get(key)
    if found is None:
        found = shared.benefits[key] = _build_benefit(eb, file_name, shared)
    return found


def _build_benefit(
    eb: Segment,
    file_name: str | None,
    shared: _Shared,
    *,
    references: tuple[Reference, ...] = (),
    dates: tuple[DateRange, ...] = (),
    rejections: tuple[Rejection, ...] = (),
    messages: tuple[str, ...] = (),
    entities: tuple[RelatedEntity, ...] = (),
) -> Benefit:
    f = file_name
    e = eb.elements
    if len(e) < 12:
        e = e + _PAD
    types = e[2]
    return Benefit(
        information=e[0],
        coverage_level=e[1] or None,
        service_types=tuple(code for code in types.split(eb.repetition) if code) if types else (),
        insurance_type=e[3] or None,
        plan_description=e[4] or None,
        time_period=e[5] or None,
        amount=shared.decimal(eb, 7, f) if e[6] else None,
        percent=shared.decimal(eb, 8, f) if e[7] else None,
        quantity_qualifier=e[8] or None,
        quantity=shared.decimal(eb, 10, f) if e[9] else None,
        authorization_required=e[10] or None,
        in_network=e[11] or None,
        references=references,
        dates=dates,
        rejections=rejections,
        messages=messages,
        entities=entities,
    )


def _read_blocks(tx: Transaction) -> tuple[Segment | None, list[_Block]]:
    """The BHT (the first one before any HL) and the transaction's HL blocks, in file order,
    reading the body once without keeping its segments."""
    file_name = tx.file_name
    shared = _Shared()
    bht: Segment | None = None
    blocks: list[_Block] = []
    block: _Block | None = None
    for seg in tx.body:
        if seg.id == "HL":
            if block is not None:
                block.finish()
            block = _Block(seg, file_name, shared)
            blocks.append(block)
        elif block is not None:
            block.add(seg)
        elif bht is None and seg.id == "BHT":
            bht = seg
    if block is not None:
        block.finish()
    return bht, blocks


def _parse_271_tx(tx: Transaction) -> Eligibility271:
    file_name = tx.file_name
    bht, blocks = _read_blocks(tx)
    if bht is None:
        raise missing_header(tx, "BHT")
    children: dict[str, list[_Block]] = {}
    for block in blocks:
        children.setdefault(block.parent, []).append(block)
    responses: list[EligibilityResponse] = []
    for source_block in (b for b in blocks if b.level == "20"):
        source, source_rejections = source_block.as_party()
        receivers = children.get(source_block.id, [])
        if not receivers:
            responses.append(
                EligibilityResponse(source=source, source_rejections=source_rejections)
            )
        for receiver_block in receivers:
            receiver, receiver_rejections = receiver_block.as_party()
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
                subscriber = sub_block.as_member()
                dep_blocks: list[_Block | None] = [*children.get(sub_block.id, [])] or [None]
                for dep_block in dep_blocks:
                    responses.append(
                        EligibilityResponse(
                            source=source,
                            source_rejections=source_rejections,
                            receiver=receiver,
                            receiver_rejections=receiver_rejections,
                            subscriber=subscriber,
                            dependent=(dep_block.as_member() if dep_block is not None else None),
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
