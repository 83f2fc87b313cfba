"""Payers: reference data shared by every practice (no practice_id, no PHI)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

from rcm.models.types import new_id


class Payer(SQLModel, table=True):
    __tablename__ = "payer"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    key: str = Field(max_length=64, unique=True)
    name: str
    payer_id: str = Field(max_length=80)
    clearinghouse_payer_ids: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    claim_filing_indicator: str = Field(default="CI", max_length=2)
    timely_filing_days: int = 365
    appeal_window_days: int = 180
    corrected_claim_days: int = 365
    prior_auth_procedures: list[str] = Field(default_factory=list, sa_type=JSON)
    address1: str | None = None
    city: str | None = None
    state: str | None = Field(default=None, max_length=2)
    zip: str | None = Field(default=None, max_length=9)
    rules: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
