"""Patients, their coverages, appointments, eligibility checks and the work items raised
for a biller when something needs a human."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from rcm.models.types import EnumString, Money, UTCDateTime, new_id, utcnow


class Sex(StrEnum):
    MALE = "M"
    FEMALE = "F"
    UNKNOWN = "U"


class EligibilityStatus(StrEnum):
    """Coverage's last known eligibility."""

    UNKNOWN = "unknown"
    ACTIVE = "active"
    INACTIVE = "inactive"
    NOT_FOUND = "not_found"
    ERROR = "error"


class EligibilityCheckStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    INACTIVE = "inactive"
    NOT_FOUND = "not_found"
    REJECTED = "rejected"
    ERROR = "error"
    # Replaced by a newer check for the same appointment and coverage (rescheduled visit)
    # before any answer came; a late 271 still records its answer on it.
    SUPERSEDED = "superseded"


class AppointmentStatus(StrEnum):
    SCHEDULED = "scheduled"
    CHECKED_IN = "checked_in"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class WorkItemStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class Patient(SQLModel, table=True):
    __tablename__ = "patient"
    __table_args__ = (UniqueConstraint("practice_id", "account_number"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    practice_id: uuid.UUID = Field(foreign_key="practice.id", index=True)
    account_number: str = Field(max_length=38)
    first_name: str
    last_name: str
    middle_name: str | None = None
    birth_date: date
    sex: Sex = Field(default=Sex.UNKNOWN, sa_type=EnumString(Sex, 1))
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    state: str | None = Field(default=None, max_length=2)
    zip: str | None = Field(default=None, max_length=9)
    phone: str | None = Field(default=None, max_length=20)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Coverage(SQLModel, table=True):
    """A patient's insurance: priority 1 primary, 2 secondary, 3 tertiary."""

    __tablename__ = "coverage"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    practice_id: uuid.UUID = Field(foreign_key="practice.id", index=True)
    patient_id: uuid.UUID = Field(foreign_key="patient.id", index=True)
    payer_id: uuid.UUID = Field(foreign_key="payer.id")
    priority: int = 1
    member_id: str = Field(max_length=80)
    group_number: str | None = Field(default=None, max_length=50)
    plan_name: str | None = None
    relationship: str = Field(default="18", max_length=2)
    subscriber_first_name: str | None = None
    subscriber_last_name: str | None = None
    subscriber_birth_date: date | None = None
    subscriber_sex: Sex | None = Field(default=None, sa_type=EnumString(Sex, 1))
    subscriber_address1: str | None = None
    subscriber_city: str | None = None
    subscriber_state: str | None = Field(default=None, max_length=2)
    subscriber_zip: str | None = Field(default=None, max_length=9)
    effective_date: date | None = None
    termination_date: date | None = None
    eligibility_status: EligibilityStatus = Field(
        default=EligibilityStatus.UNKNOWN, sa_type=EnumString(EligibilityStatus, 16)
    )
    eligibility_checked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    copay: Decimal | None = Field(default=None, sa_type=Money)
    coinsurance_percent: Decimal | None = Field(default=None, max_digits=5, decimal_places=2)
    deductible_remaining: Decimal | None = Field(default=None, sa_type=Money)
    out_of_pocket_remaining: Decimal | None = Field(default=None, sa_type=Money)
    active: bool = True


class Appointment(SQLModel, table=True):
    __tablename__ = "appointment"
    __table_args__ = (UniqueConstraint("practice_id", "external_id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    practice_id: uuid.UUID = Field(foreign_key="practice.id", index=True)
    external_id: str = Field(max_length=80)
    patient_id: uuid.UUID = Field(foreign_key="patient.id", index=True)
    provider_id: uuid.UUID = Field(foreign_key="provider.id")
    scheduled_at: datetime = Field(sa_type=UTCDateTime)
    visit_type: str | None = Field(default=None, max_length=64)
    status: AppointmentStatus = Field(
        default=AppointmentStatus.SCHEDULED, sa_type=EnumString(AppointmentStatus, 16)
    )


class EligibilityCheck(SQLModel, table=True):
    """One 270 inquiry and its 271 answer. interchange_id is the 270's interchange, set when
    the inquiry is batched. At most one check per appointment and coverage is pending: two
    runs that race to ask the same question meet at the partial unique index, and the loser
    reuses the winner's check (rcm.eligibility.build_270)."""

    __tablename__ = "eligibility_check"
    __table_args__ = (
        UniqueConstraint("practice_id", "trace_number"),
        Index(
            "uq_eligibility_check_pending",
            "practice_id",
            "appointment_id",
            "coverage_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    practice_id: uuid.UUID = Field(foreign_key="practice.id", index=True)
    patient_id: uuid.UUID = Field(foreign_key="patient.id", index=True)
    coverage_id: uuid.UUID = Field(foreign_key="coverage.id")
    appointment_id: uuid.UUID | None = Field(default=None, foreign_key="appointment.id")
    interchange_id: uuid.UUID | None = Field(default=None, foreign_key="interchange.id")
    trace_number: str = Field(max_length=50)
    service_date: date
    status: EligibilityCheckStatus = Field(
        default=EligibilityCheckStatus.PENDING, sa_type=EnumString(EligibilityCheckStatus, 16)
    )
    response: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    requested_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    responded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WorkItem(SQLModel, table=True):
    """Something a biller must look at. `detail` is read by people and logged: no PHI."""

    __tablename__ = "work_item"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    practice_id: uuid.UUID = Field(foreign_key="practice.id", index=True)
    kind: str = Field(max_length=64)
    appointment_id: uuid.UUID | None = Field(default=None, foreign_key="appointment.id")
    claim_id: uuid.UUID | None = Field(default=None, foreign_key="claim.id")
    detail: str = Field(default="", sa_type=Text)
    status: WorkItemStatus = Field(
        default=WorkItemStatus.OPEN, sa_type=EnumString(WorkItemStatus, 16)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
