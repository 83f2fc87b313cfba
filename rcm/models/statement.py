"""Patient statements: one per patient per statement date."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, UniqueConstraint
from sqlmodel import Field, SQLModel

from rcm.models.types import Money, UTCDateTime, new_id, utcnow


class PatientStatement(SQLModel, table=True):
    __tablename__ = "patient_statement"
    __table_args__ = (UniqueConstraint("practice_id", "patient_id", "statement_date"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    practice_id: uuid.UUID = Field(foreign_key="practice.id", index=True)
    patient_id: uuid.UUID = Field(foreign_key="patient.id", index=True)
    statement_date: date
    balance: Decimal = Field(sa_type=Money)
    pdf_key: str | None = Field(default=None, max_length=1024)
    csv_key: str | None = Field(default=None, max_length=1024)
    lines: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
