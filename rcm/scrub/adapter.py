"""The database side of scrubbing: load a practice's DRAFT claims in bulk, run the rules, record
the findings as ClaimEdit rows and move each claim to HELD (any error) or READY.

A handful of queries per batch, whatever its size: claims, then encounters, lines, diagnoses,
patients, coverages, payers, providers, enrollments and the patients' other claims, each loaded
with one IN query (chunked), as plain rows of the columns the rules read (no ORM objects). The
writes are bulk too: one UPDATE resolving earlier findings per chunk, one move of every claim
(rcm.claims.states.move_claims: only rows still DRAFT, a ClaimEvent each) and one insert of the
ClaimEdit rows (rcm.bulk). The caller owns the transaction.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import update
from sqlmodel import Session, col, select

from rcm.bulk import BulkWriter, id_hex, new_hex_id
from rcm.claims.states import ClaimMove, move_claims
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


def _rows_in(
    session: Session,
    columns: Sequence[Any],
    column: Any,
    values: Iterable[Any],
    practice_column: Any | None = None,
    practice_id: uuid.UUID | None = None,
) -> list[Any]:
    """Rows of `columns` (plain rows, not ORM objects) whose `column` is in `values`, one query
    per chunk; tenant tables are also filtered by practice."""
    keys = sorted({v for v in values if v is not None}, key=str)
    rows: list[Any] = []
    for chunk in _chunks(keys):
        query = select(*columns).where(col(column).in_(chunk))
        if practice_column is not None:
            query = query.where(col(practice_column) == practice_id)
        rows.extend(session.execute(query).all())
    return rows


def _address(
    address1: str | None, city: str | None, state: str | None, zip_code: str | None
) -> ScrubAddress:
    return ScrubAddress(address1, city, state, zip_code)


def _coverage(row: Any) -> ScrubCoverage:
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


def _line(row: Any, encounter: Any) -> ScrubLine:
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


# The columns each step reads: plain rows (attribute access like the ORM objects) cost a
# fraction of ORM instances, and nothing of the batch stays in the session's identity map.
_CLAIM_COLUMNS = tuple(
    col(c)
    for c in (
        Claim.id,
        Claim.encounter_id,
        Claim.patient_id,
        Claim.coverage_id,
        Claim.payer_id,
        Claim.patient_control_number,
        Claim.claim_type,
        Claim.frequency_code,
        Claim.payer_responsibility,
        Claim.status,
        Claim.total_charge,
        Claim.service_date_from,
        Claim.service_date_to,
        Claim.original_claim_id,
        Claim.original_payer_claim_number,
    )
)
_OTHER_CLAIM_COLUMNS = tuple(
    col(c)
    for c in (
        Claim.id,
        Claim.encounter_id,
        Claim.patient_id,
        Claim.payer_id,
        Claim.payer_responsibility,
        Claim.status,
    )
)
_ENCOUNTER_COLUMNS = tuple(
    col(c)
    for c in (
        Encounter.id,
        Encounter.service_date,
        Encounter.place_of_service,
        Encounter.prior_authorization,
        Encounter.rendering_provider_id,
        Encounter.referring_provider_id,
        Encounter.facility_provider_id,
        Encounter.type_of_bill,
        Encounter.admission_date,
        Encounter.patient_status,
    )
)
_LINE_COLUMNS = tuple(
    col(c)
    for c in (
        ServiceLine.encounter_id,
        ServiceLine.line_number,
        ServiceLine.procedure_code,
        ServiceLine.modifiers,
        ServiceLine.units,
        ServiceLine.charge,
        ServiceLine.diagnosis_pointers,
        ServiceLine.service_date,
        ServiceLine.revenue_code,
        ServiceLine.ndc,
    )
)
_DIAGNOSIS_COLUMNS = tuple(
    col(c) for c in (Diagnosis.encounter_id, Diagnosis.sequence, Diagnosis.code, Diagnosis.kind)
)
_PATIENT_COLUMNS = tuple(
    col(c)
    for c in (
        Patient.id,
        Patient.last_name,
        Patient.first_name,
        Patient.birth_date,
        Patient.sex,
        Patient.address1,
        Patient.city,
        Patient.state,
        Patient.zip,
    )
)
_COVERAGE_COLUMNS = tuple(
    col(c)
    for c in (
        Coverage.id,
        Coverage.patient_id,
        Coverage.payer_id,
        Coverage.priority,
        Coverage.active,
        Coverage.member_id,
        Coverage.relationship,
        Coverage.subscriber_last_name,
        Coverage.subscriber_first_name,
        Coverage.subscriber_birth_date,
        Coverage.subscriber_sex,
        Coverage.effective_date,
        Coverage.termination_date,
        Coverage.eligibility_status,
        Coverage.eligibility_checked_at,
    )
)


@dataclass
class _Loaded:
    """The batch and everything its rules read, as plain rows (attributes named like the
    models' fields)."""

    practice: Practice
    claims: list[Any]
    encounters: dict[uuid.UUID, Any]
    lines: dict[uuid.UUID, list[Any]]
    diagnoses: dict[uuid.UUID, list[Any]]
    patients: dict[uuid.UUID, Any]
    coverages: dict[uuid.UUID, Any]
    payers: dict[uuid.UUID, ScrubPayer]
    providers: dict[uuid.UUID, Provider]
    other_claims: list[Any]
    # Indexes for secondary and tertiary claims: other claims by encounter, and the patients'
    # coverages in load order.
    others_by_encounter: dict[uuid.UUID, list[Any]] = field(default_factory=dict)
    coverages_by_patient: dict[uuid.UUID, list[Any]] = field(default_factory=dict)
    # What _build made once per batch: the rules only read what they are given.
    built_coverages: dict[uuid.UUID, ScrubCoverage] = field(default_factory=dict)
    built_providers: dict[tuple[uuid.UUID, str], ScrubProvider | None] = field(default_factory=dict)


def _load(session: Session, practice: Practice, claim_ids: Sequence[uuid.UUID] | None) -> _Loaded:
    pid = practice.id
    query = select(*_CLAIM_COLUMNS).where(
        col(Claim.practice_id) == pid, col(Claim.status) == ClaimStatus.DRAFT
    )
    if claim_ids is not None:
        claims = [
            c
            for chunk in _chunks(sorted(set(claim_ids), key=str))
            for c in session.execute(query.where(col(Claim.id).in_(chunk))).all()
        ]
    else:
        claims = list(session.execute(query).all())
    claims.sort(key=lambda c: c.patient_control_number)
    patient_ids = {c.patient_id for c in claims}
    # The patients' other claims over the batch's dates (duplicates, prior payers' claims).
    # Scrubbing every DRAFT claim, the DRAFT ones among them are the batch itself, already
    # read: only the others are read again.
    others: list[Any] = list(claims) if claim_ids is None else []
    not_billed = _NOT_BILLED + ((ClaimStatus.DRAFT,) if claim_ids is None else ())
    if claims:
        first = min(c.service_date_from for c in claims)
        last = max(c.service_date_to for c in claims)
        for chunk in _chunks(sorted(patient_ids, key=str)):
            others.extend(
                session.execute(
                    select(*_OTHER_CLAIM_COLUMNS).where(
                        col(Claim.practice_id) == pid,
                        col(Claim.patient_id).in_(chunk),
                        col(Claim.status).not_in(not_billed),
                        col(Claim.service_date_to) >= first,
                        col(Claim.service_date_from) <= last,
                    )
                ).all()
            )
    encounter_ids = {c.encounter_id for c in claims} | {c.encounter_id for c in others}
    encounters = {
        e.id: e
        for e in _rows_in(
            session, _ENCOUNTER_COLUMNS, Encounter.id, encounter_ids, Encounter.practice_id, pid
        )
    }
    lines: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for row in _rows_in(
        session,
        _LINE_COLUMNS,
        ServiceLine.encounter_id,
        encounter_ids,
        ServiceLine.practice_id,
        pid,
    ):
        lines[row.encounter_id].append(row)
    diagnoses: dict[uuid.UUID, list[Any]] = defaultdict(list)
    claim_encounters = {c.encounter_id for c in claims}
    for row in _rows_in(
        session,
        _DIAGNOSIS_COLUMNS,
        Diagnosis.encounter_id,
        claim_encounters,
        Diagnosis.practice_id,
        pid,
    ):
        diagnoses[row.encounter_id].append(row)
    patients = {
        p.id: p
        for p in _rows_in(
            session, _PATIENT_COLUMNS, Patient.id, patient_ids, Patient.practice_id, pid
        )
    }
    coverages = {
        c.id: c
        for c in _rows_in(
            session, _COVERAGE_COLUMNS, Coverage.patient_id, patient_ids, Coverage.practice_id, pid
        )
    }
    payer_ids = {c.payer_id for c in claims} | {c.payer_id for c in others}
    payers = {
        p.id: _payer(p)
        for chunk in _chunks(sorted(payer_ids, key=str))
        for p in session.exec(select(Payer).where(col(Payer.id).in_(chunk))).all()
    }
    providers = {
        p.id: p for p in session.exec(select(Provider).where(Provider.practice_id == pid)).all()
    }
    others_by_encounter: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for other in others:
        others_by_encounter[other.encounter_id].append(other)
    coverages_by_patient: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for coverage in coverages.values():
        coverages_by_patient[coverage.patient_id].append(coverage)
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
        others_by_encounter,
        coverages_by_patient,
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


def _value(value: Any) -> str:
    return str(getattr(value, "value", value))


def _scrub_provider(
    data: _Loaded, provider_id: uuid.UUID | None, role: str
) -> ScrubProvider | None:
    """The practice's provider as the rules see it, built once per batch and role (the rules
    never change what they read)."""
    if provider_id is None:
        return None
    key = (provider_id, role)
    found = data.built_providers.get(key)
    if found is None and key not in data.built_providers:
        found = data.built_providers[key] = _provider(data.providers.get(provider_id), role)
    return found


def _scrub_coverage(data: _Loaded, row: Any) -> ScrubCoverage:
    found = data.built_coverages.get(row.id)
    if found is None:
        found = data.built_coverages[row.id] = _coverage(row)
    return found


def _build(data: _Loaded, claim: Any, billing: ScrubBillingProvider) -> ScrubClaim:
    encounter = data.encounters[claim.encounter_id]
    patient = data.patients[claim.patient_id]
    coverage_row = data.coverages.get(claim.coverage_id)
    responsibility = _value(claim.payer_responsibility)
    claim_type = _value(claim.claim_type)
    prior_statuses: tuple[str, ...] = ()
    prior_coverage = None
    prior = _PRIOR_RESPONSIBILITY.get(responsibility)
    if prior is not None:
        prior_claims = [
            o
            for o in data.others_by_encounter.get(claim.encounter_id, ())
            if o.id != claim.id and _value(o.payer_responsibility) == prior
        ]
        prior_statuses = tuple(str(o.status.value) for o in prior_claims)
        wanted = 1 if prior == "P" else 2
        for row in data.coverages_by_patient.get(claim.patient_id, ()):
            if row.priority == wanted and row.active:
                prior_coverage = _scrub_coverage(data, row)
                break
    lines = sorted(data.lines.get(claim.encounter_id, ()), key=lambda ln: ln.line_number)
    diagnoses = sorted(data.diagnoses.get(claim.encounter_id, ()), key=lambda d: d.sequence)
    rendering_id = encounter.rendering_provider_id
    sex = patient.sex
    return ScrubClaim(
        id=claim.id,
        practice_id=data.practice.id,
        encounter_id=claim.encounter_id,
        patient_control_number=claim.patient_control_number,
        claim_type=claim_type,
        frequency_code=_value(claim.frequency_code),
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
            sex=_value(sex) if sex else None,
            address=_address(patient.address1, patient.city, patient.state, patient.zip),
        ),
        coverage=_scrub_coverage(data, coverage_row) if coverage_row is not None else None,
        payer=data.payers[claim.payer_id],
        lines=[_line(row, encounter) for row in lines],
        diagnoses=[
            ScrubDiagnosis(d.sequence, normalize_icd10(d.code), _value(d.kind)) for d in diagnoses
        ],
        place_of_service=encounter.place_of_service,
        prior_authorization=encounter.prior_authorization,
        original_claim_id=claim.original_claim_id,
        original_payer_claim_number=claim.original_payer_claim_number,
        rendering=_scrub_provider(data, rendering_id, "rendering"),
        referring=_scrub_provider(data, encounter.referring_provider_id, "referring"),
        facility=_scrub_provider(data, encounter.facility_provider_id, "facility"),
        # 837I: the encounter's rendering clinician attends.
        attending=_scrub_provider(data, rendering_id, "attending")
        if claim_type == "institutional"
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
                data.practice.id,
                other.patient_id,
                other.payer_id,
                service_date,
                (row.procedure_code or "").strip().upper(),
                npi,
            )
            index.add_service(key, other.id)
    return index


_EDIT_COLUMNS = (
    "id",
    "practice_id",
    "claim_id",
    "rule_id",
    "severity",
    "loop",
    "field",
    "message",
    "source",
    "created_at",
    "resolved_at",
)


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
        session.execute(
            update(ClaimEdit)
            .where(
                col(ClaimEdit.practice_id) == practice_id,
                col(ClaimEdit.claim_id).in_(chunk),
                col(ClaimEdit.source) == EditSource.SCRUB,
                col(ClaimEdit.resolved_at).is_(None),
            )
            .values(resolved_at=now)
        )
    # Plain rows through one bulk insert: ORM objects for edits nobody reads back cost more
    # than the rules that found them.
    writer = BulkWriter(session.connection())
    table = ClaimEdit.__table__  # type: ignore[attr-defined]
    created = writer.converter(table, "created_at")(now)
    practice_hex = id_hex(practice_id)
    error, warning = EditSeverity.ERROR.value, EditSeverity.WARNING.value
    scrub = EditSource.SCRUB.value
    edits: list[tuple[Any, ...]] = []
    moves: list[ClaimMove] = []
    for claim in data.claims:
        findings = scrub_claim(built[claim.id], ctx, rules)
        held = False
        claim_hex = id_hex(claim.id)
        for finding in findings:
            is_error = finding.severity is Severity.ERROR
            edits.append(
                (
                    new_hex_id(),
                    practice_hex,
                    claim_hex,
                    finding.rule_id,
                    error if is_error else warning,
                    finding.loop,
                    finding.field,
                    finding.message,
                    scrub,
                    created,
                    None,
                )
            )
            outcome.by_rule[finding.rule_id] += 1
            if is_error:
                outcome.errors += 1
                held = True
            else:
                outcome.warnings += 1
        status = ClaimStatus.HELD if held else ClaimStatus.READY
        moves.append(
            ClaimMove(claim.id, practice_id, ClaimStatus.DRAFT, ((status, _reason(findings)),))
        )
        (outcome.held if held else outcome.ready).append(claim.id)
        outcome.scrubbed += 1
    # One bulk move: only rows still DRAFT change (a run that moved one first makes this one
    # roll back), each with its ClaimEvent.
    move_claims(session, moves, source=source, at=now)
    writer.insert(table, _EDIT_COLUMNS, edits)
    logger.bind(practice=practice.slug, source=source, **outcome.summary()).info(
        "scrubbed {} claims for {}: {} held, {} ready",
        outcome.scrubbed,
        practice.slug,
        len(outcome.held),
        len(outcome.ready),
    )
    return outcome


__all__ = ["ScrubOutcome", "scrub_claims"]
