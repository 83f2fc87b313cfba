"""Applying acknowledgments: the 999 (did the clearinghouse accept the file?) and the 277CA (did
the payer accept each claim into adjudication?).

999. AK1 names the functional group (GS06) of one of our outbound 837 interchanges; each AK2
names a transaction set (ST02) in it. Claims are assigned to transaction sets the way the 837
was built (rcm.batching: claims in patient-control-number order, 5,000 per transaction set,
ST02 0001, 0002, ...). An accepted transaction set leaves its claims SUBMITTED (the 277CA
decides) and records the acceptance on the Interchange; a rejected one sends its claims
SUBMITTED → REJECTED → HELD, with the IK3/IK4 errors as ClaimEdit rows (source 999). Errors
located by CTX CLM01 go to that claim only; the rest go to every claim of the transaction set.

277CA. Each 2200D loop names a claim by its patient control number (TRN02). Accepted: SUBMITTED
→ ACCEPTED and the payer's claim control number (REF*1K) is stored. Rejected: SUBMITTED →
REJECTED → HELD with every STC category and status code as an edit a biller can read. An E0-E4
"response not possible" answer changes nothing but is recorded as a warning edit.

Rejected claims leave their interchange (interchange_id NULL) so batching picks them up again
once they are fixed. Messages name codes, segments and positions, never the data in error
(IK404 holds a copy of it).
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from sqlalchemy import select
from sqlmodel import Session, col

from rcm.bulk import BulkWriter, id_hex, new_hex_id
from rcm.claims.states import ClaimMove, move_claims
from rcm.errors import RcmError
from rcm.logging import logger
from rcm.models import (
    Claim,
    ClaimEdit,
    ClaimStatus,
    Direction,
    EditSeverity,
    EditSource,
    EligibilityCheck,
    EligibilityCheckStatus,
    Interchange,
    InterchangeKind,
    InterchangeStatus,
    Practice,
    utcnow,
)
from rcm.x12.core import iter_segments
from rcm.x12.x277ca import REJECTED_CATEGORIES, Ack277CA, ClaimAcknowledgment, parse_277ca
from rcm.x12.x837 import MAX_CLAIMS_PER_TRANSACTION
from rcm.x12.x999 import Ack999, SegmentError, TransactionAck, parse_999

T = TypeVar("T")


class AcknowledgmentError(RcmError):
    """An acknowledgment that cannot be applied: no interchange matches, or a duplicate file."""


class DuplicateAcknowledgmentError(AcknowledgmentError):
    """The same acknowledgment file (clearinghouse, sha256) was applied before."""


# -- code tables ------------------------------------------------------------------------------

IK3_SEGMENT_ERRORS: Mapping[str, str] = MappingProxyType(
    {
        "1": "unrecognized segment ID",
        "2": "unexpected segment",
        "3": "required segment missing",
        "4": "loop occurs over maximum times",
        "5": "segment exceeds maximum use",
        "6": "segment not in defined transaction set",
        "7": "segment not in proper sequence",
        "8": "segment has data element errors",
        "I4": "implementation 'not used' segment present",
        "I6": "implementation dependent segment missing",
        "I7": "implementation loop occurs under minimum times",
        "I8": "implementation segment below minimum use",
        "I9": "implementation dependent 'not used' segment present",
    }
)

IK4_ELEMENT_ERRORS: Mapping[str, str] = MappingProxyType(
    {
        "1": "required data element missing",
        "2": "conditional required data element missing",
        "3": "too many data elements",
        "4": "data element too short",
        "5": "data element too long",
        "6": "invalid character in data element",
        "7": "invalid code value",
        "8": "invalid date",
        "9": "invalid time",
        "10": "exclusion condition violated",
        "12": "too many repetitions",
        "13": "too many components",
        "I6": "code value not used in implementation",
        "I9": "implementation dependent data element missing",
        "I10": "implementation 'not used' data element present",
        "I11": "implementation too few repetitions",
        "I12": "implementation pattern match failure",
        "I13": "implementation dependent 'not used' data element present",
    }
)

IK5_TRANSACTION_ERRORS: Mapping[str, str] = MappingProxyType(
    {
        "1": "transaction set not supported",
        "2": "transaction set trailer missing",
        "3": "transaction set control number in header and trailer do not match",
        "4": "number of included segments does not match actual count",
        "5": "one or more segments in error",
        "6": "missing or invalid transaction set identifier",
        "7": "missing or invalid transaction set control number",
        "23": "transaction set control number not unique within the functional group",
        "I5": "implementation one or more segments in error",
        "I6": "implementation convention not supported",
    }
)

# STC01-1 claim status category codes (code list 507).
CLAIM_STATUS_CATEGORIES: Mapping[str, str] = MappingProxyType(
    {
        "A0": "Acknowledgement/Forwarded: the claim was forwarded to another entity",
        "A1": "Acknowledgement/Receipt: the claim was received (not yet accepted for adjudication)",
        "A2": "Acknowledgement/Acceptance into adjudication system",
        "A3": "Acknowledgement/Returned as unprocessable claim",
        "A4": "Acknowledgement/Not Found: the claim cannot be found",
        "A5": "Acknowledgement/Split Claim: the claim was split for adjudication",
        "A6": "Acknowledgement/Rejected for Missing Information",
        "A7": "Acknowledgement/Rejected for Invalid Information",
        "A8": "Acknowledgement/Rejected for relational field in error",
        "E0": "Response not possible: error on submitted request data",
        "E1": "Response not possible: system status",
        "E2": "Information holder is not responding; resubmit at a later time",
        "E3": "Correction required: relational fields in error",
        "E4": "Trading partner agreement specific requirement not met: data correction required",
    }
)

NO_RESPONSE_CATEGORIES = frozenset({"E0", "E1", "E2", "E3", "E4"})

# STC01-2 claim status codes (code list 508) that 277CAs use most.
CLAIM_STATUS_CODES: Mapping[str, str] = MappingProxyType(
    {
        "0": "Cannot provide further status electronically",
        "1": "For more detailed information, see remittance advice",
        "3": "Claim has been adjudicated and is awaiting payment cycle",
        "19": "Entity acknowledges receipt of claim/encounter",
        "20": "Accepted for processing",
        "21": "Missing or invalid information",
        "23": "Returned to entity",
        "24": "Entity not approved as an electronic submitter",
        "25": "Entity not approved",
        "26": "Entity not found",
        "29": "Subscriber and policy number/contract number mismatched",
        "31": "Subscriber and subscriber id not found",
        "32": "Subscriber and policy number/contract number not found",
        "33": "Subscriber and subscriber id mismatched",
        "35": "Claim/encounter not found",
        "54": "Duplicate of a previously processed claim/line",
        "64": "Subscriber and policy number/contract number mismatched",
        "78": "Duplicate of an existing claim/line, awaiting processing",
        "81": "Contract/plan does not cover pre-existing conditions",
        "85": "No coverage for newborns",
        "96": "No agreement with entity",
        "97": "Patient eligibility not found with entity",
        "100": "Date of service is prior to the effective date of coverage",
        "101": "Date of service is after the termination date of coverage",
        "102": "Service is not a covered benefit",
        "116": "Claim submitted to incorrect payer",
        "128": "Entity's tax id",
        "145": "Entity's provider id",
        "153": "Entity's id number",
        "158": "Entity's date of birth",
        "164": "Entity's contract/member number",
        "187": "Date(s) of service",
        "189": "Facility type code",
        "190": "Place of service",
        "210": "Present on admission indicator",
        "212": "Procedure date",
        "247": "Line information",
        "249": "Place of service",
        "250": "Type of bill (bill type) missing or invalid",
        "254": "Principal diagnosis code",
        "255": "Diagnosis code",
        "400": "Claim is out of balance",
        "453": "Procedure code for services rendered",
        "454": "Procedure code modifier(s) for service(s) rendered",
        "455": "Procedure code and modifier combination",
        "458": "Procedure/revenue code for service(s) rendered",
        "464": "Payer assigned claim control number",
        "478": "Claim submission date",
        "479": "Claim billed amount",
        "480": "Entity's qualification number",
        "484": "Medical record number",
        "507": "Dates of service",
        "510": "Future date",
        "511": "Invalid character",
        "512": "Length invalid for receiver's application system",
        "513": "Entity's rendering provider identifier",
        "516": "Entity's national provider identifier (NPI)",
        "562": "Entity's National Provider Identifier (NPI)",
        "564": "Entity's contract/member number",
        "583": "Line item control number",
        "585": "Denial of claim. Payer does not recognize or has not accepted the submitter",
        "640": "Invalid",
        "673": "Patient control number",
        "697": "Invalid ICD-10 code",
        "732": "Information submitted inconsistent with billing guidelines",
    }
)

# STC01-3 entity identifier codes seen in 277CAs.
ENTITY_CODES: Mapping[str, str] = MappingProxyType(
    {
        "03": "dependent",
        "1P": "provider",
        "40": "receiver",
        "41": "submitter",
        "71": "attending physician",
        "72": "operating physician",
        "77": "service location",
        "82": "rendering provider",
        "85": "billing provider",
        "87": "pay-to provider",
        "DK": "ordering physician",
        "DN": "referring provider",
        "FA": "facility",
        "IL": "insured or subscriber",
        "PR": "payer",
        "QC": "patient",
    }
)


def describe_status(category: str, status: str, entity: str = "") -> str:
    """`A7:21 (entity 85)` in words, for a biller."""
    parts = [CLAIM_STATUS_CATEGORIES.get(category, f"claim status category {category}")]
    if status:
        parts.append(CLAIM_STATUS_CODES.get(status, f"status code {status}"))
    text = "; ".join(parts)
    if entity:
        text += f" (entity: {ENTITY_CODES.get(entity, entity)})"
    return text


# -- results ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ack999Result:
    interchange_id: uuid.UUID
    group_status: str
    accepted_transactions: tuple[str, ...]
    rejected_transactions: tuple[str, ...]
    rejected_claim_ids: tuple[uuid.UUID, ...]
    edits: int


@dataclass(frozen=True, slots=True)
class Ack277CAResult:
    accepted_claim_ids: tuple[uuid.UUID, ...] = ()
    rejected_claim_ids: tuple[uuid.UUID, ...] = ()
    no_response_claim_ids: tuple[uuid.UUID, ...] = ()
    unknown_claims: int = 0
    edits: int = 0


@dataclass
class _Acc:
    accepted: list[uuid.UUID] = field(default_factory=list)
    rejected: list[uuid.UUID] = field(default_factory=list)
    no_response: list[uuid.UUID] = field(default_factory=list)
    unknown: int = 0
    edits: int = 0


# -- 999 --------------------------------------------------------------------------------------


def _isa_ids(data: bytes) -> tuple[str, str]:
    """(ISA06 sender, ISA08 receiver) of the first interchange in `data`."""
    for seg in iter_segments(data):
        if seg.id == "ISA":
            return seg[6].strip(), seg[8].strip()
        break
    return "", ""


# AK101: the functional identifier of the group a 999 acknowledges.
ACKNOWLEDGED_KINDS: dict[str, tuple[InterchangeKind, ...]] = {
    "HC": (InterchangeKind.CLAIM_837P, InterchangeKind.CLAIM_837I),
    "HS": (InterchangeKind.ELIGIBILITY_270,),
    "HR": (InterchangeKind.STATUS_276,),
}


def find_acknowledged_interchange(
    session: Session,
    ack: Ack999,
    *,
    clearinghouse: str | None = None,
    our_sender_id: str | None = None,
) -> Interchange:
    """The outbound interchange whose GS06 is the 999's AK102 and whose kind the 999's AK101
    names (HC claims, HS eligibility inquiries, HR claim status inquiries); when more than one
    practice used that number, the one whose ISA sender is the 999's receiver."""
    try:
        group = int(ack.group_control_number)
    except ValueError:
        raise AcknowledgmentError(
            f"999 AK102 {ack.group_control_number!r} is not a group control number"
        ) from None
    query = (
        select(Interchange)
        .where(col(Interchange.direction) == Direction.OUTBOUND)
        .where(col(Interchange.gs_control_number) == group)
        .where(col(Interchange.kind).in_(ACKNOWLEDGED_KINDS.get(ack.functional_id, ())))
    )
    if clearinghouse:
        query = query.where(col(Interchange.clearinghouse) == clearinghouse)
    candidates = list(session.scalars(query))
    if len(candidates) > 1 and our_sender_id:
        candidates = [c for c in candidates if (c.sender_id or "").strip() == our_sender_id]
    if not candidates:
        raise AcknowledgmentError(f"999 acknowledges group {group}, which matches no interchange")
    if len(candidates) > 1:
        raise AcknowledgmentError(
            f"999 acknowledges group {group}, which matches {len(candidates)} interchanges"
        )
    return candidates[0]


def _segment_error_message(tx: TransactionAck, error: SegmentError) -> list[tuple[str, str, str]]:
    """(rule_id, field, message) per IK3 and IK4 of one segment error."""
    where = f"segment {error.segment_id} at position {error.position}"
    if error.loop_id:
        where += f" in loop {error.loop_id}"
    out = []
    if not error.element_errors:
        text = IK3_SEGMENT_ERRORS.get(error.code, f"segment error {error.code}")
        out.append(
            (
                f"999-IK3-{error.code}",
                error.segment_id,
                f"{where}: {text} (transaction set {tx.control_number})",
            )
        )
    for element in error.element_errors:
        text = IK4_ELEMENT_ERRORS.get(element.code, f"element error {element.code}")
        name = f"{error.segment_id}{element.position:02d}"
        if element.component_position:
            name += f"-{element.component_position}"
        out.append(
            (
                f"999-IK4-{element.code}",
                name,
                f"{where}: {name} {text} (transaction set {tx.control_number})",
            )
        )
    return out


@dataclass(slots=True)
class _Tracked:
    """A claim as an acknowledgment file moves it: the row as read, then the statuses it passes
    through and the columns that change, written in bulk once the whole transaction is read."""

    id: uuid.UUID
    practice_id: uuid.UUID
    patient_control_number: str
    read_status: ClaimStatus
    interchange_id: uuid.UUID | None
    payer_claim_control_number: str | None
    status: ClaimStatus = ClaimStatus.DRAFT
    steps: list[tuple[ClaimStatus, str]] = field(default_factory=list)
    changed: bool = False

    def __post_init__(self) -> None:
        self.status = self.read_status

    def step(self, to_status: ClaimStatus, reason: str) -> None:
        self.steps.append((to_status, reason))
        self.status = to_status
        self.changed = True


_CLAIM_COLUMNS = (
    col(Claim.id),
    col(Claim.practice_id),
    col(Claim.patient_control_number),
    col(Claim.status),
    col(Claim.interchange_id),
    col(Claim.payer_claim_control_number),
)
# Keys per IN (...): well under SQLite's bound-parameter limit.
_IN_CHUNK = 2000


def _tracked(rows: Iterable[Any]) -> list[_Tracked]:
    return [
        _Tracked(r[0], r[1], r[2], ClaimStatus(r[3]), r[4], r[5])
        for r in rows  # id, practice, PCN, status, interchange, payer's claim number
    ]


def _claims_by_transaction(claims: Sequence[_Tracked]) -> dict[str, list[_Tracked]]:
    ordered = sorted(claims, key=lambda c: c.patient_control_number)
    out: dict[str, list[_Tracked]] = {}
    for index, start in enumerate(range(0, len(ordered), MAX_CLAIMS_PER_TRANSACTION), start=1):
        out[f"{index:04d}"] = ordered[start : start + MAX_CLAIMS_PER_TRANSACTION]
    return out


_EDIT_COLUMNS = (
    "id",
    "practice_id",
    "claim_id",
    "rule_id",
    "severity",
    "loop",
    "field",
    "message",
    "source",
    "created_at",
    "resolved_at",
)


def _edit(
    claim: _Tracked,
    rule_id: str,
    message: str,
    *,
    source: EditSource,
    field_name: str | None = None,
    loop: str | None = None,
    severity: EditSeverity = EditSeverity.ERROR,
) -> tuple[Any, ...]:
    """A ClaimEdit row (in _EDIT_COLUMNS order, created_at filled in by _write)."""
    return (
        new_hex_id(),
        id_hex(claim.practice_id),
        id_hex(claim.id),
        rule_id[:64],
        severity.value,
        (loop or None) and loop[:16],
        (field_name or None) and field_name[:64],
        message,
        source.value,
        None,
        None,
    )


def _send_back(claim: _Tracked, *, reason: str) -> bool:
    if claim.status is not ClaimStatus.SUBMITTED:
        return False
    claim.step(ClaimStatus.REJECTED, reason)
    claim.interchange_id = None
    claim.step(ClaimStatus.HELD, "sent back for correction")
    return True


def _write(
    session: Session, claims: Iterable[_Tracked], edits: list[tuple[Any, ...]], *, source: str
) -> None:
    """The moves (one bulk move: only rows still in the status read change, each step a
    ClaimEvent) and the edit rows (one bulk insert), in the caller's transaction."""
    now = utcnow()
    moves = [
        ClaimMove(
            claim.id,
            claim.practice_id,
            claim.read_status,
            tuple(claim.steps),
            (
                claim.payer_claim_control_number,
                # UUID columns take 32 hex digits (rcm.bulk).
                id_hex(claim.interchange_id) if claim.interchange_id is not None else None,
            ),
        )
        for claim in claims
        if claim.changed
    ]
    if moves:
        move_claims(
            session,
            moves,
            source=source,
            at=now,
            columns=("payer_claim_control_number", "interchange_id"),
        )
    if edits:
        writer = BulkWriter(session.connection())
        table = ClaimEdit.__table__  # type: ignore[attr-defined]
        created = writer.converter(table, "created_at")(now)
        writer.insert(table, _EDIT_COLUMNS, [(*row[:9], created, None) for row in edits])


def apply_999(
    session: Session,
    ack: Ack999,
    *,
    source: str,
    clearinghouse: str | None = None,
    our_sender_id: str | None = None,
) -> Ack999Result:
    """Apply one parsed 999 transaction to the interchange it acknowledges. Flushes; the caller
    commits."""
    interchange = find_acknowledged_interchange(
        session, ack, clearinghouse=clearinghouse, our_sender_id=our_sender_id
    )
    session.flush()
    claims = _tracked(
        session.execute(
            select(*_CLAIM_COLUMNS)
            .where(col(Claim.practice_id) == interchange.practice_id)
            .where(col(Claim.interchange_id) == interchange.id)
        )
    )
    by_tx = _claims_by_transaction(claims)
    accepted: list[str] = []
    rejected: list[str] = []
    rejected_claims: list[uuid.UUID] = []
    edits: list[tuple[Any, ...]] = []
    for tx in ack.transactions:
        members = by_tx.get(tx.control_number, [])
        by_pcn = {c.patient_control_number: c for c in members}
        located: dict[uuid.UUID, list[tuple[str, str, str]]] = defaultdict(list)
        general: list[tuple[str, str, str]] = []
        for error in tx.segment_errors:
            pcns = [
                ref
                for ctx in error.contexts
                for name, ref in ctx.identifications
                if name == "CLM01" and ref in by_pcn
            ]
            messages = _segment_error_message(tx, error)
            if pcns:
                for pcn in pcns:
                    located[by_pcn[pcn].id] += messages
            else:
                general += messages
        if tx.accepted:
            accepted.append(tx.control_number)
            for claim in members:
                for rule_id, name, message in located.get(claim.id, []) + general:
                    edits.append(
                        _edit(
                            claim,
                            rule_id,
                            message,
                            source=EditSource.ACK_999,
                            field_name=name,
                            severity=EditSeverity.WARNING,
                        )
                    )
            continue
        rejected.append(tx.control_number)
        codes = (
            ", ".join(f"{c} ({IK5_TRANSACTION_ERRORS.get(c, 'error')})" for c in tx.error_codes)
            or "no reason code"
        )
        summary = (
            f"the clearinghouse rejected transaction set {tx.control_number} "
            f"(IK5 {tx.status}: {codes})"
        )
        for claim in members:
            mine = located.get(claim.id, []) + general
            if not mine:
                mine = [(f"999-IK5-{tx.status}", "", summary)]
            for rule_id, name, message in mine:
                edits.append(
                    _edit(
                        claim, rule_id, message, source=EditSource.ACK_999, field_name=name or None
                    )
                )
            if _send_back(claim, reason=summary):
                rejected_claims.append(claim.id)
    _write(session, claims, edits, source=source)
    if not ack.accepted and interchange.kind == InterchangeKind.ELIGIBILITY_270:
        # A rejected inquiry gets no 271: its checks are asked again on the next run.
        for check in session.scalars(
            select(EligibilityCheck).where(
                col(EligibilityCheck.practice_id) == interchange.practice_id,
                col(EligibilityCheck.interchange_id) == interchange.id,
                col(EligibilityCheck.status) == EligibilityCheckStatus.PENDING,
            )
        ):
            check.status = EligibilityCheckStatus.ERROR
    if ack.accepted and not rejected:
        interchange.status = InterchangeStatus.ACCEPTED
        interchange.error = None
    elif not accepted:
        interchange.status = InterchangeStatus.REJECTED
        interchange.error = f"999 rejected the functional group (AK9 {ack.status})"
    else:
        interchange.status = InterchangeStatus.ACCEPTED
        interchange.error = (
            f"999 accepted in part (AK9 {ack.status}); rejected transaction "
            f"sets: {', '.join(rejected)}"
        )
    interchange.processed_at = utcnow()
    session.add(interchange)
    session.flush()
    logger.bind(interchange_id=str(interchange.id), source=source).info(
        "999 applied: {} accepted, {} rejected transaction set(s), {} claim(s) held",
        len(accepted),
        len(rejected),
        len(rejected_claims),
    )
    return Ack999Result(
        interchange.id,
        ack.status,
        tuple(accepted),
        tuple(rejected),
        tuple(rejected_claims),
        len(edits),
    )


# -- 277CA ------------------------------------------------------------------------------------


def _billing_npi(acknowledgment: ClaimAcknowledgment) -> str | None:
    provider = acknowledgment.provider
    if provider is None or provider.name is None or provider.name.id_qualifier != "XX":
        return None
    return provider.name.id


class _ClaimFinder:
    """The claims a 277CA transaction names, read in a few queries: the practices by billing
    NPI, then each practice's claims by patient control number (and, for claims filed under a
    provider that names no practice, the claims of any practice with that number)."""

    def __init__(self, session: Session, items: Sequence[ClaimAcknowledgment]) -> None:
        npis = {npi for npi in map(_billing_npi, items) if npi is not None}
        self.practices: dict[str, uuid.UUID] = {}
        for chunk in _chunked(sorted(npis)):
            for npi, practice_id in session.execute(
                select(col(Practice.billing_npi), col(Practice.id)).where(
                    col(Practice.billing_npi).in_(chunk)
                )
            ):
                self.practices.setdefault(npi, practice_id)
        wanted: dict[uuid.UUID | None, set[str]] = defaultdict(set)
        for item in items:
            npi = _billing_npi(item)
            practice_id = self.practices.get(npi) if npi is not None else None
            wanted[practice_id].add(item.claim.patient_control_number)
        self.by_practice: dict[tuple[uuid.UUID, str], _Tracked] = {}
        self.anywhere: dict[str, list[_Tracked]] = defaultdict(list)
        self.claims: list[_Tracked] = []
        for practice_id, pcns in wanted.items():
            for chunk in _chunked(sorted(pcns)):
                query = select(*_CLAIM_COLUMNS).where(col(Claim.patient_control_number).in_(chunk))
                if practice_id is not None:
                    query = query.where(col(Claim.practice_id) == practice_id)
                for claim in _tracked(session.execute(query)):
                    self._add(claim, anywhere=practice_id is None)

    def _add(self, claim: _Tracked, *, anywhere: bool) -> None:
        key = (claim.practice_id, claim.patient_control_number)
        known = self.by_practice.get(key)
        if known is None:
            self.by_practice[key] = known = claim
            self.claims.append(claim)
        if anywhere:
            self.anywhere[claim.patient_control_number].append(known)

    def find(self, item: ClaimAcknowledgment) -> _Tracked | None:
        pcn = item.claim.patient_control_number
        npi = _billing_npi(item)
        practice_id = self.practices.get(npi) if npi is not None else None
        if practice_id is not None:
            return self.by_practice.get((practice_id, pcn))
        found = self.anywhere.get(pcn, [])
        if len(found) == 1:
            return found[0]
        submitted = [c for c in found if c.status is ClaimStatus.SUBMITTED]
        return submitted[0] if len(submitted) == 1 else None


def _chunked(values: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start : start + _IN_CHUNK]


def apply_277ca(session: Session, ack: Ack277CA, *, source: str) -> Ack277CAResult:
    """Apply one parsed 277CA transaction, claim by claim (read in a few queries, written in
    bulk). Flushes; the caller commits."""
    acc = _Acc()
    items = list(ack.claim_acknowledgments())
    session.flush()
    finder = _ClaimFinder(session, items)
    edits: list[tuple[Any, ...]] = []
    for item in items:
        status = item.claim
        claim = finder.find(item)
        if claim is None:
            acc.unknown += 1
            continue
        codes = [(c.category, c.status, c.entity) for s in status.statuses for c in s.codes]
        line_codes = [
            (c.category, c.status, c.entity, sv.procedure.code)
            for sv in status.services
            for s in sv.statuses
            for c in s.codes
        ]
        if status.accepted:
            if status.payer_claim_control_number:
                claim.payer_claim_control_number = status.payer_claim_control_number[:50]
                claim.changed = True
            if claim.status is ClaimStatus.SUBMITTED:
                claim.step(ClaimStatus.ACCEPTED, f"277CA: {describe_status(*codes[0])}")
            acc.accepted.append(claim.id)
            continue
        rejected = any(c[0] in REJECTED_CATEGORIES for c in codes)
        severity = EditSeverity.ERROR if rejected else EditSeverity.WARNING
        mine = [
            _edit(
                claim,
                f"277CA-{cat}-{code}" if code else f"277CA-{cat}",
                describe_status(cat, code, entity),
                source=EditSource.ACK_277CA,
                loop="2200D",
                severity=severity,
            )
            for cat, code, entity in codes
        ] + [
            _edit(
                claim,
                f"277CA-{cat}-{code}" if code else f"277CA-{cat}",
                f"service line {proc}: {describe_status(cat, code, entity)}",
                source=EditSource.ACK_277CA,
                loop="2220D",
                severity=severity,
            )
            for cat, code, entity, proc in line_codes
            if cat not in ("A0", "A1", "A2", "A5")
        ]
        edits += mine
        acc.edits += len(mine)
        if not rejected:
            acc.no_response.append(claim.id)
            continue
        reason = f"277CA rejected the claim: {describe_status(*codes[0])}"
        if _send_back(claim, reason=reason):
            acc.rejected.append(claim.id)
    _write(session, finder.claims, edits, source=source)
    session.flush()
    logger.bind(source=source).info(
        "277CA applied: {} accepted, {} rejected, {} unknown claim(s)",
        len(acc.accepted),
        len(acc.rejected),
        acc.unknown,
    )
    return Ack277CAResult(
        tuple(acc.accepted), tuple(acc.rejected), tuple(acc.no_response), acc.unknown, acc.edits
    )


# -- files ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AckFileResult:
    interchange_id: uuid.UUID | None
    kind: InterchangeKind
    results_999: tuple[Ack999Result, ...] = ()
    results_277ca: tuple[Ack277CAResult, ...] = ()


def _kind_of(data: bytes) -> InterchangeKind:
    for seg in iter_segments(data):
        if seg.id == "ST":
            if seg[1] == "999":
                return InterchangeKind.ACK_999
            if seg[1] == "277":
                return InterchangeKind.ACK_277CA
            raise AcknowledgmentError(f"transaction set {seg[1]} is not a 999 or a 277CA")
    raise AcknowledgmentError("file holds no transaction set")


def apply_acknowledgment_file(
    session: Session,
    data: bytes,
    *,
    clearinghouse: str,
    file_name: str | None = None,
) -> AckFileResult:
    """Apply a 999 or 277CA file and record it as an inbound Interchange keyed by
    (clearinghouse, sha256); a file applied before raises DuplicateAcknowledgmentError."""
    digest = hashlib.sha256(data).hexdigest()
    seen = session.scalar(
        select(col(Interchange.id))
        .where(col(Interchange.clearinghouse) == clearinghouse)
        .where(col(Interchange.sha256) == digest)
    )
    if seen is not None:
        raise DuplicateAcknowledgmentError(f"file {file_name or digest[:12]} was applied before")
    kind = _kind_of(data)
    source = (file_name or digest[:12])[:255]
    results_999: list[Ack999Result] = []
    results_277: list[Ack277CAResult] = []
    practice_id: uuid.UUID | None = None
    if kind is InterchangeKind.ACK_999:
        _, ack_receiver = _isa_ids(data)
        for ack in parse_999(data, file_name=file_name, strict=False):
            result = apply_999(
                session,
                ack,
                source=source,
                clearinghouse=clearinghouse,
                our_sender_id=ack_receiver or None,
            )
            results_999.append(result)
            if practice_id is None:
                target = session.get(Interchange, result.interchange_id)
                practice_id = target.practice_id if target is not None else None
    else:
        for ack277 in parse_277ca(data, file_name=file_name, strict=False):
            result277 = apply_277ca(session, ack277, source=source)
            results_277.append(result277)
            claim_ids = result277.accepted_claim_ids + result277.rejected_claim_ids
            if practice_id is None and claim_ids:
                first = session.get(Claim, claim_ids[0])
                practice_id = first.practice_id if first is not None else None
    interchange_id: uuid.UUID | None = None
    if practice_id is not None:
        row = Interchange(
            practice_id=practice_id,
            clearinghouse=clearinghouse,
            direction=Direction.INBOUND,
            kind=kind,
            file_name=(file_name or "")[:255] or None,
            sha256=digest,
            status=InterchangeStatus.PROCESSED,
            processed_at=utcnow(),
        )
        session.add(row)
        session.flush()
        interchange_id = row.id
    return AckFileResult(interchange_id, kind, tuple(results_999), tuple(results_277))
