"""What the rules read besides the claim: code sets, enrollment, other claims, and "today"."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rcm.codesets import CodeSets, load_code_sets
from rcm.codesets.hcpcs import HcpcsCodeSet
from rcm.codesets.icd10 import Icd10CodeSet
from rcm.codesets.mue import MueSetting, MueTable
from rcm.codesets.ncci import PtpSetting, PtpTable
from rcm.scrub.model import Key, ScrubClaim, ScrubLine


@dataclass(frozen=True, slots=True)
class EnrollmentSpan:
    """A provider's (or the group's, provider_id None) credentialing with one payer."""

    status: str  # pending | approved | denied | terminated
    effective_date: date | None
    termination_date: date | None

    def covers(self, service_date: date) -> bool:
        if self.effective_date is not None and service_date < self.effective_date:
            return False
        return self.termination_date is None or service_date <= self.termination_date


EnrollmentKey = tuple[Key, Key, Key | None]  # practice, payer, provider
# practice, patient, payer, date of service, procedure code, rendering (or billing) NPI
ServiceKey = tuple[Key, Key, Key, date, str, str]


@dataclass(slots=True)
class EnrollmentIndex:
    spans: dict[EnrollmentKey, list[EnrollmentSpan]] = field(default_factory=dict)

    def add(
        self,
        practice_id: Key,
        payer_id: Key,
        provider_id: Key | None,
        span: EnrollmentSpan,
    ) -> None:
        self.spans.setdefault((practice_id, payer_id, provider_id), []).append(span)

    def lookup(
        self, practice_id: Key, payer_id: Key, provider_id: Key | None
    ) -> list[EnrollmentSpan]:
        return self.spans.get((practice_id, payer_id, provider_id), [])


@dataclass(slots=True)
class DuplicateIndex:
    """Services on claims that count for duplicate detection: (practice, patient, payer, date
    of service, procedure code, rendering or billing NPI) to the claims that carry them. The
    payer is part of the key so a secondary claim for the primary's services is no duplicate.

    Claims already billed are added with `add_service`; the claims being scrubbed with
    `add_claim`, in batch order. A claim duplicates any billed claim and any claim earlier in
    the batch, so of two new claims for the same services the first goes out and the second is
    held."""

    services: dict[ServiceKey, set[Key]] = field(default_factory=dict)
    batch_order: dict[Key, int] = field(default_factory=dict)

    def add_service(self, key: ServiceKey, claim_id: Key) -> None:
        holders = self.services.get(key)
        if holders is None:
            self.services[key] = {claim_id}
        else:
            holders.add(claim_id)

    def add_claim(self, claim: ScrubClaim) -> None:
        self.batch_order.setdefault(claim.id, len(self.batch_order))
        for key in service_keys(claim):
            self.add_service(key, claim.id)

    def add_claims(self, claims: Iterable[ScrubClaim]) -> None:
        for claim in claims:
            self.add_claim(claim)

    def holders(self, key: ServiceKey) -> set[Key]:
        return self.services.get(key) or set()

    def duplicated_by(self, key: ServiceKey, claim_id: Key) -> list[Key]:
        """The billed claims and earlier batch claims that already carry this service."""
        holders = self.services.get(key)
        if not holders or (len(holders) == 1 and claim_id in holders):
            return []
        order = self.batch_order
        mine = order.get(claim_id, len(order))
        return [h for h in holders if h != claim_id and order.get(h, -1) < mine]


def service_keys(claim: ScrubClaim) -> list[ServiceKey]:
    npi = (claim.rendering.npi if claim.rendering else None) or claim.billing.npi or ""
    return [
        (
            claim.practice_id,
            claim.patient.id,
            claim.payer.id,
            line.service_date,
            line.procedure_code,
            npi,
        )
        for line in claim.lines
    ]


@dataclass(slots=True)
class ScrubContext:
    today: date
    code_sets: CodeSets
    enrollments: EnrollmentIndex = field(default_factory=EnrollmentIndex)
    duplicates: DuplicateIndex = field(default_factory=DuplicateIndex)
    # Work several rules share for the claim being scrubbed (lines by date, NCCI pairs);
    # scrub_claim empties it before each claim.
    scratch: dict[str, Any] = field(default_factory=dict)
    # The ICD-10-CM release by first date of service, looked up once per date.
    icd10_by_date: dict[date, Icd10CodeSet] = field(default_factory=dict)

    def lines_by_date(self, claim: ScrubClaim) -> dict[date, list[ScrubLine]]:
        days: dict[date, list[ScrubLine]] | None = self.scratch.get("days")
        if days is None:
            days = {}
            for line in claim.lines:
                same_day = days.get(line.service_date)
                if same_day is None:
                    days[line.service_date] = [line]
                else:
                    same_day.append(line)
            self.scratch["days"] = days
        return days

    @property
    def icd10(self) -> Icd10CodeSet:
        return self.code_sets.icd10

    def icd10_for(self, claim: ScrubClaim) -> Icd10CodeSet:
        """The ICD-10-CM release in force on the claim's first date of service."""
        day = claim.service_date_from
        found = self.icd10_by_date.get(day)
        if found is None:
            found = self.icd10_by_date[day] = self.code_sets.icd10_for(day)
        return found

    @property
    def hcpcs(self) -> HcpcsCodeSet | None:
        return self.code_sets.hcpcs

    def ptp_for(self, claim: ScrubClaim) -> PtpTable | None:
        setting = (
            PtpSetting.HOSPITAL if claim.claim_type == "institutional" else PtpSetting.PRACTITIONER
        )
        return self.code_sets.ptp.get(setting)

    def mue_for(self, claim: ScrubClaim) -> MueTable | None:
        if claim.claim_type == "institutional":
            setting = MueSetting.OUTPATIENT_HOSPITAL
        elif claim.billing_dme_supplier:
            setting = MueSetting.DME
        else:
            setting = MueSetting.PRACTITIONER
        return self.code_sets.mue.get(setting)


def make_context(
    today: date,
    *,
    code_sets: CodeSets | None = None,
    enrollments: EnrollmentIndex | None = None,
    duplicates: DuplicateIndex | None = None,
) -> ScrubContext:
    return ScrubContext(
        today=today,
        code_sets=code_sets if code_sets is not None else load_code_sets(),
        enrollments=enrollments if enrollments is not None else EnrollmentIndex(),
        duplicates=duplicates if duplicates is not None else DuplicateIndex(),
    )


__all__ = [
    "DuplicateIndex",
    "EnrollmentIndex",
    "EnrollmentSpan",
    "ScrubContext",
    "make_context",
    "service_keys",
]
