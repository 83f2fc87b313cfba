"""Appointments CSV: the schedule that drives eligibility checks (docs/import-formats.md).

Keyed by the scheduling system's appointment ID. A rescheduled or cancelled appointment updates
its row; an appointment ID that now names another patient is a problem, not an update. Times
without a UTC offset are wall-clock times in the practice's time zone and are stored in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from rcm.imports.common import (
    ACCOUNT_PATTERN,
    EXTERNAL_ID_PATTERN,
    ImportRejectedError,
    ImportResult,
    RowCheck,
    RowProblem,
    get_practice,
    patients_by_account,
    providers_by_npi,
    read_csv,
    record_import,
    role_of,
    set_changed,
    sha256_hex,
)

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
    from rcm.models import Appointment, AppointmentStatus

    practice = get_practice(session, practice_slug)
    zone = ZoneInfo(practice.timezone)
    sha256 = sha256_hex(data)
    csv_file = read_csv(data, source_name=source_name, required=REQUIRED, optional=OPTIONAL)
    patients = patients_by_account(session, practice.id)
    providers = providers_by_npi(session, practice.id)
    existing = {
        a.external_id: a
        for a in session.exec(
            select(Appointment).where(Appointment.practice_id == practice.id)
        ).all()
    }

    problems: list[RowProblem] = []
    parsed: list[tuple[str, dict[str, Any]]] = []
    first_line: dict[str, int] = {}
    for row in csv_file.rows:
        check = RowCheck(source_name, row, problems)
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
        elif provider is not None and role_of(provider) not in CLINICIAN_ROLES:
            check.problem(
                "rendering_npi", f"NPI {npi} is a {role_of(provider)} provider, not rendering"
            )
        visit_type = check.text("visit_type", required=False, max_length=64)
        status = check.choice("status", STATUSES, default="scheduled")
        if appointment_id is not None:
            if appointment_id in first_line:
                check.problem("appointment_id", f"duplicate of line {first_line[appointment_id]}")
            first_line.setdefault(appointment_id, row.line)
            current = existing.get(appointment_id)
            if current is not None and patient is not None and current.patient_id != patient.id:
                check.problem("patient_account", "this appointment ID belongs to another patient")
        if len(problems) == before and appointment_id and patient and provider and scheduled_at:
            parsed.append(
                (
                    appointment_id,
                    {
                        "patient_id": patient.id,
                        "provider_id": provider.id,
                        "scheduled_at": scheduled_at,
                        "visit_type": visit_type,
                        "status": AppointmentStatus(status or "scheduled"),
                    },
                )
            )
    if problems:
        raise ImportRejectedError(source_name, problems)

    created = updated = unchanged = 0
    for appointment_id, values in parsed:
        current = existing.get(appointment_id)
        if current is None:
            session.add(Appointment(practice_id=practice.id, external_id=appointment_id, **values))
            created += 1
        elif set_changed(current, values):
            session.add(current)
            updated += 1
        else:
            unchanged += 1
    session.flush()
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
