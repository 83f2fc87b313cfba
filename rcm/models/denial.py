"""Denials worked by the denial queue, and the appeals written for them."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import JSON, Text
from sqlmodel import Field, SQLModel

from rcm.models.types import EnumString, Money, UTCDateTime, new_id, utcnow


class DenialStatus(StrEnum):
    OPEN = "open"
    ASSIGNED = "assigned"
    APPEALED = "appealed"
    CORRECTED = "corrected"
    RESOLVED = "resolved"
    WRITTEN_OFF = "written_off"


class AppealStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    WON = "won"
    LOST = "lost"
    PARTIAL = "partial"


class Denial(SQLModel, table=True):
    __tablename__ = "denial"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    # No foreign key: claim_id pins the practice (migration 0004).
    practice_id: uuid.UUID = Field(index=True)
    claim_id: uuid.UUID = Field(foreign_key="claim.id", index=True)
    service_line_id: uuid.UUID | None = Field(default=None, foreign_key="service_line.id")
    claim_payment_id: uuid.UUID | None = Field(default=None, foreign_key="claim_payment.id")
    carc: str = Field(max_length=5)
    rarcs: list[str] = Field(default_factory=list, sa_type=JSON)
    group_code: str = Field(max_length=2)
    amount: Decimal = Field(sa_type=Money)
    category: str = Field(max_length=64)
    recommended_action: str = Field(max_length=64)
    appeal_deadline: date | None = None
    status: DenialStatus = Field(default=DenialStatus.OPEN, sa_type=EnumString(DenialStatus, 16))
    assignee: str | None = Field(default=None, max_length=128)
    resolution: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Appeal(SQLModel, table=True):
    __tablename__ = "appeal"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    practice_id: uuid.UUID = Field(foreign_key="practice.id", index=True)
    denial_id: uuid.UUID = Field(foreign_key="denial.id", index=True)
    claim_id: uuid.UUID = Field(foreign_key="claim.id", index=True)
    letter_archive_key: str | None = Field(default=None, max_length=1024)
    status: AppealStatus = Field(default=AppealStatus.DRAFT, sa_type=EnumString(AppealStatus, 16))
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    outcome: str | None = Field(default=None, sa_type=Text)
    outcome_amount: Decimal | None = Field(default=None, sa_type=Money)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
