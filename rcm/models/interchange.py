"""Every X12 file sent or received, and the control numbers allocated to outbound ones."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from rcm.models.types import EnumString, UTCDateTime, new_id, utcnow


class Direction(StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


class InterchangeKind(StrEnum):
    CLAIM_837P = "837P"
    CLAIM_837I = "837I"
    ELIGIBILITY_270 = "270"
    ELIGIBILITY_271 = "271"
    STATUS_276 = "276"
    STATUS_277 = "277"
    ACK_277CA = "277CA"
    REMITTANCE_835 = "835"
    ACK_999 = "999"


class InterchangeStatus(StrEnum):
    ASSIGNED = "assigned"
    BUILT = "built"
    ARCHIVED = "archived"
    UPLOADED = "uploaded"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    RECEIVED = "received"
    PROCESSED = "processed"
    QUARANTINED = "quarantined"
    DUPLICATE = "duplicate"


class ControlNumberKind(StrEnum):
    ISA = "ISA"
    GS = "GS"
    ST = "ST"


class Interchange(SQLModel, table=True):
    """One file. Inbound files are keyed by (clearinghouse, sha256): a file seen before is a
    duplicate whichever flow run sees it. Outbound files get their sha256 once built, and
    `envelope` holds the ISA/GS settings they were assigned with, so a rebuild reads this row
    and its claims or checks only."""

    __tablename__ = "interchange"
    __table_args__ = (UniqueConstraint("clearinghouse", "sha256"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    practice_id: uuid.UUID = Field(foreign_key="practice.id", index=True)
    clearinghouse: str = Field(max_length=64)
    direction: Direction = Field(sa_type=EnumString(Direction, 16))
    kind: InterchangeKind = Field(sa_type=EnumString(InterchangeKind, 8))
    file_name: str | None = Field(default=None, max_length=255)
    sha256: str | None = Field(default=None, max_length=64)
    archive_key: str | None = Field(default=None, max_length=1024)
    sender_id: str | None = Field(default=None, max_length=15)
    receiver_id: str | None = Field(default=None, max_length=15)
    isa_control_number: int | None = None
    gs_control_number: int | None = None
    envelope: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    status: InterchangeStatus = Field(sa_type=EnumString(InterchangeStatus, 16))
    error: str | None = Field(default=None, sa_type=Text)
    claim_count: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    uploaded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ControlNumber(SQLModel, table=True):
    """An allocated ISA13, GS06 or ST02 for a sender ID. Allocate with
    `rcm.control_numbers.allocate`. `serial` counts allocations without wrapping, so the next
    value is known after `value` wraps from 999,999,999 back to 1."""

    __tablename__ = "control_number"
    __table_args__ = (
        UniqueConstraint("sender_id", "kind", "value"),
        UniqueConstraint("sender_id", "kind", "serial"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    sender_id: str = Field(max_length=15)
    kind: ControlNumberKind = Field(sa_type=EnumString(ControlNumberKind, 3))
    value: int
    serial: int = Field(sa_type=BigInteger)
    interchange_id: uuid.UUID = Field(foreign_key="interchange.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
