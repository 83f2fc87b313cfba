"""Appointments CSV: the schedule that drives eligibility checks (docs/import-formats.md).

Keyed by the scheduling system's appointment ID. A rescheduled or cancelled appointment updates
its row; an appointment ID that now names another patient is a problem, not an update. Times
without a UTC offset are wall-clock times in the practice's time zone and are stored in UTC.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select, update
from sqlmodel import Session, col

from rcm.bulk import BulkWriter, as_uuid, gc_paused, id_hex, new_hex_id
from rcm.imports.common import (
    ACCOUNT_PATTERN,
    EXTERNAL_ID_PATTERN,
    FileMemo,
    ImportRejectedError,
    ImportResult,
    RowCheck,
    RowProblem,
    get_practice,
    patient_keys,
    providers_by_npi,
    read_csv,
    record_import,
    sha256_hex,
)
from rcm.rows import hex_key, one_of, stored_text

REQUIRED = ("appointment_id", "patient_account", "scheduled_at", "rendering_npi")
OPTIONAL = ("visit_type", "status")
STATUSES = {
    "scheduled": "scheduled",
    "checked_in": "checked_in",
    "completed": "completed",
    "cancelled": "cancelled",
    "canceled": "cancelled",
}
_FORMATS = (
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %I:%M %p",
)
CLINICIAN_ROLES = {"rendering", "attending"}


def parse_scheduled_at(text: str, zone: ZoneInfo) -> datetime | None:
    """A UTC datetime; naive times are in `zone` (the practice's time zone)."""
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        for fmt in _FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def import_appointments(
    session: Session,
    practice_slug: str,
    data: bytes,
    *,
    source_name: str = "appointments.csv",
    actor: str = "import",
) -> ImportResult:
    """Create or update appointments. ImportRejectedError (nothing written) on any bad row."""
    with gc_paused():
        return _import_appointments(session, practice_slug, data, source_name, actor)


def _import_appointments(
    session: Session, practice_slug: str, data: bytes, source_name: str, actor: str
) -> ImportResult:
    from rcm.models import Appointment

    practice = get_practice(session, practice_slug)
    zone = ZoneInfo(practice.timezone)
    sha256 = sha256_hex(data)
    csv_file = read_csv(data, source_name=source_name, required=REQUIRED, optional=OPTIONAL)
    patients = patient_keys(
        session, practice.id, {row.get("patient_account") for row in csv_file.rows} - {""}
    )
    providers = providers_by_npi(session, practice.id)
    existing = _stored(
        session, practice.id, {row.get("appointment_id") for row in csv_file.rows} - {""}
    )

    problems: list[RowProblem] = []
    memo = FileMemo()
    parsed: list[_Appointment] = []
    first_line: dict[str, int] = {}
    for row in csv_file.rows:
        check = RowCheck(source_name, row, problems, memo)
        before = len(problems)
        appointment_id = check.text(
            "appointment_id",
            pattern=EXTERNAL_ID_PATTERN,
            pattern_help="1-80 letters, digits, '.', '_' or '-'",
        )
        account = check.text(
            "patient_account", pattern=ACCOUNT_PATTERN, pattern_help="not an account number"
        )
        patient = patients.get(account) if account else None
        if account and patient is None:
            check.problem(
                "patient_account", "no patient with this account number (import patients first)"
            )
        scheduled_text = check.text("scheduled_at")
        scheduled_at = parse_scheduled_at(scheduled_text, zone) if scheduled_text else None
        if scheduled_text and scheduled_at is None:
            check.problem("scheduled_at", "not a date and time (YYYY-MM-DD HH:MM)")
        npi = check.npi("rendering_npi")
        provider = providers.get(npi) if npi else None
        if npi and provider is None:
            check.problem("rendering_npi", f"NPI {npi} is not a provider of this practice")
        elif provider is not None and provider.role not in CLINICIAN_ROLES:
            check.problem(
                "rendering_npi", f"NPI {npi} is a {provider.role} provider, not rendering"
            )
        visit_type = check.text("visit_type", required=False, max_length=64)
        status = check.choice("status", STATUSES, default="scheduled")
        if appointment_id is not None:
            if appointment_id in first_line:
                check.problem("appointment_id", f"duplicate of line {first_line[appointment_id]}")
            first_line.setdefault(appointment_id, row.line)
            current = existing.get(appointment_id)
            if current is not None and patient is not None and current.patient_id != patient:
                check.problem("patient_account", "this appointment ID belongs to another patient")
        if len(problems) == before and appointment_id and patient and provider and scheduled_at:
            parsed.append(
                _Appointment(
                    appointment_id,
                    patient,
                    provider.id,
                    scheduled_at,
                    visit_type,
                    status or "scheduled",
                )
            )
    if problems:
        raise ImportRejectedError(source_name, problems)

    table = Appointment.__table__  # type: ignore[attr-defined]
    writer = BulkWriter(session.connection())
    stamp = writer.converter(table, "scheduled_at")
    practice_key = id_hex(practice.id)
    new_rows: list[tuple[Any, ...]] = []
    changes: list[dict[str, Any]] = []
    unchanged = 0
    for appointment in parsed:
        current = existing.get(appointment.external_id)
        if current is None:
            new_rows.append(
                (
                    new_hex_id(),
                    practice_key,
                    appointment.external_id,
                    appointment.patient_id,
                    appointment.provider_id,
                    stamp(appointment.scheduled_at),
                    appointment.visit_type,
                    appointment.status,
                )
            )
        elif (current.provider_id, current.scheduled_at, current.visit_type, current.status) != (
            appointment.provider_id,
            appointment.scheduled_at,
            appointment.visit_type,
            appointment.status,
        ):
            changes.append(
                {
                    "key": as_uuid(current.id),
                    "provider": as_uuid(appointment.provider_id),
                    "scheduled_at": appointment.scheduled_at,
                    "visit_type": appointment.visit_type,
                    "status": appointment.status,
                }
            )
        else:
            unchanged += 1
    writer.insert(table, _NEW_APPOINTMENT_COLUMNS, new_rows)
    if changes:
        # A rescheduled or cancelled visit: every value column is written (those that did not
        # change are written as they were), one executemany for the file.
        session.execute(
            update(table)
            .where(table.c.id == bindparam("key"))
            .values(
                provider_id=bindparam("provider"),
                scheduled_at=bindparam("scheduled_at"),
                visit_type=bindparam("visit_type"),
                status=bindparam("status"),
            ),
            changes,
        )
    created, updated = len(new_rows), len(changes)
    result = ImportResult(
        kind="appointments",
        practice=practice_slug,
        source_name=source_name,
        sha256=sha256,
        rows=len(parsed),
        created=created,
        updated=updated,
        unchanged=unchanged,
        details={"appointments": {"created": created, "updated": updated, "unchanged": unchanged}},
    )
    record_import(session, practice_id=practice.id, actor=actor, result=result)
    session.flush()
    return result


_NEW_APPOINTMENT_COLUMNS = (
    "id",
    "practice_id",
    "external_id",
    "patient_id",
    "provider_id",
    "scheduled_at",
    "visit_type",
    "status",
)


class _Appointment(NamedTuple):
    """A checked row; keys are 32 hex digits, the status its stored value."""

    external_id: str
    patient_id: str
    provider_id: str
    scheduled_at: datetime
    visit_type: str | None
    status: str


def _stored(session: Session, practice_id: uuid.UUID, external_ids: set[str]) -> dict[str, Any]:
    """The practice's appointments the file names, by appointment ID, as plain rows."""
    from rcm.models import Appointment

    if not external_ids:
        return {}
    postgresql = session.connection().dialect.name == "postgresql"
    rows = session.execute(
        select(
            col(Appointment.external_id),
            hex_key(col(Appointment.id)).label("id"),
            hex_key(col(Appointment.patient_id)).label("patient_id"),
            hex_key(col(Appointment.provider_id)).label("provider_id"),
            col(Appointment.scheduled_at),
            col(Appointment.visit_type),
            stored_text(col(Appointment.status)).label("status"),
        ).where(
            col(Appointment.practice_id) == practice_id,
            one_of(col(Appointment.external_id), external_ids, postgresql),
        )
    )
    return {row.external_id: row for row in rows}
