"""Claims from charges: every encounter without a claim becomes a DRAFT claim to its primary
coverage, with a charge on the ledger for each service line.

The work is done in bulk (a handful of queries per chunk of encounters, never one per
encounter) because a practice's first import can bring 100,000 encounters at once. Rerunning
creates nothing new: an encounter that has any claim is skipped, and the patient control number
is a function of the encounter, so two runs racing each other collide on the unique constraint
(practice_id, patient_control_number) instead of billing one visit twice.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, select
from sqlmodel import Session, col

from rcm.bulk import BulkWriter, id_hex, new_hex_id
from rcm.errors import RcmError
from rcm.ledger import LedgerRows
from rcm.logging import logger
from rcm.models import (
    Claim,
    ClaimEvent,
    ClaimStatus,
    ClaimType,
    Coverage,
    Encounter,
    FrequencyCode,
    LedgerKind,
    PayerResponsibility,
    Practice,
    Responsible,
    ServiceLine,
    WorkItem,
    WorkItemStatus,
    utcnow,
)

PCN_MAX_LENGTH = 20
CHUNK_SIZE = 5000
NO_PRIMARY_COVERAGE = "no_primary_coverage"
_NON_ALNUM = re.compile(r"[^A-Z0-9]")


@dataclass
class CreateResult:
    """What one run did. `skipped` maps an encounter ID to why it got no claim."""

    practice_id: uuid.UUID
    created: list[uuid.UUID] = field(default_factory=list)
    skipped: dict[uuid.UUID, str] = field(default_factory=dict)
    total_charge: Decimal = Decimal("0.00")
    work_items: int = 0

    def summary(self) -> dict[str, Any]:
        reasons: dict[str, int] = defaultdict(int)
        for reason in self.skipped.values():
            reasons[reason] += 1
        return {
            "created": len(self.created),
            "skipped": len(self.skipped),
            "skipped_by_reason": dict(reasons),
            "total_charge": self.total_charge,
            "work_items": self.work_items,
        }


def practice_prefix(slug: str) -> str:
    """Three letters or digits of the practice slug: CLM01 names the practice, so a claim number
    read from an ERA or a payer's phone queue points at the right client."""
    letters = _NON_ALNUM.sub("", slug.upper())
    return (letters or "RCM")[:3]


def _hash_suffix(text: str, length: int) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii")[:length]


def patient_control_number(prefix: str, external_id: str, *, salt: int = 0) -> str:
    """CLM01 for an encounter: prefix + '-' + the EHR's encounter ID when that fits in 20
    characters, otherwise prefix + '.' + a hash of the ID (never a cut-off ID: two long IDs
    that share a beginning would collide). `salt` > 0 only after a collision."""
    literal = f"{prefix}-{external_id}"
    if salt == 0 and len(literal) <= PCN_MAX_LENGTH and _is_clm01_safe(external_id):
        return literal
    seed = external_id if salt == 0 else f"{external_id}\x00{salt}"
    return f"{prefix}.{_hash_suffix(seed, PCN_MAX_LENGTH - len(prefix) - 1)}"


def _is_clm01_safe(text: str) -> bool:
    return bool(text) and all(ch.isalnum() or ch in "-._" for ch in text) and text.isascii()


def derived_control_number(
    original: str, marker: str, taken: Iterable[str], *, limit: int = 99
) -> str:
    """A new CLM01 for a claim derived from another (R replacement, V void, S secondary):
    the original's number with marker and sequence, shortened from the left of the suffix if
    needed, first one not in `taken`."""
    used = set(taken)
    for sequence in range(1, limit + 1):
        suffix = f"{marker}{sequence}"
        candidate = original[: PCN_MAX_LENGTH - len(suffix)] + suffix
        if candidate not in used:
            return candidate
    raise RcmError(f"no free patient control number derived from claim number {original}")


def _covers(coverage: Any, on: date) -> bool:
    return (coverage.effective_date is None or coverage.effective_date <= on) and (
        coverage.termination_date is None or on <= coverage.termination_date
    )


def primary_coverage(
    candidates: Sequence[Any], service_date: date, preferred: uuid.UUID | None = None
) -> Any:
    """The priority-1 active coverage on the date of service; the encounter's own coverage
    wins when it qualifies, otherwise the most recently effective one."""
    eligible = [c for c in candidates if c.priority == 1 and c.active and _covers(c, service_date)]
    if not eligible:
        return None
    for coverage in eligible:
        if coverage.id == preferred:
            return coverage
    eligible.sort(key=lambda c: (c.effective_date or date.min, str(c.id)), reverse=True)
    return eligible[0]


_ENCOUNTER_COLUMNS = tuple(
    col(c)
    for c in (
        Encounter.id,
        Encounter.external_id,
        Encounter.patient_id,
        Encounter.coverage_id,
        Encounter.service_date,
        Encounter.claim_type,
        Encounter.admission_date,
        Encounter.discharge_date,
    )
)
_COVERAGE_COLUMNS = tuple(
    col(c)
    for c in (
        Coverage.id,
        Coverage.patient_id,
        Coverage.payer_id,
        Coverage.priority,
        Coverage.active,
        Coverage.effective_date,
        Coverage.termination_date,
    )
)
# The columns of a new claim row, in the order the bulk writers take them (claim creation
# here, secondary claims in rcm.posting).
NEW_CLAIM_COLUMNS = (
    "id",
    "practice_id",
    "encounter_id",
    "patient_id",
    "coverage_id",
    "payer_id",
    "patient_control_number",
    "claim_type",
    "frequency_code",
    "payer_responsibility",
    "status",
    "total_charge",
    "service_date_from",
    "service_date_to",
    "created_at",
    "updated_at",
)
_EVENT_INSERT = (
    "id",
    "practice_id",
    "claim_id",
    "from_status",
    "to_status",
    "reason",
    "source",
    "created_at",
)


def _unbilled(practice_id: uuid.UUID) -> Any:
    # NOT IN over one uncorrelated subquery: the database builds the set of billed encounters
    # once. A correlated NOT EXISTS let SQLite probe claims through (practice_id, status) and
    # scan the practice's claims once per encounter.
    billed = select(col(Claim.encounter_id)).where(col(Claim.practice_id) == practice_id)
    return and_(col(Encounter.practice_id) == practice_id, col(Encounter.id).not_in(billed))


def create_claims(
    session: Session,
    *,
    practice_id: uuid.UUID,
    today: date,
    source: str = "create_claims",
    chunk_size: int = CHUNK_SIZE,
) -> CreateResult:
    """Turn every encounter of the practice that has no claim into a DRAFT claim.

    The claim goes to the patient's primary coverage active on the date of service
    (professional or institutional by the encounter's claim type), carries a patient control
    number derived from the encounter, the sum of its lines as total charge, a ClaimEvent, and
    a `charge` ledger entry per service line owed by the payer. Encounters without a primary
    coverage get one open work item each (no PHI in it) and no claim. Flushes; the caller
    commits. `today` dates nothing on the claim; it is recorded in the events' reason so a
    rerun with another date is traceable.
    """
    practice = session.get(Practice, practice_id)
    if practice is None:
        raise RcmError(f"no practice {practice_id}")
    prefix = practice_prefix(practice.slug)
    result = CreateResult(practice_id=practice_id)
    log = logger.bind(practice=practice.slug)

    # Plain rows, not ORM entities: nothing of the run stays in the session's identity map.
    encounters = session.execute(
        select(*_ENCOUNTER_COLUMNS)
        .where(_unbilled(practice_id))
        .order_by(col(Encounter.service_date), col(Encounter.external_id))
    ).all()
    if not encounters:
        return result

    # Plain rows (the attributes primary_coverage reads), not ORM objects: a practice has a
    # coverage per patient, and only the encounters' patients are wanted (loaded per chunk).
    coverages: dict[uuid.UUID, list[Any]] = defaultdict(list)

    open_flags = set(
        session.execute(
            select(col(WorkItem.detail)).where(
                col(WorkItem.practice_id) == practice_id,
                col(WorkItem.kind) == NO_PRIMARY_COVERAGE,
                col(WorkItem.status) == WorkItemStatus.OPEN,
            )
        ).scalars()
    )

    for start in range(0, len(encounters), chunk_size):
        _create_chunk(
            session,
            practice_id=practice_id,
            prefix=prefix,
            encounters=encounters[start : start + chunk_size],
            coverages=coverages,
            open_flags=open_flags,
            result=result,
            reason=f"created from encounter charges ({today.isoformat()})",
            source=source,
        )
    log.info(
        "created {} claim(s), skipped {} encounter(s)", len(result.created), len(result.skipped)
    )
    return result


def _create_chunk(
    session: Session,
    *,
    practice_id: uuid.UUID,
    prefix: str,
    encounters: Sequence[Any],
    coverages: dict[uuid.UUID, list[Any]],
    open_flags: set[str],
    result: CreateResult,
    reason: str,
    source: str,
) -> None:
    encounter_ids = [encounter.id for encounter in encounters]
    lines: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for line in session.execute(
        select(
            col(ServiceLine.id),
            col(ServiceLine.encounter_id),
            col(ServiceLine.charge),
            col(ServiceLine.service_date),
        )
        .where(
            col(ServiceLine.practice_id) == practice_id,
            col(ServiceLine.encounter_id).in_(encounter_ids),
        )
        .order_by(col(ServiceLine.encounter_id), col(ServiceLine.line_number))
    ):
        lines[line.encounter_id].append(line)

    patients = list({e.patient_id for e in encounters} - coverages.keys())
    for start in range(0, len(patients), CHUNK_SIZE):
        for coverage in session.execute(
            select(*_COVERAGE_COLUMNS).where(
                col(Coverage.practice_id) == practice_id,
                col(Coverage.priority) == 1,
                col(Coverage.active).is_(True),
                col(Coverage.patient_id).in_(patients[start : start + CHUNK_SIZE]),
            )
        ):
            coverages[coverage.patient_id].append(coverage)

    wanted: dict[uuid.UUID, str] = {}
    for encounter in encounters:
        wanted[encounter.id] = patient_control_number(prefix, encounter.external_id)
    taken = set(
        session.execute(
            select(col(Claim.patient_control_number)).where(
                col(Claim.practice_id) == practice_id,
                col(Claim.patient_control_number).in_(set(wanted.values())),
            )
        ).scalars()
    )

    now = utcnow()
    writer = BulkWriter(session.connection())
    claims, events = Claim.__table__, ClaimEvent.__table__  # type: ignore[attr-defined]
    money = writer.converter(claims, "total_charge")
    day = writer.converter(claims, "service_date_from")
    stamp = writer.converter(claims, "created_at")(now)
    practice_hex = id_hex(practice_id)
    draft, original = ClaimStatus.DRAFT.value, FrequencyCode.ORIGINAL.value
    primary = PayerResponsibility.PRIMARY.value
    ledger = LedgerRows(writer, practice_id=practice_hex, created_at=now)
    charge, payer = LedgerKind.CHARGE.value, Responsible.PAYER.value
    claim_rows: list[tuple[Any, ...]] = []
    event_rows: list[tuple[Any, ...]] = []
    for encounter in encounters:
        encounter_lines = lines.get(encounter.id)
        if not encounter_lines:
            result.skipped[encounter.id] = "no service lines"
            continue
        coverage = primary_coverage(
            coverages.get(encounter.patient_id, []), encounter.service_date, encounter.coverage_id
        )
        if coverage is None:
            result.skipped[encounter.id] = "no primary coverage active on the date of service"
            detail = f"encounter {encounter.id}: no primary coverage active on the date of service"
            if detail not in open_flags:
                session.add(
                    WorkItem(
                        practice_id=practice_id,
                        kind=NO_PRIMARY_COVERAGE,
                        detail=detail,
                        created_at=now,
                    )
                )
                open_flags.add(detail)
                result.work_items += 1
            continue
        pcn = wanted[encounter.id]
        salt = 0
        while pcn in taken:
            salt += 1
            pcn = patient_control_number(prefix, encounter.external_id, salt=salt)
        taken.add(pcn)

        claim_hex = new_hex_id()
        dates = [line.service_date or encounter.service_date for line in encounter_lines]
        dates.append(encounter.service_date)
        if encounter.claim_type == ClaimType.INSTITUTIONAL:
            dates += [d for d in (encounter.admission_date, encounter.discharge_date) if d]
        total = sum((line.charge for line in encounter_lines), Decimal("0.00"))
        claim_rows.append(
            (
                claim_hex,
                practice_hex,
                id_hex(encounter.id),
                id_hex(encounter.patient_id),
                id_hex(coverage.id),
                id_hex(coverage.payer_id),
                pcn,
                ClaimType(encounter.claim_type).value,
                original,
                primary,
                draft,
                money(total),
                day(min(dates)),
                day(max(dates)),
                stamp,
                stamp,
            )
        )
        event_rows.append(
            (new_hex_id(), practice_hex, claim_hex, draft, draft, reason, source, stamp)
        )
        for line in encounter_lines:
            ledger.add(claim_hex, id_hex(line.id), charge, line.charge, payer, None, None)
        result.created.append(uuid.UUID(claim_hex))
        result.total_charge += total

    if claim_rows:
        writer.insert(claims, NEW_CLAIM_COLUMNS, claim_rows)
        writer.insert(events, _EVENT_INSERT, event_rows)
        ledger.write()
    session.flush()
