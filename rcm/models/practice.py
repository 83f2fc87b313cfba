"""Tenancy: the client practice, its providers, and their enrollments with payers."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from rcm.models.claim import ClaimType
from rcm.models.types import EnumString, UTCDateTime, new_id, utcnow


class ProviderRole(StrEnum):
    RENDERING = "rendering"
    REFERRING = "referring"
    ATTENDING = "attending"
    FACILITY = "facility"


class CredentialingStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    TERMINATED = "terminated"


class Practice(SQLModel, table=True):
    """A client of the billing firm. `slug` is the human key used in config, CLI and logs."""

    __tablename__ = "practice"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    slug: str = Field(max_length=64, unique=True)
    name: str
    billing_npi: str = Field(max_length=10)
    tin: str = Field(max_length=9)
    taxonomy_code: str = Field(max_length=10)
    address1: str
    address2: str | None = None
    city: str
    state: str = Field(max_length=2)
    zip: str = Field(max_length=9)
    phone: str | None = Field(default=None, max_length=20)
    timezone: str = Field(default="America/New_York", max_length=64)
    clearinghouse: str = Field(max_length=64)
    clearinghouse_account: str = Field(max_length=80)
    default_claim_type: ClaimType = Field(
        default=ClaimType.PROFESSIONAL, sa_type=EnumString(ClaimType, 16)
    )
    pay_to_address1: str | None = None
    pay_to_city: str | None = None
    pay_to_state: str | None = Field(default=None, max_length=2)
    pay_to_zip: str | None = Field(default=None, max_length=9)
    policies: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Provider(SQLModel, table=True):
    """A rendering, referring or attending clinician (NPI type 1) or a facility (type 2)."""

    __tablename__ = "provider"
    __table_args__ = (UniqueConstraint("practice_id", "npi"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    practice_id: uuid.UUID = Field(foreign_key="practice.id", index=True)
    npi: str = Field(max_length=10)
    first_name: str | None = None
    last_name: str
    taxonomy_code: str | None = Field(default=None, max_length=10)
    role: ProviderRole = Field(default=ProviderRole.RENDERING, sa_type=EnumString(ProviderRole, 16))


class PayerEnrollment(SQLModel, table=True):
    """Credentialing and ERA/EFT enrollment of a provider (or the whole group when
    provider_id is NULL) with a payer."""

    __tablename__ = "payer_enrollment"
    __table_args__ = (
        UniqueConstraint("practice_id", "payer_id", "provider_id"),
        # NULLs are distinct in a unique constraint, so the group enrollment (no provider)
        # needs its own partial index to stay one per practice and payer.
        Index(
            "uq_payer_enrollment_group",
            "practice_id",
            "payer_id",
            unique=True,
            sqlite_where=text("provider_id IS NULL"),
            postgresql_where=text("provider_id IS NULL"),
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    practice_id: uuid.UUID = Field(foreign_key="practice.id", index=True)
    payer_id: uuid.UUID = Field(foreign_key="payer.id")
    provider_id: uuid.UUID | None = Field(default=None, foreign_key="provider.id")
    credentialing_status: CredentialingStatus = Field(
        default=CredentialingStatus.PENDING, sa_type=EnumString(CredentialingStatus, 16)
    )
    effective_date: date | None = None
    termination_date: date | None = None
    era_enrolled: bool = False
    eft_enrolled: bool = False
