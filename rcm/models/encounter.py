"""Encounters (a visit or a stay, as charged by the EHR), their service lines and diagnoses."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import JSON, UniqueConstraint
from sqlmodel import Field, SQLModel

from rcm.models.claim import ClaimType
from rcm.models.types import EnumString, Money, UTCDateTime, new_id, utcnow


class DiagnosisKind(StrEnum):
    PRINCIPAL = "principal"
    ADMITTING = "admitting"
    OTHER = "other"
    EXTERNAL_CAUSE = "external_cause"


class Encounter(SQLModel, table=True):
    __tablename__ = "encounter"
    __table_args__ = (UniqueConstraint("practice_id", "external_id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    practice_id: uuid.UUID = Field(foreign_key="practice.id", index=True)
    external_id: str = Field(max_length=80)
    patient_id: uuid.UUID = Field(foreign_key="patient.id", index=True)
    coverage_id: uuid.UUID | None = Field(default=None, foreign_key="coverage.id")
    payer_id: uuid.UUID = Field(foreign_key="payer.id")
    rendering_provider_id: uuid.UUID | None = Field(default=None, foreign_key="provider.id")
    referring_provider_id: uuid.UUID | None = Field(default=None, foreign_key="provider.id")
    facility_provider_id: uuid.UUID | None = Field(default=None, foreign_key="provider.id")
    service_date: date
    place_of_service: str | None = Field(default=None, max_length=2)
    claim_type: ClaimType = Field(default=ClaimType.PROFESSIONAL, sa_type=EnumString(ClaimType, 16))
    prior_authorization: str | None = Field(default=None, max_length=50)
    type_of_bill: str | None = Field(default=None, max_length=4)
    admission_date: date | None = None
    discharge_date: date | None = None
    admission_type: str | None = Field(default=None, max_length=2)
    admission_source: str | None = Field(default=None, max_length=2)
    patient_status: str | None = Field(default=None, max_length=2)
    import_sha256: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ServiceLine(SQLModel, table=True):
    __tablename__ = "service_line"
    __table_args__ = (UniqueConstraint("encounter_id", "line_number"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    practice_id: uuid.UUID = Field(foreign_key="practice.id", index=True)
    encounter_id: uuid.UUID = Field(foreign_key="encounter.id", index=True)
    line_number: int
    procedure_code: str = Field(max_length=5)
    modifiers: list[str] = Field(default_factory=list, sa_type=JSON)
    units: Decimal = Field(default=Decimal("1"), max_digits=10, decimal_places=3)
    charge: Decimal = Field(sa_type=Money)
    diagnosis_pointers: list[int] = Field(default_factory=list, sa_type=JSON)
    service_date: date | None = None
    revenue_code: str | None = Field(default=None, max_length=4)
    ndc: str | None = Field(default=None, max_length=11)
    ndc_quantity: Decimal | None = Field(default=None, max_digits=12, decimal_places=3)
    ndc_unit: str | None = Field(default=None, max_length=2)


class Diagnosis(SQLModel, table=True):
    """An ICD-10-CM code (stored without the dot) in claim order; sequence 1 is the
    principal or first-listed diagnosis."""

    __tablename__ = "diagnosis"
    __table_args__ = (UniqueConstraint("encounter_id", "sequence"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    practice_id: uuid.UUID = Field(foreign_key="practice.id", index=True)
    encounter_id: uuid.UUID = Field(foreign_key="encounter.id", index=True)
    sequence: int
    code: str = Field(max_length=8)
    kind: DiagnosisKind = Field(default=DiagnosisKind.OTHER, sa_type=EnumString(DiagnosisKind, 16))
