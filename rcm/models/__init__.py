"""Every table and enumeration of the data model (docs/data-model.md).

Import tables from here: importing this package registers every table on
`SQLModel.metadata`, which the migrations are generated from.
"""

from rcm.models.audit import AuditEvent
from rcm.models.claim import (
    Claim,
    ClaimEdit,
    ClaimEvent,
    ClaimStatus,
    ClaimType,
    EditSeverity,
    EditSource,
    FrequencyCode,
    PayerResponsibility,
)
from rcm.models.denial import Appeal, AppealStatus, Denial, DenialStatus
from rcm.models.encounter import Diagnosis, DiagnosisKind, Encounter, ServiceLine
from rcm.models.interchange import (
    ControlNumber,
    ControlNumberKind,
    Direction,
    Interchange,
    InterchangeKind,
    InterchangeStatus,
)
from rcm.models.ledger import LedgerAppendOnlyError, LedgerEntry, LedgerKind, Responsible
from rcm.models.patient import (
    Appointment,
    AppointmentStatus,
    Coverage,
    EligibilityCheck,
    EligibilityCheckStatus,
    EligibilityStatus,
    Patient,
    Sex,
    WorkItem,
    WorkItemStatus,
)
from rcm.models.payer import Payer
from rcm.models.practice import (
    CredentialingStatus,
    PayerEnrollment,
    Practice,
    Provider,
    ProviderRole,
)
from rcm.models.references import STATEMENT_CHECKED, Reference
from rcm.models.remittance import (
    Adjustment,
    AdjustmentGroup,
    ClaimPayment,
    MatchStatus,
    ProviderAdjustment,
    Remittance,
    RemittanceStatus,
    ServicePayment,
)
from rcm.models.statement import PatientStatement
from rcm.models.types import EnumString, Money, UTCDateTime, new_id, to_money, utcnow

__all__ = [
    "STATEMENT_CHECKED",
    "Adjustment",
    "AdjustmentGroup",
    "Appeal",
    "AppealStatus",
    "Appointment",
    "AppointmentStatus",
    "AuditEvent",
    "Claim",
    "ClaimEdit",
    "ClaimEvent",
    "ClaimPayment",
    "ClaimStatus",
    "ClaimType",
    "ControlNumber",
    "ControlNumberKind",
    "Coverage",
    "CredentialingStatus",
    "Denial",
    "DenialStatus",
    "Diagnosis",
    "DiagnosisKind",
    "Direction",
    "EditSeverity",
    "EditSource",
    "EligibilityCheck",
    "EligibilityCheckStatus",
    "EligibilityStatus",
    "Encounter",
    "EnumString",
    "FrequencyCode",
    "Interchange",
    "InterchangeKind",
    "InterchangeStatus",
    "LedgerAppendOnlyError",
    "LedgerEntry",
    "LedgerKind",
    "MatchStatus",
    "Money",
    "Patient",
    "PatientStatement",
    "Payer",
    "PayerEnrollment",
    "PayerResponsibility",
    "Practice",
    "Provider",
    "ProviderAdjustment",
    "ProviderRole",
    "Reference",
    "Remittance",
    "RemittanceStatus",
    "Responsible",
    "ServiceLine",
    "ServicePayment",
    "Sex",
    "UTCDateTime",
    "WorkItem",
    "WorkItemStatus",
    "new_id",
    "to_money",
    "utcnow",
]
