"""277 claim status response (005010X212): typed model, parse, and build (for the sandbox).

Each claim answered is a `ClaimStatus`: the 276's trace echoed (TRN*2), one or more STC
statuses (category and status codes, the entity they concern, the effective date, the charge
and the paid amount, the adjudication date, the payment method, the check or EFT date and
number), the payer's claim control number (REF*1K), the patient control number (REF*EJ),
service dates, and service line statuses. Statuses at the information receiver or provider
level (a whole inquiry rejected) are `LevelStatus` values.

The 277CA claim acknowledgment (005010X214) is a different guide, parsed by `x277ca`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from rcm.errors import X12Error
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
)
from rcm.x12.x276 import (
    IMPLEMENTATION,
    claim_references,
    decimal_at,
    group_members,
    member_from,
    member_segments,
    procedure_composite,
    procedure_parts,
    service_period,
    split_claims,
    split_lines,
)

# STC01-1 claim status categories, by what the practice does next.
FINALIZED = frozenset({"F0", "F1", "F2", "F3", "F3F", "F3N", "F4", "F5"})
PENDING = frozenset({"P0", "P1", "P2", "P3", "P4", "P5"})
REJECTED = frozenset({"A3", "A4", "A6", "A7", "A8", "R3", "D0"})
ACKNOWLEDGED = frozenset({"A0", "A1", "A2", "A5"})
ERROR = frozenset({"E0", "E1", "E2", "E3", "E4"})


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusCode:
    """One STC composite (STC01, STC10, STC11): category (e.g. F1 finalized/payment), status
    code (e.g. 65 claim has been paid), and the entity it concerns (e.g. QC patient)."""

    category: str
    code: str
    entity: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusInfo:
    """One STC segment."""

    status: StatusCode
    effective_date: date | None = None
    action_code: str | None = None
    charge: Decimal | None = None
    paid_amount: Decimal | None = None
    adjudication_date: date | None = None
    payment_method: str | None = None
    payment_date: date | None = None
    check_number: str | None = None
    additional: tuple[StatusCode, ...] = ()
    message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceLineStatus:
    """2220: one service line's status (SVC, STC, REF*FJ, DTP*472)."""

    charge: Decimal
    procedure_code: str | None = None
    procedure_qualifier: str = "HC"
    modifiers: tuple[str, ...] = ()
    paid_amount: Decimal | None = None
    revenue_code: str | None = None
    units: Decimal | None = None
    statuses: tuple[StatusInfo, ...] = ()
    line_item_control_number: str | None = None
    service_date: date | None = None
    service_date_end: date | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimStatus:
    provider: Party
    subscriber: Member
    trace_number: str
    statuses: tuple[StatusInfo, ...]
    patient: Member | None = None
    payer_claim_number: str | None = None
    patient_control_number: str | None = None
    bill_type: str | None = None
    service_date: date | None = None
    service_date_end: date | None = None
    lines: tuple[ServiceLineStatus, ...] = ()

    @property
    def category(self) -> str | None:
        return self.statuses[0].status.category if self.statuses else None

    @property
    def outcome(self) -> str:
        """finalized, pending, rejected, acknowledged, error (the payer could not answer) or
        other, from the first status's category."""
        category = self.category or ""
        if category in FINALIZED:
            return "finalized"
        if category in PENDING:
            return "pending"
        if category in REJECTED:
            return "rejected"
        if category in ACKNOWLEDGED:
            return "acknowledged"
        if category in ERROR:
            return "error"
        return "other"

    @property
    def paid_amount(self) -> Decimal | None:
        return next((s.paid_amount for s in self.statuses if s.paid_amount is not None), None)

    @property
    def payment_date(self) -> date | None:
        return next((s.payment_date for s in self.statuses if s.payment_date), None)

    def summary(self) -> dict[str, Any]:
        """What the claim status flow records: codes, amounts and dates, no names or IDs."""
        return {
            "trace_number": self.trace_number,
            "patient_control_number": self.patient_control_number,
            "payer_claim_number": self.payer_claim_number,
            "outcome": self.outcome,
            "statuses": [
                {
                    "category": s.status.category,
                    "code": s.status.code,
                    "entity": s.status.entity,
                    "effective_date": s.effective_date.isoformat() if s.effective_date else None,
                }
                for s in self.statuses
            ],
            "charge": str(self.statuses[0].charge) if self.statuses and self.statuses[0].charge
            is not None else None,
            "paid_amount": str(self.paid_amount) if self.paid_amount is not None else None,
            "payment_date": self.payment_date.isoformat() if self.payment_date else None,
            "check_number": next((s.check_number for s in self.statuses if s.check_number),
                                 None),
        }  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class LevelStatus:
    """TRN and STC at the information receiver (2200B) or provider (2200C) level: the payer
    answers for everything under it (for example, E0 response not possible)."""

    level: str
    party: Party
    trace_number: str
    statuses: tuple[StatusInfo, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimStatusResponse:
    source: Party
    receiver: Party
    claims: tuple[ClaimStatus, ...]
    reference_id: str
    created: datetime
    level_statuses: tuple[LevelStatus, ...] = ()
    control_number: str | None = None


# --------------------------------------------------------------------------------------------
# Parse
# --------------------------------------------------------------------------------------------


def _status_code(parts: list[str]) -> StatusCode | None:
    if len(parts) < 2 and not (parts and parts[0]):
        return None
    return StatusCode(
        category=parts[0] if parts else "",
        code=parts[1] if len(parts) > 1 else "",
        entity=opt(parts[2]) if len(parts) > 2 else None,
    )


def _status(seg: Segment, file_name: str | None) -> StatusInfo:
    status = _status_code(seg.composite(1))
    if status is None:
        raise position_error("STC01 (claim status) is missing", seg, file_name)
    additional = [c for c in (_status_code(seg.composite(i)) for i in (10, 11)) if c]
    return StatusInfo(
        status=status,
        effective_date=read_d8(seg, 2, file_name),
        action_code=opt(seg[3]),
        charge=decimal_at(seg, 4, file_name),
        paid_amount=decimal_at(seg, 5, file_name),
        adjudication_date=read_d8(seg, 6, file_name),
        payment_method=opt(seg[7]),
        payment_date=read_d8(seg, 8, file_name),
        check_number=opt(seg[9]),
        additional=tuple(additional),
        message=opt(seg[12]),
    )


def _claim(
    claim_segments: list[Segment],
    provider: Party,
    subscriber: Member,
    patient: Member | None,
    file_name: str | None,
) -> ClaimStatus:
    own, line_groups = split_lines(claim_segments)
    refs = claim_references(own)
    start, end = service_period(own, file_name)
    lines = []
    for group in line_groups:
        svc = group[0]
        code, qualifier, modifiers = procedure_parts(svc, 1)
        line_start, line_end = service_period(group, file_name)
        charge = decimal_at(svc, 2, file_name)
        if charge is None:
            raise position_error("SVC02 is required", svc, file_name)
        lines.append(
            ServiceLineStatus(
                procedure_code=code,
                procedure_qualifier=qualifier,
                modifiers=modifiers,
                charge=charge,
                paid_amount=decimal_at(svc, 3, file_name),
                revenue_code=opt(svc[4]),
                units=decimal_at(svc, 7, file_name),
                statuses=tuple(_status(s, file_name) for s in group if s.id == "STC"),
                line_item_control_number=claim_references(group).get("FJ"),
                service_date=line_start,
                service_date_end=line_end,
            )
        )
    return ClaimStatus(
        provider=provider,
        subscriber=subscriber,
        patient=patient,
        trace_number=claim_segments[0][2],
        statuses=tuple(_status(s, file_name) for s in own if s.id == "STC"),
        payer_claim_number=refs.get("1K"),
        patient_control_number=refs.get("EJ"),
        bill_type=refs.get("BLT"),
        service_date=start,
        service_date_end=end,
        lines=tuple(lines),
    )


def _level_status(
    block: HLBlock, level: str, party: Party, file_name: str | None
) -> list[LevelStatus]:
    trn = next((s for s in block.segments if s.id == "TRN"), None)
    if trn is None:
        return []
    return [
        LevelStatus(
            level=level,
            party=party,
            trace_number=trn[2],
            statuses=tuple(_status(s, file_name) for s in block.segments if s.id == "STC"),
        )
    ]


def _parse_277_tx(tx: Transaction) -> list[ClaimStatusResponse]:
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

    responses = []
    for source_block in (b for b in blocks if b.level == "20"):
        for receiver_block in children.get(source_block.id, []):
            receiver = party(receiver_block)
            levels = _level_status(receiver_block, "receiver", receiver, file_name)
            claims: list[ClaimStatus] = []
            for provider_block in children.get(receiver_block.id, []):
                provider = party(provider_block)
                levels += _level_status(provider_block, "provider", provider, file_name)
                for sub_block in children.get(provider_block.id, []):
                    subscriber = member_from(sub_block, "IL", file_name)
                    _, found = split_claims(sub_block.segments)
                    claims += [_claim(c, provider, subscriber, None, file_name) for c in found]
                    for dep_block in children.get(sub_block.id, []):
                        patient = member_from(dep_block, "QC", file_name)
                        _, found = split_claims(dep_block.segments)
                        claims += [
                            _claim(c, provider, subscriber, patient, file_name) for c in found
                        ]
            responses.append(
                ClaimStatusResponse(
                    source=party(source_block),
                    receiver=receiver,
                    claims=tuple(claims),
                    level_statuses=tuple(levels),
                    reference_id=bht[3],
                    created=bht_created(bht, file_name),
                    control_number=tx.control_number,
                )
            )
    return responses


def iter_277(
    source: Source, *, file_name: str | None = None, strict: bool = True
) -> Iterator[ClaimStatusResponse]:
    for tx in read_transactions(source, file_name=file_name, strict=strict):
        check_version(tx, "277", "005010X212", IMPLEMENTATION)
        yield from _parse_277_tx(tx)


def parse_277_responses(
    source: Source, *, file_name: str | None = None, strict: bool = True
) -> list[ClaimStatusResponse]:
    return list(iter_277(source, file_name=file_name, strict=strict))


def parse_277(
    source: Source, *, file_name: str | None = None, strict: bool = True
) -> list[ClaimStatus]:
    """Every claim status in a 277 (005010X212) file, in file order."""
    return [
        claim
        for response in iter_277(source, file_name=file_name, strict=strict)
        for claim in response.claims
    ]


# --------------------------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------------------------

_Seg = tuple[Any, ...]


def _code(code: StatusCode) -> tuple[str, ...]:
    return (code.category, code.code, code.entity or "")


def _stc(info: StatusInfo) -> _Seg:
    extra = [_code(c) for c in info.additional[:2]]
    return (
        "STC",
        _code(info.status),
        d8(info.effective_date) if info.effective_date else None,
        info.action_code,
        info.charge,
        info.paid_amount,
        d8(info.adjudication_date) if info.adjudication_date else None,
        info.payment_method,
        d8(info.payment_date) if info.payment_date else None,
        info.check_number,
        extra[0] if extra else None,
        extra[1] if len(extra) > 1 else None,
        info.message,
    )


def _claim_segments(claim: ClaimStatus) -> list[_Seg]:
    if not claim.statuses:
        raise X12Error("a 277 claim needs at least one status (STC)")
    out: list[_Seg] = [("TRN", "2", claim.trace_number)]
    out += [_stc(s) for s in claim.statuses]
    if claim.payer_claim_number:
        out.append(("REF", "1K", claim.payer_claim_number))
    if claim.bill_type:
        out.append(("REF", "BLT", claim.bill_type))
    if claim.patient_control_number:
        out.append(("REF", "EJ", claim.patient_control_number))
    if claim.service_date is not None:
        out.append(("DTP", "472", *period_elements(claim.service_date, claim.service_date_end)))
    for line in claim.lines:
        out.append(
            (
                "SVC",
                procedure_composite(line.procedure_qualifier, line.procedure_code, line.modifiers),
                line.charge,
                line.paid_amount,
                line.revenue_code,
                None,
                None,
                line.units,
            )
        )
        out += [_stc(s) for s in line.statuses]
        if line.line_item_control_number:
            out.append(("REF", "FJ", line.line_item_control_number))
        if line.service_date is not None:
            out.append(("DTP", "472", *period_elements(line.service_date, line.service_date_end)))
    return out


def _level_segments(status: LevelStatus | None) -> list[_Seg]:
    if status is None:
        return []
    return [("TRN", "1", status.trace_number), *[_stc(s) for s in status.statuses]]


def build_277(
    response: ClaimStatusResponse, *, control_number: str | None = None
) -> TransactionBody:
    """One 277. Providers with a provider-level status come first, in order, then the
    providers of the claims, each claim grouped under its provider, subscriber and patient."""
    created = response.created
    receiver_status = next((s for s in response.level_statuses if s.level == "receiver"), None)
    provider_statuses = {s.party: s for s in response.level_statuses if s.level == "provider"}
    tree = group_members(response.claims)
    providers = list(provider_statuses) + [p for p in tree if p not in provider_statuses]
    segs: list[_Seg] = [
        ("BHT", "0010", "08", response.reference_id, d8(created), created.strftime("%H%M"), "DG"),
        ("HL", "1", None, "20", "1"),
        party_segment(response.source),
        ("HL", "2", "1", "21", "1" if providers else "0"),
        party_segment(response.receiver),
        *_level_segments(receiver_status),
    ]
    hl = 2
    for provider in providers:
        hl += 1
        provider_hl = str(hl)
        by_subscriber = tree.get(provider, {})
        segs.append(("HL", provider_hl, "2", "19", "1" if by_subscriber else "0"))
        segs.append(party_segment(provider))
        segs += _level_segments(provider_statuses.get(provider))
        for (subscriber, is_patient), by_patient in by_subscriber.items():
            hl += 1
            subscriber_hl = str(hl)
            segs.append(("HL", subscriber_hl, provider_hl, "22", "0" if is_patient else "1"))
            segs += member_segments(subscriber, "IL", demographics=False)
            for patient, claims in by_patient.items():
                if patient is not None:
                    hl += 1
                    segs.append(("HL", str(hl), subscriber_hl, "23"))
                    segs += member_segments(patient, "QC", demographics=False)
                for claim in claims:
                    segs += _claim_segments(claim)
    return TransactionBody(
        set_id="277",
        control_number=control_number or response.control_number or "0001",
        segments=segs,
        implementation=IMPLEMENTATION,
    )


def build_277_interchange(
    envelope: InterchangeEnvelope, responses: Iterable[ClaimStatusResponse]
) -> bytes:
    return numbered_interchange(
        envelope,
        responses,
        build_277,
        set_id="277",
        functional_id="HN",
        version=IMPLEMENTATION,
        item_name="response",
    )
