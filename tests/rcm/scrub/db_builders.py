"""A practice with everything a clean professional claim needs, in the database (synthetic)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from rcm.identifiers import make_npi
from rcm.models import (
    Claim,
    ClaimStatus,
    Coverage,
    CredentialingStatus,
    Diagnosis,
    EligibilityStatus,
    Encounter,
    Patient,
    Payer,
    PayerEnrollment,
    Practice,
    Provider,
    ProviderRole,
    ServiceLine,
)

DOS = date(2026, 3, 2)
TODAY = date(2026, 3, 15)


class ScrubWorld:
    def __init__(self, session: Session, slug: str = "keystone") -> None:
        self.session = session
        self.practice = self._save(
            Practice(
                slug=slug,
                name="Keystone Family Medicine",
                billing_npi=make_npi("123456789"),
                tin="123456789",
                taxonomy_code="207Q00000X",
                address1="100 Market St",
                city="Harrisburg",
                state="PA",
                zip="171011234",
                clearinghouse="sandbox",
                clearinghouse_account=f"SUB-{slug}",
            )
        )
        self.payer = self._save(
            Payer(
                key=f"medicare-{slug}",
                name="Novitas JL Part B",
                payer_id="12502",
                claim_filing_indicator="MB",
                timely_filing_days=365,
            )
        )
        self.secondary_payer = self._save(
            Payer(
                key=f"medigap-{slug}",
                name="Medigap Plan G",
                payer_id="MGAP1",
                claim_filing_indicator="CI",
                timely_filing_days=365,
            )
        )
        self.provider = self._save(
            Provider(
                practice_id=self.practice.id,
                npi=make_npi("198765432"),
                first_name="Dana",
                last_name="Doctor",
                role=ProviderRole.RENDERING,
            )
        )
        for payer in (self.payer, self.secondary_payer):
            self._save(
                PayerEnrollment(
                    practice_id=self.practice.id,
                    payer_id=payer.id,
                    provider_id=self.provider.id,
                    credentialing_status=CredentialingStatus.APPROVED,
                    effective_date=date(2020, 1, 1),
                )
            )
        self._patients = 0

    def _save(self, row: Any) -> Any:
        self.session.add(row)
        self.session.flush()
        return row

    def patient(self) -> tuple[Patient, Coverage]:
        self._patients += 1
        n = self._patients
        patient = self._save(
            Patient(
                practice_id=self.practice.id,
                account_number=f"ACCT{n:05d}",
                first_name="Alex",
                last_name="Testpatient",
                birth_date=date(1950, 5, 1),
                sex="F",
                address1="12 Elm St",
                city="Harrisburg",
                state="PA",
                zip="17101",
            )
        )
        coverage = self._save(
            Coverage(
                practice_id=self.practice.id,
                patient_id=patient.id,
                payer_id=self.payer.id,
                member_id=f"1EG4TE5MK{n:02d}",
                relationship="18",
                eligibility_status=EligibilityStatus.ACTIVE,
            )
        )
        return patient, coverage

    def claim(
        self,
        pcn: str,
        *,
        patient: tuple[Patient, Coverage] | None = None,
        codes: tuple[str, ...] = ("99213",),
        diagnoses: tuple[str, ...] = ("M17.11",),
        status: ClaimStatus = ClaimStatus.DRAFT,
        responsibility: str = "P",
        payer: Payer | None = None,
        coverage: Coverage | None = None,
        encounter: Encounter | None = None,
    ) -> Claim:
        patient_row, coverage_row = patient or self.patient()
        coverage_row = coverage or coverage_row
        payer = payer or self.payer
        charge = Decimal("120.00")
        if encounter is None:
            encounter = self._save(
                Encounter(
                    practice_id=self.practice.id,
                    external_id=f"ENC-{pcn}",
                    patient_id=patient_row.id,
                    coverage_id=coverage_row.id,
                    payer_id=payer.id,
                    rendering_provider_id=self.provider.id,
                    service_date=DOS,
                    place_of_service="11",
                )
            )
            for number, code in enumerate(codes, start=1):
                self._save(
                    ServiceLine(
                        practice_id=self.practice.id,
                        encounter_id=encounter.id,
                        line_number=number,
                        procedure_code=code,
                        charge=charge,
                        units=Decimal("1"),
                        diagnosis_pointers=[1],
                    )
                )
            for sequence, code in enumerate(diagnoses, start=1):
                self._save(
                    Diagnosis(
                        practice_id=self.practice.id,
                        encounter_id=encounter.id,
                        sequence=sequence,
                        code=code.replace(".", ""),
                    )
                )
        return self._save(
            Claim(
                practice_id=self.practice.id,
                encounter_id=encounter.id,
                patient_id=patient_row.id,
                coverage_id=coverage_row.id,
                payer_id=payer.id,
                patient_control_number=pcn,
                status=status,
                payer_responsibility=responsibility,
                total_charge=charge * len(codes),
                service_date_from=DOS,
                service_date_to=DOS,
            )
        )
