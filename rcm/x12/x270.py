"""270 eligibility inquiry (005010X279A1): typed model, build, and parse.

The practice builds 270s; the sandbox clearinghouse parses them to answer with a 271. One
`EligibilityRequest` is one ST..SE: an information source (the payer, 2000A), an information
receiver (the provider asking, 2000B), and one inquiry per subscriber (2000C) with an optional
dependent (2000D). The shared HL walking used by the 271 parser lives here too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar

from rcm.errors import X12Error, X12SyntaxError
from rcm.x12.core import (
    InterchangeEnvelope,
    Segment,
    Source,
    Transaction,
    TransactionBody,
    read_transactions,
    write_interchange,
)
from rcm.x12.x837 import Address

_Item = TypeVar("_Item")

IMPLEMENTATION = "005010X279A1"


@dataclass(frozen=True, slots=True, kw_only=True)
class Party:
    """An NM1 entity: the information source (PR payer), receiver (1P provider, FA facility),
    or a related entity in a 271. `name` is the last or organization name."""

    entity_id: str
    name: str | None
    identifier: str | None = None
    id_qualifier: str | None = None
    first_name: str | None = None
    middle_name: str | None = None
    entity_type: str = "2"


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    """A subscriber (2100C) or dependent (2100D) in a 270. A payer may find a member by ID
    alone, so the name is optional."""

    last_name: str | None = None
    first_name: str | None = None
    middle_name: str | None = None
    suffix: str | None = None
    member_id: str | None = None
    birth_date: date | None = None
    sex: str | None = None
    address: Address | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EligibilityInquiry:
    """One 2000C (and 2000D): the trace number (TRN02) the 271 echoes, who originated it
    (TRN03, "1" + EIN by convention), the member, the service types asked about (EQ01, 30 is
    health benefit plan coverage) and the date of service (DTP*291)."""

    trace_number: str
    trace_originator: str
    subscriber: Member
    dependent: Member | None = None
    service_types: tuple[str, ...] = ("30",)
    service_date: date | None = None
    service_date_end: date | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EligibilityRequest:
    source: Party
    receiver: Party
    inquiries: tuple[EligibilityInquiry, ...]
    reference_id: str
    created: datetime
    control_number: str | None = None


# --------------------------------------------------------------------------------------------
# Shared helpers (270 and 271)
# --------------------------------------------------------------------------------------------


def opt(value: str) -> str | None:
    return value or None


def position_error(message: str, seg: Segment, file_name: str | None) -> X12SyntaxError:
    return X12SyntaxError(
        message, file=file_name, segment_number=seg.number, offset=seg.offset, segment_id=seg.id
    )


def d8(value: date) -> str:
    return value.strftime("%Y%m%d")


def read_d8(seg: Segment, index: int, file_name: str | None) -> date | None:
    value = seg[index]
    if not value:
        return None
    try:
        if len(value) != 8 or not value.isdigit():
            raise ValueError
        return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        raise position_error(
            f"{seg.id}{index:02d} is not a CCYYMMDD date", seg, file_name
        ) from None


def read_period(seg: Segment, file_name: str | None) -> tuple[date | None, date | None]:
    """DTP03 as D8 or RD8."""
    if seg[2] == "RD8":
        first, _, last = seg[3].partition("-")
        try:
            return (
                date(int(first[:4]), int(first[4:6]), int(first[6:8])),
                date(int(last[:4]), int(last[4:6]), int(last[6:8])),
            )
        except ValueError:
            raise position_error("DTP03 is not a CCYYMMDD-CCYYMMDD range", seg, file_name) from None
    return read_d8(seg, 3, file_name), None


def period_elements(start: date, end: date | None) -> tuple[str, str]:
    if end is not None:
        return "RD8", f"{d8(start)}-{d8(end)}"
    return "D8", d8(start)


def party_segment(party: Party) -> tuple[str | None, ...]:
    person = party.entity_type == "1"
    return (
        "NM1",
        party.entity_id,
        party.entity_type,
        party.name,
        party.first_name if person else None,
        party.middle_name if person else None,
        None,
        None,
        party.id_qualifier if party.identifier else None,
        party.identifier,
    )


def party_from(seg: Segment) -> Party:
    return Party(
        entity_id=seg[1],
        entity_type=seg[2] or "2",
        name=opt(seg[3]),
        first_name=opt(seg[4]),
        middle_name=opt(seg[5]),
        id_qualifier=opt(seg[8]),
        identifier=opt(seg[9]),
    )


def address_from(n3: Segment | None, n4: Segment | None) -> Address | None:
    if n3 is None and n4 is None:
        return None
    return Address(
        line1=n3[1] if n3 is not None else "",
        line2=opt(n3[2]) if n3 is not None else None,
        city=n4[1] if n4 is not None else "",
        state=opt(n4[2]) if n4 is not None else None,
        postal_code=opt(n4[3]) if n4 is not None else None,
        country=opt(n4[4]) if n4 is not None else None,
    )


def address_segments(address: Address | None) -> list[tuple[str | None, ...]]:
    if address is None:
        return []
    return [
        ("N3", address.line1, address.line2),
        ("N4", address.city, address.state, address.postal_code, address.country),
    ]


@dataclass
class HLBlock:
    """One HL and the segments up to the next HL."""

    hl: Segment
    segments: list[Segment]

    @property
    def level(self) -> str:
        return self.hl[3]

    @property
    def id(self) -> str:
        return self.hl[1]

    @property
    def parent(self) -> str:
        return self.hl[2]


def hl_blocks(
    tx: Transaction, *, header_ids: tuple[str, ...] = ("BHT",)
) -> tuple[dict[str, Segment], list[HLBlock]]:
    """The header segments (by ID) and the HL blocks of a transaction, in order."""
    header: dict[str, Segment] = {}
    blocks: list[HLBlock] = []
    for seg in tx.body:
        if seg.id == "HL":
            blocks.append(HLBlock(seg, []))
        elif blocks:
            blocks[-1].segments.append(seg)
        elif seg.id in header_ids:
            header.setdefault(seg.id, seg)
    return header, blocks


def check_version(tx: Transaction, set_id: str, prefix: str, name: str) -> None:
    if tx.set_id != set_id:
        raise X12Error(
            f"transaction set {tx.set_id} (control number {tx.control_number}) is not a {set_id}"
        )
    if not tx.version.startswith(prefix):
        where = f" [file {tx.file_name}]" if tx.file_name else ""
        raise X12Error(
            f"{set_id} version {tx.version or '(none)'} is not supported: only {name} is{where}"
        )


def bht_created(bht: Segment, file_name: str | None) -> datetime:
    day = read_d8(bht, 4, file_name) or date(1900, 1, 1)
    time_text = bht[5]
    try:
        hour = int(time_text[:2]) if len(time_text) >= 4 else 0
        minute = int(time_text[2:4]) if len(time_text) >= 4 else 0
        return datetime(day.year, day.month, day.day, hour, minute)
    except ValueError:
        raise position_error("BHT05 is not an HHMM time", bht, file_name) from None


def missing_header(tx: Transaction, what: str) -> X12SyntaxError:
    return X12SyntaxError(
        f"{tx.set_id} lacks {what}",
        file=tx.file_name,
        segment_number=tx.st.number,
        offset=tx.st.offset,
        segment_id="ST",
    )


def interchange(
    envelope: InterchangeEnvelope,
    bodies: Iterable[TransactionBody],
    functional_id: str,
    version: str,
) -> bytes:
    if envelope.functional_id != functional_id:
        raise X12Error(f"this transaction set goes in a functional group {functional_id}")
    if envelope.version != version:
        raise X12Error(f"envelope version {envelope.version} is not {version}")
    return write_interchange(envelope, bodies)


def numbered_interchange(
    envelope: InterchangeEnvelope,
    items: Iterable[_Item],
    build: Callable[..., TransactionBody],
    *,
    set_id: str,
    functional_id: str,
    version: str,
    item_name: str,
) -> bytes:
    """One transaction set per item, numbered 0001, 0002 … in one interchange."""
    bodies = [
        build(item, control_number=f"{index:04d}") for index, item in enumerate(items, start=1)
    ]
    if not bodies:
        raise X12Error(f"a {set_id} interchange needs at least one {item_name}")
    return interchange(envelope, bodies, functional_id, version)


# --------------------------------------------------------------------------------------------
# 270 build
# --------------------------------------------------------------------------------------------


def _member_segments(member: Member, entity_id: str, with_id: bool) -> list[tuple[str | None, ...]]:
    out: list[tuple[str | None, ...]] = [
        (
            "NM1",
            entity_id,
            "1",
            member.last_name,
            member.first_name,
            member.middle_name,
            None,
            member.suffix,
            "MI" if with_id and member.member_id else None,
            member.member_id if with_id else None,
        )
    ]
    out += address_segments(member.address)
    if member.birth_date is not None or member.sex:
        out.append(
            ("DMG", "D8" if member.birth_date else None,
             d8(member.birth_date) if member.birth_date else None, member.sex)
        )  # fmt: skip
    return out


def build_270(request: EligibilityRequest, *, control_number: str | None = None) -> TransactionBody:
    segs: list[tuple[str | None, ...]] = []
    created = request.created
    segs.append(("BHT", "0022", "13", request.reference_id, d8(created), created.strftime("%H%M")))
    segs.append(("HL", "1", None, "20", "1"))
    segs.append(party_segment(request.source))
    segs.append(("HL", "2", "1", "21", "1" if request.inquiries else "0"))
    segs.append(party_segment(request.receiver))
    hl = 2
    for inquiry in request.inquiries:
        hl += 1
        subscriber_hl = hl
        has_dependent = inquiry.dependent is not None
        segs.append(("HL", str(hl), "2", "22", "1" if has_dependent else "0"))
        trn = ("TRN", "1", inquiry.trace_number, inquiry.trace_originator)
        if not has_dependent:
            segs.append(trn)
        if not inquiry.subscriber.member_id:
            raise X12Error("a 270 subscriber needs a member ID (NM109)")
        segs += _member_segments(inquiry.subscriber, "IL", True)
        date_seg = None
        if inquiry.service_date is not None:
            date_seg = ("DTP", "291", *period_elements(
                inquiry.service_date, inquiry.service_date_end))  # fmt: skip
        if not has_dependent:
            if date_seg:
                segs.append(date_seg)
            segs += [("EQ", code) for code in inquiry.service_types]
            continue
        assert inquiry.dependent is not None
        hl += 1
        segs.append(("HL", str(hl), str(subscriber_hl), "23", "0"))
        segs.append(trn)
        segs += _member_segments(inquiry.dependent, "03", False)
        if date_seg:
            segs.append(date_seg)
        segs += [("EQ", code) for code in inquiry.service_types]
    return TransactionBody(
        set_id="270",
        control_number=control_number or request.control_number or "0001",
        segments=segs,
        implementation=IMPLEMENTATION,
    )


def build_270_interchange(
    envelope: InterchangeEnvelope, requests: Iterable[EligibilityRequest]
) -> bytes:
    return numbered_interchange(
        envelope,
        requests,
        build_270,
        set_id="270",
        functional_id="HS",
        version=IMPLEMENTATION,
        item_name="request",
    )


# --------------------------------------------------------------------------------------------
# 270 parse
# --------------------------------------------------------------------------------------------


def _member_from(segments: list[Segment], entity_id: str, file_name: str | None) -> Member:
    nm1 = next((s for s in segments if s.id == "NM1" and s[1] == entity_id), None)
    if nm1 is None:
        raise X12SyntaxError(f"member level lacks NM1*{entity_id}", file=file_name)
    n3 = next((s for s in segments if s.id == "N3"), None)
    n4 = next((s for s in segments if s.id == "N4"), None)
    dmg = next((s for s in segments if s.id == "DMG"), None)
    return Member(
        last_name=opt(nm1[3]),
        first_name=opt(nm1[4]),
        middle_name=opt(nm1[5]),
        suffix=opt(nm1[7]),
        member_id=opt(nm1[9]),
        birth_date=read_d8(dmg, 2, file_name) if dmg is not None else None,
        sex=opt(dmg[3]) if dmg is not None else None,
        address=address_from(n3, n4),
    )


def _inquiry_details(
    segments: list[Segment], file_name: str | None
) -> tuple[Segment | None, tuple[str, ...], date | None, date | None]:
    trn = next((s for s in segments if s.id == "TRN"), None)
    service_types: list[str] = []
    for seg in segments:
        if seg.id == "EQ":
            service_types += [code for code in seg.repeats(1) if code]
    start = end = None
    dtp = next((s for s in segments if s.id == "DTP" and s[1] == "291"), None)
    if dtp is not None:
        start, end = read_period(dtp, file_name)
    return trn, tuple(service_types), start, end


def _parse_270_tx(tx: Transaction) -> list[EligibilityRequest]:
    file_name = tx.file_name
    header, blocks = hl_blocks(tx)
    bht = header.get("BHT")
    if bht is None:
        raise missing_header(tx, "BHT")
    created = bht_created(bht, file_name)
    children: dict[str, list[HLBlock]] = {}
    for block in blocks:
        children.setdefault(block.parent, []).append(block)
    requests: list[EligibilityRequest] = []
    for source_block in (b for b in blocks if b.level == "20"):
        source_nm1 = next((s for s in source_block.segments if s.id == "NM1"), None)
        if source_nm1 is None:
            raise position_error("2000A lacks NM1", source_block.hl, file_name)
        for receiver_block in children.get(source_block.id, []):
            receiver_nm1 = next((s for s in receiver_block.segments if s.id == "NM1"), None)
            if receiver_nm1 is None:
                raise position_error("2000B lacks NM1", receiver_block.hl, file_name)
            inquiries = []
            for sub_block in children.get(receiver_block.id, []):
                if sub_block.level != "22":
                    raise position_error("HL under 2000B is not a subscriber", sub_block.hl,
                                         file_name)  # fmt: skip
                subscriber = _member_from(sub_block.segments, "IL", file_name)
                dependents: list[HLBlock | None] = [*children.get(sub_block.id, [])] or [None]
                for dep_block in dependents:
                    segments = sub_block.segments if dep_block is None else dep_block.segments
                    trn, types, start, end = _inquiry_details(segments, file_name)
                    if trn is None:
                        trn, _, _, _ = _inquiry_details(sub_block.segments, file_name)
                    if dep_block is not None and not types:
                        _, types, start, end = _inquiry_details(sub_block.segments, file_name)
                    inquiries.append(
                        EligibilityInquiry(
                            trace_number=trn[2] if trn is not None else "",
                            trace_originator=trn[3] if trn is not None else "",
                            subscriber=subscriber,
                            dependent=(
                                _member_from(dep_block.segments, "03", file_name)
                                if dep_block is not None
                                else None
                            ),
                            service_types=types,
                            service_date=start,
                            service_date_end=end,
                        )
                    )
            requests.append(
                EligibilityRequest(
                    source=party_from(source_nm1),
                    receiver=party_from(receiver_nm1),
                    inquiries=tuple(inquiries),
                    reference_id=bht[3],
                    created=created,
                    control_number=tx.control_number,
                )
            )
    return requests


def iter_270(
    source: Source, *, file_name: str | None = None, strict: bool = True
) -> Iterator[EligibilityRequest]:
    for tx in read_transactions(source, file_name=file_name, strict=strict):
        check_version(tx, "270", "005010X279", IMPLEMENTATION)
        yield from _parse_270_tx(tx)


def parse_270(
    source: Source, *, file_name: str | None = None, strict: bool = True
) -> list[EligibilityRequest]:
    """Every request in a 270 file: one per information source and receiver of each
    transaction set."""
    return list(iter_270(source, file_name=file_name, strict=strict))
