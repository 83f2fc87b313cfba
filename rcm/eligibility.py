"""Eligibility: 270 inquiries for upcoming appointments, and the 271 answers applied back.

`build_270` takes a practice's appointments in a date range (in the practice's time zone) and
asks about every active coverage of each patient that covers the visit date: one
EligibilityCheck per appointment × coverage (TRN02 = the check's ID), all of them in one
outbound 270 interchange (one ST per payer) whose control numbers are allocated in the caller's
transaction. Rebuilding for the same appointments reuses the pending checks: checks already in
an interchange are not asked again, and the existing file is rebuilt byte for byte from its rows
(the interchange row carries its envelope settings). At most one check per appointment and
coverage is pending (a partial unique index); a run that races another for the same
appointments reuses the other run's checks.

`apply_271` matches each answer to its check by the echoed trace number and records: status
(active, inactive on the visit date, not found, rejected), plan, coverage dates, copay,
coinsurance, deductible and out-of-pocket remaining, and the payer's corrections of subscriber
data. Every problem a biller must see becomes an open WorkItem on the appointment (no PHI in
it): eligibility_inactive, eligibility_not_found, eligibility_rejected, member_id_mismatch,
name_mismatch, unknown_secondary.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from rcm.batching import EnvelopeSettings, envelope_of, file_name_for
from rcm.control_numbers import allocate
from rcm.errors import RcmError, X12Error
from rcm.logging import logger
from rcm.models import (
    Appointment,
    AppointmentStatus,
    AuditEvent,
    ControlNumberKind,
    Coverage,
    Direction,
    EligibilityCheck,
    EligibilityCheckStatus,
    EligibilityStatus,
    Interchange,
    InterchangeKind,
    InterchangeStatus,
    Patient,
    Payer,
    Practice,
    WorkItem,
    WorkItemStatus,
    utcnow,
)
from rcm.x12.core import InterchangeEnvelope
from rcm.x12.x270 import (
    IMPLEMENTATION,
    EligibilityInquiry,
    EligibilityRequest,
    Member,
    Party,
    build_270_interchange,
)
from rcm.x12.x271 import EligibilityResponse, parse_271
from rcm.x12.x837 import Address

ASSIGNED_ACTION = "interchange.assigned"
# A run that loses the race for a pending check plans again; a third loss is not a race.
PLAN_ATTEMPTS = 3
OPEN_APPOINTMENTS = (AppointmentStatus.SCHEDULED, AppointmentStatus.CHECKED_IN)
SELF = "18"
NOT_FOUND_REASONS = frozenset({"67", "75"})
MEMBER_ID_REASONS = frozenset({"64", "72", "76"})
NAME_REASONS = frozenset({"65", "73"})
# Keys per IN (...) and rows per multi-row statement: well under SQLite's variable limit.
_IN_CHUNK = 2000


class EligibilityError(RcmError):
    """A 270 that cannot be built or a 271 that cannot be applied."""


@dataclass
class InquiryBatch:
    """The outcome of `build_270`: the interchange holding the new checks (None when every
    check was asked before), the bytes of that file, and the checks reused."""

    interchange: Interchange | None
    data: bytes | None
    created: list[uuid.UUID] = field(default_factory=list)
    reused: list[uuid.UUID] = field(default_factory=list)
    existing_interchanges: list[uuid.UUID] = field(default_factory=list)
    skipped: dict[uuid.UUID, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "interchange_id": self.interchange.id if self.interchange else None,
            "isa_control_number": self.interchange.isa_control_number if self.interchange else None,
            "checks_created": len(self.created),
            "checks_reused": len(self.reused),
            "appointments_skipped": len(self.skipped),
            "existing_interchanges": self.existing_interchanges,
        }


# --------------------------------------------------------------------------------------------
# 270
# --------------------------------------------------------------------------------------------


def _day_bounds(practice: Practice, first: date, last: date) -> tuple[datetime, datetime]:
    zone = ZoneInfo(practice.timezone or "UTC")
    start = datetime.combine(first, time(0, 0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0, 0), tzinfo=zone).astimezone(UTC)
    return start, end


ANSWERED = frozenset(
    {
        EligibilityCheckStatus.ACTIVE,
        EligibilityCheckStatus.INACTIVE,
        EligibilityCheckStatus.NOT_FOUND,
        EligibilityCheckStatus.REJECTED,
    }
)


def _covers(coverage: Any, on: date) -> bool:
    return (coverage.effective_date is None or coverage.effective_date <= on) and (
        coverage.termination_date is None or on <= coverage.termination_date
    )


def _plan_checks(
    session: Session,
    batch: InquiryBatch,
    *,
    practice_id: uuid.UUID,
    appointments: list[Any],
    coverages: dict[uuid.UUID, list[Any]],
    zone: ZoneInfo,
    now: datetime,
) -> tuple[list[EligibilityCheck], list[uuid.UUID], set[uuid.UUID]]:
    """The checks to put in a new 270 (pending ones not in an interchange yet, as ORM objects,
    and the IDs of new ones, inserted here as plain rows in one statement per chunk) and the
    interchanges already holding the other pending checks; records each in `batch`. A pending
    check for another visit date (the appointment moved) is superseded, or moved to the new
    date when it was never sent."""
    appointment_ids = [a.id for a in appointments]
    pending: dict[tuple[uuid.UUID, uuid.UUID], EligibilityCheck] = {}
    # A payer's answer for this visit stands: a rerun does not ask again. Errors are asked again.
    answered: set[tuple[uuid.UUID, uuid.UUID, date]] = set()
    for start in range(0, len(appointment_ids), _IN_CHUNK):
        chunk = appointment_ids[start : start + _IN_CHUNK]
        for check in session.execute(
            select(EligibilityCheck).where(
                col(EligibilityCheck.practice_id) == practice_id,
                col(EligibilityCheck.appointment_id).in_(chunk),
                col(EligibilityCheck.status) == EligibilityCheckStatus.PENDING,
            )
        ).scalars():
            assert check.appointment_id is not None
            pending[(check.appointment_id, check.coverage_id)] = check
        answered.update(
            (appointment_id, coverage_id, service_date)
            for appointment_id, coverage_id, service_date in session.execute(
                select(
                    col(EligibilityCheck.appointment_id),
                    col(EligibilityCheck.coverage_id),
                    col(EligibilityCheck.service_date),
                ).where(
                    col(EligibilityCheck.practice_id) == practice_id,
                    col(EligibilityCheck.appointment_id).in_(chunk),
                    col(EligibilityCheck.status).in_(ANSWERED),
                )
            )
        )

    reused_unsent: list[EligibilityCheck] = []
    new_rows: list[dict[str, Any]] = []
    existing: set[uuid.UUID] = set()
    for appointment in appointments:
        visit = appointment.scheduled_at.astimezone(zone).date()
        covering = [c for c in coverages.get(appointment.patient_id, []) if _covers(c, visit)]
        if not covering:
            batch.skipped[appointment.id] = "no active coverage on the visit date"
            continue
        for coverage in covering:
            if (appointment.id, coverage.id, visit) in answered:
                batch.skipped[appointment.id] = "the payer already answered for this visit"
                continue
            check = pending.get((appointment.id, coverage.id))
            if check is not None and check.service_date != visit:
                if check.interchange_id is None:
                    check.service_date = visit
                else:
                    check.status = EligibilityCheckStatus.SUPERSEDED
                    check = None
            if check is not None:
                batch.reused.append(check.id)
                if check.interchange_id is not None:
                    existing.add(check.interchange_id)
                else:
                    reused_unsent.append(check)
                continue
            check_id = uuid.uuid4()
            new_rows.append(
                {
                    "id": check_id,
                    "practice_id": practice_id,
                    "patient_id": appointment.patient_id,
                    "coverage_id": coverage.id,
                    "appointment_id": appointment.id,
                    "interchange_id": None,
                    "trace_number": check_id.hex.upper(),
                    "service_date": visit,
                    "status": EligibilityCheckStatus.PENDING,
                    "response": {},
                    "requested_at": now,
                    "responded_at": None,
                }
            )
            batch.created.append(check_id)
    # Superseded and moved checks first (they free the pending slot the new rows take).
    session.flush()
    table = EligibilityCheck.__table__  # type: ignore[attr-defined]
    for start in range(0, len(new_rows), _IN_CHUNK):
        session.execute(table.insert(), new_rows[start : start + _IN_CHUNK])
    return reused_unsent, [row["id"] for row in new_rows], existing


def build_270(
    session: Session,
    *,
    practice_id: uuid.UUID,
    date_from: date,
    date_to: date,
    profile_name: str,
    envelope: EnvelopeSettings,
    now: datetime,
    source: str = "eligibility",
) -> InquiryBatch:
    """Eligibility checks for the appointments from `date_from` to `date_to` (practice time
    zone), and one outbound 270 interchange holding the checks not yet asked. Flushes; the
    caller commits (and keeps the bytes: archiving and upload are the flow's)."""
    if now.tzinfo is None:
        raise EligibilityError("now must be timezone-aware")
    if date_to < date_from:
        raise EligibilityError("the date range ends before it starts")
    practice = session.get(Practice, practice_id)
    if practice is None:
        raise EligibilityError(f"no practice {practice_id}")
    zone = ZoneInfo(practice.timezone or "UTC")
    start, end = _day_bounds(practice, date_from, date_to)
    # Plain rows (what planning reads), not ORM objects.
    appointments = list(
        session.execute(
            select(col(Appointment.id), col(Appointment.patient_id), col(Appointment.scheduled_at))
            .where(
                col(Appointment.practice_id) == practice_id,
                col(Appointment.scheduled_at) >= start,
                col(Appointment.scheduled_at) < end,
                col(Appointment.status).in_(OPEN_APPOINTMENTS),
            )
            .order_by(col(Appointment.scheduled_at), col(Appointment.external_id))
        ).all()
    )
    batch = InquiryBatch(interchange=None, data=None)
    if not appointments:
        return batch
    coverages: dict[uuid.UUID, list[Any]] = defaultdict(list)
    patient_ids = sorted({a.patient_id for a in appointments}, key=str)
    for offset in range(0, len(patient_ids), _IN_CHUNK):
        for coverage in session.execute(
            select(
                col(Coverage.id),
                col(Coverage.patient_id),
                col(Coverage.effective_date),
                col(Coverage.termination_date),
            )
            .where(
                col(Coverage.practice_id) == practice_id,
                col(Coverage.active).is_(True),
                col(Coverage.patient_id).in_(patient_ids[offset : offset + _IN_CHUNK]),
            )
            .order_by(col(Coverage.priority))
        ):
            coverages[coverage.patient_id].append(coverage)
    # Two runs for the same appointments (a scheduled run and an operator's) may both find no
    # pending check and both insert one. On PostgreSQL the partial unique index lets one insert
    # through and fails the other when the first commits; the loser plans again and reuses the
    # winner's checks, which already sit in the winner's interchange. (SQLite serializes
    # writers: there the loser's first write fails as "database is locked" instead.)
    unsent: list[EligibilityCheck] = []
    new_ids: list[uuid.UUID] = []
    existing: set[uuid.UUID] = set()
    for attempt in range(1, PLAN_ATTEMPTS + 1):
        try:
            with session.begin_nested():
                unsent, new_ids, existing = _plan_checks(
                    session,
                    batch,
                    practice_id=practice_id,
                    appointments=appointments,
                    coverages=coverages,
                    zone=zone,
                    now=now,
                )
                session.flush()
            break
        except IntegrityError:
            if attempt == PLAN_ATTEMPTS:
                raise
            batch.created.clear()
            batch.reused.clear()
            batch.skipped.clear()
            logger.bind(practice=practice.slug).info(
                "a concurrent run asked about the same appointments; reusing its checks"
            )
    batch.existing_interchanges = sorted(existing, key=str)
    count = len(unsent) + len(new_ids)
    if not count:
        return batch

    interchange = Interchange(
        practice_id=practice_id,
        clearinghouse=profile_name,
        direction=Direction.OUTBOUND,
        kind=InterchangeKind.ELIGIBILITY_270,
        sender_id=envelope.sender_id,
        receiver_id=envelope.receiver_id,
        envelope=envelope.as_dict(),
        status=InterchangeStatus.ASSIGNED,
        claim_count=count,
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
            practice_id=practice_id,
            actor=source,
            action=ASSIGNED_ACTION,
            entity_type="interchange",
            entity_id=str(interchange.id),
            detail={"checks": count},
            created_at=now,
        )
    )
    for check in unsent:
        check.interchange_id = interchange.id
        session.add(check)
    session.flush()
    for offset in range(0, len(new_ids), _IN_CHUNK):
        session.execute(
            update(EligibilityCheck)
            .where(
                col(EligibilityCheck.practice_id) == practice_id,
                col(EligibilityCheck.id).in_(new_ids[offset : offset + _IN_CHUNK]),
            )
            .values(interchange_id=interchange.id)
        )
    data = build_270_bytes(session, interchange.id)
    interchange.sha256 = hashlib.sha256(data).hexdigest()
    interchange.file_name = file_name_for(interchange, envelope, practice.slug)
    interchange.status = InterchangeStatus.BUILT
    session.add(interchange)
    session.flush()
    batch.interchange = interchange
    batch.data = data
    logger.bind(practice=practice.slug, interchange_id=str(interchange.id)).info(
        "270 with {} inquiry(ies), {} reused", count, len(batch.reused)
    )
    return batch


def _sex(value: Any) -> str | None:
    text = getattr(value, "value", value)
    return str(text) if text in ("M", "F", "U") else None


def _member(coverage: Any, patient: Any) -> tuple[Member, Member | None]:
    if coverage.relationship == SELF:
        address = None
        if patient.address1 and patient.city:
            address = Address(
                line1=patient.address1,
                line2=patient.address2 or None,
                city=patient.city,
                state=patient.state,
                postal_code=patient.zip,
            )
        return (
            Member(
                last_name=patient.last_name,
                first_name=patient.first_name,
                middle_name=patient.middle_name,
                member_id=coverage.member_id,
                birth_date=patient.birth_date,
                sex=_sex(patient.sex),
                address=address,
            ),
            None,
        )
    subscriber = Member(
        last_name=coverage.subscriber_last_name or patient.last_name,
        first_name=coverage.subscriber_first_name,
        member_id=coverage.member_id,
        birth_date=coverage.subscriber_birth_date,
        sex=_sex(coverage.subscriber_sex),
    )
    dependent = Member(
        last_name=patient.last_name,
        first_name=patient.first_name,
        middle_name=patient.middle_name,
        birth_date=patient.birth_date,
        sex=_sex(patient.sex),
    )
    return subscriber, dependent


_COVERAGE_270 = tuple(
    col(c)
    for c in (
        Coverage.id,
        Coverage.payer_id,
        Coverage.relationship,
        Coverage.member_id,
        Coverage.subscriber_last_name,
        Coverage.subscriber_first_name,
        Coverage.subscriber_birth_date,
        Coverage.subscriber_sex,
    )
)
_PATIENT_270 = tuple(
    col(c)
    for c in (
        Patient.id,
        Patient.last_name,
        Patient.first_name,
        Patient.middle_name,
        Patient.birth_date,
        Patient.sex,
        Patient.address1,
        Patient.address2,
        Patient.city,
        Patient.state,
        Patient.zip,
    )
)


def _rows_in(
    session: Session,
    columns: tuple[Any, ...],
    key: Any,
    values: Iterable[Any],
    practice_column: Any,
    practice_id: uuid.UUID,
    *conditions: Any,
) -> list[Any]:
    """Rows of `columns` whose `key` is in `values` and of the practice (and meet
    `conditions`), one query per chunk."""
    keys = sorted(set(values), key=str)
    rows: list[Any] = []
    for start in range(0, len(keys), _IN_CHUNK):
        rows += session.execute(
            select(*columns).where(
                col(practice_column) == practice_id,
                col(key).in_(keys[start : start + _IN_CHUNK]),
                *conditions,
            )
        ).all()
    return rows


def build_270_bytes(session: Session, interchange_id: uuid.UUID) -> bytes:
    """The 270 file of an outbound eligibility interchange: a pure function of its rows (one
    ST per payer, inquiries in trace-number order, creation time from the row)."""
    interchange = session.get(Interchange, interchange_id)
    if interchange is None or interchange.kind != InterchangeKind.ELIGIBILITY_270:
        raise EligibilityError(f"no outbound 270 interchange {interchange_id}")
    if interchange.isa_control_number is None or interchange.gs_control_number is None:
        raise EligibilityError(f"interchange {interchange_id} has no control numbers")
    practice = session.get(Practice, interchange.practice_id)
    assert practice is not None
    settings = envelope_of(session, interchange)
    # Plain rows of the columns the file is made of, not ORM objects.
    practice_id = interchange.practice_id
    checks = list(
        session.execute(
            select(
                col(EligibilityCheck.trace_number),
                col(EligibilityCheck.coverage_id),
                col(EligibilityCheck.patient_id),
                col(EligibilityCheck.service_date),
            )
            .where(
                col(EligibilityCheck.practice_id) == practice_id,
                col(EligibilityCheck.interchange_id) == interchange.id,
            )
            .order_by(col(EligibilityCheck.trace_number))
        ).all()
    )
    if not checks:
        raise EligibilityError(f"interchange {interchange_id} has no eligibility checks")
    coverages = {
        c.id: c
        for c in _rows_in(
            session,
            _COVERAGE_270,
            Coverage.id,
            {x.coverage_id for x in checks},
            Coverage.practice_id,
            practice_id,
        )
    }
    patients = {
        p.id: p
        for p in _rows_in(
            session,
            _PATIENT_270,
            Patient.id,
            {x.patient_id for x in checks},
            Patient.practice_id,
            practice_id,
        )
    }
    payers = {
        p.id: p
        for p in session.execute(
            select(Payer).where(col(Payer.id).in_({c.payer_id for c in coverages.values()}))
        ).scalars()
    }
    receiver = Party(
        entity_id="1P",
        name=practice.name[:60],
        identifier=practice.billing_npi,
        id_qualifier="XX",
        entity_type="2",
    )
    by_payer: dict[uuid.UUID, list[EligibilityInquiry]] = defaultdict(list)
    originator = f"1{practice.tin}"
    for check in checks:
        coverage = coverages[check.coverage_id]
        subscriber, dependent = _member(coverage, patients[check.patient_id])
        by_payer[coverage.payer_id].append(
            EligibilityInquiry(
                trace_number=check.trace_number,
                trace_originator=originator,
                subscriber=subscriber,
                dependent=dependent,
                service_date=check.service_date,
            )
        )
    created = interchange.created_at
    requests = []
    for payer_id in sorted(by_payer, key=lambda p: (payers[p].key, str(p))):
        payer = payers[payer_id]
        payer_code = payer.clearinghouse_payer_ids.get(interchange.clearinghouse) or payer.payer_id
        requests.append(
            EligibilityRequest(
                source=Party(
                    entity_id="PR",
                    name=payer.name[:60],
                    identifier=str(payer_code),
                    id_qualifier="PI",
                    entity_type="2",
                ),
                receiver=receiver,
                inquiries=tuple(by_payer[payer_id]),
                reference_id=f"{interchange.isa_control_number:09d}",
                created=created,
            )
        )
    envelope = InterchangeEnvelope(
        sender_qualifier=settings.sender_qualifier,
        sender_id=interchange.sender_id or settings.sender_id,
        receiver_qualifier=settings.receiver_qualifier,
        receiver_id=interchange.receiver_id or settings.receiver_id,
        control_number=interchange.isa_control_number,
        group_control_number=interchange.gs_control_number,
        functional_id="HS",
        version=IMPLEMENTATION,
        created=created,
        application_sender=settings.application_sender,
        application_receiver=settings.application_receiver,
        usage=settings.usage,
    )
    return build_270_interchange(envelope, requests)


# --------------------------------------------------------------------------------------------
# 271
# --------------------------------------------------------------------------------------------


@dataclass
class ApplyResult:
    matched: int = 0
    unmatched: int = 0
    by_status: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    work_items: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    coverages_updated: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "matched": self.matched,
            "unmatched": self.unmatched,
            "by_status": dict(self.by_status),
            "work_items": dict(self.work_items),
            "coverages_updated": self.coverages_updated,
        }


def _money_pick(entries: list[dict[str, Any]], *, remaining: bool | None) -> dict[str, Any] | None:
    """The figure that applies to an office visit for the patient: individual level and
    in-network first, health benefit plan coverage (30) before other service types."""
    candidates = [e for e in entries if remaining is None or e["remaining"] == remaining]
    if not candidates:
        return None

    def rank(e: dict[str, Any]) -> tuple[int, int, int]:
        return (
            0 if e.get("coverage_level") in (None, "IND") else 1,
            0 if e.get("in_network") in (None, "Y", "W") else 1,
            0 if not e.get("service_types") or "30" in e["service_types"] else 1,
        )

    return sorted(candidates, key=rank)[0]


def _amount(entry: dict[str, Any] | None, key: str = "amount") -> Decimal | None:
    if entry is None or entry.get(key) is None:
        return None
    return Decimal(str(entry[key]))


def _covered_on(summary: dict[str, Any], visit: date) -> bool:
    """False when the answer's coverage or plan dates exclude the visit date."""
    dates = summary.get("dates") or {}
    ranges: list[tuple[date | None, date | None]] = []
    for begin, finish in (("346", "347"), ("356", "357")):
        start = dates.get(begin, {}).get("start")
        end = dates.get(finish, {}).get("start")
        if start or end:
            ranges.append(
                (
                    date.fromisoformat(start) if start else None,
                    date.fromisoformat(end) if end else None,
                )
            )
    for single in ("291", "307"):
        if single in dates:
            item = dates[single]
            ranges.append(
                (
                    date.fromisoformat(item["start"]),
                    date.fromisoformat(item["end"]) if item.get("end") else None,
                )
            )
    return all((s is None or s <= visit) and (e is None or visit <= e) for s, e in ranges)


_NOT_ALNUM = re.compile(r"[\W_]")  # \w is str.isalnum() plus "_"


def _norm(text: str | None) -> str:
    return _NOT_ALNUM.sub("", (text or "").upper())


class _Mutable:
    """A row's columns as attributes that `_apply_one` may set; remembers which it set, so
    only those are written back (in bulk)."""

    changed: set[str]

    def __init__(self, row: Any) -> None:
        self.__dict__.update(row._asdict())
        self.__dict__["changed"] = set()

    def __setattr__(self, name: str, value: Any) -> None:
        self.__dict__[name] = value
        self.changed.add(name)

    def __getattr__(self, name: str) -> Any:  # only for names the row did not have
        raise AttributeError(name)


_CHECK_271 = tuple(
    col(c)
    for c in (
        EligibilityCheck.id,
        EligibilityCheck.trace_number,
        EligibilityCheck.appointment_id,
        EligibilityCheck.coverage_id,
        EligibilityCheck.patient_id,
        EligibilityCheck.service_date,
    )
)
_COVERAGE_271 = tuple(
    col(c)
    for c in (
        Coverage.id,
        Coverage.relationship,
        Coverage.member_id,
        Coverage.subscriber_last_name,
        Coverage.subscriber_first_name,
        Coverage.subscriber_birth_date,
    )
)


def _write_answers(
    session: Session,
    practice_id: uuid.UUID,
    checks: list[_Mutable],
    coverages: Iterable[_Mutable],
    work_items: list[dict[str, Any]],
) -> None:
    """The answered checks (one executemany), the coverages grouped by the columns that
    changed (one executemany per group) and the new work items (one insert), then the ORM
    copies of those rows in the session are expired so they read what was written."""
    check_table = EligibilityCheck.__table__  # type: ignore[attr-defined]
    coverage_table = Coverage.__table__  # type: ignore[attr-defined]
    if checks:
        statement = (
            check_table.update()
            .where(check_table.c.id == bindparam("key"))
            .where(check_table.c.practice_id == bindparam("practice"))
            .values(
                status=bindparam("status"),
                response=bindparam("response"),
                responded_at=bindparam("responded_at"),
            )
        )
        params = [
            {
                "key": c.id,
                "practice": practice_id,
                "status": c.status,
                "response": c.response,
                "responded_at": c.responded_at,
            }
            for c in checks
        ]
        for start in range(0, len(params), _IN_CHUNK):
            session.execute(statement, params[start : start + _IN_CHUNK])
    groups: dict[tuple[str, ...], list[_Mutable]] = defaultdict(list)
    for coverage in coverages:
        if coverage.changed:
            groups[tuple(sorted(coverage.changed))].append(coverage)
    for names, members in groups.items():
        statement = (
            coverage_table.update()
            .where(coverage_table.c.id == bindparam("key"))
            .where(coverage_table.c.practice_id == bindparam("practice"))
            .values({name: bindparam(f"v_{name}") for name in names})
        )
        params = [
            {
                "key": c.id,
                "practice": practice_id,
                **{f"v_{name}": getattr(c, name) for name in names},
            }
            for c in members
        ]
        for start in range(0, len(params), _IN_CHUNK):
            session.execute(statement, params[start : start + _IN_CHUNK])
    if work_items:
        session.execute(WorkItem.__table__.insert(), work_items)  # type: ignore[attr-defined]
    written = {c.id for c in checks} | {c.id for group in groups.values() for c in group}
    for obj in list(session.identity_map.values()):
        if isinstance(obj, (EligibilityCheck, Coverage)) and obj.id in written:
            session.expire(obj)


def apply_271(
    session: Session,
    *,
    practice_id: uuid.UUID,
    data: bytes,
    interchange_id: uuid.UUID,
    now: datetime | None = None,
) -> ApplyResult:
    """Apply every answer of a 271 file (recorded as inbound interchange `interchange_id`) to
    the eligibility checks it answers and their coverages. Answers whose trace number matches
    no check of the practice are counted, not guessed. Flushes; the caller commits."""
    now = now or utcnow()
    interchange = session.get(Interchange, interchange_id)
    if interchange is None or interchange.practice_id != practice_id:
        raise EligibilityError(f"no interchange {interchange_id} for this practice")
    try:
        responses = parse_271(data, file_name=interchange.file_name, strict=False)
    except X12Error as exc:
        interchange.status = InterchangeStatus.QUARANTINED
        interchange.error = str(exc)
        session.add(interchange)
        session.flush()
        raise
    traces = {t: r for r in responses for t in r.trace_numbers}
    session.flush()
    checks: dict[str, _Mutable] = {}
    trace_list = list(traces)
    for start in range(0, len(trace_list), _IN_CHUNK):
        for row in session.execute(
            select(*_CHECK_271).where(
                col(EligibilityCheck.practice_id) == practice_id,
                col(EligibilityCheck.trace_number).in_(trace_list[start : start + _IN_CHUNK]),
            )
        ):
            checks[row.trace_number] = _Mutable(row)
    result = ApplyResult()
    result.unmatched = sum(1 for r in responses if not any(t in checks for t in r.trace_numbers))
    coverages = {
        c.id: _Mutable(c)
        for c in _rows_in(
            session,
            _COVERAGE_271,
            Coverage.id,
            {c.coverage_id for c in checks.values()},
            Coverage.practice_id,
            practice_id,
        )
    }
    patient_ids = {c.patient_id for c in checks.values()}
    known_payers: dict[uuid.UUID, set[str]] = defaultdict(set)
    last_names = {
        p.id: p.last_name
        for p in _rows_in(
            session,
            (col(Patient.id), col(Patient.last_name)),
            Patient.id,
            patient_ids,
            Patient.practice_id,
            practice_id,
        )
    }
    if patient_ids:
        payer_rows = {p.id: p for p in session.execute(select(Payer)).scalars()}
        for coverage in _rows_in(
            session,
            (col(Coverage.patient_id), col(Coverage.payer_id)),
            Coverage.patient_id,
            patient_ids,
            Coverage.practice_id,
            practice_id,
        ):
            payer = payer_rows.get(coverage.payer_id)
            if payer is not None:
                known_payers[coverage.patient_id] |= {
                    payer.payer_id,
                    *map(str, payer.clearinghouse_payer_ids.values()),
                }
    open_items = {
        (item.appointment_id, item.kind)
        for item in _rows_in(
            session,
            (col(WorkItem.appointment_id), col(WorkItem.kind)),
            WorkItem.appointment_id,
            {c.appointment_id for c in checks.values() if c.appointment_id},
            WorkItem.practice_id,
            practice_id,
            col(WorkItem.status) == WorkItemStatus.OPEN,
        )
    }
    work_items: list[dict[str, Any]] = []

    def flag(check: Any, kind: str, detail: str) -> None:
        key = (check.appointment_id, kind)
        if key in open_items:
            return
        open_items.add(key)
        work_items.append(
            {
                "id": uuid.uuid4(),
                "practice_id": practice_id,
                "kind": kind,
                "appointment_id": check.appointment_id,
                "claim_id": None,
                "detail": f"eligibility check {check.id}: {detail}",
                "status": WorkItemStatus.OPEN,
                "created_at": now,
                "resolved_at": None,
            }
        )
        result.work_items[kind] += 1

    answered: list[_Mutable] = []
    for trace, response in traces.items():
        check = checks.get(trace)
        if check is None:
            continue
        result.matched += 1
        coverage = coverages.get(check.coverage_id)
        status = _apply_one(
            check, coverage, response, known_payers, last_names.get(check.patient_id), flag, now
        )
        result.by_status[status.value] += 1
        answered.append(check)
        if coverage is not None:
            result.coverages_updated += 1
    _write_answers(session, practice_id, answered, coverages.values(), work_items)
    interchange.status = InterchangeStatus.PROCESSED
    interchange.processed_at = now
    session.add(interchange)
    session.flush()
    logger.bind(interchange_id=str(interchange_id)).info(
        "271 applied: {} matched, {} unmatched", result.matched, result.unmatched
    )
    return result


def _apply_one(
    check: Any,
    coverage: Any | None,
    response: EligibilityResponse,
    known_payers: dict[uuid.UUID, set[str]],
    patient_last_name: str | None,
    flag: Any,
    now: datetime,
) -> EligibilityCheckStatus:
    summary = response.coverage()
    reasons = {r["reason_code"] for r in summary["rejections"]}
    answer = summary["status"]
    if answer == "active" and not _covered_on(summary, check.service_date):
        answer = "inactive"
    if answer == "active":
        status = EligibilityCheckStatus.ACTIVE
    elif answer == "inactive":
        status = EligibilityCheckStatus.INACTIVE
        flag(
            check, "eligibility_inactive", "the payer reports no active coverage on the visit date"
        )
    elif answer == "rejected" and reasons & NOT_FOUND_REASONS:
        status = EligibilityCheckStatus.NOT_FOUND
        flag(check, "eligibility_not_found", "the payer did not find the member")
    elif answer == "rejected":
        status = EligibilityCheckStatus.REJECTED
        codes = ", ".join(sorted(reasons))
        flag(check, "eligibility_rejected", f"the payer rejected the inquiry (AAA03 {codes})")
    else:
        status = EligibilityCheckStatus.ERROR
        flag(check, "eligibility_rejected", "the answer carries no eligibility benefit")
    if reasons & MEMBER_ID_REASONS:
        flag(check, "member_id_mismatch", "the payer does not recognize the member ID sent")
    if reasons & NAME_REASONS:
        flag(check, "name_mismatch", "the payer does not recognize the name sent")
    check.status = status
    check.response = summary
    check.responded_at = now
    if coverage is None:
        return status

    subscriber = response.subscriber
    if (
        subscriber is not None
        and subscriber.member_id
        and status is not EligibilityCheckStatus.NOT_FOUND
    ):
        if _norm(subscriber.member_id) != _norm(coverage.member_id):
            flag(check, "member_id_mismatch", "the payer answered with another member ID")
            if subscriber.payer_corrected:
                coverage.member_id = subscriber.member_id
        sent_last = (
            coverage.subscriber_last_name if coverage.relationship != SELF else patient_last_name
        )
        if sent_last and subscriber.last_name and _norm(sent_last) != _norm(subscriber.last_name):
            flag(check, "name_mismatch", "the payer answered with another subscriber name")
        if subscriber.payer_corrected and coverage.relationship != SELF:
            coverage.subscriber_last_name = subscriber.last_name or coverage.subscriber_last_name
            coverage.subscriber_first_name = subscriber.first_name or coverage.subscriber_first_name
            coverage.subscriber_birth_date = subscriber.birth_date or coverage.subscriber_birth_date
    coverage.eligibility_status = {
        EligibilityCheckStatus.ACTIVE: EligibilityStatus.ACTIVE,
        EligibilityCheckStatus.INACTIVE: EligibilityStatus.INACTIVE,
        EligibilityCheckStatus.NOT_FOUND: EligibilityStatus.NOT_FOUND,
    }.get(status, EligibilityStatus.ERROR)
    coverage.eligibility_checked_at = now
    if status is EligibilityCheckStatus.ACTIVE:
        if summary.get("plan"):
            coverage.plan_name = str(summary["plan"])
        copay = _amount(_money_pick(summary["copay"], remaining=None))
        if copay is not None:
            coverage.copay = copay
        coinsurance = _amount(_money_pick(summary["coinsurance"], remaining=None), "percent")
        if coinsurance is not None:
            # EB08 is a fraction (0.2 = 20 %); the coverage keeps a percentage.
            coverage.coinsurance_percent = (
                coinsurance * 100 if coinsurance <= 1 else coinsurance
            ).quantize(Decimal("0.01"))
        deductible = _amount(_money_pick(summary["deductible"], remaining=True))
        if deductible is not None:
            coverage.deductible_remaining = deductible
        out_of_pocket = _amount(_money_pick(summary["out_of_pocket"], remaining=True))
        if out_of_pocket is not None:
            coverage.out_of_pocket_remaining = out_of_pocket
        known = known_payers.get(check.patient_id, set())
        for other in summary["other_payers"]:
            if not other.get("payer_id") or other["payer_id"] not in known:
                flag(
                    check,
                    "unknown_secondary",
                    "the payer reports another payer the practice has not recorded",
                )
                break
    return status


def record_inbound(
    session: Session,
    *,
    practice_id: uuid.UUID,
    clearinghouse: str,
    data: bytes,
    file_name: str | None,
    kind: InterchangeKind = InterchangeKind.ELIGIBILITY_271,
    now: datetime | None = None,
) -> tuple[Interchange, bool]:
    """The inbound interchange row of a received file, keyed by (clearinghouse, sha256), and
    whether it is new. A file seen before is returned as it is (a duplicate for the caller to
    skip)."""
    digest = hashlib.sha256(data).hexdigest()
    found = session.execute(
        select(Interchange).where(
            col(Interchange.clearinghouse) == clearinghouse, col(Interchange.sha256) == digest
        )
    ).scalar()
    if found is not None:
        return found, False
    row = Interchange(
        practice_id=practice_id,
        clearinghouse=clearinghouse,
        direction=Direction.INBOUND,
        kind=kind,
        file_name=file_name,
        sha256=digest,
        status=InterchangeStatus.RECEIVED,
        created_at=now or utcnow(),
    )
    session.add(row)
    session.flush()
    return row, True


def _outbound_270(session: Session, interchange_id: uuid.UUID) -> Interchange:
    row = session.get(Interchange, interchange_id)
    if (
        row is None
        or row.kind != InterchangeKind.ELIGIBILITY_270
        or (row.direction != Direction.OUTBOUND)
    ):
        raise EligibilityError(f"no outbound 270 interchange {interchange_id}")
    return row


def record_archived(session: Session, interchange_id: uuid.UUID, archive_key: str) -> Interchange:
    """The caller archived the 270 under `archive_key` (built → archived). Idempotent."""
    row = _outbound_270(session, interchange_id)
    if row.archive_key and row.archive_key != archive_key:
        raise EligibilityError(f"interchange {interchange_id} is archived under another key")
    row.archive_key = archive_key
    if row.status is InterchangeStatus.BUILT:
        row.status = InterchangeStatus.ARCHIVED
    session.add(row)
    session.flush()
    return row


def record_uploaded(
    session: Session,
    interchange_id: uuid.UUID,
    remote_name: str,
    at: datetime,
    *,
    source: str | None = None,
) -> Interchange:
    """The caller uploaded the 270 as `remote_name` (→ uploaded). Idempotent."""
    if at.tzinfo is None:
        raise EligibilityError("the upload time must be timezone-aware")
    row = _outbound_270(session, interchange_id)
    if row.status is InterchangeStatus.UPLOADED:
        return row
    if row.status not in (InterchangeStatus.BUILT, InterchangeStatus.ARCHIVED):
        raise EligibilityError(f"interchange {interchange_id} is {row.status.value}")
    row.status = InterchangeStatus.UPLOADED
    row.uploaded_at = at
    row.file_name = remote_name
    session.add(row)
    session.flush()
    return row


def checks_of(session: Session, interchange_ids: Iterable[uuid.UUID]) -> list[EligibilityCheck]:
    """The eligibility checks of the given 270 interchanges."""
    return list(
        session.execute(
            select(EligibilityCheck).where(
                col(EligibilityCheck.interchange_id).in_(list(interchange_ids))
            )
        ).scalars()
    )


__all__ = [
    "ApplyResult",
    "EligibilityError",
    "InquiryBatch",
    "apply_271",
    "build_270",
    "build_270_bytes",
    "checks_of",
    "record_archived",
    "record_inbound",
    "record_uploaded",
]
