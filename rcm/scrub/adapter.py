"""The database side of scrubbing: load a practice's DRAFT claims in bulk, run the rules, record
the findings as ClaimEdit rows and move each claim to HELD (any error) or READY.

A handful of queries per batch, whatever its size: claims, then encounters, lines, diagnoses,
patients, coverages, payers, providers, enrollments and the patients' other claims, each loaded
with one IN query (chunked). The caller owns the transaction.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import insert, update
from sqlmodel import Session, col, select

from rcm.claims.states import transition_many
from rcm.codesets import CodeSets, load_code_sets
from rcm.identifiers import normalize_icd10
from rcm.logging import logger
from rcm.models import (
    Claim,
    ClaimEdit,
    ClaimStatus,
    Coverage,
    Diagnosis,
    EditSeverity,
    EditSource,
    Encounter,
    Patient,
    Payer,
    PayerEnrollment,
    Practice,
    Provider,
    ServiceLine,
    utcnow,
)
from rcm.scrub.context import DuplicateIndex, EnrollmentIndex, EnrollmentSpan, make_context
from rcm.scrub.model import (
    Finding,
    ScrubAddress,
    ScrubBillingProvider,
    ScrubClaim,
    ScrubCoverage,
    ScrubDiagnosis,
    ScrubLine,
    ScrubPatient,
    ScrubPayer,
    ScrubProvider,
    Severity,
)
from rcm.scrub.registry import all_rules, scrub_claim

T = TypeVar("T")
CHUNK = 2000
# Claims that no longer stand for their services: not duplicates of anything.
_NOT_BILLED = (ClaimStatus.VOIDED, ClaimStatus.REPLACED)
_PRIOR_RESPONSIBILITY = {"S": "P", "T": "S"}


@dataclass
class ScrubOutcome:
    scrubbed: int = 0
    held: list[uuid.UUID] = field(default_factory=list)
    ready: list[uuid.UUID] = field(default_factory=list)
    errors: int = 0
    warnings: int = 0
    by_rule: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        """Counts only: safe to log and to show."""
        return {
            "scrubbed": self.scrubbed,
            "held": len(self.held),
            "ready": len(self.ready),
            "errors": self.errors,
            "warnings": self.warnings,
            "by_rule": dict(self.by_rule.most_common()),
        }


def _chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _load_in(
    session: Session,
    model: Any,
    column: Any,
    values: Iterable[Any],
    practice_id: uuid.UUID | None = None,
) -> list[Any]:
    """Rows whose `column` is in `values`, one query per chunk; tenant tables are also
    filtered by practice."""
    keys = sorted({v for v in values if v is not None}, key=str)
    rows: list[Any] = []
    for chunk in _chunks(keys):
        query = select(model).where(col(column).in_(chunk))
        if practice_id is not None:
            query = query.where(col(model.practice_id) == practice_id)
        rows.extend(session.exec(query).all())
    return rows


def _address(
    address1: str | None, city: str | None, state: str | None, zip_code: str | None
) -> ScrubAddress:
    return ScrubAddress(address1, city, state, zip_code)


def _coverage(row: Coverage) -> ScrubCoverage:
    return ScrubCoverage(
        id=row.id,
        priority=row.priority,
        member_id=row.member_id,
        relationship=row.relationship,
        subscriber_last_name=row.subscriber_last_name,
        subscriber_first_name=row.subscriber_first_name,
        subscriber_birth_date=row.subscriber_birth_date,
        subscriber_sex=row.subscriber_sex.value if row.subscriber_sex else None,
        effective_date=row.effective_date,
        termination_date=row.termination_date,
        eligibility_status=str(getattr(row.eligibility_status, "value", row.eligibility_status)),
        eligibility_checked_at=row.eligibility_checked_at,
        payer_id=row.payer_id,
    )


def _payer(row: Payer) -> ScrubPayer:
    rules = dict(row.rules or {})
    return ScrubPayer(
        id=row.id,
        key=row.key,
        name=row.name,
        payer_id=row.payer_id,
        claim_filing_indicator=row.claim_filing_indicator,
        timely_filing_days=row.timely_filing_days,
        prior_auth_procedures=frozenset(row.prior_auth_procedures or ()),
        requires_referring_for=frozenset(rules.get("requires_referring_for") or ()),
        disabled_rules=frozenset(rules.get("scrub_disabled") or ()),
        rules=rules,
    )


def _provider(row: Provider | None, role: str) -> ScrubProvider | None:
    if row is None:
        return None
    return ScrubProvider(
        id=row.id, npi=row.npi, role=role, last_name=row.last_name, first_name=row.first_name
    )


def _line(row: ServiceLine, encounter: Encounter) -> ScrubLine:
    return ScrubLine(
        line_number=row.line_number,
        procedure_code=(row.procedure_code or "").strip().upper(),
        modifiers=tuple(str(m).strip().upper() for m in (row.modifiers or ())),
        units=Decimal(row.units),
        charge=Decimal(row.charge),
        diagnosis_pointers=tuple(int(p) for p in (row.diagnosis_pointers or ())),
        service_date=row.service_date or encounter.service_date,
        revenue_code=row.revenue_code,
        ndc=row.ndc,
    )


@dataclass
class _Loaded:
    practice: Practice
    claims: list[Claim]
    encounters: dict[uuid.UUID, Encounter]
    lines: dict[uuid.UUID, list[ServiceLine]]
    diagnoses: dict[uuid.UUID, list[Diagnosis]]
    patients: dict[uuid.UUID, Patient]
    coverages: dict[uuid.UUID, Coverage]
    payers: dict[uuid.UUID, ScrubPayer]
    providers: dict[uuid.UUID, Provider]
    other_claims: list[Claim]


def _load(session: Session, practice: Practice, claim_ids: Sequence[uuid.UUID] | None) -> _Loaded:
    query = select(Claim).where(Claim.practice_id == practice.id, Claim.status == ClaimStatus.DRAFT)
    if claim_ids is not None:
        claims = [
            c
            for chunk in _chunks(sorted(set(claim_ids), key=str))
            for c in session.exec(query.where(col(Claim.id).in_(chunk))).all()
        ]
    else:
        claims = list(session.exec(query).all())
    claims.sort(key=lambda c: c.patient_control_number)
    patient_ids = {c.patient_id for c in claims}
    others: list[Claim] = []
    if claims:
        first = min(c.service_date_from for c in claims)
        last = max(c.service_date_to for c in claims)
        for chunk in _chunks(sorted(patient_ids, key=str)):
            others.extend(
                session.exec(
                    select(Claim).where(
                        Claim.practice_id == practice.id,
                        col(Claim.patient_id).in_(chunk),
                        col(Claim.status).not_in(_NOT_BILLED),
                        Claim.service_date_to >= first,
                        Claim.service_date_from <= last,
                    )
                ).all()
            )
    pid = practice.id
    encounter_ids = {c.encounter_id for c in claims} | {c.encounter_id for c in others}
    encounters = {e.id: e for e in _load_in(session, Encounter, Encounter.id, encounter_ids, pid)}
    lines: dict[uuid.UUID, list[ServiceLine]] = defaultdict(list)
    for row in _load_in(session, ServiceLine, ServiceLine.encounter_id, encounter_ids, pid):
        lines[row.encounter_id].append(row)
    diagnoses: dict[uuid.UUID, list[Diagnosis]] = defaultdict(list)
    claim_encounters = {c.encounter_id for c in claims}
    for row in _load_in(session, Diagnosis, Diagnosis.encounter_id, claim_encounters, pid):
        diagnoses[row.encounter_id].append(row)
    patients = {p.id: p for p in _load_in(session, Patient, Patient.id, patient_ids, pid)}
    coverages = {
        c.id: c for c in _load_in(session, Coverage, Coverage.patient_id, patient_ids, pid)
    }
    payer_ids = {c.payer_id for c in claims} | {c.payer_id for c in others}
    payers = {p.id: _payer(p) for p in _load_in(session, Payer, Payer.id, payer_ids)}
    providers = {
        p.id: p
        for p in session.exec(select(Provider).where(Provider.practice_id == practice.id)).all()
    }
    return _Loaded(
        practice,
        claims,
        encounters,
        lines,
        diagnoses,
        patients,
        coverages,
        payers,
        providers,
        others,
    )


def _enrollments(session: Session, practice_id: uuid.UUID) -> EnrollmentIndex:
    index = EnrollmentIndex()
    rows = session.exec(select(PayerEnrollment).where(PayerEnrollment.practice_id == practice_id))
    for row in rows.all():
        status = str(getattr(row.credentialing_status, "value", row.credentialing_status))
        index.add(
            practice_id,
            row.payer_id,
            row.provider_id,
            EnrollmentSpan(status, row.effective_date, row.termination_date),
        )
    return index


def _billing(practice: Practice) -> ScrubBillingProvider:
    pay_to = None
    if practice.pay_to_address1 or practice.pay_to_city or practice.pay_to_zip:
        pay_to = _address(
            practice.pay_to_address1,
            practice.pay_to_city,
            practice.pay_to_state,
            practice.pay_to_zip,
        )
    return ScrubBillingProvider(
        npi=practice.billing_npi,
        tin=practice.tin,
        taxonomy_code=practice.taxonomy_code,
        name=practice.name,
        address=_address(practice.address1, practice.city, practice.state, practice.zip),
        pay_to=pay_to,
        submitter_id=practice.clearinghouse_account,
    )


def _build(data: _Loaded, claim: Claim, billing: ScrubBillingProvider) -> ScrubClaim:
    encounter = data.encounters[claim.encounter_id]
    patient = data.patients[claim.patient_id]
    coverage_row = data.coverages.get(claim.coverage_id)
    provider = data.providers.get
    responsibility = str(getattr(claim.payer_responsibility, "value", claim.payer_responsibility))
    prior_statuses: tuple[str, ...] = ()
    prior_coverage = None
    prior = _PRIOR_RESPONSIBILITY.get(responsibility)
    if prior is not None:
        prior_claims = [
            o
            for o in data.other_claims
            if o.encounter_id == claim.encounter_id
            and o.id != claim.id
            and str(getattr(o.payer_responsibility, "value", o.payer_responsibility)) == prior
        ]
        prior_statuses = tuple(str(o.status.value) for o in prior_claims)
        wanted = 1 if prior == "P" else 2
        for row in data.coverages.values():
            if row.patient_id == claim.patient_id and row.priority == wanted and row.active:
                prior_coverage = _coverage(row)
                break
    lines = sorted(data.lines.get(claim.encounter_id, ()), key=lambda ln: ln.line_number)
    diagnoses = sorted(data.diagnoses.get(claim.encounter_id, ()), key=lambda d: d.sequence)
    return ScrubClaim(
        id=claim.id,
        practice_id=claim.practice_id,
        encounter_id=claim.encounter_id,
        patient_control_number=claim.patient_control_number,
        claim_type=str(getattr(claim.claim_type, "value", claim.claim_type)),
        frequency_code=str(getattr(claim.frequency_code, "value", claim.frequency_code)),
        payer_responsibility=responsibility,
        total_charge=Decimal(claim.total_charge),
        service_date_from=claim.service_date_from,
        service_date_to=claim.service_date_to,
        billing=billing,
        patient=ScrubPatient(
            id=patient.id,
            last_name=patient.last_name,
            first_name=patient.first_name,
            birth_date=patient.birth_date,
            sex=str(getattr(patient.sex, "value", patient.sex)) if patient.sex else None,
            address=_address(patient.address1, patient.city, patient.state, patient.zip),
        ),
        coverage=_coverage(coverage_row) if coverage_row is not None else None,
        payer=data.payers[claim.payer_id],
        lines=[_line(row, encounter) for row in lines],
        diagnoses=[
            ScrubDiagnosis(
                d.sequence, normalize_icd10(d.code), str(getattr(d.kind, "value", d.kind))
            )
            for d in diagnoses
        ],
        place_of_service=encounter.place_of_service,
        prior_authorization=encounter.prior_authorization,
        original_claim_id=claim.original_claim_id,
        original_payer_claim_number=claim.original_payer_claim_number,
        rendering=_provider(
            provider(encounter.rendering_provider_id) if encounter.rendering_provider_id else None,
            "rendering",
        ),
        referring=_provider(
            provider(encounter.referring_provider_id) if encounter.referring_provider_id else None,
            "referring",
        ),
        facility=_provider(
            provider(encounter.facility_provider_id) if encounter.facility_provider_id else None,
            "facility",
        ),
        # 837I: the encounter's rendering clinician attends.
        attending=_provider(
            provider(encounter.rendering_provider_id) if encounter.rendering_provider_id else None,
            "attending",
        )
        if str(getattr(claim.claim_type, "value", claim.claim_type)) == "institutional"
        else None,
        type_of_bill=encounter.type_of_bill,
        admission_date=encounter.admission_date,
        patient_status=encounter.patient_status,
        prior_payer_claim_statuses=prior_statuses,
        prior_payer_coverage=prior_coverage,
        billing_dme_supplier=(billing.taxonomy_code or "").startswith("332B"),
    )


def _duplicates(data: _Loaded, built: dict[uuid.UUID, ScrubClaim]) -> DuplicateIndex:
    index = DuplicateIndex()
    for claim in built.values():
        index.add_claim(claim)
    for other in data.other_claims:
        if other.id in built:
            continue
        encounter = data.encounters.get(other.encounter_id)
        if encounter is None:
            continue
        rendering = (
            data.providers.get(encounter.rendering_provider_id)
            if encounter.rendering_provider_id
            else None
        )
        npi = (rendering.npi if rendering else None) or data.practice.billing_npi or ""
        for row in data.lines.get(other.encounter_id, ()):
            service_date = row.service_date or encounter.service_date
            key = (
                other.practice_id,
                other.patient_id,
                other.payer_id,
                service_date,
                (row.procedure_code or "").strip().upper(),
                npi,
            )
            index.add_service(key, other.id)
    return index


def _reason(findings: list[Finding]) -> str:
    errors = sorted({f.rule_id for f in findings if f.severity is Severity.ERROR})
    warnings = sorted({f.rule_id for f in findings if f.severity is Severity.WARNING})
    if errors:
        return f"scrub: {len(errors)} error rule(s): {', '.join(errors)}"[:1000]
    if warnings:
        return f"scrub: clean with warnings: {', '.join(warnings)}"[:1000]
    return "scrub: clean"


def scrub_claims(
    session: Session,
    *,
    practice_id: uuid.UUID,
    claim_ids: Sequence[uuid.UUID] | None = None,
    today: date,
    code_sets: CodeSets | None = None,
    source: str = "scrub",
) -> ScrubOutcome:
    """Scrub the practice's DRAFT claims (or those of `claim_ids` still in DRAFT).

    Earlier unresolved scrub findings on these claims are marked resolved and replaced by this
    run's. Each claim moves DRAFT→HELD when any finding is an error, else DRAFT→READY; the
    transition writes its ClaimEvent with `source`.
    """
    practice = session.get(Practice, practice_id)
    if practice is None:
        raise ValueError(f"practice {practice_id} does not exist")
    data = _load(session, practice, claim_ids)
    outcome = ScrubOutcome()
    if not data.claims:
        return outcome
    billing = _billing(practice)
    built = {claim.id: _build(data, claim, billing) for claim in data.claims}
    ctx = make_context(
        today,
        code_sets=code_sets if code_sets is not None else load_code_sets(),
        enrollments=_enrollments(session, practice_id),
        duplicates=_duplicates(data, built),
    )
    rules = all_rules()
    now = utcnow()
    ids = list(built)
    for chunk in _chunks(ids):
        session.exec(  # type: ignore[call-overload]
            update(ClaimEdit)
            .where(
                col(ClaimEdit.claim_id).in_(chunk),
                col(ClaimEdit.source) == EditSource.SCRUB,
                col(ClaimEdit.resolved_at).is_(None),
            )
            .values(resolved_at=now)
        )
    # Plain rows through one executemany: ORM objects for edits nobody reads back cost more
    # than the rules that found them.
    edits: list[dict[str, Any]] = []
    moves: dict[ClaimStatus, tuple[list[Claim], list[str]]] = {
        ClaimStatus.HELD: ([], []),
        ClaimStatus.READY: ([], []),
    }
    error, warning = EditSeverity.ERROR, EditSeverity.WARNING
    for claim in data.claims:
        findings = scrub_claim(built[claim.id], ctx, rules)
        held = False
        for finding in findings:
            is_error = finding.severity is Severity.ERROR
            edits.append(
                {
                    "id": uuid.uuid4(),
                    "practice_id": practice_id,
                    "claim_id": claim.id,
                    "rule_id": finding.rule_id,
                    "severity": error if is_error else warning,
                    "loop": finding.loop,
                    "field": finding.field,
                    "message": finding.message,
                    "source": EditSource.SCRUB,
                    "created_at": now,
                    "resolved_at": None,
                }
            )
            outcome.by_rule[finding.rule_id] += 1
            if is_error:
                outcome.errors += 1
                held = True
            else:
                outcome.warnings += 1
        status = ClaimStatus.HELD if held else ClaimStatus.READY
        moves[status][0].append(claim)
        moves[status][1].append(_reason(findings))
        (outcome.held if held else outcome.ready).append(claim.id)
        outcome.scrubbed += 1
    for status, (claims, reasons) in moves.items():
        if claims:
            transition_many(session, claims, status, reason=reasons, source=source)
    for start in range(0, len(edits), CHUNK):
        session.execute(insert(ClaimEdit), edits[start : start + CHUNK])
    logger.bind(practice=practice.slug, source=source, **outcome.summary()).info(
        "scrubbed {} claims for {}: {} held, {} ready",
        outcome.scrubbed,
        practice.slug,
        len(outcome.held),
        len(outcome.ready),
    )
    return outcome


__all__ = ["ScrubOutcome", "scrub_claims"]
