"""Batching READY claims into outbound 837 interchanges, building the files, and the pyx12 gate.

The life of an outbound interchange (DESIGN.md, Idempotency):

    assign_batches      READY claims → one Interchange per practice × clearinghouse × claim
                        type, split at the profile's claims-per-file limit; ISA13 and GS06
                        allocated and claims moved READY → BATCHED in the caller's transaction
    build_interchange_bytes   the file, a pure function of the rows (the creation time is the
                        Interchange row's), so a rebuild gives the same bytes
    gate_interchange    the pyx12 verdict: passed → sha256, file name, status built; failed →
                        the file never leaves, its claims go BATCHED → HELD with the errors
                        mapped to them as ClaimEdit rows (source pyx12), status rejected
                        (`start_gate` builds and submits files to an executor without
                        writing; `finish_gate` records the verdicts later, so the pool
                        validates while the caller prepares the next practice)
    record_archived     the caller archived the bytes under a key (status archived)
    record_uploaded     the caller uploaded them; claims BATCHED → SUBMITTED (status uploaded)

A rerun resumes from the row's status (`pending_interchanges`): claims already assigned keep
their interchange and control numbers, and a built file is rebuilt byte for byte, never
renumbered. The envelope settings an interchange was assigned with (qualifiers, GS IDs, usage
indicator, receiver name, file name template) are stored on its row (`Interchange.envelope`),
written in the assigning transaction, so the file depends on that row and its claims only.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from rcm.bulk import id_hex
from rcm.claims.states import ClaimMove, move_claims, transition_many
from rcm.claims.submission import SubmitterInfo, header_837, load_claims_837
from rcm.control_numbers import allocate
from rcm.errors import RcmError, StateError, X12Error
from rcm.logging import logger
from rcm.models import (
    AuditEvent,
    Claim,
    ClaimEdit,
    ClaimStatus,
    ClaimType,
    ControlNumberKind,
    Direction,
    EditSeverity,
    EditSource,
    Interchange,
    InterchangeKind,
    InterchangeStatus,
    Practice,
    utcnow,
)
from rcm.x12.core import InterchangeEnvelope, iter_segments
from rcm.x12.validate import ValidationIssue, ValidationReport
from rcm.x12.x837 import (
    IMPLEMENTATION,
    Submission837,
    build_837_interchange,
    build_837_segments,
)

ASSIGNED_ACTION = "interchange.assigned"
MAX_CLAIMS_PER_FILE = 5000
CLAIM_KINDS = {
    ClaimType.PROFESSIONAL: InterchangeKind.CLAIM_837P,
    ClaimType.INSTITUTIONAL: InterchangeKind.CLAIM_837I,
}
KIND_LETTER = {InterchangeKind.CLAIM_837P: "P", InterchangeKind.CLAIM_837I: "I"}
OUTBOUND_CLAIM_KINDS = tuple(CLAIM_KINDS.values())
# Statuses a rerun picks up again: the file was assigned but has not been uploaded.
RESUMABLE = (InterchangeStatus.ASSIGNED, InterchangeStatus.BUILT, InterchangeStatus.ARCHIVED)
MAX_EDITS_PER_CLAIM = 20

Validator = Callable[..., ValidationReport]


class BatchError(RcmError):
    """An interchange that cannot be built or moved on as asked."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EnvelopeSettings:
    """ISA/GS identifiers and naming for one clearinghouse, as its profile gives them (plain
    values: the domain does not read profiles)."""

    sender_id: str
    receiver_id: str
    sender_qualifier: str = "ZZ"
    receiver_qualifier: str = "ZZ"
    application_sender: str | None = None
    application_receiver: str | None = None
    usage: str = "T"
    receiver_name: str | None = None
    submitter_id: str | None = None
    submitter_name: str | None = None
    contact_name: str = "BILLING OFFICE"
    contact_phone: str | None = None
    file_name_template: str = "{practice}_{kind}_{isa13}_{timestamp}.x12"

    def __post_init__(self) -> None:
        if self.usage not in ("T", "P"):
            raise BatchError(f"usage indicator must be T or P, not {self.usage!r}")
        if not self.sender_id or len(self.sender_id) > 15:
            raise BatchError("ISA06 sender ID must be 1 to 15 characters")
        if not self.receiver_id or len(self.receiver_id) > 15:
            raise BatchError("ISA08 receiver ID must be 1 to 15 characters")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnvelopeSettings:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class GateOutcome:
    """What the gate decided for one interchange."""

    interchange_id: uuid.UUID
    status: InterchangeStatus
    file_name: str | None = None
    sha256: str | None = None
    data: bytes | None = None
    errors: int = 0
    held_claim_ids: list[uuid.UUID] = field(default_factory=list)
    claim_count: int = 0

    @property
    def passed(self) -> bool:
        return self.status is not InterchangeStatus.REJECTED


# --------------------------------------------------------------------------------------------
# Assign
# --------------------------------------------------------------------------------------------


def assign_batches(
    session: Session,
    *,
    practice_id: uuid.UUID,
    profile_name: str,
    envelope: EnvelopeSettings,
    max_claims_per_file: int = MAX_CLAIMS_PER_FILE,
    now: datetime,
    source: str = "assign_batches",
    claim_ids: Iterable[uuid.UUID] | None = None,
) -> list[Interchange]:
    """Put the practice's READY claims (or those of `claim_ids` that are READY) into new
    outbound interchanges, one per claim type, at most `max_claims_per_file` claims each.

    ISA13 and GS06 (per sender ID) are allocated, and every claim moves READY → BATCHED with
    its interchange_id set, in the caller's transaction: commit it and the claims, numbers and
    interchanges exist together; roll it back and none do. Concurrent runs never share a claim:
    PostgreSQL locks the claims it takes (FOR UPDATE SKIP LOCKED, so a parallel run takes
    others), SQLite serializes writers. Returns the new interchanges (none when nothing is
    READY).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise BatchError("now must be timezone-aware")
    if not 1 <= max_claims_per_file <= MAX_CLAIMS_PER_FILE:
        raise BatchError(f"max_claims_per_file must be 1 to {MAX_CLAIMS_PER_FILE}")
    practice = session.get(Practice, practice_id)
    if practice is None:
        raise BatchError(f"no practice {practice_id}")
    # Plain rows (id and what orders them), not ORM objects: the claims are moved in bulk.
    statement = (
        select(col(Claim.id), col(Claim.claim_type))
        .where(
            col(Claim.practice_id) == practice_id,
            col(Claim.status) == ClaimStatus.READY,
            col(Claim.interchange_id).is_(None),
        )
        .order_by(col(Claim.claim_type), col(Claim.patient_control_number))
        .with_for_update(skip_locked=True)
    )
    if claim_ids is not None:
        statement = statement.where(col(Claim.id).in_(list(claim_ids)))
    claims = session.execute(statement).all()
    by_type: dict[ClaimType, list[uuid.UUID]] = defaultdict(list)
    for claim_id, claim_type in claims:
        by_type[ClaimType(claim_type)].append(claim_id)

    created: list[Interchange] = []
    for claim_type in (ClaimType.PROFESSIONAL, ClaimType.INSTITUTIONAL):
        group = by_type.get(claim_type, [])
        for start in range(0, len(group), max_claims_per_file):
            chunk = group[start : start + max_claims_per_file]
            created.append(
                _assign_one(
                    session,
                    practice=practice,
                    profile_name=profile_name,
                    envelope=envelope,
                    kind=CLAIM_KINDS[claim_type],
                    claims=chunk,
                    now=now,
                    source=source,
                )
            )
    if created:
        logger.bind(practice=practice.slug).info(
            "assigned {} claim(s) to {} interchange(s)", len(claims), len(created)
        )
    return created


def _assign_one(
    session: Session,
    *,
    practice: Practice,
    profile_name: str,
    envelope: EnvelopeSettings,
    kind: InterchangeKind,
    claims: Sequence[uuid.UUID],
    now: datetime,
    source: str,
) -> Interchange:
    interchange = Interchange(
        practice_id=practice.id,
        clearinghouse=profile_name,
        direction=Direction.OUTBOUND,
        kind=kind,
        sender_id=envelope.sender_id,
        receiver_id=envelope.receiver_id,
        envelope=envelope.as_dict(),
        status=InterchangeStatus.ASSIGNED,
        claim_count=len(claims),
        created_at=now,
    )
    session.add(interchange)
    session.flush()
    interchange.isa_control_number = allocate(
        session,
        sender_id=envelope.sender_id,
        kind=ControlNumberKind.ISA,
        interchange_id=interchange.id,
    )
    interchange.gs_control_number = allocate(
        session,
        sender_id=envelope.sender_id,
        kind=ControlNumberKind.GS,
        interchange_id=interchange.id,
    )
    session.add(
        AuditEvent(
            practice_id=practice.id,
            actor=source,
            action=ASSIGNED_ACTION,
            entity_type="interchange",
            entity_id=str(interchange.id),
            detail={"claim_count": len(claims)},
            created_at=now,
        )
    )
    # One bulk move: interchange_id set and READY → BATCHED (with its ClaimEvent) for rows
    # still READY; a claim another run moved first makes this transaction roll back.
    step = ((ClaimStatus.BATCHED, "assigned to an 837 batch"),)
    values = (id_hex(interchange.id),)  # UUID columns take 32 hex digits (rcm.bulk)
    move_claims(
        session,
        [ClaimMove(claim_id, practice.id, ClaimStatus.READY, step, values) for claim_id in claims],
        source=str(interchange.id),
        columns=("interchange_id",),
    )
    return interchange


# --------------------------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------------------------


def envelope_of(session: Session, interchange: Interchange) -> EnvelopeSettings:
    """The envelope settings the interchange was assigned with (`Interchange.envelope`;
    migration 0002 copied them there from the audit events earlier versions wrote).
    The session is not read; callers pass it as they pass it everywhere else."""
    if not interchange.envelope:
        raise BatchError(f"interchange {interchange.id} has no recorded envelope settings")
    return EnvelopeSettings.from_dict(interchange.envelope)


def _interchange(session: Session, interchange_id: uuid.UUID) -> Interchange:
    interchange = session.get(Interchange, interchange_id)
    if interchange is None:
        raise BatchError(f"no interchange {interchange_id}")
    if interchange.direction != Direction.OUTBOUND or interchange.kind not in OUTBOUND_CLAIM_KINDS:
        raise BatchError(f"interchange {interchange_id} is not an outbound 837")
    return interchange


def build_interchange_bytes(session: Session, interchange_id: uuid.UUID) -> bytes:
    """The 837 file of an assigned interchange: a pure function of its rows (the creation time
    and control numbers are the Interchange row's, claims in patient-control-number order).

    A file already built is rebuilt byte for byte; if the rows changed since (its sha256 no
    longer matches) this raises instead of producing a second, different file under the same
    control numbers: use the archived copy.
    """
    interchange = _interchange(session, interchange_id)
    if interchange.isa_control_number is None or interchange.gs_control_number is None:
        raise BatchError(f"interchange {interchange_id} has no control numbers")
    practice = session.get(Practice, interchange.practice_id)
    if practice is None:
        raise BatchError(f"interchange {interchange_id} names no practice")
    settings = envelope_of(session, interchange)
    claims = load_claims_837(
        session,
        practice_id=interchange.practice_id,
        interchange_id=interchange.id,
        clearinghouse=interchange.clearinghouse,
    )
    if not claims:
        raise BatchError(f"interchange {interchange_id} has no claims assigned")
    kind = KIND_LETTER[InterchangeKind(interchange.kind)]
    created = interchange.created_at
    envelope = InterchangeEnvelope(
        sender_qualifier=settings.sender_qualifier,
        sender_id=interchange.sender_id or settings.sender_id,
        receiver_qualifier=settings.receiver_qualifier,
        receiver_id=interchange.receiver_id or settings.receiver_id,
        control_number=interchange.isa_control_number,
        group_control_number=interchange.gs_control_number,
        functional_id="HC",
        version=IMPLEMENTATION[kind],
        created=created,
        application_sender=settings.application_sender,
        application_receiver=settings.application_receiver,
        usage=settings.usage,
    )
    header = header_837(
        practice,
        SubmitterInfo(
            receiver_name=settings.receiver_name or interchange.clearinghouse.upper(),
            receiver_id=settings.application_receiver or settings.receiver_id,
            submitter_name=settings.submitter_name,
            submitter_id=settings.submitter_id,
            contact_name=settings.contact_name,
            contact_phone=settings.contact_phone,
        ),
        reference_id=f"{interchange.isa_control_number:09d}",
        created=created,
    )
    data = build_837_interchange(envelope, header, claims)
    if interchange.sha256 is not None and hashlib.sha256(data).hexdigest() != interchange.sha256:
        raise BatchError(
            f"interchange {interchange_id} was built from rows that have changed since; "
            "send the archived file instead of a rebuild"
        )
    return data


def file_name_for(interchange: Interchange, settings: EnvelopeSettings, practice_slug: str) -> str:
    """The outbound file name from the profile's template (fields as
    connectors.clearinghouse.ClearinghouseProfile.outbound_name)."""
    timestamp = interchange.created_at.strftime("%Y%m%d%H%M%S")
    return settings.file_name_template.format(
        practice=practice_slug,
        kind=InterchangeKind(interchange.kind).value,
        isa13=f"{interchange.isa_control_number or 0:09d}",
        timestamp=timestamp,
        date=timestamp[:8],
        time=timestamp[8:],
        sender_id=settings.sender_id.strip(),
    )


# --------------------------------------------------------------------------------------------
# The gate
# --------------------------------------------------------------------------------------------


def claims_by_segment(data: bytes) -> tuple[dict[int, list[str]], list[str]]:
    """Which claims (by CLM01) each segment of an 837 belongs to, by segment number counted
    from the ISA (as validation reports count). A segment inside a claim belongs to that
    claim; one in a billing provider, subscriber or patient loop belongs to every claim under
    it; envelope and header segments are absent (they concern every claim). Also returns every
    CLM01 in file order."""
    hl_parent: dict[str, str] = {}
    hl_segments: dict[str, list[int]] = defaultdict(list)
    hl_claims: dict[str, list[str]] = defaultdict(list)
    owner: dict[int, list[str]] = {}
    order: list[str] = []
    current_hl: str | None = None
    current_claim: str | None = None
    for seg in iter_segments(data):
        sid = seg.id
        if sid == "HL":
            current_hl = seg[1]
            hl_parent[current_hl] = seg[2]
            current_claim = None
            hl_segments[current_hl].append(seg.number)
        elif sid == "CLM":
            current_claim = seg[1]
            order.append(current_claim)
            owner[seg.number] = [current_claim]
            hl = current_hl
            while hl:
                hl_claims[hl].append(current_claim)
                hl = hl_parent.get(hl) or None
        elif sid in ("SE", "ST", "GE", "GS", "IEA", "ISA"):
            current_hl = current_claim = None
        elif current_claim is not None:
            owner[seg.number] = [current_claim]
        elif current_hl is not None:
            hl_segments[current_hl].append(seg.number)
    for hl, numbers in hl_segments.items():
        below = hl_claims.get(hl, [])
        for number in numbers:
            owner[number] = below
    return owner, order


def _edit(claim: Claim, issue: ValidationIssue | None, message: str | None = None) -> ClaimEdit:
    if issue is None:
        return ClaimEdit(
            practice_id=claim.practice_id,
            claim_id=claim.id,
            rule_id="pyx12-file-rejected",
            severity=EditSeverity.WARNING,
            message=message or "the 837 file this claim was in failed the pyx12 gate",
            source=EditSource.PYX12,
        )
    return ClaimEdit(
        practice_id=claim.practice_id,
        claim_id=claim.id,
        rule_id=f"pyx12-{issue.code}"[:64],
        severity=EditSeverity.ERROR,
        field=(issue.element or issue.segment_id or None),
        message=message or issue.describe(),
        source=EditSource.PYX12,
    )


def _claims_of(session: Session, interchange: Interchange) -> list[Claim]:
    return list(
        session.execute(
            select(Claim)
            .where(
                col(Claim.practice_id) == interchange.practice_id,
                col(Claim.interchange_id) == interchange.id,
            )
            .order_by(col(Claim.patient_control_number))
        ).scalars()
    )


def gate_interchange(
    session: Session,
    interchange_id: uuid.UUID,
    data: bytes,
    report: ValidationReport,
    *,
    practice_slug: str | None = None,
    source: str = "pyx12-gate",
) -> GateOutcome:
    """Record the pyx12 verdict on a built file (the report may come from a process pool).

    Valid: sha256, file name and status built, and the outcome carries the bytes. Invalid: the
    interchange is rejected (its error says why, positions only), and every claim in it moves
    BATCHED → HELD with its interchange cleared and the errors found in its own segments as
    ClaimEdit rows (source pyx12); claims whose segments are clean get a warning saying the
    file failed, so a biller can release them. Flushes; the caller commits.
    """
    interchange = _interchange(session, interchange_id)
    if interchange.status is not InterchangeStatus.ASSIGNED:
        raise BatchError(
            f"interchange {interchange_id} is {interchange.status.value}, not assigned"
        )
    practice = session.get(Practice, interchange.practice_id)
    slug = practice_slug or (practice.slug if practice else "practice")
    if report.valid and not report.errors:
        digest = hashlib.sha256(data).hexdigest()
        interchange.sha256 = digest
        interchange.file_name = file_name_for(interchange, envelope_of(session, interchange), slug)
        interchange.status = InterchangeStatus.BUILT
        interchange.error = None
        session.add(interchange)
        session.flush()
        return GateOutcome(
            interchange_id=interchange.id,
            status=InterchangeStatus.BUILT,
            file_name=interchange.file_name,
            sha256=digest,
            data=data,
            claim_count=interchange.claim_count,
        )
    return _reject(session, interchange, report.errors, data=data, source=source)


def _reject(
    session: Session,
    interchange: Interchange,
    errors: Sequence[ValidationIssue],
    *,
    data: bytes | None,
    source: str,
    messages: dict[str, str] | None = None,
) -> GateOutcome:
    claims = _claims_of(session, interchange)
    by_pcn = {claim.patient_control_number: claim for claim in claims}
    owner: dict[int, list[str]] = {}
    if data is not None:
        try:
            owner, _ = claims_by_segment(data)
        except X12Error:
            owner = {}
    found: dict[str, list[ValidationIssue]] = defaultdict(list)
    for issue in errors:
        targets = owner.get(issue.segment_number or -1) if issue.segment_number else None
        for pcn in targets if targets is not None else list(by_pcn):
            found[pcn].append(issue)
    edits: list[ClaimEdit] = []
    for pcn, claim in by_pcn.items():
        mine = found.get(pcn, [])
        if messages and pcn in messages:
            edits.append(
                _edit(claim, ValidationIssue("file", "x12-build", messages[pcn]), messages[pcn])
            )
        for issue in mine[:MAX_EDITS_PER_CLAIM]:
            edits.append(_edit(claim, issue))
        if not mine and not (messages and pcn in messages):
            edits.append(_edit(claim, None))
    session.add_all(edits)
    where = str(interchange.id)
    for claim in claims:
        claim.interchange_id = None
    transition_many(
        session, claims, ClaimStatus.HELD, reason="the 837 file failed the pyx12 gate", source=where
    )
    held = [claim.id for claim in claims]
    summary = "; ".join(issue.describe() for issue in errors[:5])
    interchange.status = InterchangeStatus.REJECTED
    interchange.error = (
        f"{len(errors)} X12 error(s); {summary}" if errors else "the file could not be built"
    )
    session.add(interchange)
    session.flush()
    logger.bind(interchange_id=where, source=source).warning(
        "interchange rejected by the gate: {} error(s), {} claim(s) held", len(errors), len(held)
    )
    return GateOutcome(
        interchange_id=interchange.id,
        status=InterchangeStatus.REJECTED,
        errors=len(errors),
        held_claim_ids=held,
        claim_count=len(claims),
    )


def _unbuildable(session: Session, interchange: Interchange) -> dict[str, str]:
    """Which claims stop the file from being built at all (a delimiter inside data, a missing
    required value), by building each alone. Messages name segments, never values."""
    practice = session.get(Practice, interchange.practice_id)
    assert practice is not None
    settings = envelope_of(session, interchange)
    header = header_837(
        practice,
        SubmitterInfo(
            receiver_name=settings.receiver_name or "RECEIVER", receiver_id=settings.receiver_id
        ),
        reference_id="1",
        created=interchange.created_at,
    )
    problems: dict[str, str] = {}
    for claim in _claims_of(session, interchange):
        try:
            (typed,) = load_claims_837(
                session,
                practice_id=interchange.practice_id,
                claim_ids=[claim.id],
                clearinghouse=interchange.clearinghouse,
            )
            build_837_segments(Submission837(header=header, claims=(typed,)))
        except (X12Error, RcmError, KeyError) as exc:
            problems[claim.patient_control_number] = f"cannot be written as X12: {exc}"[:500]
    return problems


def build_and_gate(
    session: Session,
    interchange_id: uuid.UUID,
    *,
    validator: Validator | None = None,
    source: str = "pyx12-gate",
) -> GateOutcome:
    """Build an assigned interchange and put it through the gate in one step (`validator`
    defaults to rcm.x12.validate.validate). A file that cannot even be rendered is rejected
    like one pyx12 refuses, with the offending claims named."""
    interchange = _interchange(session, interchange_id)
    try:
        data = build_interchange_bytes(session, interchange_id)
    except X12Error:
        problems = _unbuildable(session, interchange)
        return _reject(session, interchange, [], data=None, source=source, messages=problems)
    if validator is None:
        from rcm.x12.validate import validate

        validator = validate
    report = validator(data, file_name=f"interchange-{interchange_id}")
    return gate_interchange(session, interchange_id, data, report, source=source)


# --------------------------------------------------------------------------------------------
# Archive and upload hooks, resume
# --------------------------------------------------------------------------------------------


def record_archived(session: Session, interchange_id: uuid.UUID, archive_key: str) -> Interchange:
    """The caller stored the built bytes under `archive_key`. Idempotent; an interchange
    already uploaded keeps its status."""
    interchange = _interchange(session, interchange_id)
    status = InterchangeStatus(interchange.status)
    if status is InterchangeStatus.ASSIGNED or status is InterchangeStatus.REJECTED:
        raise BatchError(f"interchange {interchange_id} is {status.value}: nothing to archive")
    if interchange.archive_key and interchange.archive_key != archive_key:
        raise BatchError(f"interchange {interchange_id} is archived under another key")
    interchange.archive_key = archive_key
    if status is InterchangeStatus.BUILT:
        interchange.status = InterchangeStatus.ARCHIVED
    session.add(interchange)
    session.flush()
    return interchange


def record_uploaded(
    session: Session,
    interchange_id: uuid.UUID,
    remote_name: str,
    at: datetime,
    *,
    source: str | None = None,
) -> Interchange:
    """The caller uploaded the file as `remote_name`: the interchange is uploaded and its
    claims move BATCHED → SUBMITTED with submitted_at = `at`. Idempotent: a second call for
    an uploaded interchange changes nothing."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise BatchError("the upload time must be timezone-aware")
    interchange = _interchange(session, interchange_id)
    status = InterchangeStatus(interchange.status)
    if status in (InterchangeStatus.UPLOADED, InterchangeStatus.ACCEPTED):
        return interchange
    if status not in (InterchangeStatus.BUILT, InterchangeStatus.ARCHIVED):
        raise BatchError(f"interchange {interchange_id} is {status.value}: it cannot be uploaded")
    session.flush()
    rows = session.execute(
        select(col(Claim.id), col(Claim.status))
        .where(
            col(Claim.practice_id) == interchange.practice_id,
            col(Claim.interchange_id) == interchange.id,
        )
        .order_by(col(Claim.patient_control_number))
    ).all()
    step = ((ClaimStatus.SUBMITTED, "uploaded to the clearinghouse"),)
    moves = []
    for claim_id, status in rows:
        if status is ClaimStatus.BATCHED:
            moves.append(ClaimMove(claim_id, interchange.practice_id, ClaimStatus.BATCHED, step))
        elif status is not ClaimStatus.SUBMITTED:
            raise StateError(f"claim {claim_id} is {ClaimStatus(status).value}, not BATCHED")
    # One bulk move (only rows still BATCHED; submitted_at = `at`), a ClaimEvent each.
    move_claims(session, moves, source=source or remote_name, at=at)
    interchange.status = InterchangeStatus.UPLOADED
    interchange.uploaded_at = at
    interchange.file_name = remote_name
    session.add(interchange)
    session.flush()
    return interchange


def pending_interchanges(session: Session, *, practice_id: uuid.UUID) -> list[Interchange]:
    """The practice's outbound 837 interchanges a rerun must carry on with (assigned, built
    or archived, not yet uploaded), oldest first."""
    return list(
        session.execute(
            select(Interchange)
            .where(
                col(Interchange.practice_id) == practice_id,
                col(Interchange.direction) == Direction.OUTBOUND,
                col(Interchange.kind).in_(OUTBOUND_CLAIM_KINDS),
                col(Interchange.status).in_(RESUMABLE),
            )
            .order_by(col(Interchange.created_at), col(Interchange.isa_control_number))
        ).scalars()
    )


@dataclass
class BatchRun:
    """What `batch_practice` did: the outcome of every interchange it built or found built."""

    assigned: list[uuid.UUID] = field(default_factory=list)
    outcomes: list[GateOutcome] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "assigned_interchanges": len(self.assigned),
            "built": sum(1 for o in self.outcomes if o.passed),
            "rejected": sum(1 for o in self.outcomes if not o.passed),
            "claims": sum(o.claim_count for o in self.outcomes if o.passed),
            "held_claims": sum(len(o.held_claim_ids) for o in self.outcomes),
            "files": [
                {
                    "interchange_id": o.interchange_id,
                    "status": o.status.value,
                    "file_name": o.file_name,
                    "claims": o.claim_count,
                    "errors": o.errors,
                }
                for o in self.outcomes
            ],
        }


@dataclass(eq=False)
class GateTicket:
    """One assigned interchange built and handed to the validator, its verdict not yet
    recorded: what `start_gate` returns and `finish_gate` records. `data` is None when the
    file could not even be rendered (an X12Error while building); `finish_gate` then rejects
    it with the offending claims named, as `build_and_gate` does."""

    interchange_id: uuid.UUID
    data: bytes | None
    verdict: Future[ValidationReport] | None
    started: float = field(default_factory=time.monotonic)


def start_gate(
    session: Session,
    interchange_ids: Sequence[uuid.UUID],
    *,
    executor: Executor,
    validator: Validator | None = None,
) -> list[GateTicket]:
    """Build each assigned interchange and submit its bytes to `executor` for the gate; write
    nothing and wait for nothing. The caller goes on with other work (the next practice's
    files) while the executor's processes validate, and records the verdicts with
    `finish_gate`, in this session or a later one. The validator must be picklable for a
    process pool; the default is rcm.x12.validate.validate."""
    if validator is None:
        from rcm.x12.validate import validate

        validator = validate
    tickets: list[GateTicket] = []
    for interchange_id in interchange_ids:
        interchange = _interchange(session, interchange_id)
        if interchange.status is not InterchangeStatus.ASSIGNED:
            raise BatchError(
                f"interchange {interchange_id} is {interchange.status.value}, not assigned"
            )
        try:
            data = build_interchange_bytes(session, interchange_id)
        except X12Error:
            tickets.append(GateTicket(interchange_id, None, None))
            continue
        verdict = executor.submit(validator, data, file_name=f"interchange-{interchange_id}")
        tickets.append(GateTicket(interchange_id, data, verdict))
    return tickets


def finish_gate(
    session: Session, tickets: Sequence[GateTicket], *, source: str = "pyx12-gate"
) -> list[GateOutcome]:
    """Record the verdicts of `start_gate`'s tickets, in their order: built (sha256 and file
    name of exactly the bytes that were validated) or rejected (claims held with the errors).

    Every verdict is collected before anything is written, so the transaction holds its write
    locks (SQLite: the database's) only for the recording. A validator that failed rather
    than judged the file (a worker that died on every attempt, an exception inside the
    validator) raises here, with nothing recorded: the interchange stays assigned and its
    claims batched for a rerun, never rejected for the validator's fault."""
    reports = [None if t.verdict is None else t.verdict.result() for t in tickets]
    outcomes: list[GateOutcome] = []
    for ticket, report in zip(tickets, reports, strict=True):
        if ticket.data is None or report is None:
            interchange = _interchange(session, ticket.interchange_id)
            problems = _unbuildable(session, interchange)
            outcomes.append(
                _reject(session, interchange, [], data=None, source=source, messages=problems)
            )
            continue
        outcomes.append(
            gate_interchange(session, ticket.interchange_id, ticket.data, report, source=source)
        )
    return outcomes


def build_and_gate_all(
    session: Session,
    interchange_ids: Sequence[uuid.UUID],
    *,
    executor: Executor | None = None,
    validator: Validator | None = None,
    source: str = "pyx12-gate",
) -> list[GateOutcome]:
    """`build_and_gate` for several assigned interchanges, with the pyx12 runs spread over
    `executor` (a ProcessPoolExecutor: pyx12 is CPU-bound and holds a lock per process). The
    validator must be picklable for a process pool; the default is
    rcm.x12.validate.validate. Building and recording stay in this session.

    `start_gate` then `finish_gate`: each file is submitted as soon as it is built, so the
    pool validates while the next one is built; nothing is written until every verdict is
    in. To overlap the validation with more than these files' building (the next practice's
    steps), call the two halves yourself."""
    if executor is None:
        return [
            build_and_gate(session, i, validator=validator, source=source) for i in interchange_ids
        ]
    tickets = start_gate(session, interchange_ids, executor=executor, validator=validator)
    return finish_gate(session, tickets, source=source)


def batch_practice(
    session: Session,
    *,
    practice_id: uuid.UUID,
    profile_name: str,
    envelope: EnvelopeSettings,
    max_claims_per_file: int = MAX_CLAIMS_PER_FILE,
    now: datetime | None = None,
    validator: Validator | None = None,
    executor: Executor | None = None,
    source: str = "batch",
) -> BatchRun:
    """Resume what an earlier run left (assigned files are built and gated, built ones rebuilt
    byte for byte for the caller to archive and upload), then assign and build the READY
    claims, validating on `executor` when given. Commit is the caller's (the CLI commits
    once at the end)."""
    run = BatchRun()
    to_gate: list[uuid.UUID] = []
    for interchange in pending_interchanges(session, practice_id=practice_id):
        if interchange.status is InterchangeStatus.ASSIGNED:
            to_gate.append(interchange.id)
            continue
        data = build_interchange_bytes(session, interchange.id)
        run.outcomes.append(
            GateOutcome(
                interchange_id=interchange.id,
                status=interchange.status,
                file_name=interchange.file_name,
                sha256=interchange.sha256,
                data=data,
                claim_count=interchange.claim_count,
            )
        )
    for interchange in assign_batches(
        session,
        practice_id=practice_id,
        profile_name=profile_name,
        envelope=envelope,
        max_claims_per_file=max_claims_per_file,
        now=now or utcnow(),
        source=source,
    ):
        run.assigned.append(interchange.id)
        to_gate.append(interchange.id)
    run.outcomes += build_and_gate_all(
        session, to_gate, executor=executor, validator=validator, source=source
    )
    return run


__all__ = [
    "BatchError",
    "BatchRun",
    "EnvelopeSettings",
    "GateOutcome",
    "GateTicket",
    "assign_batches",
    "batch_practice",
    "build_and_gate",
    "build_and_gate_all",
    "build_interchange_bytes",
    "claims_by_segment",
    "envelope_of",
    "file_name_for",
    "finish_gate",
    "gate_interchange",
    "pending_interchanges",
    "record_archived",
    "record_uploaded",
    "start_gate",
]
