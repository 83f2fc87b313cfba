"""The database side of scrubbing: load a practice's DRAFT claims in bulk, run the rules, record
the findings as ClaimEdit rows and move each claim to HELD (any error) or READY.

One query per table per batch, whatever its size: claims, then the patients' other claims,
encounters, lines, diagnoses, patients, coverages, payers, providers and enrollments, a set of
wanted keys bound as one parameter (SQLite `IN (SELECT value FROM json_each(?))`, PostgreSQL
`= ANY(array)`). Rows are read as the driver returns them: keys as 32 hex digits (rcm.bulk's
form, which is what SQLite stores; PostgreSQL encodes them itself), enums as their stored text,
and the few columns the rules compare as values (dates, money, units, JSON lists) converted once
per distinct value (`_Values`), not once per row through each column type. The rules get hex
keys where the models have UUIDs; they only compare them.

The writes are bulk too: one UPDATE resolving earlier findings, one move of every claim
(rcm.claims.states.move_claims: only rows still DRAFT, a ClaimEvent each) and one insert of the
ClaimEdit rows (rcm.bulk). The caller owns the transaction. The collector is paused for the
batch (rcm.bulk.gc_paused): what it builds holds no reference cycles.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any

from sqlalchemy import Dialect, Numeric, func, update
from sqlmodel import Session, col, select

from rcm.bulk import BulkWriter, gc_paused, id_hex, new_hex_id
from rcm.claims.states import ClaimMove, move_claims
from rcm.codesets import CodeSets, load_code_sets
from rcm.identifiers import normalize_icd10
from rcm.logging import logger
from rcm.models import (
    ClaimEdit,
    ClaimStatus,
    EditSeverity,
    EditSource,
    Payer,
    PayerEnrollment,
    Practice,
    Provider,
    utcnow,
)
from rcm.models.types import Money, UTCDateTime
from rcm.rows import key_in
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
from rcm.scrub.registry import RuleSet, all_rules, scrub_claim

# The rules register on import: once, when this module is, not inside the first batch.
all_rules()

# Claims that no longer stand for their services: not duplicates of anything.
_NOT_BILLED = (ClaimStatus.VOIDED.value, ClaimStatus.REPLACED.value)
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


def _memo(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`convert`, run once per distinct value (None stays None; an unhashable value, a JSON
    list from PostgreSQL's driver, is converted every time)."""
    cache: dict[Hashable, Any] = {}

    def memoized(value: Any) -> Any:
        if value is None:
            return None
        try:
            return cache[value]
        except KeyError:
            found = cache[value] = convert(value)
            return found
        except TypeError:
            return convert(value)

    return memoized


class _Values:
    """Raw column values (SQLite: text for dates and JSON, floats for numerics; PostgreSQL:
    the driver's dates, Decimals and lists) as the ORM would have read them, each distinct
    value converted once per batch."""

    def __init__(self, dialect: Dialect) -> None:
        sqlite = dialect.name == "sqlite"
        money_type = Money()
        if sqlite:
            # The column types' own result processing (what an ORM read does), memoized.
            money = money_type.dialect_impl(dialect).result_processor(dialect, None)
            units = Numeric(10, 3).dialect_impl(dialect).result_processor(dialect, None)
        else:
            money = units = None
        self.money: Callable[[Any], Any] = _memo(
            money or (lambda v: money_type.process_result_value(v, dialect))
        )
        self.units: Callable[[Any], Any] = _memo(units or Decimal)
        self.date: Callable[[Any], Any] = _memo(_to_date)
        stamp = UTCDateTime()
        self.datetime: Callable[[Any], Any] = _memo(
            lambda v: stamp.process_result_value(_to_datetime(v), dialect)
        )
        self.code: Callable[[Any], str] = _memo(lambda v: v.strip().upper())
        self.icd10: Callable[[Any], str] = _memo(normalize_icd10)
        self.modifiers: Callable[[Any], tuple[str, ...]] = _memo(
            lambda v: tuple(str(m).strip().upper() for m in (_json(v) or ()))
        )
        self.pointers: Callable[[Any], tuple[int, ...]] = _memo(
            lambda v: tuple(int(p) for p in (_json(v) or ()))
        )


def _to_date(value: Any) -> date:
    return date.fromisoformat(value) if value.__class__ is str else value  # type: ignore[no-any-return]


def _to_datetime(value: Any) -> datetime:
    return datetime.fromisoformat(value) if value.__class__ is str else value  # type: ignore[no-any-return]


def _json(value: Any) -> Any:
    return json.loads(value) if value.__class__ is str else value


def _unindexed(column: Any) -> Any:
    """`column` in a form no index serves. For `practice_id = ? AND encounter_id IN (...)` a
    planner without statistics (SQLite always) picks the practice_id index and reads every row
    the practice ever had; written this way the practice is still checked on every row, and
    the selective index is the only choice."""
    return func.coalesce(column, column)


def _address(
    address1: str | None, city: str | None, state: str | None, zip_code: str | None
) -> ScrubAddress:
    return ScrubAddress(address1, city, state, zip_code)


def _payer(row: Payer) -> ScrubPayer:
    rules = dict(row.rules or {})
    return ScrubPayer(
        id=row.id.hex,
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
        id=row.id.hex, npi=row.npi, role=role, last_name=row.last_name, first_name=row.first_name
    )


# The columns each step reads, in the order the loaders unpack them; "*" marks a UUID key (read
# as hex). A claim row starts with the columns of an "other" claim row, so both index alike.
_OTHER_CLAIM_COLUMNS = (
    "id*",
    "encounter_id*",
    "patient_id*",
    "payer_id*",
    "payer_responsibility",
    "status",
)
_CLAIM_COLUMNS = (
    *_OTHER_CLAIM_COLUMNS,
    "coverage_id*",
    "patient_control_number",
    "claim_type",
    "frequency_code",
    "total_charge",
    "service_date_from",
    "service_date_to",
    "original_claim_id*",
    "original_payer_claim_number",
)
_PCN = 7
_DATE_FROM, _DATE_TO = 11, 12
_ENCOUNTER_COLUMNS = (
    "id*",
    "service_date",
    "place_of_service",
    "prior_authorization",
    "rendering_provider_id*",
    "referring_provider_id*",
    "facility_provider_id*",
    "type_of_bill",
    "admission_date",
    "patient_status",
)
_ENCOUNTER_DATE, _RENDERING = 1, 4
_LINE_COLUMNS = (
    "encounter_id*",
    "line_number",
    "procedure_code",
    "modifiers",
    "units",
    "charge",
    "diagnosis_pointers",
    "service_date",
    "revenue_code",
    "ndc",
)
_DIAGNOSIS_COLUMNS = ("encounter_id*", "sequence", "code", "kind")
_PATIENT_COLUMNS = (
    "id*",
    "last_name",
    "first_name",
    "birth_date",
    "sex",
    "address1",
    "city",
    "state",
    "zip",
)
_COVERAGE_COLUMNS = (
    "id*",
    "patient_id*",
    "payer_id*",
    "priority",
    "active",
    "member_id",
    "relationship",
    "subscriber_last_name",
    "subscriber_first_name",
    "subscriber_birth_date",
    "subscriber_sex",
    "effective_date",
    "termination_date",
    "eligibility_status",
    "eligibility_checked_at",
)


class _Reader:
    """SELECTs written out for the two databases and run on the driver's cursor, inside the
    session's transaction: the loads are simple, and SQLAlchemy's statement building and Row
    objects cost a third of the reading. Keys come back as 32 hex digits (SQLite stores them
    so; PostgreSQL encodes them, `encode(uuid_send(x), 'hex')`), every other column as the
    driver returns it. A set of wanted keys is one parameter (SQLite `IN (SELECT value FROM
    json_each(?))`, PostgreSQL `= ANY(?::uuid[])`); the practice is checked in a form no index
    serves, so a planner without statistics cannot prefer the practice_id index over the
    selective one (and read every row the practice ever had)."""

    def __init__(self, session: Session, practice_id: uuid.UUID) -> None:
        connection = session.connection()
        self.dialect = connection.dialect
        self.postgresql = self.dialect.name == "postgresql"
        driver = connection.connection.driver_connection
        assert driver is not None
        self._driver: Any = driver
        self.mark = "%s" if self.postgresql else "?"
        self.practice = practice_id.hex

    def _column(self, name: str) -> str:
        if not name.endswith("*"):
            return f'"{name}"'
        name = name[:-1]
        return f"encode(uuid_send(\"{name}\"), 'hex')" if self.postgresql else f'"{name}"'

    def keys_in(self, column: str) -> str:
        """A condition with one parameter: `keys(...)` of the wanted keys."""
        if self.postgresql:
            return f'"{column}" = ANY(%s::uuid[])'
        return f'"{column}" IN (SELECT value FROM json_each(?))'

    def keys(self, values: Collection[str]) -> Any:
        ordered = sorted(values)
        return ordered if self.postgresql else json.dumps(ordered)

    def rows(
        self, table: str, columns: Sequence[str], where: str, params: Sequence[Any]
    ) -> list[Any]:
        """Rows of the practice's `table` matching `where` (its `?` marks bound to `params`)."""
        cast = "::uuid" if self.postgresql else ""
        sql = (
            f'SELECT {", ".join(self._column(c) for c in columns)} FROM "{table}" '
            f"WHERE {where.replace('?', self.mark)} "
            f'AND coalesce("practice_id", "practice_id") = {self.mark}{cast}'
        )
        cursor = self._driver.cursor()
        try:
            cursor.execute(sql, (*params, self.practice))
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def rows_in(
        self, table: str, columns: Sequence[str], column: str, keys: Collection[str]
    ) -> list[Any]:
        if not keys:
            return []
        return self.rows(table, columns, self.keys_in(column), (self.keys(keys),))

    def date(self, value: date) -> Any:
        """A date parameter: SQLite stores ISO text."""
        return value if self.postgresql else value.isoformat()


@dataclass
class _Loaded:
    """The batch and everything its rules read: claims, encounters, other claims and coverages
    as raw rows (tuples in the column orders above, keys as hex), lines, diagnoses, patients and
    payers already built as the rules see them."""

    practice: Practice
    practice_key: str
    values: _Values
    claims: list[Any]
    encounters: dict[str, Any]
    lines: dict[str, list[ScrubLine]]
    diagnoses: dict[str, list[ScrubDiagnosis]]
    patients: dict[str, ScrubPatient]
    coverages: dict[str, Any]
    payers: dict[str, ScrubPayer]
    providers: dict[str, Provider]
    other_claims: list[Any]
    # Indexes for secondary and tertiary claims: other claims by encounter, and the patients'
    # coverages in load order.
    others_by_encounter: dict[str, list[Any]] = field(default_factory=dict)
    coverages_by_patient: dict[str, list[Any]] = field(default_factory=dict)
    # What _build made once per batch: the rules only read what they are given.
    built_coverages: dict[str, ScrubCoverage] = field(default_factory=dict)
    built_providers: dict[tuple[str, str], ScrubProvider | None] = field(default_factory=dict)


def _load(session: Session, practice: Practice, claim_ids: Sequence[uuid.UUID] | None) -> _Loaded:
    sql = _Reader(session, practice.id)
    values = _Values(sql.dialect)
    draft = ClaimStatus.DRAFT.value
    if claim_ids is not None:
        wanted = {id_hex(c) for c in claim_ids}
        claims = (
            sql.rows(
                "claim",
                _CLAIM_COLUMNS,
                f"{sql.keys_in('id')} AND status = ?",
                (sql.keys(wanted), draft),
            )
            if wanted
            else []
        )
    else:
        # The practice_id and status index serves this one: no coalesce.
        claims = sql.rows(
            "claim", _CLAIM_COLUMNS, "practice_id = ? AND status = ?", (sql.practice, draft)
        )
    claims.sort(key=itemgetter(_PCN))
    patient_ids = {c[2] for c in claims}
    # The patients' other claims over the batch's dates (duplicates, prior payers' claims).
    # Scrubbing every DRAFT claim, the DRAFT ones among them are the batch itself, already
    # read: only the others are read again.
    others: list[Any] = list(claims) if claim_ids is None else []
    not_billed = _NOT_BILLED + ((draft,) if claim_ids is None else ())
    if claims:
        first = min(values.date(c[_DATE_FROM]) for c in claims)
        last = max(values.date(c[_DATE_TO]) for c in claims)
        marks = ", ".join("?" * len(not_billed))
        others.extend(
            sql.rows(
                "claim",
                _OTHER_CLAIM_COLUMNS,
                f"{sql.keys_in('patient_id')} AND status NOT IN ({marks})"
                " AND service_date_to >= ? AND service_date_from <= ?",
                (sql.keys(patient_ids), *not_billed, sql.date(first), sql.date(last)),
            )
        )
    encounter_ids = {c[1] for c in claims} | {c[1] for c in others}
    encounters = {
        e[0]: e for e in sql.rows_in("encounter", _ENCOUNTER_COLUMNS, "id", encounter_ids)
    }
    # Lines (and diagnoses) built once per encounter, in line (sequence) order.
    lines: dict[str, list[ScrubLine]] = defaultdict(list)
    line_rows = sql.rows_in("service_line", _LINE_COLUMNS, "encounter_id", encounter_ids)
    line_rows.sort(key=itemgetter(1))
    code, modifiers, units = values.code, values.modifiers, values.units
    money, pointers, to_date = values.money, values.pointers, values.date
    for encounter_id, number, procedure, mods, qty, charge, ptrs, day, revenue, ndc in line_rows:
        encounter = encounters.get(encounter_id)
        lines[encounter_id].append(
            ScrubLine(
                line_number=number,
                procedure_code=code(procedure or ""),
                modifiers=modifiers(mods) or (),
                units=units(qty),
                charge=money(charge),
                diagnosis_pointers=pointers(ptrs) or (),
                service_date=to_date(day or (encounter[_ENCOUNTER_DATE] if encounter else None)),
                revenue_code=revenue,
                ndc=ndc,
            )
        )
    diagnoses: dict[str, list[ScrubDiagnosis]] = defaultdict(list)
    diagnosis_rows = sql.rows_in(
        "diagnosis", _DIAGNOSIS_COLUMNS, "encounter_id", {c[1] for c in claims}
    )
    diagnosis_rows.sort(key=itemgetter(1))
    icd10 = values.icd10
    for encounter_id, sequence, dx_code, kind in diagnosis_rows:
        diagnoses[encounter_id].append(ScrubDiagnosis(sequence, icd10(dx_code), str(kind)))
    patients: dict[str, ScrubPatient] = {}
    for row in sql.rows_in("patient", _PATIENT_COLUMNS, "id", patient_ids):
        key, last_name, first_name, birth_date, sex, address1, city, state, zip_code = row
        patients[key] = ScrubPatient(
            id=key,
            last_name=last_name,
            first_name=first_name,
            birth_date=to_date(birth_date),
            sex=sex or None,
            address=ScrubAddress(address1, city, state, zip_code),
        )
    coverages = {
        c[0]: c for c in sql.rows_in("coverage", _COVERAGE_COLUMNS, "patient_id", patient_ids)
    }
    payer_ids = {c[3] for c in claims} | {c[3] for c in others}
    payers = (
        {
            p.id.hex: _payer(p)
            for p in session.exec(
                select(Payer).where(key_in(Payer.id, sorted(payer_ids), sql.postgresql))
            ).all()
        }
        if payer_ids
        else {}
    )
    providers = {
        p.id.hex: p
        for p in session.exec(select(Provider).where(Provider.practice_id == practice.id)).all()
    }
    others_by_encounter: dict[str, list[Any]] = defaultdict(list)
    for other in others:
        others_by_encounter[other[1]].append(other)
    coverages_by_patient: dict[str, list[Any]] = defaultdict(list)
    for coverage in coverages.values():
        coverages_by_patient[coverage[1]].append(coverage)
    return _Loaded(
        practice,
        sql.practice,
        values,
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
    practice = practice_id.hex
    rows = session.exec(select(PayerEnrollment).where(PayerEnrollment.practice_id == practice_id))
    for row in rows.all():
        status = str(getattr(row.credentialing_status, "value", row.credentialing_status))
        index.add(
            practice,
            row.payer_id.hex,
            row.provider_id.hex if row.provider_id else None,
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


def _scrub_provider(data: _Loaded, provider_id: str | None, role: str) -> ScrubProvider | None:
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
    found = data.built_coverages.get(row[0])
    if found is None:
        values = data.values
        (
            key,
            _,
            payer_id,
            priority,
            _,
            member_id,
            relationship,
            last_name,
            first_name,
            birth_date,
            sex,
            effective,
            termination,
            eligibility,
            checked_at,
        ) = row
        found = data.built_coverages[key] = ScrubCoverage(
            id=key,
            priority=priority,
            member_id=member_id,
            relationship=relationship,
            subscriber_last_name=last_name,
            subscriber_first_name=first_name,
            subscriber_birth_date=values.date(birth_date),
            subscriber_sex=sex or None,
            effective_date=values.date(effective),
            termination_date=values.date(termination),
            eligibility_status=str(eligibility),
            eligibility_checked_at=values.datetime(checked_at),
            payer_id=payer_id,
        )
    return found


def _build(data: _Loaded, claim: Any, billing: ScrubBillingProvider) -> ScrubClaim:
    (
        claim_id,
        encounter_id,
        patient_id,
        payer_id,
        responsibility,
        _,
        coverage_id,
        pcn,
        claim_type,
        frequency_code,
        total_charge,
        date_from,
        date_to,
        original_claim_id,
        original_payer_claim_number,
    ) = claim
    values = data.values
    encounter = data.encounters[encounter_id]
    coverage_row = data.coverages.get(coverage_id)
    prior_statuses: tuple[str, ...] = ()
    prior_coverage = None
    prior = _PRIOR_RESPONSIBILITY.get(responsibility)
    if prior is not None:
        prior_statuses = tuple(
            o[5]
            for o in data.others_by_encounter.get(encounter_id, ())
            if o[0] != claim_id and o[4] == prior
        )
        wanted = 1 if prior == "P" else 2
        for row in data.coverages_by_patient.get(patient_id, ()):
            if row[3] == wanted and _active(row[4]):
                prior_coverage = _scrub_coverage(data, row)
                break
    (
        _,
        _,
        place_of_service,
        prior_authorization,
        rendering_id,
        referring_id,
        facility_id,
        type_of_bill,
        admission_date,
        patient_status,
    ) = encounter
    return ScrubClaim(
        id=claim_id,
        practice_id=data.practice_key,
        encounter_id=encounter_id,
        patient_control_number=pcn,
        claim_type=claim_type,
        frequency_code=frequency_code,
        payer_responsibility=responsibility,
        total_charge=values.money(total_charge),
        service_date_from=values.date(date_from),
        service_date_to=values.date(date_to),
        billing=billing,
        patient=data.patients[patient_id],
        coverage=_scrub_coverage(data, coverage_row) if coverage_row is not None else None,
        payer=data.payers[payer_id],
        lines=list(data.lines.get(encounter_id, ())),
        diagnoses=list(data.diagnoses.get(encounter_id, ())),
        place_of_service=place_of_service,
        prior_authorization=prior_authorization,
        original_claim_id=original_claim_id,
        original_payer_claim_number=original_payer_claim_number,
        rendering=_scrub_provider(data, rendering_id, "rendering"),
        referring=_scrub_provider(data, referring_id, "referring"),
        facility=_scrub_provider(data, facility_id, "facility"),
        # 837I: the encounter's rendering clinician attends.
        attending=_scrub_provider(data, rendering_id, "attending")
        if claim_type == "institutional"
        else None,
        type_of_bill=type_of_bill,
        admission_date=values.date(admission_date),
        patient_status=patient_status,
        prior_payer_claim_statuses=prior_statuses,
        prior_payer_coverage=prior_coverage,
        billing_dme_supplier=(billing.taxonomy_code or "").startswith("332B"),
    )


def _active(value: Any) -> bool:
    """Coverage.active as stored: a bool (PostgreSQL), 0/1 (SQLite)."""
    return bool(int(value)) if value.__class__ is str else bool(value)


def _duplicates(data: _Loaded, built: dict[str, ScrubClaim]) -> DuplicateIndex:
    index = DuplicateIndex()
    for claim in built.values():
        index.add_claim(claim)
    practice_key = data.practice_key
    for other_id, encounter_id, patient_id, payer_id, _, _ in (o[:6] for o in data.other_claims):
        if other_id in built:
            continue
        encounter = data.encounters.get(encounter_id)
        if encounter is None:
            continue
        rendering_id = encounter[_RENDERING]
        rendering = data.providers.get(rendering_id) if rendering_id else None
        npi = (rendering.npi if rendering else None) or data.practice.billing_npi or ""
        for line in data.lines.get(encounter_id, ()):
            key = (
                practice_key,
                patient_id,
                payer_id,
                line.service_date,
                line.procedure_code,
                npi,
            )
            index.add_service(key, other_id)
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
    with gc_paused():
        return _scrub(session, practice, claim_ids, today, code_sets, source)


def _scrub(
    session: Session,
    practice: Practice,
    claim_ids: Sequence[uuid.UUID] | None,
    today: date,
    code_sets: CodeSets | None,
    source: str,
) -> ScrubOutcome:
    data = _load(session, practice, claim_ids)
    outcome = ScrubOutcome()
    if not data.claims:
        return outcome
    billing = _billing(practice)
    built = {claim[0]: _build(data, claim, billing) for claim in data.claims}
    ctx = make_context(
        today,
        code_sets=code_sets if code_sets is not None else load_code_sets(),
        enrollments=_enrollments(session, practice.id),
        duplicates=_duplicates(data, built),
    )
    rules = RuleSet(all_rules())
    now = utcnow()
    connection = session.connection()
    connection.execute(
        update(ClaimEdit)
        .where(
            key_in(ClaimEdit.claim_id, list(built), connection.dialect.name == "postgresql"),
            _unindexed(ClaimEdit.practice_id) == practice.id,
            col(ClaimEdit.source) == EditSource.SCRUB,
            col(ClaimEdit.resolved_at).is_(None),
        )
        .values(resolved_at=now)
    )
    # Plain rows through one bulk insert: ORM objects for edits nobody reads back cost more
    # than the rules that found them.
    writer = BulkWriter(connection)
    table = ClaimEdit.__table__  # type: ignore[attr-defined]
    created = writer.converter(table, "created_at")(now)
    practice_hex = data.practice_key
    error, warning = EditSeverity.ERROR.value, EditSeverity.WARNING.value
    scrub = EditSource.SCRUB.value
    edits: list[tuple[Any, ...]] = []
    moves: list[ClaimMove] = []
    held_ids: list[str] = []
    ready_ids: list[str] = []
    by_rule = outcome.by_rule
    errors = warnings = 0
    draft, held_status, ready_status = ClaimStatus.DRAFT, ClaimStatus.HELD, ClaimStatus.READY
    for claim_hex, claim in built.items():
        findings = scrub_claim(claim, ctx, rules)
        held = False
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
            by_rule[finding.rule_id] += 1
            if is_error:
                errors += 1
                held = True
            else:
                warnings += 1
        status = held_status if held else ready_status
        moves.append(ClaimMove(claim_hex, practice_hex, draft, ((status, _reason(findings)),)))
        (held_ids if held else ready_ids).append(claim_hex)
    outcome.scrubbed = len(built)
    outcome.errors, outcome.warnings = errors, warnings
    outcome.held = [uuid.UUID(key) for key in held_ids]
    outcome.ready = [uuid.UUID(key) for key in ready_ids]
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
