"""An 835 as posted: the transaction (BPR/TRN), claim payments (CLP), service payments (SVC),
adjustments (CAS) and provider-level adjustments (PLB)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import JSON, UniqueConstraint
from sqlmodel import Field, SQLModel

from rcm.models.types import EnumString, Money, UTCDateTime, new_id


class RemittanceStatus(StrEnum):
    POSTED = "posted"
    QUARANTINED = "quarantined"
    DUPLICATE = "duplicate"


class MatchStatus(StrEnum):
    MATCHED = "matched"
    UNMATCHED = "unmatched"
    MANUAL = "manual"


class AdjustmentGroup(StrEnum):
    """CAS01 claim adjustment group code."""

    CONTRACTUAL = "CO"
    PATIENT_RESPONSIBILITY = "PR"
    OTHER = "OA"
    PAYER_INITIATED = "PI"
    CORRECTION_REVERSAL = "CR"


class Remittance(SQLModel, table=True):
    """One 835 transaction. (practice, payer, trace number) is unique: an ERA is never posted
    twice."""

    __tablename__ = "remittance"
    __table_args__ = (UniqueConstraint("practice_id", "payer_identifier", "trace_number"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    practice_id: uuid.UUID = Field(foreign_key="practice.id", index=True)
    interchange_id: uuid.UUID = Field(foreign_key="interchange.id", index=True)
    payer_identifier: str = Field(max_length=80)
    payer_name: str | None = None
    payee_npi: str | None = Field(default=None, max_length=10)
    payee_tin: str | None = Field(default=None, max_length=9)
    trace_number: str = Field(max_length=80)
    total_paid: Decimal = Field(sa_type=Money)
    payment_method: str = Field(max_length=3)
    payment_date: date | None = None
    status: RemittanceStatus = Field(
        default=RemittanceStatus.POSTED, sa_type=EnumString(RemittanceStatus, 16)
    )
    posted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ClaimPayment(SQLModel, table=True):
    """A CLP loop. claim_id is NULL when no claim matched CLP01."""

    __tablename__ = "claim_payment"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    # No foreign key: remittance_id pins the practice (migration 0004).
    practice_id: uuid.UUID = Field(index=True)
    remittance_id: uuid.UUID = Field(foreign_key="remittance.id", index=True)
    claim_id: uuid.UUID | None = Field(default=None, foreign_key="claim.id", index=True)
    patient_control_number: str = Field(max_length=38)
    status_code: str = Field(max_length=2)
    total_charge: Decimal = Field(sa_type=Money)
    paid: Decimal = Field(sa_type=Money)
    patient_responsibility: Decimal | None = Field(default=None, sa_type=Money)
    payer_claim_control_number: str | None = Field(default=None, max_length=50)
    match_status: MatchStatus = Field(
        default=MatchStatus.MATCHED, sa_type=EnumString(MatchStatus, 16)
    )
    # RARCs of MOA/MIA. NULL on rows posted before the column existed (not recorded).
    remarks: list[str] | None = Field(default_factory=list, sa_type=JSON, nullable=True)


class ServicePayment(SQLModel, table=True):
    """An SVC loop. service_line_id is NULL when no line matched."""

    __tablename__ = "service_payment"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    # No foreign key or index: claim_payment_id pins the practice, and the rows are read by
    # claim payment (migration 0004).
    practice_id: uuid.UUID
    claim_payment_id: uuid.UUID = Field(foreign_key="claim_payment.id", index=True)
    service_line_id: uuid.UUID | None = Field(default=None, foreign_key="service_line.id")
    procedure_code: str = Field(max_length=48)
    modifiers: list[str] = Field(default_factory=list, sa_type=JSON)
    original_procedure_code: str | None = Field(default=None, max_length=48)
    charge: Decimal = Field(sa_type=Money)
    paid: Decimal = Field(sa_type=Money)
    units: Decimal | None = Field(default=None, max_digits=10, decimal_places=3)
    service_date: date | None = None
    # RARCs of the LQ*HE segments. NULL on rows posted before the column existed.
    remarks: list[str] | None = Field(default_factory=list, sa_type=JSON, nullable=True)


class Adjustment(SQLModel, table=True):
    """One CAS adjustment (group, CARC, amount, quantity); claim level when
    service_payment_id is NULL."""

    __tablename__ = "adjustment"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    # No foreign key or index: claim_payment_id pins the practice, and the rows are read by
    # claim payment (migration 0004).
    practice_id: uuid.UUID
    claim_payment_id: uuid.UUID = Field(foreign_key="claim_payment.id", index=True)
    service_payment_id: uuid.UUID | None = Field(default=None, foreign_key="service_payment.id")
    group_code: AdjustmentGroup = Field(sa_type=EnumString(AdjustmentGroup, 2))
    reason_code: str = Field(max_length=5)
    amount: Decimal = Field(sa_type=Money)
    quantity: Decimal | None = Field(default=None, max_digits=10, decimal_places=3)


class ProviderAdjustment(SQLModel, table=True):
    """A PLB adjustment: money moved at the provider level, outside any claim."""

    __tablename__ = "provider_adjustment"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    practice_id: uuid.UUID = Field(foreign_key="practice.id", index=True)
    remittance_id: uuid.UUID = Field(foreign_key="remittance.id", index=True)
    provider_identifier: str = Field(max_length=50)
    fiscal_period_date: date | None = None
    reason_code: str = Field(max_length=2)
    reference: str | None = Field(default=None, max_length=50)
    amount: Decimal = Field(sa_type=Money)
