"""Charges CSV: one row per service line, grouped into encounters (docs/import-formats.md).

Rows with the same encounter ID form one encounter: its patient, payer, providers, place of
service, claim type, prior authorization, type of bill and diagnosis list must agree on every
row (later rows may leave the diagnosis list empty). Pointers refer to that list.

Charges are keyed by (encounter ID, line number). Importing the same rows again changes nothing;
a row whose key exists with different values is reported and the file rejected, because the
encounter may already be on a claim: a changed charge is a corrected claim, not an overwrite.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from rcm.bulk import BulkWriter, gc_paused, id_hex, new_hex_id
from rcm.identifiers import (
    icd10_shape_problem,
    modifier_problem,
    normalize_icd10,
    normalize_revenue_code,
    normalize_type_of_bill,
    place_of_service_problem,
    procedure_code_problem,
    revenue_code_problem,
    type_of_bill_problem,
)
from rcm.imports.common import (
    ACCOUNT_PATTERN,
    EXTERNAL_ID_PATTERN,
    FileMemo,
    ImportRejectedError,
    ImportResult,
    RowCheck,
    RowProblem,
    get_practice,
    patient_keys,
    payer_keys,
    providers_by_npi,
    read_csv,
    record_import,
    role_of,
    sha256_hex,
)
from rcm.models import ClaimType, Coverage, Diagnosis, Encounter, ServiceLine, utcnow
from rcm.rows import hex_key, key_in, one_of, stored_text, unindexed

REQUIRED = (
    "encounter_id",
    "line_number",
    "patient_account",
    "service_date",
    "rendering_npi",
    "procedure_code",
    "units",
    "charge",
    "diagnosis_codes",
    "diagnosis_pointers",
    "payer",
    "member_id",
)
OPTIONAL = (
    "referring_npi",
    "facility_npi",
    "place_of_service",
    "claim_type",
    "modifiers",
    "prior_authorization",
    "revenue_code",
    "type_of_bill",
    "patient_status",
)
# Outpatient bill types (facility type and classification of the normalized 3-digit type of
# bill: hospital 13x, SNF 23x, home health 34x, clinics 71x-77x, critical access 85x): a visit,
# not a stay, so the patient status (CL103) is "01", discharged to home or self care, unless the
# file says otherwise. Inpatient bills must say it.
OUTPATIENT_BILL_CLASSES = ("13", "23", "34", "71", "72", "73", "74", "75", "77", "85")
DEFAULT_OUTPATIENT_STATUS = "01"
CLAIM_TYPES = {
    "professional": "professional",
    "institutional": "institutional",
    "p": "professional",
    "i": "institutional",
    "837p": "professional",
    "837i": "institutional",
}
MAX_DIAGNOSES = {"professional": 12, "institutional": 25}
MAX_LINES = {"professional": 50, "institutional": 999}
MAX_CHARGE = Decimal("9999999.99")
MAX_UNITS = Decimal("9999.999")
CLINICIAN_ROLES = {"rendering", "attending"}
# Encounter-level columns: every row of one encounter must carry the same value.
ENCOUNTER_FIELDS = (
    "patient_account",
    "rendering_npi",
    "referring_npi",
    "facility_npi",
    "place_of_service",
    "claim_type",
    "prior_authorization",
    "payer",
    "member_id",
    "type_of_bill",
    "patient_status",
)


# Which CSV column sets each Encounter field (to name it in a problem).
_COLUMN_OF_FIELD = {
    "patient_id": "patient_account",
    "coverage_id": "member_id",
    "payer_id": "payer",
    "rendering_provider_id": "rendering_npi",
    "referring_provider_id": "referring_npi",
    "facility_provider_id": "facility_npi",
}


@dataclass
class _Line:
    line: int
    line_number: int
    service_date: date
    procedure_code: str
    modifiers: list[str]
    units: Decimal
    charge: Decimal
    pointers: list[int]
    revenue_code: str | None

    def values(self) -> dict[str, Any]:
        return {
            "procedure_code": self.procedure_code,
            "modifiers": self.modifiers,
            "units": self.units,
            "charge": self.charge,
            "diagnosis_pointers": self.pointers,
            "service_date": self.service_date,
            "revenue_code": self.revenue_code,
        }


@dataclass
class _Encounter:
    external_id: str
    first_line: int
    header: dict[str, str]  # the encounter-level cells as written on its first row
    codes: list[str]
    lines: list[_Line] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)


def _icd_exists(code: str) -> bool:
    """A category, subcategory or code of the bundled ICD-10-CM release (for a dotless
    upper-case code of the right shape, what simple_icd_10_cm.is_valid_item answers), from the
    code set the scrubber uses: loaded from its cache, without importing simple_icd_10_cm."""
    from rcm.codesets.icd10 import icd10cm

    return icd10cm().status(code) != "invalid"


def _diagnosis_kind(sequence: int, code: str) -> str:
    if sequence == 1:
        return "principal"
    # V00-Y99: external causes of morbidity go in their own HI qualifier.
    return "external_cause" if code[0] in "VWXY" else "other"


def import_charges(
    session: Session,
    practice_slug: str,
    data: bytes,
    *,
    source_name: str = "charges.csv",
    actor: str = "import",
    today: date | None = None,
) -> ImportResult:
    """Create Encounter, ServiceLine and Diagnosis rows from a charges CSV.

    Every row is checked first; ImportRejectedError (nothing written) lists each bad row by line
    number. Re-importing the same rows is a no-op. The caller commits.
    """
    with gc_paused():
        return _import_charges(session, practice_slug, data, source_name, actor, today)


def _import_charges(
    session: Session,
    practice_slug: str,
    data: bytes,
    source_name: str,
    actor: str,
    today: date | None,
) -> ImportResult:
    practice = get_practice(session, practice_slug)
    today = today or date.today()
    sha256 = sha256_hex(data)
    csv_file = read_csv(data, source_name=source_name, required=REQUIRED, optional=OPTIONAL)
    postgresql = session.connection().dialect.name == "postgresql"
    # Keys are 32 hex digits throughout (rcm.bulk), as read and as written.
    patients = patient_keys(
        session, practice.id, {row.get("patient_account") for row in csv_file.rows} - {""}
    )
    providers = providers_by_npi(session, practice.id)
    payers = payer_keys(session)
    coverages: dict[str, list[Any]] = {}
    if patients:
        for active in session.execute(
            select(
                hex_key(col(Coverage.id)).label("id"),
                hex_key(col(Coverage.patient_id)).label("patient_id"),
                hex_key(col(Coverage.payer_id)).label("payer_id"),
                col(Coverage.member_id),
                col(Coverage.effective_date),
                col(Coverage.termination_date),
            ).where(
                unindexed(col(Coverage.practice_id)) == practice.id,
                col(Coverage.active).is_(True),
                key_in(col(Coverage.patient_id), set(patients.values()), postgresql),
            )
        ):
            coverages.setdefault(active.patient_id, []).append(active)
    default_claim_type = str(
        getattr(practice.default_claim_type, "value", practice.default_claim_type)
    )

    problems: list[RowProblem] = []
    memo = FileMemo()
    known_codes: dict[str, bool] = {}  # each code of the file: is it an ICD-10-CM code
    encounters: dict[str, _Encounter] = {}
    seen_keys: dict[tuple[str, int], int] = {}
    bad_encounters: set[str] = set()

    for row in csv_file.rows:
        check = RowCheck(source_name, row, problems, memo)
        before = len(problems)
        external_id = check.text(
            "encounter_id",
            pattern=EXTERNAL_ID_PATTERN,
            pattern_help="1-80 letters, digits, '.', '_' or '-'",
        )
        claim_type = check.choice("claim_type", CLAIM_TYPES, default=default_claim_type)
        institutional = claim_type == "institutional"
        max_lines = MAX_LINES.get(claim_type or "professional", 50)
        line_number = check.integer("line_number", minimum=1, maximum=max_lines)
        service_date = check.date("service_date", not_after=today, not_before=date(2000, 1, 1))

        procedure_code = check.checked(
            "procedure_code", procedure_code_problem(row.get("procedure_code").upper())
        )
        modifiers: list[str] = []
        if row.get("modifiers"):
            modifiers = [m.strip().upper() for m in row.get("modifiers").split("|")]
            if len(modifiers) > 4:
                check.problem("modifiers", "at most 4 modifiers")
            elif any(modifier_problem(m) for m in modifiers):
                check.problem("modifiers", "a modifier is 2 letters or digits, separated by |")
            elif len(set(modifiers)) != len(modifiers):
                check.problem("modifiers", "a modifier is repeated")
        units = check.decimal("units", places=3, maximum=MAX_UNITS)
        charge = check.decimal("charge", places=2, maximum=MAX_CHARGE)

        codes_cell = row.get("diagnosis_codes")
        codes = [normalize_icd10(c) for c in codes_cell.split("|")] if codes_cell else []
        if codes_cell:
            limit = MAX_DIAGNOSES.get(claim_type or "professional", 12)
            if any(not c for c in codes):
                check.problem("diagnosis_codes", "an empty code between separators")
            elif len(codes) > limit:
                check.problem("diagnosis_codes", f"at most {limit} codes on a {claim_type} claim")
            elif len(set(codes)) != len(codes):
                check.problem("diagnosis_codes", "a code is repeated")
            else:
                for position, code in enumerate(codes, start=1):
                    if code not in known_codes:
                        known_codes[code] = not icd10_shape_problem(code) and _icd_exists(code)
                    if not known_codes[code]:
                        check.problem(
                            "diagnosis_codes", f"code {position} is not an ICD-10-CM code"
                        )

        pointers: list[int] = []
        pointers_cell = row.get("diagnosis_pointers")
        if not pointers_cell:
            check.problem("diagnosis_pointers", "required")
        else:
            parts = pointers_cell.split("|")
            if not all(p.strip().isdigit() for p in parts):
                check.problem("diagnosis_pointers", "pointers are numbers separated by |")
            else:
                pointers = [int(p) for p in parts]
                if len(pointers) > 4:
                    check.problem("diagnosis_pointers", "at most 4 pointers")
                    pointers = []
                elif len(set(pointers)) != len(pointers):
                    check.problem("diagnosis_pointers", "a pointer is repeated")
                    pointers = []

        if institutional:
            revenue_code = check.checked(
                "revenue_code", revenue_code_problem(row.get("revenue_code"))
            )
            check.checked("type_of_bill", type_of_bill_problem(row.get("type_of_bill")))
            check.checked(
                "place_of_service",
                place_of_service_problem(row.get("place_of_service")),
                required=False,
            )
        else:
            revenue_code = None
            if row.get("revenue_code") or row.get("type_of_bill"):
                check.problem(
                    "revenue_code", "revenue code and type of bill are for institutional claims"
                )
            check.checked("place_of_service", place_of_service_problem(row.get("place_of_service")))
        check.text("prior_authorization", required=False, max_length=50)

        # People and payers.
        account = check.text(
            "patient_account", pattern=ACCOUNT_PATTERN, pattern_help="not an account number"
        )
        patient = patients.get(account) if account else None
        if account and patient is None:
            check.problem(
                "patient_account", "no patient with this account number (import patients first)"
            )
        rendering_npi = check.npi("rendering_npi")
        if rendering_npi:
            rendering = providers.get(rendering_npi)
            if rendering is None:
                check.problem(
                    "rendering_npi", f"NPI {rendering_npi} is not a provider of this practice"
                )
            elif role_of(rendering) not in CLINICIAN_ROLES:
                check.problem(
                    "rendering_npi", f"NPI {rendering_npi} is a {role_of(rendering)} provider"
                )
        referring_npi = check.npi("referring_npi", required=False)
        if referring_npi and referring_npi not in providers:
            check.problem(
                "referring_npi",
                f"NPI {referring_npi} is not on file for this practice (add it to the "
                "onboarding file with role referring)",
            )
        facility_npi = check.npi("facility_npi", required=False)
        if facility_npi:
            facility = providers.get(facility_npi)
            if facility is None or role_of(facility) != "facility":
                check.problem(
                    "facility_npi", f"NPI {facility_npi} is not a facility of this practice"
                )
        payer_key = check.text("payer")
        if payer_key and payer_key not in payers:
            check.problem("payer", f"no payer {payer_key!r} (rcm payers list)")
        member_id = check.text("member_id", max_length=80)
        coverage: Any = None
        if patient is not None and payer_key in payers and member_id:
            payer_id = payers[payer_key]
            for candidate in coverages.get(patient, []):
                if candidate.payer_id == payer_id and candidate.member_id == member_id:
                    coverage = candidate
            if coverage is None:
                check.problem(
                    "member_id",
                    f"the patient has no active {payer_key} coverage with this member ID",
                )
            elif service_date is not None and not (
                (coverage.effective_date is None or coverage.effective_date <= service_date)
                and (coverage.termination_date is None or service_date <= coverage.termination_date)
            ):
                check.problem("service_date", f"outside the patient's {payer_key} coverage dates")

        if external_id is None:
            continue
        if line_number is not None:
            key = (external_id, line_number)
            if key in seen_keys:
                check.problem(
                    "line_number",
                    f"duplicate of line {seen_keys[key]} (same encounter and line number)",
                )
            seen_keys.setdefault(key, row.line)

        header = {name: row.get(name) for name in ENCOUNTER_FIELDS}
        header["claim_type"] = claim_type or ""
        if institutional:
            header["type_of_bill"] = normalize_type_of_bill(row.get("type_of_bill"))
            status = row.get("patient_status")
            if status and not (len(status) == 2 and status.isdigit()):
                check.problem("patient_status", "must be a 2-digit patient status code (CL103)")
            if not status and (header["type_of_bill"] or "").startswith(OUTPATIENT_BILL_CLASSES):
                status = DEFAULT_OUTPATIENT_STATUS
            header["patient_status"] = status or ""
        encounter = encounters.get(external_id)
        if encounter is None:
            encounter = _Encounter(external_id, row.line, header, codes)
            encounters[external_id] = encounter
            if not codes_cell:
                check.problem("diagnosis_codes", "required on an encounter's first row")
        else:
            for name in ENCOUNTER_FIELDS:
                if header[name] != encounter.header[name]:
                    check.problem(
                        name, f"differs from line {encounter.first_line} of the same encounter"
                    )
            if codes and codes != encounter.codes:
                check.problem(
                    "diagnosis_codes",
                    f"differ from line {encounter.first_line} of the same encounter "
                    "(repeat the same list or leave it empty)",
                )
        for pointer in pointers:
            if not 1 <= pointer <= len(encounter.codes or codes):
                check.problem(
                    "diagnosis_pointers", f"pointer {pointer} is beyond the diagnosis codes"
                )
                break

        if len(problems) != before:
            bad_encounters.add(external_id)
            continue
        assert line_number is not None and service_date is not None
        assert procedure_code is not None and units is not None and charge is not None
        encounter.lines.append(
            _Line(
                line=row.line,
                line_number=line_number,
                service_date=service_date,
                procedure_code=procedure_code.upper(),
                modifiers=modifiers,
                units=units,
                charge=charge,
                pointers=pointers,
                revenue_code=normalize_revenue_code(revenue_code) if revenue_code else None,
            )
        )
        if not encounter.values:
            assert patient is not None and coverage is not None and payer_key is not None
            encounter.values = {
                "patient_id": patient,
                "coverage_id": coverage.id,
                "payer_id": payers[payer_key],
                "rendering_provider_id": providers[rendering_npi].id if rendering_npi else None,
                "referring_provider_id": providers[referring_npi].id if referring_npi else None,
                "facility_provider_id": providers[facility_npi].id if facility_npi else None,
                "place_of_service": row.get("place_of_service") or None,
                "claim_type": ClaimType(claim_type or default_claim_type).value,
                "prior_authorization": row.get("prior_authorization") or None,
                "type_of_bill": header["type_of_bill"] or None,
                "patient_status": header["patient_status"] or None,
            }

    # Compare with what an earlier import stored.
    existing = _stored_encounters(session, practice.id, list(encounters), postgresql)
    stored_lines: dict[str, dict[int, Any]] = {}
    stored_codes: dict[str, list[str]] = {}
    if existing:
        keys = [e.id for e in existing.values()]
        for service_line in session.execute(
            select(*_STORED_LINE_COLUMNS).where(
                unindexed(col(ServiceLine.practice_id)) == practice.id,
                key_in(col(ServiceLine.encounter_id), keys, postgresql),
            )
        ):
            stored_lines.setdefault(service_line.encounter_id, {})[service_line.line_number] = (
                service_line
            )
        for encounter_id, code in session.execute(
            select(hex_key(col(Diagnosis.encounter_id)), col(Diagnosis.code))
            .where(
                unindexed(col(Diagnosis.practice_id)) == practice.id,
                key_in(col(Diagnosis.encounter_id), keys, postgresql),
            )
            .order_by(col(Diagnosis.sequence))
        ):
            stored_codes.setdefault(encounter_id, []).append(code)
    for external_id, encounter in encounters.items():
        stored = existing.get(external_id)
        if stored is None or external_id in bad_encounters:
            continue
        _compare_with_stored(
            source_name,
            encounter,
            stored,
            stored_lines.get(stored.id, {}),
            stored_codes.get(stored.id, []),
            problems,
        )
    if problems:
        problems.sort(key=lambda p: p.line)
        raise ImportRejectedError(source_name, problems)

    counts = {
        "encounters": {"created": 0, "unchanged": 0},
        "service_lines": {"created": 0, "unchanged": 0},
        "diagnoses": {"created": 0, "unchanged": 0},
    }
    writer = _ChargeRows(BulkWriter(session.connection()), id_hex(practice.id), sha256)
    for external_id, encounter in encounters.items():
        if external_id in existing:
            counts["encounters"]["unchanged"] += 1
            counts["service_lines"]["unchanged"] += len(encounter.lines)
            counts["diagnoses"]["unchanged"] += len(encounter.codes)
            continue
        writer.add(encounter)
        counts["encounters"]["created"] += 1
        counts["service_lines"]["created"] += len(encounter.lines)
        counts["diagnoses"]["created"] += len(encounter.codes)
    writer.write()
    result = ImportResult(
        kind="charges",
        practice=practice_slug,
        source_name=source_name,
        sha256=sha256,
        rows=sum(len(e.lines) for e in encounters.values()),
        created=counts["service_lines"]["created"],
        updated=0,
        unchanged=counts["service_lines"]["unchanged"],
        details=counts,
    )
    record_import(session, practice_id=practice.id, actor=actor, result=result)
    session.flush()
    return result


# What an earlier import stored, as `_Encounter.values` and `_Line.values` hold it.
_STORED_ENCOUNTER_COLUMNS = (
    col(Encounter.external_id),
    hex_key(col(Encounter.id)).label("id"),
    hex_key(col(Encounter.patient_id)).label("patient_id"),
    hex_key(col(Encounter.coverage_id)).label("coverage_id"),
    hex_key(col(Encounter.payer_id)).label("payer_id"),
    hex_key(col(Encounter.rendering_provider_id)).label("rendering_provider_id"),
    hex_key(col(Encounter.referring_provider_id)).label("referring_provider_id"),
    hex_key(col(Encounter.facility_provider_id)).label("facility_provider_id"),
    col(Encounter.place_of_service),
    stored_text(col(Encounter.claim_type)).label("claim_type"),
    col(Encounter.prior_authorization),
    col(Encounter.type_of_bill),
    col(Encounter.patient_status),
)
_STORED_LINE_COLUMNS = (
    hex_key(col(ServiceLine.encounter_id)).label("encounter_id"),
    col(ServiceLine.line_number),
    col(ServiceLine.procedure_code),
    col(ServiceLine.modifiers),
    col(ServiceLine.units),
    col(ServiceLine.charge),
    col(ServiceLine.diagnosis_pointers),
    col(ServiceLine.service_date),
    col(ServiceLine.revenue_code),
)


def _stored_encounters(
    session: Session, practice_id: uuid.UUID, external_ids: list[str], postgresql: bool
) -> dict[str, Any]:
    if not external_ids:
        return {}
    rows = session.execute(
        select(*_STORED_ENCOUNTER_COLUMNS).where(
            col(Encounter.practice_id) == practice_id,
            one_of(col(Encounter.external_id), external_ids, postgresql),
        )
    )
    return {row.external_id: row for row in rows}


_ENCOUNTER_COLUMNS = (
    "id",
    "practice_id",
    "external_id",
    "patient_id",
    "coverage_id",
    "payer_id",
    "rendering_provider_id",
    "referring_provider_id",
    "facility_provider_id",
    "place_of_service",
    "claim_type",
    "prior_authorization",
    "type_of_bill",
    "patient_status",
    "service_date",
    "import_sha256",
    "created_at",
)
_DIAGNOSIS_COLUMNS = ("id", "practice_id", "encounter_id", "sequence", "code", "kind")
_LINE_COLUMNS = (
    "id",
    "practice_id",
    "encounter_id",
    "line_number",
    "procedure_code",
    "modifiers",
    "units",
    "charge",
    "diagnosis_pointers",
    "service_date",
    "revenue_code",
)


class _ChargeRows:
    """New encounters with their diagnoses and service lines, kept as tuples and inserted
    with one executemany (SQLite) or COPY (PostgreSQL) per table by `write`."""

    def __init__(self, writer: BulkWriter, practice_id: str, sha256: str) -> None:
        self.writer = writer
        self.practice_id = practice_id
        self.sha256 = sha256
        lines = ServiceLine.__table__  # type: ignore[attr-defined]
        self._day = writer.converter(lines, "service_date")
        self._units = writer.converter(lines, "units")
        self._money = writer.converter(lines, "charge")
        self._json: dict[tuple[Any, ...], str] = {}
        self._stamp = writer.converter(
            Encounter.__table__,  # type: ignore[attr-defined]
            "created_at",
        )(utcnow())
        self.encounters: list[tuple[Any, ...]] = []
        self.diagnoses: list[tuple[Any, ...]] = []
        self.lines: list[tuple[Any, ...]] = []

    def _as_json(self, values: list[Any]) -> str:
        key = tuple(values)
        found = self._json.get(key)
        if found is None:
            found = self._json[key] = json.dumps(values)
        return found

    def add(self, encounter: _Encounter) -> None:
        encounter_id = new_hex_id()
        practice_id = self.practice_id
        values = encounter.values
        self.encounters.append(
            (
                encounter_id,
                practice_id,
                encounter.external_id,
                values["patient_id"],
                values["coverage_id"],
                values["payer_id"],
                values["rendering_provider_id"],
                values["referring_provider_id"],
                values["facility_provider_id"],
                values["place_of_service"],
                values["claim_type"],
                values["prior_authorization"],
                values["type_of_bill"],
                values["patient_status"],
                self._day(min(line.service_date for line in encounter.lines)),
                self.sha256,
                self._stamp,
            )
        )
        for sequence, code in enumerate(encounter.codes, start=1):
            self.diagnoses.append(
                (
                    new_hex_id(),
                    practice_id,
                    encounter_id,
                    sequence,
                    code,
                    _diagnosis_kind(sequence, code),
                )
            )
        for line in encounter.lines:
            self.lines.append(
                (
                    new_hex_id(),
                    practice_id,
                    encounter_id,
                    line.line_number,
                    line.procedure_code,
                    self._as_json(line.modifiers),
                    self._units(line.units),
                    self._money(line.charge),
                    self._as_json(line.pointers),
                    self._day(line.service_date),
                    line.revenue_code,
                )
            )

    def write(self) -> None:
        insert = self.writer.insert
        insert(Encounter.__table__, _ENCOUNTER_COLUMNS, self.encounters)  # type: ignore[attr-defined]
        insert(Diagnosis.__table__, _DIAGNOSIS_COLUMNS, self.diagnoses)  # type: ignore[attr-defined]
        insert(ServiceLine.__table__, _LINE_COLUMNS, self.lines)  # type: ignore[attr-defined]


def _compare_with_stored(
    source_name: str,
    encounter: _Encounter,
    stored: Any,
    stored_lines: dict[int, Any],
    stored_codes: list[str],
    problems: list[RowProblem],
) -> None:
    """Report every difference between the file's encounter and the one already imported."""
    first = encounter.first_line
    for name, value in encounter.values.items():
        if getattr(stored, name) != value:
            problems.append(
                RowProblem(
                    source_name,
                    first,
                    _COLUMN_OF_FIELD.get(name, name),
                    "encounter already imported with a different value; import does not change it "
                    "(correct it through the claim)",
                )
            )
    if encounter.codes != stored_codes:
        problems.append(
            RowProblem(
                source_name,
                first,
                "diagnosis_codes",
                "encounter already imported with different diagnoses; import does not change them",
            )
        )
    file_numbers = {line.line_number for line in encounter.lines}
    for line in encounter.lines:
        stored_line = stored_lines.get(line.line_number)
        if stored_line is None:
            problems.append(
                RowProblem(
                    source_name,
                    line.line,
                    "line_number",
                    "encounter already imported without this line; "
                    "bill late charges as a new encounter",
                )
            )
            continue
        for name, value in line.values().items():
            if getattr(stored_line, name) != value:
                problems.append(
                    RowProblem(
                        source_name,
                        line.line,
                        name,
                        "line already imported with a different value; import does not change it",
                    )
                )
    missing = sorted(set(stored_lines) - file_numbers)
    if missing:
        problems.append(
            RowProblem(
                source_name,
                first,
                "line_number",
                f"encounter already imported with line(s) {', '.join(map(str, missing))} "
                "that this file lacks",
            )
        )
