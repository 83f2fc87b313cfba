from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from rcm.imports import ImportRejectedError, import_appointments, import_patients
from tests.rcm.imports.conftest import RIVERSIDE, example, read_rows, to_csv

TODAY = date(2026, 11, 22)


def _count(session: Session, model: type) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def _patients(session: Session, rows: list[dict[str, str]]):
    return import_patients(
        session, RIVERSIDE, to_csv(rows), source_name="patients.csv", today=TODAY
    )


def _appointments(session: Session, rows: list[dict[str, str]]):
    return import_appointments(session, RIVERSIDE, to_csv(rows), source_name="appts.csv")


# --- patients ---------------------------------------------------------------------------------


def test_patients_and_coverages(session: Session, onboard: Callable[[str], None]) -> None:
    from rcm.models import Coverage, Patient, Sex

    onboard(RIVERSIDE)  # imports the example patients
    assert _count(session, Patient) == 6
    lily = session.exec(select(Patient).where(Patient.account_number == "RFM-10003")).one()
    assert lily.sex == Sex.FEMALE and lily.zip == "191301107" and lily.phone == "2155550102"
    coverage = session.exec(select(Coverage).where(Coverage.patient_id == lily.id)).one()
    assert coverage.relationship == "19"
    assert (coverage.subscriber_first_name, coverage.subscriber_birth_date) == (
        "David", date(1985, 7, 2)
    )  # fmt: skip
    assert coverage.subscriber_city == "Philadelphia"  # same household
    walsh = session.exec(select(Patient).where(Patient.account_number == "RFM-10006")).one()
    walsh_coverages = session.exec(
        select(Coverage).where(Coverage.patient_id == walsh.id).order_by(Coverage.priority)
    ).all()
    assert [(c.priority, c.relationship) for c in walsh_coverages] == [(1, "18"), (2, "01")]
    assert walsh_coverages[0].subscriber_last_name == "Walsh"


def test_patient_reimport_is_a_noop(session: Session, onboard: Callable[[str], None]) -> None:
    from rcm.models import Patient

    onboard(RIVERSIDE)
    stamp = (
        session.exec(select(Patient).where(Patient.account_number == "RFM-10001")).one().updated_at
    )
    result = import_patients(
        session, RIVERSIDE, example(RIVERSIDE, "patients").read_bytes(), today=TODAY
    )
    assert (result.created, result.updated, result.unchanged) == (0, 0, 6)
    assert not session.new and not session.dirty
    session.commit()
    session.expire_all()
    assert (
        session.exec(select(Patient).where(Patient.account_number == "RFM-10001")).one().updated_at
        == stamp
    )


def test_changed_demographics_and_new_policy(
    session: Session, onboard: Callable[[str], None]
) -> None:
    from rcm.models import Coverage, Patient

    onboard(RIVERSIDE)
    rows = read_rows(example(RIVERSIDE, "patients"))
    rows[1]["address1"] = "77 New Street"
    rows[3]["primary_payer"] = "aetna"  # switched from Humana MA
    rows[3]["primary_member_id"] = "W55501234"
    rows[5]["secondary_payer"] = ""  # secondary dropped
    for name in (
        "member_id",
        "group_number",
        "relationship",
        "subscriber_last_name",
        "subscriber_first_name",
        "subscriber_birth_date",
        "subscriber_sex",
    ):
        rows[5][f"secondary_{name}"] = ""
    result = _patients(session, rows)
    assert (result.created, result.updated, result.unchanged) == (0, 3, 3)
    assert result.details["coverages"]["deactivated"] == 2
    assert result.details["coverages"]["created"] == 1
    session.commit()
    grace = session.exec(select(Patient).where(Patient.account_number == "RFM-10004")).one()
    coverages = session.exec(select(Coverage).where(Coverage.patient_id == grace.id)).all()
    assert sorted((c.member_id, c.active) for c in coverages) == [
        ("H48213977", False),
        ("W55501234", True),
    ]


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("birth_date", "1958-02-30", "not a date"),
        ("birth_date", "2030-01-01", "is in the future"),
        ("birth_date", "1850-01-01", "is before 1900-01-01"),
        ("sex", "X", "must be one of F, M, U"),
        ("state", "ZZ", "not a US state or territory code"),
        ("zip", "1913", "must be 5 or 9 digits"),
        ("phone", "555-0101", "must be a 10-digit US phone number"),
        ("last_name", "", "required"),
        ("account_number", "RFM 10001", "1-38 letters"),
        ("primary_payer", "acme-health", "no payer 'acme-health'"),
        ("primary_member_id", "", "required"),
        ("primary_relationship", "cousin", "must be one of"),
        ("primary_effective_date", "soon", "not a date"),
    ],
)
def test_bad_patient_rows(
    session: Session, onboard: Callable[[str], None], column: str, value: str, message: str
) -> None:
    from rcm.models import Coverage, Patient

    onboard(RIVERSIDE)
    rows = read_rows(example(RIVERSIDE, "patients"))
    rows[0]["account_number"] = "RFM-20001"  # a new patient, so nothing exists for the row
    rows[0][column] = value
    before = (_count(session, Patient), _count(session, Coverage))
    with pytest.raises(ImportRejectedError) as info:
        _patients(session, rows)
    assert [(p.line, p.column) for p in info.value.problems] == [(2, column)]
    assert info.value.problems[0].message.startswith(message)
    if column != "primary_payer" and len(value) > 2:  # payer keys are not PHI
        assert value not in str(info.value)
    session.rollback()
    assert (_count(session, Patient), _count(session, Coverage)) == before


def test_dependent_needs_subscriber(session: Session, onboard: Callable[[str], None]) -> None:
    onboard(RIVERSIDE)
    rows = read_rows(example(RIVERSIDE, "patients"))
    rows[2]["primary_subscriber_birth_date"] = ""
    rows[2]["primary_subscriber_last_name"] = ""
    rows[4]["account_number"] = rows[1]["account_number"]
    with pytest.raises(ImportRejectedError) as info:
        _patients(session, rows)
    assert [(p.line, p.column, p.message) for p in info.value.problems] == [
        (4, "primary_subscriber_last_name", "required"),
        (4, "primary_subscriber_birth_date", "required"),
        (6, "account_number", "duplicate of line 3"),
    ]
    text = str(info.value)
    assert "Chen" not in text and "1985" not in text and "RFM-10002" not in text


# --- appointments -----------------------------------------------------------------------------


def test_appointments_in_practice_time_zone(
    session: Session, onboard: Callable[[str], None]
) -> None:
    from rcm.models import Appointment, AppointmentStatus

    onboard(RIVERSIDE)
    rows = read_rows(example(RIVERSIDE, "appointments"))
    result = _appointments(session, rows)
    assert (result.created, result.updated, result.unchanged) == (5, 0, 0)
    session.commit()
    by_id = {a.external_id: a for a in session.exec(select(Appointment)).all()}
    # 09:00 in Philadelphia on 24 November (EST, UTC-5) is 14:00 UTC.
    assert by_id["APT-9001"].scheduled_at == datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
    assert by_id["APT-9004"].scheduled_at == datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    assert by_id["APT-9005"].status == AppointmentStatus.CANCELLED
    again = _appointments(session, rows)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 5)
    assert not session.dirty


def test_appointment_daylight_saving(session: Session, onboard: Callable[[str], None]) -> None:
    from rcm.models import Appointment

    onboard(RIVERSIDE)
    rows = read_rows(example(RIVERSIDE, "appointments"))[:1]
    rows[0]["scheduled_at"] = "2026-07-01 09:00"  # EDT, UTC-4
    _appointments(session, rows)
    assert session.exec(select(Appointment)).one().scheduled_at == datetime(
        2026, 7, 1, 13, 0, tzinfo=UTC
    )


def test_rescheduled_appointment_is_updated(
    session: Session, onboard: Callable[[str], None]
) -> None:
    onboard(RIVERSIDE)
    rows = read_rows(example(RIVERSIDE, "appointments"))
    _appointments(session, rows)
    session.commit()
    from rcm.models import Appointment, AppointmentStatus

    before = {a.external_id: a.model_dump() for a in session.exec(select(Appointment)).all()}
    rows[0]["scheduled_at"] = "2026-11-24 10:00"
    rows[1]["status"] = "cancelled"
    result = _appointments(session, rows)
    assert (result.created, result.updated, result.unchanged) == (0, 2, 3)
    session.commit()
    session.expire_all()
    after = {a.external_id: a.model_dump() for a in session.exec(select(Appointment)).all()}
    moved, cancelled = rows[0]["appointment_id"], rows[1]["appointment_id"]
    assert after[moved]["scheduled_at"] == datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    assert after[cancelled]["status"] == AppointmentStatus.CANCELLED
    for external_id, values in before.items():
        changed = {k for k in values if values[k] != after[external_id][k]}
        expected = {moved: {"scheduled_at"}, cancelled: {"status"}}.get(external_id, set())
        assert changed == expected, external_id


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("patient_account", "RFM-99999", "no patient with this account number"),
        ("scheduled_at", "next tuesday", "not a date and time"),
        ("rendering_npi", "1830166133", "check digit invalid"),
        ("rendering_npi", "1234567893", "NPI 1234567893 is not a provider of this practice"),
        ("rendering_npi", "1181909379", "NPI 1181909379 is a referring provider"),
        ("status", "maybe", "must be one of"),
        ("appointment_id", "", "required"),
    ],
)
def test_bad_appointment_rows(
    session: Session, onboard: Callable[[str], None], column: str, value: str, message: str
) -> None:
    from rcm.models import Appointment

    onboard(RIVERSIDE)
    rows = read_rows(example(RIVERSIDE, "appointments"))
    rows[2][column] = value
    with pytest.raises(ImportRejectedError) as info:
        _appointments(session, rows)
    assert [(p.line, p.column) for p in info.value.problems] == [(4, column)]
    assert info.value.problems[0].message.startswith(message)
    session.rollback()
    assert _count(session, Appointment) == 0


def test_appointment_cannot_move_to_another_patient(
    session: Session, onboard: Callable[[str], None]
) -> None:
    onboard(RIVERSIDE)
    rows = read_rows(example(RIVERSIDE, "appointments"))
    _appointments(session, rows)
    session.commit()
    rows[0]["patient_account"] = "RFM-10002"
    with pytest.raises(ImportRejectedError) as info:
        _appointments(session, rows)
    assert [(p.line, p.column) for p in info.value.problems] == [(2, "patient_account")]
