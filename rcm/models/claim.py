"""Claims, the scrub findings on them, and the event trail of every status change.

Status changes go through `rcm.claims.states.transition`, never by assigning `status`.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from rcm.models.types import EnumString, Money, UTCDateTime, new_id, utcnow


class ClaimStatus(StrEnum):
    DRAFT = "DRAFT"
    HELD = "HELD"
    READY = "READY"
    BATCHED = "BATCHED"
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    PAID = "PAID"
    PARTIAL = "PARTIAL"
    DENIED = "DENIED"
    APPEALED = "APPEALED"
    REPLACED = "REPLACED"
    VOIDED = "VOIDED"
    WRITTEN_OFF = "WRITTEN_OFF"
    CLOSED = "CLOSED"


class ClaimType(StrEnum):
    PROFESSIONAL = "professional"
    INSTITUTIONAL = "institutional"


class FrequencyCode(StrEnum):
    """CLM05-3: claim frequency type code."""

    ORIGINAL = "1"
    REPLACEMENT = "7"
    VOID = "8"


class PayerResponsibility(StrEnum):
    """SBR01: which payer this claim is billed to."""

    PRIMARY = "P"
    SECONDARY = "S"
    TERTIARY = "T"


class EditSeverity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class EditSource(StrEnum):
    SCRUB = "scrub"
    PYX12 = "pyx12"
    ACK_999 = "999"
    ACK_277CA = "277CA"
    PAYER = "payer"


class Claim(SQLModel, table=True):
    __tablename__ = "claim"
    __table_args__ = (
        UniqueConstraint("practice_id", "patient_control_number"),
        Index("ix_claim_practice_id_status", "practice_id", "status"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    practice_id: uuid.UUID = Field(foreign_key="practice.id")
    encounter_id: uuid.UUID = Field(foreign_key="encounter.id", index=True)
    patient_id: uuid.UUID = Field(foreign_key="patient.id", index=True)
    coverage_id: uuid.UUID = Field(foreign_key="coverage.id")
    payer_id: uuid.UUID = Field(foreign_key="payer.id")
    patient_control_number: str = Field(max_length=20)
    claim_type: ClaimType = Field(default=ClaimType.PROFESSIONAL, sa_type=EnumString(ClaimType, 16))
    frequency_code: FrequencyCode = Field(
        default=FrequencyCode.ORIGINAL, sa_type=EnumString(FrequencyCode, 1)
    )
    original_claim_id: uuid.UUID | None = Field(default=None, foreign_key="claim.id")
    original_payer_claim_number: str | None = Field(default=None, max_length=50)
    payer_claim_control_number: str | None = Field(default=None, max_length=50)
    payer_responsibility: PayerResponsibility = Field(
        default=PayerResponsibility.PRIMARY, sa_type=EnumString(PayerResponsibility, 1)
    )
    status: ClaimStatus = Field(default=ClaimStatus.DRAFT, sa_type=EnumString(ClaimStatus, 16))
    total_charge: Decimal = Field(sa_type=Money)
    interchange_id: uuid.UUID | None = Field(default=None, foreign_key="interchange.id", index=True)
    service_date_from: date
    service_date_to: date
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ClaimEdit(SQLModel, table=True):
    """A finding on a claim (scrubber, pyx12, 999, 277CA or payer). `message` is read by a
    biller and may be logged: it names fields and codes, never patient data."""

    __tablename__ = "claim_edit"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    practice_id: uuid.UUID = Field(foreign_key="practice.id", index=True)
    claim_id: uuid.UUID = Field(foreign_key="claim.id", index=True)
    rule_id: str = Field(max_length=64)
    severity: EditSeverity = Field(default=EditSeverity.ERROR, sa_type=EnumString(EditSeverity, 16))
    loop: str | None = Field(default=None, max_length=16)
    field: str | None = Field(default=None, max_length=64)
    message: str = Field(sa_type=Text)
    source: EditSource = Field(default=EditSource.SCRUB, sa_type=EnumString(EditSource, 16))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ClaimEvent(SQLModel, table=True):
    """One status change. `source` is a file name, an interchange ID or a flow run ID."""

    __tablename__ = "claim_event"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    practice_id: uuid.UUID = Field(foreign_key="practice.id", index=True)
    claim_id: uuid.UUID = Field(foreign_key="claim.id", index=True)
    from_status: ClaimStatus = Field(sa_type=EnumString(ClaimStatus, 16))
    to_status: ClaimStatus = Field(sa_type=EnumString(ClaimStatus, 16))
    reason: str = Field(sa_type=Text)
    source: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
