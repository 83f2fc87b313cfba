"""276 claim status request (005010X212): typed model, build, and parse.

The practice asks about claims; the sandbox parses the 276 to answer with a 277. One
`ClaimStatusRequest` is one ST..SE: the payer (2000A), the information receiver (2000B, the
billing firm), and one `ClaimStatusInquiry` per claim, each naming its service provider
(2000C), subscriber (2000D) and, for a dependent, the patient (2000E). The builder groups
inquiries into that HL tree.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from rcm.x12.core import (
    InterchangeEnvelope,
    Segment,
    Source,
    Transaction,
    TransactionBody,
    read_transactions,
)
from rcm.x12.x270 import (
    HLBlock,
    Member,
    Party,
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

IMPLEMENTATION = "005010X212"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceLineInquiry:
    """2210: one service line asked about (SVC, REF*FJ line item control number, DTP*472)."""

    charge: Decimal
    procedure_code: str | None = None
    procedure_qualifier: str = "HC"
    modifiers: tuple[str, ...] = ()
    revenue_code: str | None = None
    units: Decimal | None = None
    line_item_control_number: str | None = None
    service_date: date | None = None
    service_date_end: date | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimStatusInquiry:
    """2200D/E: one claim. `trace_number` (TRN02) comes back in the 277; the payer finds the
    claim by its claim control number (REF*1K) or the patient control number (REF*EJ, CLM01),
    the charge (AMT*T3) and the service dates (DTP*472)."""

    provider: Party
    subscriber: Member
    trace_number: str
    patient: Member | None = None
    payer_claim_number: str | None = None
    patient_control_number: str | None = None
    bill_type: str | None = None
    charge: Decimal | None = None
    service_date: date | None = None
    service_date_end: date | None = None
    lines: tuple[ServiceLineInquiry, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimStatusRequest:
    source: Party
    receiver: Party
    inquiries: tuple[ClaimStatusInquiry, ...]
    reference_id: str
    created: datetime
    control_number: str | None = None


# --------------------------------------------------------------------------------------------
# Shared with the 277
# --------------------------------------------------------------------------------------------

_Seg = tuple[Any, ...]


def decimal_at(seg: Segment, index: int, file_name: str | None) -> Decimal | None:
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


def member_segments(member: Member, entity_id: str, *, demographics: bool) -> list[_Seg]:
    """DMG (276 only: the 277 has none) then NM1."""
    out: list[_Seg] = []
    if demographics and (member.birth_date is not None or member.sex):
        out.append(
            ("DMG", "D8" if member.birth_date else None,
             d8(member.birth_date) if member.birth_date else None, member.sex)
        )  # fmt: skip
    out.append(
        (
            "NM1",
            entity_id,
            "1",
            member.last_name,
            member.first_name,
            member.middle_name,
            None,
            member.suffix,
            "MI" if member.member_id else None,
            member.member_id,
        )
    )
    return out


def member_from(block: HLBlock, entity_id: str, file_name: str | None) -> Member:
    nm1 = next((s for s in block.segments if s.id == "NM1" and s[1] == entity_id), None)
    if nm1 is None:
        raise position_error(f"HL level {block.level} lacks NM1*{entity_id}", block.hl, file_name)
    dmg = next((s for s in block.segments if s.id == "DMG"), None)
    return Member(
        last_name=opt(nm1[3]),
        first_name=opt(nm1[4]),
        middle_name=opt(nm1[5]),
        suffix=opt(nm1[7]),
        member_id=opt(nm1[9]),
        birth_date=read_d8(dmg, 2, file_name) if dmg is not None else None,
        sex=opt(dmg[3]) if dmg is not None else None,
    )


def procedure_parts(seg: Segment, index: int) -> tuple[str | None, str, tuple[str, ...]]:
    parts = seg.composite(index)
    qualifier = parts[0] if parts else ""
    code = parts[1] if len(parts) > 1 else None
    return code or None, qualifier or "HC", tuple(m for m in parts[2:6] if m)


def procedure_composite(
    qualifier: str, code: str | None, modifiers: tuple[str, ...]
) -> tuple[str, ...] | None:
    return (qualifier, code, *modifiers) if code else None


def split_claims(segments: list[Segment]) -> tuple[list[Segment], list[list[Segment]]]:
    """A member level's own segments (DMG, NM1) and its claims, each starting at TRN."""
    own: list[Segment] = []
    claims: list[list[Segment]] = []
    for seg in segments:
        if seg.id == "TRN":
            claims.append([seg])
        elif claims:
            claims[-1].append(seg)
        else:
            own.append(seg)
    return own, claims


def split_lines(segments: list[Segment]) -> tuple[list[Segment], list[list[Segment]]]:
    """A claim's own segments and its service lines, each starting at SVC."""
    own: list[Segment] = []
    lines: list[list[Segment]] = []
    for seg in segments:
        if seg.id == "SVC":
            lines.append([seg])
        elif lines:
            lines[-1].append(seg)
        else:
            own.append(seg)
    return own, lines


def claim_references(segments: list[Segment]) -> dict[str, str]:
    refs: dict[str, str] = {}
    for seg in segments:
        if seg.id == "REF":
            refs.setdefault(seg[1], seg[2])
    return refs


def service_period(
    segments: list[Segment], file_name: str | None
) -> tuple[date | None, date | None]:
    dtp = next((s for s in segments if s.id == "DTP" and s[1] in ("472", "232")), None)
    if dtp is None:
        return None, None
    return read_period(dtp, file_name)


def group_members(
    items: Iterable[Any],
) -> dict[Party, dict[tuple[Member, bool], dict[Member | None, list[Any]]]]:
    """provider -> (subscriber, patient is subscriber) -> patient -> items, in first-seen
    order."""
    tree: dict[Party, dict[tuple[Member, bool], dict[Member | None, list[Any]]]] = {}
    for item in items:
        by_subscriber = tree.setdefault(item.provider, {})
        by_patient = by_subscriber.setdefault((item.subscriber, item.patient is None), {})
        by_patient.setdefault(item.patient, []).append(item)
    return tree


# --------------------------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------------------------


def _inquiry_segments(inquiry: ClaimStatusInquiry) -> list[_Seg]:
    out: list[_Seg] = [("TRN", "1", inquiry.trace_number)]
    if inquiry.payer_claim_number:
        out.append(("REF", "1K", inquiry.payer_claim_number))
    if inquiry.bill_type:
        out.append(("REF", "BLT", inquiry.bill_type))
    if inquiry.patient_control_number:
        out.append(("REF", "EJ", inquiry.patient_control_number))
    if inquiry.charge is not None:
        out.append(("AMT", "T3", inquiry.charge))
    if inquiry.service_date is not None:
        out.append(("DTP", "472", *period_elements(inquiry.service_date,
                                                   inquiry.service_date_end)))  # fmt: skip
    for line in inquiry.lines:
        out.append(
            (
                "SVC",
                procedure_composite(line.procedure_qualifier, line.procedure_code, line.modifiers),
                line.charge,
                None,
                line.revenue_code,
                None,
                None,
                line.units,
            )
        )
        if line.line_item_control_number:
            out.append(("REF", "FJ", line.line_item_control_number))
        if line.service_date is not None:
            out.append(("DTP", "472", *period_elements(line.service_date,
                                                       line.service_date_end)))  # fmt: skip
    return out


def build_276(request: ClaimStatusRequest, *, control_number: str | None = None) -> TransactionBody:
    created = request.created
    segs: list[_Seg] = [
        ("BHT", "0010", "13", request.reference_id, d8(created), created.strftime("%H%M")),
        ("HL", "1", None, "20", "1"),
        party_segment(request.source),
        ("HL", "2", "1", "21", "1" if request.inquiries else "0"),
        party_segment(request.receiver),
    ]
    hl = 2
    for provider, by_subscriber in group_members(request.inquiries).items():
        hl += 1
        provider_hl = str(hl)
        segs.append(("HL", provider_hl, "2", "19", "1"))
        segs.append(party_segment(provider))
        for (subscriber, is_patient), by_patient in by_subscriber.items():
            hl += 1
            subscriber_hl = str(hl)
            segs.append(("HL", subscriber_hl, provider_hl, "22", "0" if is_patient else "1"))
            segs += member_segments(subscriber, "IL", demographics=True)
            for patient, inquiries in by_patient.items():
                if patient is not None:
                    hl += 1
                    segs.append(("HL", str(hl), subscriber_hl, "23"))
                    segs += member_segments(patient, "QC", demographics=True)
                for inquiry in inquiries:
                    segs += _inquiry_segments(inquiry)
    return TransactionBody(
        set_id="276",
        control_number=control_number or request.control_number or "0001",
        segments=segs,
        implementation=IMPLEMENTATION,
    )


def build_276_interchange(
    envelope: InterchangeEnvelope, requests: Iterable[ClaimStatusRequest]
) -> bytes:
    return numbered_interchange(
        envelope,
        requests,
        build_276,
        set_id="276",
        functional_id="HR",
        version=IMPLEMENTATION,
        item_name="request",
    )


# --------------------------------------------------------------------------------------------
# Parse
# --------------------------------------------------------------------------------------------


def _inquiry(
    claim_segments: list[Segment],
    provider: Party,
    subscriber: Member,
    patient: Member | None,
    file_name: str | None,
) -> ClaimStatusInquiry:
    own, line_groups = split_lines(claim_segments)
    refs = claim_references(own)
    amt = next((s for s in own if s.id == "AMT" and s[1] == "T3"), None)
    start, end = service_period(own, file_name)
    lines = []
    for group in line_groups:
        svc = group[0]
        code, qualifier, modifiers = procedure_parts(svc, 1)
        line_start, line_end = service_period(group, file_name)
        line_refs = claim_references(group)
        charge = decimal_at(svc, 2, file_name)
        if charge is None:
            raise position_error("SVC02 is required", svc, file_name)
        lines.append(
            ServiceLineInquiry(
                procedure_code=code,
                procedure_qualifier=qualifier,
                modifiers=modifiers,
                charge=charge,
                revenue_code=opt(svc[4]),
                units=decimal_at(svc, 7, file_name),
                line_item_control_number=line_refs.get("FJ"),
                service_date=line_start,
                service_date_end=line_end,
            )
        )
    return ClaimStatusInquiry(
        provider=provider,
        subscriber=subscriber,
        patient=patient,
        trace_number=claim_segments[0][2],
        payer_claim_number=refs.get("1K"),
        patient_control_number=refs.get("EJ"),
        bill_type=refs.get("BLT"),
        charge=decimal_at(amt, 2, file_name) if amt is not None else None,
        service_date=start,
        service_date_end=end,
        lines=tuple(lines),
    )


def _parse_276_tx(tx: Transaction) -> list[ClaimStatusRequest]:
    file_name = tx.file_name
    header, blocks = hl_blocks(tx)
    bht = header.get("BHT")
    if bht is None:
        raise missing_header(tx, "BHT")
    children: dict[str, list[HLBlock]] = {}
    for block in blocks:
        children.setdefault(block.parent, []).append(block)

    def party(block: HLBlock) -> Party:
        nm1 = next((s for s in block.segments if s.id == "NM1"), None)
        if nm1 is None:
            raise position_error(f"HL level {block.level} lacks NM1", block.hl, file_name)
        return party_from(nm1)

    requests = []
    for source_block in (b for b in blocks if b.level == "20"):
        for receiver_block in children.get(source_block.id, []):
            inquiries: list[ClaimStatusInquiry] = []
            for provider_block in children.get(receiver_block.id, []):
                provider = party(provider_block)
                for sub_block in children.get(provider_block.id, []):
                    subscriber = member_from(sub_block, "IL", file_name)
                    _, claims = split_claims(sub_block.segments)
                    inquiries += [
                        _inquiry(c, provider, subscriber, None, file_name) for c in claims
                    ]
                    for dep_block in children.get(sub_block.id, []):
                        patient = member_from(dep_block, "QC", file_name)
                        _, claims = split_claims(dep_block.segments)
                        inquiries += [
                            _inquiry(c, provider, subscriber, patient, file_name) for c in claims
                        ]
            requests.append(
                ClaimStatusRequest(
                    source=party(source_block),
                    receiver=party(receiver_block),
                    inquiries=tuple(inquiries),
                    reference_id=bht[3],
                    created=bht_created(bht, file_name),
                    control_number=tx.control_number,
                )
            )
    return requests


def iter_276(
    source: Source, *, file_name: str | None = None, strict: bool = True
) -> Iterator[ClaimStatusRequest]:
    for tx in read_transactions(source, file_name=file_name, strict=strict):
        check_version(tx, "276", "005010X212", IMPLEMENTATION)
        yield from _parse_276_tx(tx)


def parse_276(
    source: Source, *, file_name: str | None = None, strict: bool = True
) -> list[ClaimStatusRequest]:
    return list(iter_276(source, file_name=file_name, strict=strict))
