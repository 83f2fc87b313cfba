"""What the rules read: plain slotted dataclasses built from ORM rows by the adapter (or by
tests and benchmarks directly), so a rule costs attribute reads, not database round trips.

Codes are normalized before they get here: ICD-10-CM upper case without the dot, procedure codes
and modifiers upper case. Money is Decimal. Keys (`Key`) are UUIDs or, as the adapter loads
them, their 32 hex digits: the rules only compare them with keys of the same batch.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

Key = uuid.UUID | str


class Severity(StrEnum):
    ERROR = "error"  # holds the claim
    WARNING = "warning"  # the claim goes out, with a note


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem on one claim. `message` is read by a biller and stored on the claim: it
    names loops, fields and codes, never a patient's name, birth date or member ID."""

    rule_id: str
    severity: Severity
    loop: str
    field: str
    message: str
    line_number: int | None = None


@dataclass(slots=True)
class ScrubAddress:
    address1: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None


@dataclass(slots=True)
class ScrubBillingProvider:
    """The practice as 2010AA carries it."""

    npi: str | None
    tin: str | None
    taxonomy_code: str | None
    name: str | None
    address: ScrubAddress
    pay_to: ScrubAddress | None = None
    submitter_id: str | None = None  # the practice's account at the clearinghouse (1000A)


@dataclass(slots=True)
class ScrubProvider:
    id: Key | None
    npi: str | None
    role: str  # rendering | referring | attending | facility
    last_name: str | None = None
    first_name: str | None = None
    # Facilities (2310C/2310E); None when the address is not known here, and not checked.
    address: ScrubAddress | None = None


@dataclass(slots=True)
class ScrubPatient:
    id: Key
    last_name: str | None
    first_name: str | None
    birth_date: date | None
    sex: str | None
    address: ScrubAddress


@dataclass(slots=True)
class ScrubCoverage:
    id: Key | None
    priority: int
    member_id: str | None
    relationship: str  # X12 individual relationship code; 18 = self
    subscriber_last_name: str | None = None
    subscriber_first_name: str | None = None
    subscriber_birth_date: date | None = None
    subscriber_sex: str | None = None
    effective_date: date | None = None
    termination_date: date | None = None
    eligibility_status: str = "unknown"
    eligibility_checked_at: datetime | None = None
    payer_id: Key | None = None


@dataclass(slots=True)
class ScrubPayer:
    id: Key
    key: str
    name: str | None
    payer_id: str | None  # the electronic payer ID (2010BB NM109)
    claim_filing_indicator: str | None
    timely_filing_days: int
    prior_auth_procedures: frozenset[str] = frozenset()
    requires_referring_for: frozenset[str] = frozenset()
    disabled_rules: frozenset[str] = frozenset()
    rules: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ScrubLine:
    line_number: int
    procedure_code: str
    modifiers: tuple[str, ...]
    units: Decimal
    charge: Decimal
    diagnosis_pointers: tuple[int, ...]
    service_date: date
    revenue_code: str | None = None
    ndc: str | None = None


@dataclass(slots=True)
class ScrubDiagnosis:
    sequence: int
    code: str
    kind: str = "other"


@dataclass(slots=True)
class ScrubClaim:
    id: Key
    practice_id: Key
    encounter_id: Key | None
    patient_control_number: str
    claim_type: str  # professional | institutional
    frequency_code: str  # 1 original, 7 replacement, 8 void
    payer_responsibility: str  # P, S, T
    total_charge: Decimal
    service_date_from: date
    service_date_to: date
    billing: ScrubBillingProvider
    patient: ScrubPatient
    coverage: ScrubCoverage | None
    payer: ScrubPayer
    lines: list[ScrubLine]
    diagnoses: list[ScrubDiagnosis]
    place_of_service: str | None = None
    prior_authorization: str | None = None
    original_claim_id: Key | None = None
    original_payer_claim_number: str | None = None
    rendering: ScrubProvider | None = None
    referring: ScrubProvider | None = None
    facility: ScrubProvider | None = None
    attending: ScrubProvider | None = None
    # 837I
    type_of_bill: str | None = None
    admission_date: date | None = None
    patient_status: str | None = None
    # A secondary or tertiary claim: the claim(s) billed to the payer before this one, by the
    # status they reached, and the coverage that payer is reached through (2320/2330).
    prior_payer_claim_statuses: tuple[str, ...] = ()
    prior_payer_coverage: ScrubCoverage | None = None
    billing_dme_supplier: bool = False


__all__ = [
    "Finding",
    "Key",
    "ScrubAddress",
    "ScrubBillingProvider",
    "ScrubClaim",
    "ScrubCoverage",
    "ScrubDiagnosis",
    "ScrubLine",
    "ScrubPatient",
    "ScrubPayer",
    "ScrubProvider",
    "Severity",
]
